//! Choosing the pose a frame shows: the newest two samples kept, a short wait for a fresh one, and the
//! pose interpolated to the frame's time.
//!
//! Input: [`PoseSample`]s from the motion thread. Output: the frame's [`Pose`] and what it was made from
//! ([`FrameSource`]). Thread: the render thread.

use std::time::{Duration, Instant};

use super::motion::PoseSample;
use crate::pipeline::hop::{Expression, HeadOverride, frame_pose};
use crate::portrait::Rig;
use crate::queue::DropOldestReceiver;
use crate::vocab::{MotionParams, Pose};

/// A pose younger than this is fresh enough to draw at once.
const FRESH_POSE_AGE: Duration = Duration::from_millis(2);

/// What the frame being drawn was made from, kept until its hand-off.
#[derive(Clone, Copy)]
pub(super) struct FrameSource {
    pub arrival: Instant,
    pub host_delay: Option<Duration>,
    pub centre_at: Instant,
    pub smoothing_lag_secs: f32,
    pub params: MotionParams,
    pub audio_t_secs: f64,
    /// How long the newest pose waited in the queue.
    pub pose_queue: Duration,
    /// When the camera frame behind the head was captured, where the user's head drives it.
    pub head_captured: Option<Instant>,
}

impl FrameSource {
    /// How late a frame handed off at `presented` shows this sound: from the sound at the centre of
    /// the mel window to the hand-off, plus the model's `lookahead_secs` and the smoothing lag.
    pub fn lag_secs(&self, presented: Instant, lookahead_secs: f64) -> f64 {
        presented.saturating_duration_since(self.centre_at).as_secs_f64()
            + lookahead_secs
            + f64::from(self.smoothing_lag_secs)
    }
}

/// The newest two poses from the motion thread.
pub(super) struct PoseChooser {
    poses: DropOldestReceiver<PoseSample>,
    dropped_before_start: u64,
    newest: Option<PoseSample>,
    prev: Option<PoseSample>,
    /// `[motion] lips_meet_jaw`.
    lips_meet_jaw: f32,
}

impl PoseChooser {
    pub fn new(poses: DropOldestReceiver<PoseSample>, lips_meet_jaw: f32) -> Self {
        Self { poses, dropped_before_start: 0, newest: None, prev: None, lips_meet_jaw }
    }

    /// Forgets the poses that queued up while the renderer was being built: they are stale, not
    /// dropped frames' work.
    pub fn discard_stale(&mut self) {
        while let Ok(Some(_)) = self.poses.try_recv() {}
        self.dropped_before_start = self.poses.dropped();
    }

    /// Poses the queue dropped since the loop started.
    pub fn dropped(&self) -> u64 {
        self.poses.dropped() - self.dropped_before_start
    }

    /// Whether no pose waits in the queue.
    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }

    fn accept(&mut self, p: PoseSample, seen: &mut impl FnMut(&PoseSample)) {
        seen(&p);
        self.prev = self.newest.replace(p);
    }

    /// Takes every pose that has arrived, each shown to `seen` once.
    pub fn take_arrivals(&mut self, seen: &mut impl FnMut(&PoseSample)) {
        while let Ok(Some(p)) = self.poses.try_recv() {
            self.accept(p, seen);
        }
    }

    /// When the newest pose is older than [`FRESH_POSE_AGE`], waits for the next one until `deadline`:
    /// frames then lock onto the arrival of motion rather than show a pose up to a hop old. No wait
    /// once the input has ended.
    pub fn await_fresh(&mut self, deadline: Instant, input_ended: bool, seen: &mut impl FnMut(&PoseSample)) {
        self.take_arrivals(seen);
        let Some(newest) = &self.newest else { return };
        if newest.sent.elapsed() < FRESH_POSE_AGE || input_ended {
            return;
        }
        let now = Instant::now();
        if now < deadline
            && let Ok(Some(p)) = self.poses.recv_timeout(deadline - now)
        {
            self.accept(p, seen);
        }
    }

    /// Sets `pose` for a frame at `now` and says what it was made from; `None` (the portrait at rest)
    /// before any audio. The pose is interpolated to the frame's time on the arrival clock; in live use
    /// that is at or past the newest pose, which is then taken as it is.
    pub fn choose(
        &self,
        rig: &Rig,
        now: Instant,
        head: Option<(HeadOverride, Instant)>,
        expression: Option<&Expression>,
        pose: &mut Pose,
    ) -> Option<FrameSource> {
        let Some(newest) = &self.newest else {
            // No audio yet: the portrait at rest (with the user's head, where it drives the avatar's), its
            // lips as the jaw at rest leaves them.
            *pose = rig.rest_pose();
            let rest =
                crate::pipeline::hop::HopOutput { params: MotionParams::default(), idle: MotionParams::default() };
            let head = head.as_ref().map(|(h, _)| h);
            frame_pose(rig, (&rest, &rest, 0.0), (head, expression), self.lips_meet_jaw, pose);
            return None;
        };
        let (from, f) = match &self.prev {
            Some(prev) if newest.arrival > prev.arrival && now < newest.arrival => {
                let f = now.saturating_duration_since(prev.arrival).as_secs_f32()
                    / (newest.arrival - prev.arrival).as_secs_f32();
                (prev, f)
            }
            _ => (newest, 0.0),
        };
        let params = frame_pose(
            rig,
            (&from.out, &newest.out, f),
            (head.as_ref().map(|(h, _)| h), expression),
            self.lips_meet_jaw,
            pose,
        );
        Some(FrameSource {
            arrival: newest.arrival,
            host_delay: newest.host_delay,
            centre_at: newest.centre_at,
            smoothing_lag_secs: newest.smoothing_lag_secs,
            params,
            audio_t_secs: from.audio_t_secs + (newest.audio_t_secs - from.audio_t_secs) * f64::from(f),
            pose_queue: now.saturating_duration_since(newest.sent),
            head_captured: head.map(|(_, captured)| captured),
        })
    }
}
