//! The live loop's motion thread: stamped hops in, smoothed motion parameters with their timing out.
//!
//! Input: [`Hop`]s from the audio thread. Output: [`PoseSample`]s to the render thread (plain data: a
//! hop allocates nothing). Thread: `motion`. The render thread rigs each frame from them
//! ([`super::super::hop::frame_pose`]), as the offline render does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Shared;
use super::audio::Hop;
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
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(), PipelineError> {
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
        let Some(out) = out else { continue };
        let now = Instant::now();
        poses.send(PoseSample {
            out,
            arrival: hop.arrival,
            host_delay: hop.host_delay,
            centre_at: hop.end_at.checked_sub(centre_behind).unwrap_or(hop.end_at),
            end_at: hop.end_at,
            rms: (hop.samples.iter().map(|x| x * x).sum::<f32>() / HOP_SAMPLES as f32).sqrt(),
            audio_t_secs: clock::secs_from_samples(hop.end_sample as usize) - centre_behind_secs - lookahead_secs,
            smoothing_lag_secs: chain.mouth_lag_secs(),
            audio_secs,
            audio_queue_secs: start.saturating_duration_since(sent).as_secs_f32(),
            motion_secs: now.saturating_duration_since(start).as_secs_f32(),
            sent: now,
        });
    }
}
