//! The per-hop chain and the pose at a frame's time, both shared by the offline render and the live loop.
//!
//! Input: one 10 ms hop of 16 kHz samples. Output: the smoothed motion parameters of that hop
//! ([`HopOutput`]); and, per video frame, the pose the rig makes of the parameters at the frame's time
//! ([`frame_pose`]). Thread: the offline render's one thread; live, the motion thread steps the chain
//! and the render thread poses frames.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::features::LogMel;
use crate::motion::MotionModel;
use crate::motion::idle::IdleMotion;
use crate::motion::smooth::ParamSmoother;
use crate::portrait::Rig;
use crate::vocab::clock::{HOP_SAMPLES, HOP_SECS, N_FFT};
use crate::vocab::{MotionParams, Pose};

use super::PipelineError;

/// What one hop produced, besides the pose written into the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct HopOutput {
    /// The speech parameters with the slow idle motion (sway, nods, breath) added, smoothed: what drove
    /// the rig.
    pub params: MotionParams,
    /// The fast idle motion (blinks, gaze), kept out of the filter and added after smoothing.
    pub idle: MotionParams,
}

impl HopOutput {
    /// The parameters a frame shows: the rig's, with the idle blinks and gaze (kept out of the filter)
    /// added back.
    pub fn frame_params(&self) -> MotionParams {
        let mut p = self.params;
        p.blink_right = p.blink_right.max(self.idle.blink_right);
        p.blink_left = p.blink_left.max(self.idle.blink_left);
        p.gaze_x += self.idle.gaze_x;
        p.gaze_y += self.idle.gaze_y;
        p
    }

    /// Linear interpolation from `self` (f = 0) to `other` (f = 1).
    pub fn lerp(&self, other: &Self, f: f32) -> Self {
        Self { params: self.params.lerp(&other.params, f), idle: self.idle.lerp(&other.idle, f) }
    }
}

/// The user's own head, from a camera, laid over a frame's motion (`--head-from`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadOverride {
    /// Head angles, degrees, in the rig's convention.
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub roll_deg: f32,
    /// Each eye shut, 0..1 (the person's right, left).
    pub blink: [f32; 2],
    /// Where the eyes look (across, down), -1..1.
    pub gaze: [f32; 2],
    /// How much of the head is the user's (1) rather than idle motion's (0): the fade in and out.
    pub weight: f32,
}

/// One value the control API holds, and how much of the frame's own value it replaces: 0 the motion's
/// own, 1 the held value, between while a blend is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Held {
    pub value: f32,
    pub weight: f32,
}

impl Held {
    /// `frame`'s value with this laid over it.
    pub fn over(&self, frame: f32) -> f32 {
        frame + (self.value - frame) * self.weight
    }
}

/// What the control API holds (`POST /expression`), laid over a frame's motion after the user's head.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expression {
    pub smile: Held,
    pub brow_raise: Held,
    /// Where the eyes look (across, down), -1..1; the idle saccades give way by the same weight.
    pub gaze: [Held; 2],
    /// Head angles, degrees; the speech's nods give way by the pitch's weight.
    pub head_yaw_deg: Held,
    pub head_pitch_deg: Held,
    pub head_roll_deg: Held,
}

