//! The pipeline's side of the control API (`--input api --control`): speech from HTTP decoded, checked and
//! queued for the audio thread; the state and the metrics read back.
//!
//! Input: request bodies from the control server's tasks. Output: [`Utterance`]s on the [`SpeechQueue`],
//! which `audio::live::ApiSource` plays; JSON and Prometheus text. Thread: the control server's blocking
//! tasks (decoding is work) and the audio thread, which publishes each utterance's start and end.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Shared;
use crate::audio::live::{SpeechEvent, SpeechQueue, Utterance};
use crate::audio::tts::{Tts, TtsError};
use crate::motion::phones::mouth_track;
use crate::output::stream::MediaHub;
use crate::output::stream::control::{ControlApi, ControlEvents, ExpressionRequest, SpeechStream};
use crate::vocab::Phone;
use crate::vocab::clock::{SAMPLE_RATE_HZ, secs_from_samples};
use crate::vocab::latency::Percentiles;

/// The latency percentiles the render thread last published, for `GET /metrics`.
#[derive(Default)]
pub(super) struct LatencySnapshot {
    pub audio_to_frame: Option<Percentiles>,
    pub motion_lag: Option<Percentiles>,
    pub speak_to_frame: Option<Percentiles>,
}

/// What the control server drives.
pub(super) struct LiveControl {
    pub queue: Arc<SpeechQueue>,
    pub shared: Arc<Shared>,
    pub latency: Arc<Mutex<LatencySnapshot>>,
    pub hub: Option<Arc<MediaHub>>,
    pub started: Instant,
    pub expression: Arc<super::expression::ExpressionState>,
    /// `POST /say`'s engine (`[tts] command`).
    pub tts: Tts,
    /// `[control]`: the longest speech a request holds, seconds, and the longest text, characters.
    pub max_speech_secs: f64,
    pub max_say_chars: usize,
}

/// The audio-event publisher the API source calls as utterances start and end.
pub(super) fn publisher(events: ControlEvents) -> Box<dyn FnMut(SpeechEvent) + Send> {
    Box::new(move |e| {
        let (name, id, at_secs) = match e {
            SpeechEvent::Started(id, at) => ("speech_started", id, at),
            SpeechEvent::Ended(id, at) => ("speech_ended", id, at),
            SpeechEvent::Stopped(id, at) => ("speech_stopped", id, at),
        };
        // Where in the stream: the `audio_t_secs` of `--motion-out` counts the same way.
        let audio_t_secs = (at_secs * 1e4).round() / 1e4;
        events.publish(name, &serde_json::json!({ "id": id, "audio_t_secs": audio_t_secs }));
    })
}

