//! espeak-ng as a library (libespeak-ng, loaded at run time): its speech and, with it, the time of each
//! phone, which the command line cannot tell.
//!
//! Input: a text and, optionally, a voice. Output: 16-bit samples at the engine's rate and the
//! [`Phone`]s with their times. Thread: the caller's; the library keeps global state, so one synthesis
//! runs at a time (a process-wide lock) and its callback runs on the calling thread.
//!
//! The library is opened with `dlopen` rather than linked, so facecast starts and runs where espeak-ng is
//! missing (`POST /say` then says so), as ONNX Runtime is loaded. Only the five calls below are used.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_short, c_uint, c_void};
use std::sync::{Mutex, OnceLock};

use crate::vocab::Phone;

/// The library's file name (the soname of Debian's libespeak-ng1 and of espeak-ng's own builds).
const LIBRARY: &str = "libespeak-ng.so.1";

/// `espeak_EVENT` (speak_lib.h): on x86-64 and aarch64 40 bytes, `id` a union of an int, a pointer
/// and an 8-byte phoneme name.
#[repr(C)]
struct Event {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    /// Milliseconds into the speech.
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    id: [u8; 8],
}

const EVENT_LIST_TERMINATED: c_int = 0;
const EVENT_PHONEME: c_int = 7;
/// `AUDIO_OUTPUT_SYNCHRONOUS`: the samples come to the callback, on the calling thread.
const OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_PHONEME_EVENTS`.
const INITIALIZE_PHONEME_EVENTS: c_int = 1;
/// `POS_CHARACTER` and `espeakCHARS_UTF8` (no SSML: the text is spoken as it is written).
const POS_CHARACTER: c_int = 1;
const CHARS_UTF8: c_uint = 1;
/// `EE_OK` and `EE_NOT_FOUND`.
const EE_OK: c_int = 0;
const EE_NOT_FOUND: c_int = 2;

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut Event) -> c_int;

/// The loaded library: its calls, and the sample rate `espeak_Initialize` gave.
struct Library {
    _lib: libloading::Library,
    set_voice_by_name: unsafe extern "C" fn(*const c_char) -> c_int,
    synth: unsafe extern "C" fn(*const c_void, usize, c_uint, c_int, c_uint, c_uint, *mut c_uint, *mut c_void) -> c_int,
    synchronize: unsafe extern "C" fn() -> c_int,
    rate_hz: u32,
}

/// Why the library gave no speech.
#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    /// The library is not there (or not usable): the command line may still be.
    #[error("{LIBRARY} cannot be loaded: {0}")]
    Unavailable(String),
    /// No such voice.
    #[error("espeak-ng has no voice {0:?} (espeak-ng --voices lists them)")]
    UnknownVoice(String),
    /// The text holds a NUL character.
    #[error("the text holds a NUL character")]
    Nul,
    /// The library refused.
    #[error("libespeak-ng failed: {0}")]
    Failed(String),
}

/// What one synthesis gathered in the callback.
#[derive(Default)]
struct Gathered {
    samples: Vec<i16>,
    /// (name, milliseconds) of each phone event, in order.
    phones: Vec<(String, i32)>,
}

thread_local! {
    static GATHERED: RefCell<Gathered> = RefCell::new(Gathered::default());
}

/// The callback espeak-ng calls with each piece of speech and its events (on the synthesizing thread).
unsafe extern "C" fn gather(wav: *mut c_short, n: c_int, events: *mut Event) -> c_int {
    GATHERED.with(|g| {
        let mut g = g.borrow_mut();
        if !wav.is_null() && n > 0 {
            // SAFETY: espeak-ng hands `n` samples at `wav`, valid for this call.
            g.samples.extend_from_slice(unsafe { std::slice::from_raw_parts(wav, n as usize) });
        }
        let mut e = events;
        // SAFETY: the event list ends with an EVENT_LIST_TERMINATED entry (speak_lib.h).
        while !e.is_null() && unsafe { (*e).kind } != EVENT_LIST_TERMINATED {
            let ev = unsafe { &*e };
            if ev.kind == EVENT_PHONEME {
                let len = ev.id.iter().position(|&b| b == 0).unwrap_or(ev.id.len());
                let name = String::from_utf8_lossy(&ev.id[..len]).into_owned();
                // "(en)", "(cmn)": a switch of language within the text, not a phone.
                if !name.starts_with('(') {
                    g.phones.push((name, ev.audio_position));
                }
            }
            e = unsafe { e.add(1) };
        }
    });
    0
}

/// The library, loaded and initialised once; `Err` says why it cannot be.
fn library() -> &'static Result<Mutex<Library>, String> {
    static LIB: OnceLock<Result<Mutex<Library>, String>> = OnceLock::new();
    LIB.get_or_init(|| {
        // SAFETY: loading libespeak-ng runs no initialisers beyond the C runtime's; the symbols are
        // declared above as speak_lib.h declares them.
        unsafe {
            let lib = libloading::Library::new(LIBRARY).map_err(|e| e.to_string())?;
            let initialize = *lib
                .get::<unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int>(b"espeak_Initialize\0")
                .map_err(|e| e.to_string())?;
            let set_callback = *lib
                .get::<unsafe extern "C" fn(SynthCallback)>(b"espeak_SetSynthCallback\0")
                .map_err(|e| e.to_string())?;
            let set_voice_by_name = *lib.get(b"espeak_SetVoiceByName\0").map_err(|e| e.to_string())?;
            let synth = *lib.get(b"espeak_Synth\0").map_err(|e| e.to_string())?;
            let synchronize = *lib.get(b"espeak_Synchronize\0").map_err(|e| e.to_string())?;
            let rate = initialize(OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), INITIALIZE_PHONEME_EVENTS);
            if rate <= 0 {
                return Err(format!("espeak_Initialize gave {rate} (is espeak-ng-data installed?)"));
            }
            set_callback(gather);
            Ok(Mutex::new(Library { _lib: lib, set_voice_by_name, synth, synchronize, rate_hz: rate as u32 }))
        }
    })
}

/// Speech from espeak-ng: the samples, their rate, and the phones.
pub struct Synthesized {
    pub samples: Vec<i16>,
    pub rate_hz: u32,
    pub phones: Vec<Phone>,
}

/// Speaks `text` with `voice` (espeak-ng's default English where `None`).
///
/// # Errors
/// [`EspeakError`]: no library, an unknown voice, a NUL in the text, or the library's refusal.
pub fn synthesize(text: &str, voice: Option<&str>) -> Result<Synthesized, EspeakError> {
    let lib = library().as_ref().map_err(|e| EspeakError::Unavailable(e.clone()))?;
    let text_c = CString::new(text).map_err(|_| EspeakError::Nul)?;
    let voice_c = CString::new(voice.unwrap_or("en")).map_err(|_| EspeakError::Nul)?;
    let lib = lib.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    GATHERED.with(|g| *g.borrow_mut() = Gathered::default());
    // SAFETY: the strings are NUL-terminated and live across the calls; the lock keeps the library's
    // global state to this thread; in synchronous mode the callback runs within `synth`.
    unsafe {
        match (lib.set_voice_by_name)(voice_c.as_ptr()) {
            EE_OK => {}
            EE_NOT_FOUND => return Err(EspeakError::UnknownVoice(voice.unwrap_or("en").to_owned())),
            other => return Err(EspeakError::Failed(format!("espeak_SetVoiceByName gave {other}"))),
        }
        let bytes = text_c.as_bytes_with_nul();
        let status = (lib.synth)(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            POS_CHARACTER,
            0,
            CHARS_UTF8,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        if status != EE_OK {
            return Err(EspeakError::Failed(format!("espeak_Synth gave {status}")));
        }
        (lib.synchronize)();
    }
    let Gathered { samples, phones } = GATHERED.with(|g| std::mem::take(&mut *g.borrow_mut()));
    let rate_hz = lib.rate_hz;
    drop(lib);
    let total_secs = samples.len() as f32 / rate_hz as f32;
    let starts: Vec<f32> = phones.iter().map(|(_, ms)| (*ms as f32 / 1000.0).clamp(0.0, total_secs)).collect();
    let phones = phones
        .into_iter()
        .zip(&starts)
        .enumerate()
        .map(|(i, ((name, _), &start_secs))| Phone {
            name,
            start_secs,
            end_secs: starts.get(i + 1).copied().unwrap_or(total_secs).max(start_secs),
        })
        .collect();
    Ok(Synthesized { samples, rate_hz, phones })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_speaks_and_times_each_phone() {
        let s = synthesize("Pop music, maybe.", Some("en-us")).unwrap();
        let secs = s.samples.len() as f32 / s.rate_hz as f32;
        assert!((0.6..4.0).contains(&secs), "{secs} s of speech");
        let names: Vec<&str> = s.phones.iter().map(|p| p.name.as_str()).collect();
        // "pop music, maybe": espeak-ng's en-us mnemonics, pauses among them.
        for want in ["p", "m", "j", "u:", "z", "b"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(s.phones.windows(2).all(|w| w[0].end_secs == w[1].start_secs && w[0].start_secs <= w[1].start_secs));
        assert!(s.phones.last().is_some_and(|p| (p.end_secs - secs).abs() < 1e-3));
        // The first /p/ starts near the beginning; the last phone well into the speech.
        assert!(s.phones.iter().find(|p| p.name == "p").is_some_and(|p| p.start_secs < 0.2));
        // Mandarin text with Latin letters in it switches to English and back: no "(en)" among the phones.
        let mixed = synthesize("你好, Bob.", Some("cmn")).unwrap();
        assert!(mixed.phones.len() > 3 && mixed.phones.iter().all(|p| !p.name.starts_with('(')), "{:?}", mixed.phones);
        assert!(matches!(synthesize("hi", Some("no-such-voice")), Err(EspeakError::UnknownVoice(_))));
        assert!(matches!(synthesize("a\0b", None), Err(EspeakError::Nul)));
    }
}