/// The pose a frame shows, `f` of the way from hop `a` to hop `b` (0..1): the parameters interpolated,
/// `head` laid over them where the user's head drives the avatar's, then `expression` where the control
/// API holds one, the rig driven by the smoothed ones and the eyes set from those with the blinks and
/// gaze. The lips meet as the jaw shuts below `lips_meet_jaw` (`[motion] lips_meet_jaw`; after all
/// smoothing, so they follow the jaw the frame shows). Returns the parameters the frame shows. Allocates
/// nothing (`pose` comes from [`Rig::rest_pose`]).
pub fn frame_pose(
    rig: &Rig,
    (a, b, f): (&HopOutput, &HopOutput, f32),
    (head, expression): (Option<&HeadOverride>, Option<&Expression>),
    lips_meet_jaw: f32,
    pose: &mut Pose,
) -> MotionParams {
    let mut at = a.lerp(b, f);
    crate::motion::lips_meet_as_the_jaw_shuts(&mut at.params, lips_meet_jaw);
    if let Some(h) = head {
        let mix = |x: f32, y: f32| x + (y - x) * h.weight;
        at.params.head_yaw_deg = mix(at.params.head_yaw_deg, h.yaw_deg);
        at.params.head_pitch_deg = mix(at.params.head_pitch_deg, h.pitch_deg);
        at.params.head_roll_deg = mix(at.params.head_roll_deg, h.roll_deg);
        // The user nods themselves; the speech's emphasis nods would come on top.
        at.params.nod *= 1.0 - h.weight;
        at.idle.blink_right = mix(at.idle.blink_right, h.blink[0]);
        at.idle.blink_left = mix(at.idle.blink_left, h.blink[1]);
        // The user's eyes in place of the idle saccades.
        at.params.gaze_x = mix(at.params.gaze_x, h.gaze[0]);
        at.params.gaze_y = mix(at.params.gaze_y, h.gaze[1]);
        at.idle.gaze_x *= 1.0 - h.weight;
        at.idle.gaze_y *= 1.0 - h.weight;
    }
    if let Some(e) = expression {
        let p = &mut at.params;
        p.smile = e.smile.over(p.smile);
        p.brow_raise = e.brow_raise.over(p.brow_raise);
        p.head_yaw_deg = e.head_yaw_deg.over(p.head_yaw_deg);
        p.head_pitch_deg = e.head_pitch_deg.over(p.head_pitch_deg);
        p.head_roll_deg = e.head_roll_deg.over(p.head_roll_deg);
        p.nod *= 1.0 - e.head_pitch_deg.weight;
        // The idle saccades are added to the gaze later (frame_params): they give way too.
        for (held, (gaze, idle)) in
            e.gaze.iter().zip([(&mut p.gaze_x, &mut at.idle.gaze_x), (&mut p.gaze_y, &mut at.idle.gaze_y)])
        {
            *gaze = held.over(*gaze);
            *idle *= 1.0 - held.weight;
        }
    }
    rig.drive(&at.params, pose);
    let params = at.frame_params();
    rig.set_eyes(&params, pose);
    params
}

/// Time spent in each part of the last [`HopChain::step`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HopTimes {
    /// Log-mel.
    pub mel: Duration,
    /// Motion model and idle motion.
    pub motion: Duration,
    /// One Euro filter.
    pub smooth: Duration,
}

/// Log-mel, the motion model, idle motion and the One Euro filter, stepped one hop at a time (a
/// streaming module: [`step`](Self::step), [`reset`](Self::reset)).
pub struct HopChain {
    mel: LogMel,
    model: MotionModel,
    noise: Option<NoiseBlend>,
    idle: IdleMotion,
    smoother: ParamSmoother,
    /// Times of the last step.
    pub times: HopTimes,
}

impl HopChain {
    /// A chain driven by `model`, with the config's idle motion and smoothing.
    pub fn new(model: MotionModel, cfg: &Config) -> Self {
        Self {
            mel: LogMel::new(),
            model,
            noise: None,
            idle: IdleMotion::new(&cfg.idle),
            smoother: ParamSmoother::new(&cfg.smoothing, HOP_SECS as f32),
            times: HopTimes::default(),
        }
    }

    /// The motion model.
    pub fn model(&self) -> &MotionModel {
        &self.model
    }

    /// The smoothing lag of the mouth at the last step, seconds ([`ParamSmoother::mouth_lag_secs`]).
    pub fn mouth_lag_secs(&self) -> f32 {
        self.smoother.mouth_lag_secs()
    }

