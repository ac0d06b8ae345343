//! Text to speech: espeak-ng by default, or any command-line engine by config (`[tts] command`, e.g.
//! Piper), its speech as a WAV file's bytes for the decoder, and the time of each phone where the engine
//! tells it (espeak-ng's library; a command that writes them to `{phones}`).
//!
//! Input: a text and, optionally, a voice. Output: [`Speech`]. Thread: the caller's (the control server's
//! blocking tasks, or the command line's main thread); the engine runs as a child process that ends
//! with facecast.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::espeak::{self, EspeakError};
use crate::vocab::Phone;

/// Why no speech came out.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The voice name holds characters no voice name has.
    #[error("a voice is a name like en, en-us, de or fr+f3, not {0:?}")]
    BadVoice(String),
    /// espeak-ng knows no such voice (it would silently fall back to its default).
    #[error("espeak-ng has no voice {0:?} (espeak-ng --voices lists them)")]
    UnknownVoice(String),
    /// The configured command has no `{voice}` for a voice to go in.
    #[error("the [tts] command takes no voice (it has no {{voice}} in it)")]
    NoVoiceSlot,
    /// The engine could not be started.
    #[error("cannot run {engine}: {reason} (scripts/setup.sh installs espeak-ng)")]
    Missing { engine: String, reason: String },
    /// The engine ran and failed.
    #[error("{engine} failed: {reason}")]
    Failed { engine: String, reason: String },
    /// The text holds a NUL character.
    #[error("the text holds a NUL character")]
    Nul,
}

/// A text spoken.
#[derive(Debug, Clone)]
pub struct Speech {
    /// A WAV file's bytes.
    pub wav: Vec<u8>,
    /// Each phone and its time, where the engine tells them (espeak-ng's library does; a configured
    /// command does where it takes `{phones}`).
    pub phones: Option<Vec<Phone>>,
}

/// A text-to-speech engine: espeak-ng, or a command line with `{text}`, `{voice}`, `{wav}` and
/// `{phones}` in it (the text goes to its standard input where it has no `{text}`).
#[derive(Debug, Clone, Default)]
pub struct Tts {
    command: Vec<String>,
}

impl Tts {
    /// The engine `[tts] command` names; an empty command is espeak-ng.
    pub fn new(command: &[String]) -> Self {
        Self { command: command.to_vec() }
    }

