//! The live loop's audio thread: a source, resampled to 16 kHz, cut into stamped hops.
//!
//! Input: a [`LiveSource`]. Output: [`Hop`]s to the motion thread (and a copy of each to the stream's
//! audio-out thread). Thread: `audio`. On a lost device it warns once, sends silence (the avatar idles)
//! and retries every second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Shared;
use crate::audio::live::{
    BlockStamp, HopCutter, LiveAudioError, LiveSource, SourceRead, Speaker, StampedHop, StreamResampler,
};
use crate::output::stream::AudioHop;
use crate::queue::DropOldestSender;
use crate::vocab::clock::HOP_SAMPLES;

/// One hop from the audio thread.
pub(super) struct Hop {
    pub hop: StampedHop,
    /// Audio thread time from the block's arrival to this hop's send.
    pub audio_secs: f32,
    pub sent: Instant,
}

/// Where the audio thread's hops go besides the motion thread.
pub(super) struct AudioOutputs<'a> {
    /// The stream's audio-out thread (WebRTC).
    pub stream: Option<&'a DropOldestSender<AudioHop>>,
    /// The local loudspeaker (`--speaker`).
    pub speaker: Option<&'a mut Speaker>,
}

/// The audio thread's body.
pub(super) fn audio_loop(
    mut source: Box<dyn LiveSource>,
    hops: &DropOldestSender<Hop>,
    outputs: AudioOutputs,
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(), LiveAudioError> {
    let AudioOutputs { stream: audio_out, mut speaker } = outputs;
    let fail = |e: LiveAudioError| {
        shared.failed.store(true, Ordering::Release);
        e
    };
    let mut resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
    let mut block: Vec<f32> = Vec::with_capacity(source.rate_hz() as usize);
    let mut cutter = HopCutter::new();
    let mut overruns_seen = 0u64;
    // Every hop goes to the motion thread, and a copy to the stream's audio-out thread.
    let mut send = |hop: StampedHop| {
        let now = Instant::now();
        if let Some(out) = audio_out {
            out.send(AudioHop { samples: hop.samples, end_at: hop.end_at });
        }
        if let Some(s) = speaker.as_deref_mut() {
            s.push(&hop.samples);
        }
        hops.send(Hop { hop, audio_secs: now.saturating_duration_since(hop.arrival).as_secs_f32(), sent: now });
    };
    // A file or a pipe starts when the first frame can show it; a microphone's sound is happening now.
    while !source.is_clock() && !shared.render_ready.load(Ordering::Acquire) && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(2));
    }
    while !stop.load(Ordering::Acquire) {
        block.clear();
        match source.read(&mut block, Duration::from_millis(50)).map_err(fail)? {
            SourceRead::Samples(stamp) => {
                if source.rate_hz() != resampler.rate_hz() {
                    resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
                    cutter.clear();
                }
                resampler.process(&block, cutter.pcm()).map_err(fail)?;
                cutter.cut(stamp, resampler.backlog_secs(), &mut send);
            }
            SourceRead::Timeout => {}
            SourceRead::End => {
                shared.input_ended.store(true, Ordering::Release);
                break;
            }
            SourceRead::Lost(reason) => {
                shared.audio_losses.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%reason, "audio input lost: the avatar idles, and facecast retries every second");
                cutter.clear();
                'retry: while !stop.load(Ordering::Acquire) {
                    // A second of silence, paced like audio, so the motion thread keeps the avatar idling.
                    let start = Instant::now();
                    for i in 1..=100u32 {
                        if stop.load(Ordering::Acquire) {
                            break 'retry;
                        }
                        let due = start + Duration::from_millis(10 * u64::from(i));
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        cutter.pcm().extend_from_slice(&[0.0; HOP_SAMPLES]);
                        let stamp = BlockStamp { arrival: Instant::now(), host_delay: None };
                        cutter.cut(stamp, 0.0, &mut send);
                    }
                    match source.reopen() {
                        Ok(()) => {
                            tracing::info!(device = source.name(), "audio input is back");
                            resampler = StreamResampler::new(source.rate_hz()).map_err(fail)?;
                            break;
                        }
                        Err(e) => tracing::debug!(error = %e, "audio input still missing"),
                    }
                }
            }
        }
        let overruns = source.overrun_frames();
        if overruns > overruns_seen {
            tracing::warn!(lost_frames = overruns - overruns_seen, "audio overrun: the capture ring was full");
            overruns_seen = overruns;
        }
        shared.audio_overruns.store(overruns, Ordering::Relaxed);
        shared.hops_dropped.store(hops.dropped(), Ordering::Relaxed);
    }
    Ok(())
}