    /// Adds a model for noisy speech: [`step_in_noise`](Self::step_in_noise) blends its parameters into
    /// the main model's by how noisy each hop is. It hears the same mel frames and must look as far
    /// ahead as the main model, so that their outputs speak for the same hop.
    ///
    /// # Errors
    /// [`PipelineError::Invalid`] when the two models' lookaheads differ.
    pub fn with_noise_model(mut self, model: MotionModel) -> Result<Self, PipelineError> {
        let (main, noisy) = (self.model.lookahead_frames(), model.lookahead_frames());
        if main != noisy {
            return Err(PipelineError::Invalid(format!(
                "the noise model {} looks {noisy} hops ahead, the motion model {} {main}: they must agree",
                model.name(),
                self.model.name()
            )));
        }
        // Hops wait for the first window (N_FFT) and the lookahead.
        let capacity = main + N_FFT.div_ceil(HOP_SAMPLES) + 1;
        self.noise = Some(NoiseBlend { model, mix: VecDeque::with_capacity(capacity) });
        Ok(self)
    }

    /// Feeds one hop. Once the first analysis window is full, returns the hop's smoothed parameters;
    /// before that, `None`.
    ///
    /// # Errors
    /// A feature or model error.
    pub fn step(&mut self, hop: &[f32; HOP_SAMPLES]) -> Result<Option<HopOutput>, PipelineError> {
        self.step_in_noise(hop, 0.0)
    }

    /// [`step`](Self::step) for a hop `noise_mix` noisy (0 clean .. 1 noisy; the noise the denoiser
    /// left, [`crate::audio::Denoiser::take_hop_noise`]): with a noise model
    /// ([`with_noise_model`](Self::with_noise_model)) the parameters are the main model's blended that
    /// far toward the noise model's, each by the mix of the hop it speaks for (a model with lookahead
    /// speaks for a hop fed earlier). At 0 they are the main model's alone, to the bit.
    ///
    /// # Errors
    /// A feature or model error.
    pub fn step_in_noise(
        &mut self,
        hop: &[f32; HOP_SAMPLES],
        noise_mix: f32,
    ) -> Result<Option<HopOutput>, PipelineError> {
        let s = Instant::now();
        let frame = self.mel.step(hop)?;
        self.times.mel = s.elapsed();
        if let Some(n) = self.noise.as_mut() {
            n.mix.push_back(noise_mix);
        }
        let Some(frame) = frame else { return Ok(None) };
        let s = Instant::now();
        let mut params = self.model.step(frame)?;
        if let Some(n) = self.noise.as_mut() {
            let noisy = n.model.step(frame)?;
            // This output is for the frame `lookahead` before this one, and so that hop's mix; before the
            // first such, the front.
            let speaks_for_a_hop = self.mel.frames_out() > self.model.lookahead_frames();
            let mix = if speaks_for_a_hop { n.mix.pop_front() } else { n.mix.front().copied() };
            let mix = mix.unwrap_or(0.0).clamp(0.0, 1.0);
            if mix >= 1.0 {
                params = noisy;
            } else if mix > 0.0 {
                params = params.lerp(&noisy, mix);
            }
        }
        let mut idle = MotionParams::default();
        self.idle.step(HOP_SECS, &params, &mut idle);
        // Head sway, nods and breathing are slow: they go through the rig and the filter with the speech.
        // Blinks and saccades are clean by construction: they are kept apart and added after smoothing.
        params.head_yaw_deg += idle.head_yaw_deg;
        params.head_pitch_deg += idle.head_pitch_deg;
        params.head_roll_deg += idle.head_roll_deg;
        params.breath += idle.breath;
        params.nod += idle.nod;
        self.times.motion = s.elapsed();
        let s = Instant::now();
        self.smoother.step(&mut params);
        self.times.smooth = s.elapsed();
        Ok(Some(HopOutput { params, idle }))
    }