    /// Speaks `text` with `voice` (the engine's default where `None`): espeak-ng through its library
    /// where it loads (the phones timed), else through its command; or the configured command.
    ///
    /// # Errors
    /// [`TtsError`]: a bad or unknown voice, an engine that is missing or fails.
    pub fn speak(&self, text: &str, voice: Option<&str>) -> Result<Speech, TtsError> {
        if let Some(v) = voice
            && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c)))
        {
            return Err(TtsError::BadVoice(v.to_owned()));
        }
        if self.command.is_empty() {
            match espeak::synthesize(text, voice) {
                Ok(s) => return Ok(Speech { wav: wav_bytes(&s.samples, s.rate_hz), phones: Some(s.phones) }),
                Err(EspeakError::Unavailable(reason)) => {
                    tracing::debug!(%reason, "libespeak-ng is not loadable: espeak-ng's command speaks, untimed");
                }
                Err(EspeakError::UnknownVoice(v)) => return Err(TtsError::UnknownVoice(v)),
                Err(EspeakError::Nul) => return Err(TtsError::Nul),
                Err(e @ EspeakError::Failed(_)) => {
                    return Err(TtsError::Failed { engine: "libespeak-ng".into(), reason: e.to_string() });
                }
            }
        }
        self.speak_with_command(text, voice)
    }

    /// Speaks through a command line (espeak-ng's, or the configured one): a WAV file's bytes, and the
    /// phones where the command takes a `{phones}` file to write them to.
    fn speak_with_command(&self, text: &str, voice: Option<&str>) -> Result<Speech, TtsError> {
        static SAID: AtomicU64 = AtomicU64::new(0);
        let n = SAID.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("facecast-tts-{}-{n}", std::process::id()));
        let (wav, phones) = (base.with_extension("wav"), base.with_extension("phones"));
        let timed = self.command.iter().any(|a| a.contains("{phones}"));
        let result = self.run(text, voice, &wav, &phones);
        let speech = result.and_then(|engine| {
            let failed = |reason: String| TtsError::Failed { engine: engine.clone(), reason };
            let wav = std::fs::read(&wav).map_err(|e| failed(format!("it wrote no speech: {e}")))?;
            let phones = if timed {
                let listed =
                    std::fs::read_to_string(&phones).map_err(|e| failed(format!("it wrote no phones: {e}")))?;
                Some(parse_phones(&listed).map_err(failed)?)
            } else {
                None
            };
            Ok(Speech { wav, phones })
        });
        let _ = std::fs::remove_file(&wav);
        let _ = std::fs::remove_file(&phones);
        speech
    }

    /// Runs the engine to write `wav` (and `phones`, where it takes them); its name, for messages.
    fn run(&self, text: &str, voice: Option<&str>, wav: &Path, phones: &Path) -> Result<String, TtsError> {
        let (mut cmd, engine, stdin_text) = if self.command.is_empty() {
            if let Some(v) = voice
                && !espeak_voices().iter().any(|known| known.eq_ignore_ascii_case(v.split('+').next().unwrap_or(v)))
            {
                return Err(TtsError::UnknownVoice(v.to_owned()));
            }
            let mut cmd = std::process::Command::new("espeak-ng");
            cmd.arg("-w").arg(wav);
            if let Some(v) = voice {
                cmd.args(["-v", v]);
            }
            cmd.arg("--").arg(text);
            (cmd, "espeak-ng".to_owned(), false)
        } else {
            let takes = |slot: &str| self.command.iter().any(|a| a.contains(slot));
            if voice.is_some() && !takes("{voice}") {
                return Err(TtsError::NoVoiceSlot);
            }
            let fill = |a: &String| {
                a.replace("{text}", text)
                    .replace("{voice}", voice.unwrap_or(""))
                    .replace("{wav}", &wav.to_string_lossy())
                    .replace("{phones}", &phones.to_string_lossy())
            };
            let mut cmd = std::process::Command::new(&self.command[0]);
            cmd.args(self.command[1..].iter().map(fill));
            (cmd, self.command[0].clone(), !takes("{text}"))
        };
        cmd.stdin(if stdin_text { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        crate::process::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| TtsError::Missing { engine: engine.clone(), reason: e.to_string() })?;
        if stdin_text && let Some(mut input) = child.stdin.take() {
            // A broken pipe shows as the engine's own failure below.
            let _ = input.write_all(text.as_bytes()).and_then(|()| input.write_all(b"\n"));
        }
        let out =
            child.wait_with_output().map_err(|e| TtsError::Failed { engine: engine.clone(), reason: e.to_string() })?;
        if !out.status.success() {
            let reason = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(TtsError::Failed {
                engine,
                reason: if reason.is_empty() { out.status.to_string() } else { reason },
            });
        }
        Ok(engine)
    }
}

/// The most phones a `{phones}` file may list (an hour of speech at 15 a second).
const MAX_PHONES: usize = 54_000;

/// A `{phones}` file: a line per phone, `START_SECS<TAB>END_SECS<TAB>NAME`, in order (scripts/piper-say.py
/// writes one). Every time finite, not negative, and no phone ending before it starts or starting
/// before the one before it.
fn parse_phones(listed: &str) -> Result<Vec<Phone>, String> {
    let mut phones: Vec<Phone> = Vec::new();
    for (i, line) in listed.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: &str| format!("its phones, line {}: {why} ({line:?})", i + 1);
        let mut cols = line.split('\t');
        let (Some(start), Some(end), Some(name), None) = (cols.next(), cols.next(), cols.next(), cols.next()) else {
            return Err(bad("not START<TAB>END<TAB>NAME"));
        };
        let secs = |v: &str| v.trim().parse::<f32>().ok().filter(|t| t.is_finite() && *t >= 0.0);
        let (Some(start_secs), Some(end_secs)) = (secs(start), secs(end)) else {
            return Err(bad("a time that is not a number of seconds"));
        };
        let name = name.trim();
        if end_secs < start_secs || name.is_empty() || phones.last().is_some_and(|p| start_secs < p.start_secs) {
            return Err(bad("out of order, or no name"));
        }
        if phones.len() == MAX_PHONES {
            return Err(format!("its phones: more than {MAX_PHONES}"));
        }
        phones.push(Phone { name: name.to_owned(), start_secs, end_secs });
    }
    Ok(phones)
}

