//! The live loop's motion thread: stamped hops in, smoothed motion parameters with their timing out.
//!
//! Input: [`Hop`]s from the audio thread. Output: [`PoseSample`]s to the render thread (plain data: a
//! hop allocates nothing). Thread: `motion`. The render thread rigs each frame from them
//! ([`super::super::hop::frame_pose`]), as the offline render does.
//!
//! Where an utterance came with timed phones (`POST /say`), its mouth track replaces the mouth the
//! model hears: the hop shows the mouth of the sound it ends with (running ahead of it by the track's
//! lead), with no analysis window or smoothing to wait for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Shared;
use super::audio::Hop;
use crate::audio::live::{MouthSpan, SpeechQueue};
use crate::pipeline::PipelineError;
use crate::pipeline::hop::{HopChain, HopOutput};
use crate::queue::{Disconnected, DropOldestReceiver, DropOldestSender};
use crate::vocab::clock::{self, CENTRE_BEFORE_HOP_END_SAMPLES, HOP_SAMPLES};

/// One hop's smoothed parameters from the motion thread, with where its sound lies in time.
#[derive(Clone, Copy)]
pub(super) struct PoseSample {
    pub out: HopOutput,
    pub arrival: Instant,
    pub host_delay: Option<Duration>,
    /// Where the sound at the centre of this hop's mel window lies on the arrival clock.
    pub centre_at: Instant,
    /// Where the hop's last sample lies on the arrival clock, and the hop's RMS (for the sync marker).
    pub end_at: Instant,
    pub rms: f32,
    /// The moment of the input audio this pose shows, seconds from its first sample.
    pub audio_t_secs: f64,
    pub smoothing_lag_secs: f32,
    pub audio_secs: f32,
    pub audio_queue_secs: f32,
    pub motion_secs: f32,
    pub sent: Instant,
}

/// The motion thread's body.
pub(super) fn motion_loop(
    mut chain: HopChain,
    hops: &DropOldestReceiver<Hop>,
    poses: &DropOldestSender<PoseSample>,
    mouths: Option<&SpeechQueue>,
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(), PipelineError> {
    // The mouth tracks of the API's utterances, copied only when they change.
    let (mut spans, mut spans_seen) = (Vec::<MouthSpan>::new(), 0u64);
    // The mel window's centre lies this far before the end of the hop that completes it.
    let centre_behind_secs = clock::secs_from_samples(CENTRE_BEFORE_HOP_END_SAMPLES);
    let centre_behind = Duration::from_secs_f64(centre_behind_secs);
    // A model with lookahead speaks, at each hop, for the mel frame that many hops back.
    let lookahead_secs = chain.model().lookahead_secs();
    loop {
        let Hop { hop, audio_secs, sent } = match hops.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(h)) => h,
            Ok(None) => {
                if stop.load(Ordering::Acquire) {
                    return Ok(());
                }
                continue;
            }
            Err(Disconnected) => return Ok(()),
        };
        let start = Instant::now();
        let out = match chain.step(&hop.samples) {
            Ok(out) => out,
            Err(e) => {
                shared.failed.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let Some(mut out) = out else { continue };
        let end_secs = clock::secs_from_samples(hop.end_sample as usize);
        let mut shows = (
            end_secs - centre_behind_secs - lookahead_secs,
            hop.end_at.checked_sub(centre_behind).unwrap_or(hop.end_at),
            chain.mouth_lag_secs(),
        );
        if let Some(queue) = mouths {
            queue.mouth_spans(&mut spans_seen, &mut spans);
        }
        if let Some(m) = spans.iter().rev().find_map(|s| s.at(end_secs)) {
            out.params.take_mouth(m);
            // The track knows the sound ahead: this pose shows the hop's own end, nothing behind it.
            shows = (end_secs, hop.end_at, 0.0);
        }
        let (audio_t_secs, centre_at, smoothing_lag_secs) = shows;
        let now = Instant::now();
        poses.send(PoseSample {
            out,
            arrival: hop.arrival,
            host_delay: hop.host_delay,
            centre_at,
            end_at: hop.end_at,
            rms: (hop.samples.iter().map(|x| x * x).sum::<f32>() / HOP_SAMPLES as f32).sqrt(),
            audio_t_secs,
            smoothing_lag_secs,
            audio_secs,
            audio_queue_secs: start.saturating_duration_since(sent).as_secs_f32(),
            motion_secs: now.saturating_duration_since(start).as_secs_f32(),
            sent: now,
        });
    }
}