    /// Forgets all history (mel window, model state, filter); idle motion keeps its clock.
    pub fn reset(&mut self) {
        self.mel.reset();
        self.model.reset();
        if let Some(n) = self.noise.as_mut() {
            n.model.reset();
            n.mix.clear();
        }
        self.smoother.reset();
    }
}

/// The noise model of a [`HopChain`], and the mix of each hop fed whose parameters are still to come.
struct NoiseBlend {
    model: MotionModel,
    /// Front: the mix of the oldest hop not yet given out.
    mix: VecDeque<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::{live_model, noise_model, quality_model};
    use crate::onnx::ModelSource;

    /// A chain whose output is the models' parameters as they are: no idle motion, no filter.
    fn bare_chain(main: &ModelSource, noisy: Option<&ModelSource>) -> Result<HopChain, PipelineError> {
        let mut cfg = Config { idle: crate::config::IdleConfig::still(), ..Config::default() };
        cfg.smoothing.enabled = false;
        let chain = HopChain::new(MotionModel::load(main, 1).unwrap(), &cfg);
        match noisy {
            Some(n) => chain.with_noise_model(MotionModel::load(n, 1).unwrap()),
            None => Ok(chain),
        }
    }

    /// Noise bursts a syllable long, loud enough to move the mouth.
    fn bursts(hops: usize) -> Vec<[f32; HOP_SAMPLES]> {
        let mut rng = fastrand::Rng::with_seed(5);
        (0..hops)
            .map(|h| {
                let amp = if (h / 15) % 2 == 0 { 0.3 } else { 0.0 };
                std::array::from_fn(|_| amp * (rng.f32() * 2.0 - 1.0))
            })
            .collect()
    }

    fn run(chain: &mut HopChain, hops: &[[f32; HOP_SAMPLES]], mix: impl Fn(usize) -> f32) -> Vec<MotionParams> {
        hops.iter()
            .enumerate()
            .filter_map(|(h, hop)| chain.step_in_noise(hop, mix(h)).unwrap())
            .map(|o| o.params)
            .collect()
    }

    /// Each output is the main model's while the hop it speaks for is clean, to the bit, and the noise
    /// model's once that hop is noisy: the mix waits out the mel window and the lookahead with its hop.
    #[test]
    fn the_noise_model_takes_over_from_the_hop_the_mix_says() {
        let hops = bursts(200);
        let switch = 90;
        let clean = run(&mut bare_chain(&quality_model(), None).unwrap(), &hops, |_| 0.0);
        let noisy = run(&mut bare_chain(&noise_model(), None).unwrap(), &hops, |_| 0.0);
        let mut chain = bare_chain(&quality_model(), Some(&noise_model())).unwrap();
        let lookahead = chain.model().lookahead_frames();
        assert!(lookahead > 0, "the test shows the lookahead's delay only with one");
        let blended = run(&mut chain, &hops, |h| if h >= switch { 1.0 } else { 0.0 });
        assert_eq!(blended.len(), clean.len());
        let differ = (0..clean.len()).filter(|&m| clean[m].jaw_open != noisy[m].jaw_open).count();
        assert!(differ > clean.len() / 2, "the two models must differ for the test to show anything");
        for (m, got) in blended.iter().enumerate() {
            // Output m speaks for the hop `lookahead` before it.
            let want = if m < switch + lookahead { &clean[m] } else { &noisy[m] };
            assert_eq!(got, want, "output {m}");
        }
        // Half way: half way between, parameter by parameter.
        chain.reset();
        let half = run(&mut chain, &hops, |_| 0.5);
        for m in 0..half.len() {
            let want = clean[m].lerp(&noisy[m], 0.5);
            assert!((half[m].jaw_open - want.jaw_open).abs() < 1e-6, "output {m}");
        }
    }

    #[test]
    fn a_noise_model_must_look_as_far_ahead() {
        let err = bare_chain(&quality_model(), Some(&live_model())).err().expect("lookaheads 20 and 0 must not pair");
        assert!(err.to_string().contains("must agree"), "{err}");
    }
}
