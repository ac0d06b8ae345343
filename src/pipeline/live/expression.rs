//! The expression the control API holds (`POST /expression`): smile, brows, gaze and head, each blended
//! in over `blend_secs` and held until changed; a `null` blends it back to the motion's own.
//!
//! Input: changes from the control server's tasks. Output: the [`Expression`] a frame lays over its
//! motion. Thread: the control server's tasks write, the render thread reads once a frame; one short
//! lock between them (never the audio thread's).

use std::sync::Mutex;
use std::time::Instant;

use crate::output::stream::control::{ExpressionRequest, HeadRequest};
use crate::pipeline::hop::{Expression, Held};

/// The parameters, in [`Expression`]'s order.
const NAMES: [&str; 7] = ["smile", "brow_raise", "gaze_x", "gaze_y", "head_yaw_deg", "head_pitch_deg", "head_roll_deg"];

/// One parameter's blend from what it held to what it is to hold.
#[derive(Clone, Copy)]
struct Blend {
    from: Held,
    to: Held,
    start: Instant,
    secs: f32,
}

impl Blend {
    fn at(&self, now: Instant) -> Held {
        let s = if self.secs <= 0.0 {
            1.0
        } else {
            (now.saturating_duration_since(self.start).as_secs_f32() / self.secs).clamp(0.0, 1.0)
        };
        if s >= 1.0 {
            return self.to;
        }
        let s = s * s * (3.0 - 2.0 * s);
        // A value fades in or out at its own level; between two held values it moves.
        let value = if self.from.weight == 0.0 {
            self.to.value
        } else if self.to.weight == 0.0 {
            self.from.value
        } else {
            self.from.value + (self.to.value - self.from.value) * s
        };
        Held { value, weight: self.from.weight + (self.to.weight - self.from.weight) * s }
    }
}

/// What the API holds now, shared by the control server and the render thread.
pub(super) struct ExpressionState {
    blends: Mutex<[Blend; 7]>,
}

impl ExpressionState {
    pub fn new() -> Self {
        let idle = Blend { from: Held::default(), to: Held::default(), start: Instant::now(), secs: 0.0 };
        Self { blends: Mutex::new([idle; 7]) }
    }

    /// Applies a request from `now` on: each field given starts a blend to its value, or back to the
    /// motion's own for `null`; fields left out keep what they hold.
    pub fn apply(&self, request: &ExpressionRequest, now: Instant) {
        // `head` absent: the angles as they are; null: all three back to the motion; else each its own.
        let angle = |pick: fn(&HeadRequest) -> Option<Option<f32>>| match request.head {
            None => None,
            Some(None) => Some(None),
            Some(Some(h)) => pick(&h),
        };
        let changes: [Option<Option<f32>>; 7] = [
            request.smile,
            request.brow_raise,
            request.gaze.map(|g| g.map(|[x, _]| x)),
            request.gaze.map(|g| g.map(|[_, y]| y)),
            angle(|h| h.yaw_deg),
            angle(|h| h.pitch_deg),
            angle(|h| h.roll_deg),
        ];
        let secs = request.blend_secs.unwrap_or(ExpressionRequest::DEFAULT_BLEND_SECS);
        let mut blends = self.blends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (blend, change) in blends.iter_mut().zip(changes) {
            let Some(change) = change else { continue };
            let from = blend.at(now);
            let to = match change {
                Some(value) => Held { value, weight: 1.0 },
                None => Held { value: from.value, weight: 0.0 },
            };
            *blend = Blend { from, to, start: now, secs };
        }
    }

    /// The expression at `now`; `None` when nothing is held or fading.
    pub fn at(&self, now: Instant) -> Option<Expression> {
        let blends = self.blends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h: [Held; 7] = std::array::from_fn(|i| blends[i].at(now));
        if h.iter().all(|held| held.weight == 0.0) {
            return None;
        }
        Some(Expression {
            smile: h[0],
            brow_raise: h[1],
            gaze: [h[2], h[3]],
            head_yaw_deg: h[4],
            head_pitch_deg: h[5],
            head_roll_deg: h[6],
        })
    }

    /// What is held (the targets), for the API's answer: each parameter's value, or null.
    pub fn held_json(&self) -> serde_json::Value {
        let blends = self.blends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = serde_json::Map::new();
        for (name, b) in NAMES.iter().zip(blends.iter()) {
            let value = (b.to.weight > 0.0).then_some(b.to.value);
            out.insert((*name).to_owned(), serde_json::json!(value));
        }
        serde_json::Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(json: &str) -> ExpressionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn values_blend_in_hold_and_blend_back_to_the_motion() {
        let state = ExpressionState::new();
        let t0 = Instant::now();
        assert!(state.at(t0).is_none(), "nothing held: the motion's own");
        state.apply(&request(r#"{"smile": 0.6, "head": {"yaw_deg": 10}, "blend_secs": 1.0}"#), t0);
        let half = state.at(t0 + Duration::from_millis(500)).unwrap();
        assert_eq!((half.smile.value, half.smile.weight), (0.6, 0.5));
        assert_eq!(half.head_yaw_deg.value, 10.0);
        assert_eq!(half.brow_raise.weight, 0.0, "fields left out are not touched");
        let held = state.at(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!((held.smile.over(0.1), held.head_yaw_deg.over(-3.0)), (0.6, 10.0));
        // Another value moves from the held one; null fades back to the motion at the held level.
        let t1 = t0 + Duration::from_secs(5);
        state.apply(&request(r#"{"smile": 0.2, "head": {"yaw_deg": null}, "blend_secs": 0.0}"#), t1);
        let now = state.at(t1).unwrap();
        assert_eq!((now.smile.value, now.smile.weight), (0.2, 1.0));
        assert_eq!((now.head_yaw_deg.weight, now.head_yaw_deg.over(-3.0)), (0.0, -3.0));
        assert_eq!(state.held_json()["smile"], serde_json::json!(0.2f32));
        assert_eq!(state.held_json()["head_yaw_deg"], serde_json::Value::Null);
        state.apply(&request(r#"{"smile": null, "blend_secs": 0}"#), t1);
        assert!(state.at(t1).is_none(), "all released");
    }

    #[test]
    fn head_null_releases_every_angle() {
        let state = ExpressionState::new();
        let t0 = Instant::now();
        state.apply(&request(r#"{"head": {"yaw_deg": 5, "pitch_deg": 3, "roll_deg": 2}, "blend_secs": 0}"#), t0);
        assert_eq!(state.at(t0).unwrap().head_roll_deg.weight, 1.0);
        state.apply(&request(r#"{"head": {"pitch_deg": -4}, "blend_secs": 0}"#), t0);
        let e = state.at(t0).unwrap();
        assert_eq!((e.head_yaw_deg.value, e.head_pitch_deg.value), (5.0, -4.0), "only pitch changed");
        state.apply(&request(r#"{"head": null, "blend_secs": 0}"#), t0);
        assert!(state.at(t0).is_none());
    }
}