/// `audio/L16;rate=R;channels=C`'s rate and channel count, checked.
fn l16_format(content_type: &str) -> Result<(u32, usize), (u16, String)> {
    let param = |name: &str| {
        content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let rate: u32 = param("rate").and_then(|r| r.parse().ok()).ok_or((415, "audio/L16 needs ;rate=HZ".to_owned()))?;
    let channels: usize = param("channels").map_or(Some(1), |c| c.parse().ok()).unwrap_or(0);
    if !crate::audio::INPUT_RATES_HZ.contains(&rate) || !(1..=crate::audio::MAX_INPUT_CHANNELS).contains(&channels) {
        return Err((415, format!("audio/L16 at {rate} Hz, {channels} channels is out of range")));
    }
    Ok((rate, channels))
}

/// Whole frames of big-endian 16-bit PCM (RFC 2586), `channels` to a frame, averaged to mono into `out`;
/// a partial frame at the end is left out.
fn l16_mono_into(body: &[u8], channels: usize, out: &mut Vec<f32>) {
    out.extend(body.chunks_exact(2 * channels).map(|f| {
        f.chunks_exact(2).map(|s| f32::from(i16::from_be_bytes([s[0], s[1]])) / 32_768.0).sum::<f32>() / channels as f32
    }));
}

/// Raw PCM (`audio/L16;rate=R;channels=C`, big-endian 16-bit, RFC 2586) to mono at its rate.
fn l16(body: &[u8], content_type: &str) -> Result<(Vec<f32>, u32), (u16, String)> {
    let (rate, channels) = l16_format(content_type)?;
    let mut mono = Vec::with_capacity(body.len() / (2 * channels));
    l16_mono_into(body, channels, &mut mono);
    Ok((mono, rate))
}

/// A streamed utterance of raw PCM: each piece converted, resampled to 16 kHz and appended to its
/// utterance on the queue as it arrives.
struct PcmStream {
    queue: Arc<SpeechQueue>,
    id: u64,
    channels: usize,
    /// The bytes of a frame cut by a piece's end.
    carry: Vec<u8>,
    resampler: crate::audio::Resampler16k,
    mono: Vec<f32>,
    out: Vec<f32>,
    samples_16k: usize,
    max_secs: f64,
}

impl PcmStream {
    fn send(&mut self, done: bool) -> Result<(), (u16, String)> {
        self.samples_16k += self.out.len();
        let secs = secs_from_samples(self.samples_16k);
        let too_long = secs > self.max_secs;
        if !self.queue.append(self.id, &self.out, done || too_long) {
            return Err((409, format!("utterance {} was stopped (DELETE /speak or an interruption)", self.id)));
        }
        if too_long {
            return Err(too_long_err(secs, self.max_secs));
        }
        Ok(())
    }
}

impl SpeechStream for PcmStream {
    fn id(&self) -> u64 {
        self.id
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), (u16, String)> {
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() / (2 * self.channels) * (2 * self.channels);
        self.mono.clear();
        l16_mono_into(&self.carry[..whole], self.channels, &mut self.mono);
        self.carry.drain(..whole);
        self.out.clear();
        self.resampler.push(&self.mono, &mut self.out).map_err(|e| (422, format!("cannot resample it: {e}")))?;
        self.send(false)
    }

    fn finish(mut self: Box<Self>) -> Result<(), (u16, String)> {
        self.out.clear();
        if self.samples_16k > 0 || !self.mono.is_empty() {
            // Flushes the resampler's tail (an empty stream has none to flush).
            let _ = self.resampler.finish(&mut self.out);
        }
        self.send(true)
    }
}

fn too_long_err(secs: f64, max_secs: f64) -> (u16, String) {
    (413, format!("{secs:.0} s of speech; one request holds at most {max_secs:.0} s ([control] max_speech_secs)"))
}

/// Decodes a file's bytes to 16 kHz mono as a stream, as the offline render does: a header that declares
/// more than `max_secs` is refused before any decoding, and a stream without one once it passes.
fn decode_16k(body: &[u8], kind: &str, max_secs: f64) -> Result<Vec<f32>, (u16, String)> {
    let name = match kind {
        "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => "request.wav",
        "audio/mpeg" | "audio/mp3" => "request.mp3",
        "audio/ogg" | "audio/vorbis" => "request.ogg",
        "audio/flac" | "audio/x-flac" => "request.flac",
        _ => "request",
    };
    let not_audio = |e: crate::audio::AudioError| (422, format!("not audio facecast can decode: {e}"));
    let mut stream = crate::audio::AudioStream::open_owned(body.to_vec(), Path::new(name)).map_err(not_audio)?;
    if let Some(secs) = stream.declared_secs().filter(|&s| s > max_secs) {
        return Err(too_long_err(secs, max_secs));
    }
    let (mut out, mut resampler) = (Vec::new(), None);
    while let Some((chunk, rate_hz)) = stream.next_chunk().map_err(not_audio)? {
        let r = match resampler.as_mut() {
            Some(r) => r,
            None => resampler.insert(crate::audio::Resampler16k::new(rate_hz, Path::new(name)).map_err(not_audio)?),
        };
        r.push(chunk, &mut out).map_err(not_audio)?;
        if secs_from_samples(out.len()) > max_secs {
            return Err(too_long_err(secs_from_samples(out.len()), max_secs));
        }
    }
    stream.finish().map_err(not_audio)?;
    if let Some(mut r) = resampler {
        r.finish(&mut out).map_err(not_audio)?;
    }
    Ok(out)
}

impl LiveControl {
    /// Decodes, checks and queues speech whose request arrived at `requested`.
    fn queue_speech(
        &self,
        body: &[u8],
        content_type: &str,
        interrupt: bool,
        requested: Instant,
        phones: Option<&[Phone]>,
    ) -> Result<u64, (u16, String)> {
        let kind = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !kind.starts_with("audio/") && kind != "application/octet-stream" {
            return Err((
                415,
                format!(
                    "Content-Type {content_type:?}: send audio/wav, audio/mpeg, audio/ogg, audio/flac or audio/L16"
                ),
            ));
        }
        let samples = if kind == "audio/l16" {
            let (mono, rate_hz) = l16(body, content_type)?;
            let secs = mono.len() as f64 / f64::from(rate_hz);
            if secs > self.max_speech_secs {
                return Err(too_long_err(secs, self.max_speech_secs));
            }
            let decoded = crate::audio::DecodedAudio { samples: mono, rate_hz, channels: 1, truncated: false };
            crate::audio::resample_to_16k(&decoded, Path::new("request body"))
                .map_err(|e| (422, format!("cannot resample it: {e}")))?
                .samples
        } else {
            decode_16k(body, &kind, self.max_speech_secs)?
        };
        if samples.is_empty() {
            return Err((422, "the audio holds no samples".into()));
        }
        let audio = crate::audio::Audio { samples };
        let id = self.queue.next_id();
        let decode_ms = requested.elapsed().as_secs_f64() * 1e3;
        tracing::info!(id, secs = secs_from_samples(audio.samples.len()), decode_ms, interrupt, "speech queued");
        // Timed phones give the mouth its own track, ahead of the sound.
        let mouth = phones
            .map(|p| mouth_track(p, secs_from_samples(audio.samples.len()) as f32))
            .filter(|t| !t.is_empty())
            .map(Arc::from);
        self.queue.push(Utterance { id, samples: audio.samples, requested, open: false, mouth }, interrupt);
        Ok(id)
    }
}

impl ControlApi for LiveControl {
    fn speak(&self, body: &[u8], content_type: &str, interrupt: bool) -> Result<u64, (u16, String)> {
        self.queue_speech(body, content_type, interrupt, Instant::now(), None)
    }

    fn speak_stream(&self, content_type: &str, interrupt: bool) -> Result<Box<dyn SpeechStream>, (u16, String)> {
        let (rate_hz, channels) = l16_format(content_type)?;
        let resampler = crate::audio::Resampler16k::new(rate_hz, Path::new("request body"))
            .map_err(|e| (415, format!("cannot resample it: {e}")))?;
        let id = self.queue.next_id();
        tracing::info!(id, rate_hz, channels, interrupt, "streamed speech queued");
        self.queue
            .push(Utterance { id, samples: Vec::new(), requested: Instant::now(), open: true, mouth: None }, interrupt);
        Ok(Box::new(PcmStream {
            queue: Arc::clone(&self.queue),
            id,
            channels,
            carry: Vec::new(),
            resampler,
            mono: Vec::new(),
            out: Vec::new(),
            samples_16k: 0,
            max_secs: self.max_speech_secs,
        }))
    }

    fn say(&self, text: &str, voice: Option<&str>, interrupt: bool) -> Result<u64, (u16, String)> {
        let requested = Instant::now();
        let text = text.trim();
        if text.is_empty() {
            return Err((400, "the text is empty".into()));
        }
        if text.chars().count() > self.max_say_chars {
            return Err((
                413,
                format!(
                    "{} characters; one request says at most {} ([control] max_say_chars)",
                    text.chars().count(),
                    self.max_say_chars
                ),
            ));
        }
        let speech = self.tts.speak(text, voice).map_err(|e| {
            let status = match e {
                TtsError::BadVoice(_) | TtsError::Nul => 400,
                TtsError::Missing { .. } => 503,
                TtsError::UnknownVoice(_) | TtsError::NoVoiceSlot | TtsError::Failed { .. } => 422,
            };
            (status, e.to_string())
        })?;
        self.queue_speech(&speech.wav, "audio/wav", interrupt, requested, speech.phones.as_deref())
    }

    fn expression(&self, request: &ExpressionRequest) -> serde_json::Value {
        self.expression.apply(request, Instant::now());
        self.expression.held_json()
    }

    fn stop_speech(&self) {
        self.queue.stop_all();
    }

    fn health(&self) -> serde_json::Value {
        serde_json::json!({
            // "starting" until the first frame is out: speech queued before then waits for the renderer.
            "state": if self.shared.frames_rendered.load(Ordering::Relaxed) == 0 {
                "starting"
            } else if self.queue.speaking() {
                "speaking"
            } else {
                "idle"
            },
            "queue": self.queue.waiting(),
            "utterances_total": self.queue.total(),
            "uptime_secs": self.started.elapsed().as_secs_f64(),
            "frames_total": self.shared.frames_rendered.load(Ordering::Relaxed),
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "adapter": self.shared.adapter.get(),
            "expression": self.expression.held_json(),
        })
    }

    fn metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut counter = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        counter(
            "facecast_frames_total",
            "counter",
            "Frames handed to the outputs.",
            self.shared.frames_rendered.load(Ordering::Relaxed) as f64,
        );
        counter(
            "facecast_frames_dropped_total",
            "counter",
            "Frame ticks skipped because the render was late.",
            self.shared.frames_dropped.load(Ordering::Relaxed) as f64,
        );
        counter(
            "facecast_utterances_total",
            "counter",
            "Utterances queued through the API.",
            self.queue.total() as f64,
        );
        counter(
            "facecast_speech_queue_length",
            "gauge",
            "Utterances waiting (not the one playing).",
            self.queue.waiting() as f64,
        );
        let viewers = self.hub.as_ref().map_or(0, |h| h.counters.peers.load(Ordering::Relaxed));
        counter("facecast_viewers", "gauge", "WebRTC peers connected now.", viewers as f64);
        let latency = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, help, p) in [
            (
                "facecast_audio_to_frame_seconds",
                "From an audio block's arrival to the frame that shows it.",
                latency.audio_to_frame,
            ),
            ("facecast_motion_lag_seconds", "How late the mouth shows a sound.", latency.motion_lag),
            (
                "facecast_speak_to_frame_seconds",
                "From a /speak or /say request to the first frame that shows its sound.",
                latency.speak_to_frame,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
            if let Some(p) = p {
                for (q, ms) in [("0.5", p.p50), ("0.9", p.p90), ("0.99", p.p99), ("1", p.max)] {
                    let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {}", ms / 1e3);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l16_is_big_endian_and_averaged_to_mono() {
        let body = [0x40, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x40, 0x00];
        let (mono, rate) = l16(&body, "audio/L16; rate=48000; channels=2").unwrap();
        assert_eq!((mono, rate), (vec![0.25, 0.0], 48_000));
        assert_eq!(l16(&body, "audio/L16").unwrap_err().0, 415, "no rate");
        assert_eq!(l16(&body, "audio/L16;rate=1").unwrap_err().0, 415, "an impossible rate");
    }
}
