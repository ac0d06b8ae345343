//! The head from a camera (`--head-from`): the user's own head turns, tilts and blinks drive the
//! avatar's, while the voice drives its mouth.
//!
//! Input: a [`HeadFrom`] (a camera, a video file or a folder of images). Output: [`HeadEvent`]s to the
//! render thread, where [`HeadFollower`] blends them over the idle motion. Threads: `head` (capture,
//! BlazeFace and Face Mesh, calibration, smoothing), which never holds up the audio or motion threads:
//! the render thread only takes what has arrived.
//!
//! The first half second of face calibrates: its median angles are the user's neutral (a camera is
//! seldom square on), its median eye opening the open eye. After that the avatar's head turns by the
//! user's angles from neutral, smoothed by a One Euro filter (still at rest, quick in a turn), and its
//! eyes shut as the user's close to under half their open gap, and look where the user's irises move
//! from their neutral place (the darkest part of each eye opening; portrait/track.rs). When
//! the face is lost for half a second the avatar fades back to idle motion over 0.3 s, and follows again
//! once the face is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Shared;
use crate::config::{Config, SmoothingConfig};
use crate::motion::smooth::OneEuro;
use crate::pipeline::PipelineError;
use crate::pipeline::hop::HeadOverride;
use crate::portrait::FaceModels;
use crate::portrait::frames::HeadFrom;
use crate::portrait::track::{HeadMeasure, HeadTracker};
use crate::queue::{DropOldestReceiver, DropOldestSender, drop_oldest};
use crate::vocab::motion::MAX_HEAD_DEG;

/// Frames with a face that set the neutral pose and the open eye (half a second at 30 fps).
const CALIBRATION_FRAMES: usize = 15;
/// A face unseen for this long is lost: the avatar goes back to idle motion.
const LOST_AFTER: Duration = Duration::from_millis(500);
/// How long the blend between the user's head and idle motion takes, either way.
const FADE: Duration = Duration::from_millis(300);
/// An eye is shut when its opening falls to this share of the open eye's, open above 1.
const SHUT_SHARE: f32 = 0.5;

/// The head filter: angles in units of [`MAX_HEAD_DEG`], as the motion filter takes the head's. At rest
/// 0.7 Hz holds a still face still through the landmarks' noise; a turn lifts the cutoff by 4 Hz per
/// range per second (a 10 degree turn in half a second to about 3.4 Hz), its speed read through a 2 Hz
/// filter so that the landmarks' frame-to-frame noise does not lift it. On a still face with a camera's
/// sensor noise (tests/live_head.rs) this left 0.03 degrees of yaw and 0.09 of pitch (standard
/// deviations); 1.5 Hz and a 10 Hz speed filter left 0.05 and 0.12.
fn head_smoothing() -> SmoothingConfig {
    SmoothingConfig { min_cutoff_hz: 0.7, beta: 4.0, d_cutoff_hz: 2.0, ..SmoothingConfig::default() }
}

/// The gaze filter, in gaze units (-1..1): the irises jump (saccades) where the head turns, so a quicker
/// filter than the head's, still enough to hold a still gaze through the pixels' noise.
fn gaze_smoothing() -> SmoothingConfig {
    SmoothingConfig { min_cutoff_hz: 1.5, beta: 6.0, d_cutoff_hz: 2.0, ..SmoothingConfig::default() }
}

/// Gaze per half eye width the iris moves: the renderer's gaze of 1 moves the middle of the eye by a
/// fifth of its width (shaders/warp.wgsl `GAZE_ACROSS`, `GAZE_DOWN`), 0.4 half widths.
const GAZE_PER_HALF_WIDTH: f32 = 2.5;

/// What the head thread saw in one frame.
#[derive(Debug, Clone, Copy)]
pub(super) enum HeadEvent {
    /// The user's head, relative to their neutral, smoothed; blinks 0 (open) to 1 (shut).
    Face { yaw_deg: f32, pitch_deg: f32, roll_deg: f32, blink: [f32; 2], gaze: [f32; 2], captured: Instant },
    /// No face in the frame.
    Lost,
}

/// The user's neutral pose and open eyes, from the first frames with a face.
#[derive(Default)]
struct Calibration {
    seen: Vec<HeadMeasure>,
    neutral: Option<HeadMeasure>,
}