/// 16-bit mono samples at `rate_hz` as a WAV file's bytes.
fn wav_bytes(samples: &[i16], rate_hz: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to memory fails only past hound's 4 GB limit, far beyond [control] max_say_chars' speech.
    if let Ok(mut w) = hound::WavWriter::new(&mut out, spec) {
        for &s in samples {
            let _ = w.write_sample(s);
        }
        let _ = w.finalize();
    }
    out.into_inner()
}

/// The names espeak-ng knows a voice by (its languages, voice names and files), read once.
fn espeak_voices() -> &'static [String] {
    static VOICES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    VOICES.get_or_init(|| {
        let listed = std::process::Command::new("espeak-ng").arg("--voices").output();
        let text = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        text.lines()
            .skip(1)
            .flat_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let file = cols.get(4).map(|f| f.rsplit('/').next().unwrap_or(f));
                [cols.get(1).copied(), cols.get(3).copied(), file]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_secs(bytes: &[u8]) -> f64 {
        let decoded = crate::audio::decode_owned(bytes.to_vec(), std::path::Path::new("tts.wav")).unwrap();
        decoded.samples.len() as f64 / f64::from(decoded.rate_hz)
    }

    #[test]
    fn espeak_ng_speaks_and_refuses_voices_it_does_not_have() {
        let tts = Tts::default();
        let speech = tts.speak("Hello there, how are you?", Some("en-us")).unwrap();
        let secs = wav_secs(&speech.wav);
        assert!((0.8..5.0).contains(&secs), "{secs} s of speech");
        let phones = speech.phones.expect("libespeak-ng times its phones");
        assert!(phones.len() > 10 && (phones.last().unwrap().end_secs - secs as f32).abs() < 1e-2, "{phones:?}");
        assert!(matches!(tts.speak("hi", Some("no-such-voice")), Err(TtsError::UnknownVoice(_))));
        assert!(matches!(tts.speak("hi", Some("../etc")), Err(TtsError::BadVoice(_))));
    }

    #[test]
    fn a_configured_command_gets_its_text_on_stdin_or_in_its_arguments() {
        let on_stdin = Tts::new(&["espeak-ng".into(), "--stdin".into(), "-w".into(), "{wav}".into()]);
        assert!(wav_secs(&on_stdin.speak("Good morning to you all", None).unwrap().wav) > 0.8);
        assert!(matches!(on_stdin.speak("hi", Some("en")), Err(TtsError::NoVoiceSlot)));
        let in_args = Tts::new(&[
            "espeak-ng".into(),
            "-v".into(),
            "{voice}".into(),
            "-w".into(),
            "{wav}".into(),
            "{text}".into(),
        ]);
        assert!(wav_secs(&in_args.speak("Good morning", Some("en")).unwrap().wav) > 0.4);
        let missing = Tts::new(&["facecast-no-such-tts".into(), "{wav}".into()]);
        assert!(matches!(missing.speak("hi", None), Err(TtsError::Missing { .. })));
        let failing = Tts::new(&["false".into()]);
        assert!(matches!(failing.speak("hi", None), Err(TtsError::Failed { .. })));
    }

    #[test]
    fn a_command_with_a_phones_slot_reports_them_and_a_bad_phones_file_is_refused() {
        let sh = |script: String| Tts::new(&["sh".into(), "-c".into(), script, "{wav}".into(), "{phones}".into()]);
        let writing = |phones: &str| sh(format!("espeak-ng -w \"$0\" hello && printf '{phones}' > \"$1\""));
        let speech = writing("0\\t0.1\\t_\\n0.1\\t0.4\\th@\\n\\n0.4\\t0.6\\tloU\\n").speak("hello", None).unwrap();
        let names: Vec<String> = speech.phones.unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["_", "h@", "loU"]);
        for bad in ["0\\tx\\ta", "0.2\\t0.1\\ta", "0\\t1", "0.5\\t1\\ta\\n0.1\\t0.2\\tb", "nan\\t1\\ta", "0\\t1\\t "] {
            let refused = writing(bad).speak("hello", None);
            assert!(
                matches!(&refused, Err(TtsError::Failed { reason, .. }) if reason.contains("its phones")),
                "{bad}: {refused:?}"
            );
        }
        let silent = sh("espeak-ng -w \"$0\" hello".into()).speak("hello", None);
        assert!(matches!(silent, Err(TtsError::Failed { reason, .. }) if reason.contains("it wrote no phones")));
    }
}