impl Calibration {
    /// Takes one measure; the neutral once enough were seen.
    fn push(&mut self, m: HeadMeasure) -> Option<HeadMeasure> {
        if self.neutral.is_none() {
            self.seen.push(m);
            if self.seen.len() == CALIBRATION_FRAMES {
                let median = |f: fn(&HeadMeasure) -> f32| {
                    let mut v: Vec<f32> = self.seen.iter().map(f).collect();
                    v.sort_by(f32::total_cmp);
                    v[v.len() / 2]
                };
                self.neutral = Some(HeadMeasure {
                    yaw_deg: median(|m| m.yaw_deg),
                    pitch_deg: median(|m| m.pitch_deg),
                    roll_deg: median(|m| m.roll_deg),
                    eye_open: [median(|m| m.eye_open[0]), median(|m| m.eye_open[1])],
                    iris: {
                        // The irises' neutral place, from the frames that read them.
                        let mut read: Vec<[f32; 2]> = self.seen.iter().filter_map(|m| m.iris).collect();
                        (!read.is_empty()).then(|| {
                            let mid = read.len() / 2;
                            read.sort_by(|a, b| a[0].total_cmp(&b[0]));
                            let x = read[mid][0];
                            read.sort_by(|a, b| a[1].total_cmp(&b[1]));
                            [x, read[mid][1]]
                        })
                    },
                });
            }
        }
        self.neutral
    }
}

/// The head thread, joined at the end of the run.
pub(super) type HeadThread = JoinHandle<Result<(), PipelineError>>;

/// Starts the head thread on `from`. Returns once the source and the face models are open (or failed),
/// so that a missing camera is reported before the loop starts.
///
/// # Errors
/// The source's or the models' error.
pub(super) fn start(
    from: HeadFrom,
    cfg: &Config,
    stop: &Arc<AtomicBool>,
    shared: &Arc<Shared>,
) -> Result<(HeadThread, DropOldestReceiver<HeadEvent>), PipelineError> {
    let (tx, rx) = drop_oldest::<HeadEvent>(8);
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), PipelineError>>(1);
    let (portrait_cfg, stop, shared) = (cfg.portrait.clone(), Arc::clone(stop), Arc::clone(shared));
    let thread = std::thread::Builder::new()
        .name("head".into())
        .spawn(move || {
            // A camera must stay on the thread that opened it: the source is opened here.
            let opened = from.open().and_then(|frames| Ok((frames, FaceModels::load(&portrait_cfg)?)));
            let (mut frames, models) = match opened {
                Ok(o) => {
                    let _ = ready_tx.send(Ok(()));
                    o
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return Ok(());
                }
            };
            tracing::info!(source = frames.name(), "the head follows the camera's face");
            // A video or a folder plays on its own clock: like an audio file, it starts when the first
            // frame can show it. A camera's face is there now.
            while !matches!(from, HeadFrom::Camera(_))
                && !shared.render_ready.load(Ordering::Acquire)
                && !stop.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            head_loop(frames.as_mut(), HeadTracker::new(models), &tx, &stop)
        })
        .map_err(|e| PipelineError::Invalid(format!("cannot start the head thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((thread, rx)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(PipelineError::Invalid("the head thread ended before it started".into())),
    }
}

/// The head thread's body: frames to events until the source ends or `stop`.
fn head_loop(
    frames: &mut dyn crate::portrait::frames::HeadFrames,
    mut tracker: HeadTracker,
    events: &DropOldestSender<HeadEvent>,
    stop: &AtomicBool,
) -> Result<(), PipelineError> {
    let mut calibration = Calibration::default();
    // The filter's rate: a camera's or a video's 30 fps (it changes little around that).
    let mut filter = OneEuro::new(&head_smoothing(), 3, 1.0 / 30.0);
    let mut gaze_filter = OneEuro::new(&gaze_smoothing(), 2, 1.0 / 30.0);
    let mut gaze = [0.0f32; 2];
    while !stop.load(Ordering::Acquire) {
        let Some((image, captured)) = frames.next_frame()? else { return Ok(()) };
        let Some(m) = tracker.step(&image)? else {
            filter.reset();
            gaze_filter.reset();
            gaze = [0.0; 2];
            events.send(HeadEvent::Lost);
            continue;
        };
        let Some(neutral) = calibration.push(m) else { continue };
        let mut angles = [
            (m.yaw_deg - neutral.yaw_deg) / MAX_HEAD_DEG,
            (m.pitch_deg - neutral.pitch_deg) / MAX_HEAD_DEG,
            (m.roll_deg - neutral.roll_deg) / MAX_HEAD_DEG,
        ];
        filter.step(&mut angles);
        let [yaw, pitch, roll] = angles.map(|a| (a * MAX_HEAD_DEG).clamp(-MAX_HEAD_DEG, MAX_HEAD_DEG));
        let blink = [0, 1].map(|eye| {
            let open = neutral.eye_open[eye].max(1e-3);
            ((1.0 - m.eye_open[eye] / open) / SHUT_SHARE).clamp(0.0, 1.0)
        });
        // A blink hides the irises: the gaze holds where it was.
        if let (Some(iris), Some(rest)) = (m.iris, neutral.iris) {
            gaze = [0, 1].map(|i| ((iris[i] - rest[i]) * GAZE_PER_HALF_WIDTH).clamp(-1.0, 1.0));
            gaze_filter.step(&mut gaze);
        }
        events.send(HeadEvent::Face { yaw_deg: yaw, pitch_deg: pitch, roll_deg: roll, blink, gaze, captured });
    }
    Ok(())
}

/// The render side: the newest head event, and the blend weight between the user's head and idle
/// motion, moved towards its target by the time between frames.
pub(super) struct HeadFollower {
    events: DropOldestReceiver<HeadEvent>,
    face: Option<HeadEvent>,
    seen_at: Option<Instant>,
    weight: f32,
    updated: Option<Instant>,
}

impl HeadFollower {
    pub fn new(events: DropOldestReceiver<HeadEvent>) -> Self {
        Self { events, face: None, seen_at: None, weight: 0.0, updated: None }
    }

    /// Takes what has arrived and returns the head to draw at `now`, with the instant its frame was
    /// captured; `None` while the avatar shows idle motion only.
    pub fn at(&mut self, now: Instant) -> Option<(HeadOverride, Instant)> {
        while let Ok(Some(e)) = self.events.try_recv() {
            if let HeadEvent::Face { .. } = e {
                self.face = Some(e);
                self.seen_at = Some(now);
            }
        }
        let following = self.seen_at.is_some_and(|t| now.saturating_duration_since(t) < LOST_AFTER);
        let dt = self.updated.map_or(Duration::ZERO, |u| now.saturating_duration_since(u));
        self.updated = Some(now);
        let step = dt.as_secs_f32() / FADE.as_secs_f32();
        self.weight = if following { (self.weight + step).min(1.0) } else { (self.weight - step).max(0.0) };
        match self.face {
            Some(HeadEvent::Face { yaw_deg, pitch_deg, roll_deg, blink, gaze, captured }) if self.weight > 0.0 => {
                Some((HeadOverride { yaw_deg, pitch_deg, roll_deg, blink, gaze, weight: self.weight }, captured))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(yaw_deg: f32, eye: f32) -> HeadMeasure {
        HeadMeasure { yaw_deg, pitch_deg: 2.0, roll_deg: -1.0, eye_open: [eye, eye], iris: None }
    }

    #[test]
    fn the_neutral_is_the_median_of_the_first_half_second() {
        let mut c = Calibration::default();
        for i in 0..CALIBRATION_FRAMES - 1 {
            assert!(c.push(measure(10.0 + i as f32 * 0.1, 0.3)).is_none());
        }
        // An outlier among them does not move the median.
        let n = c.push(measure(90.0, 0.0)).expect("calibrated");
        assert!((n.yaw_deg - 10.7).abs() < 1e-4 && n.eye_open[0] == 0.3, "{n:?}");
        assert_eq!(c.push(measure(0.0, 0.0)), Some(n), "the neutral stays");
    }

    #[test]
    fn the_follower_fades_in_with_a_face_and_back_to_idle_when_it_is_lost() {
        let (tx, rx) = drop_oldest::<HeadEvent>(8);
        let mut f = HeadFollower::new(rx);
        let t0 = Instant::now();
        assert!(f.at(t0).is_none(), "no face yet");
        tx.send(HeadEvent::Face {
            yaw_deg: 12.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            blink: [0.0; 2],
            gaze: [0.0; 2],
            captured: t0,
        });
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let (h, _) = f.at(ms(150)).expect("following");
        assert!((h.weight - 0.5).abs() < 1e-3 && h.yaw_deg == 12.0, "half way in after 150 of 300 ms: {h:?}");
        assert!(f.at(ms(300)).is_some_and(|(h, _)| h.weight == 1.0));
        // Lost frames say nothing new; 500 ms after the last face the weight falls back.
        tx.send(HeadEvent::Lost);
        assert!(f.at(ms(600)).is_some_and(|(h, _)| h.weight == 1.0), "450 ms without a face: still following");
        let (h, _) = f.at(ms(750)).expect("fading");
        assert!((h.weight - 0.5).abs() < 1e-3, "fading out after the face is lost: {h:?}");
        assert!(f.at(ms(1100)).is_none(), "idle again");
    }
}
