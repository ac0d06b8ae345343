//! The offline render: a portrait and an audio file in, an MP4 (and the optional motion JSONL, frames,
//! raw frames and contact sheet) out, on the caller's thread.
//!
//! It streams: the audio is decoded packet by packet, resampled to 16 kHz as it comes, denoised where
//! it is noisy (`[audio] denoise`, [`Denoiser`]), cut into hops
//! that step the motion chain, and each video frame is drawn as soon as the hops around its time are
//! smoothed; what the muxer needs goes to a temporary file. Memory does not grow with the audio's
//! length. The one pass that looks ahead, the backward half of the zero-phase filter, runs over blocks
//! with a window past each block long enough for the filter to forget where it started (its slowest
//! pole decays to 1e-12 over the window), so the blocks join as one backward pass over the whole would.
//!
//! Every output is staged ([`Staged`]) before the work and committed only when all of it succeeded; a
//! stop flag (SIGINT, SIGTERM) ends the render with [`PipelineError::Interrupted`] and nothing left.
//!
//! Input: a [`RenderJob`]. Output: the files it names and a [`RenderSummary`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use image::RgbaImage;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audio::{AudioError, AudioStream, Denoiser, Resampler16k};
use crate::config::{BackgroundMode, SmoothingConfig};
use crate::gpu::GpuContext;
use crate::motion::smooth::ParamSmoother;
use crate::output::{self, Frame, FrameSink, MotionWriter, Mp4Writer, OutputError, PngSequence, RawFrames, Staged};
use crate::portrait::Rig;
use crate::render::WarpRenderer;
use crate::vocab::clock::{self, HOP_SAMPLES, HOP_SECS, N_FFT};
use crate::vocab::{FrameGeometry, MotionParams, Pose};

use super::hop::{HopChain, HopOutput, frame_pose};
use super::{
    Input, MotionScratch, PipelineError, RecordTime, RenderJob, RenderSummary, StageTimings, backdrop, backdrop_image,
    load_motion_model, load_noise_model, prepare_portrait, warm_up,
};

/// [`PipelineError::Interrupted`] once the job's stop flag is set.
fn check_stop(job: &RenderJob) -> Result<(), PipelineError> {
    if job.stop.load(Ordering::Acquire) { Err(PipelineError::Interrupted) } else { Ok(()) }
}

/// Where a path leads: through links to the file itself (`dev`, `inode`) where it exists, else the
/// canonical folder joined with the name.
#[derive(PartialEq)]
enum Resolved {
    Existing(u64, u64),
    New(PathBuf),
}

fn resolve(path: &Path) -> Resolved {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(m) = std::fs::metadata(path) {
        return Resolved::Existing(m.dev(), m.ino());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    Resolved::New(dir.join(path.file_name().unwrap_or_default()))
}

/// Refuses a job whose outputs would overwrite one of its inputs (the audio, the portrait, the config's
/// background picture), through links too, or each other: that is data lost for good.
fn check_output_paths(job: &RenderJob) -> Result<(), PipelineError> {
    let mut inputs: Vec<(&str, &Path)> = Vec::new();
    if let Input::File(p) = &job.audio {
        inputs.push(("--audio", p));
    }
    if let Input::File(p) = &job.portrait {
        inputs.push(("--portrait", p));
    }
    if let Some(p) = &job.config.background.image {
        inputs.push(("the background image", p));
    }
    let mut outputs: Vec<(&str, &Path)> = vec![("--output", &job.output)];
    outputs.extend(job.motion_out.as_deref().map(|p| ("--motion-out", p)));
    outputs.extend(job.sheet_out.as_deref().map(|p| ("--sheet", p)));
    outputs.extend(job.frames_dir.as_deref().map(|p| ("--frames-dir", p)));
    outputs.extend(job.raw_out.as_deref().filter(|p| !RawFrames::is_stdout(p)).map(|p| ("--raw-out", p)));
    for (i, (what, out)) in outputs.iter().enumerate() {
        let r = resolve(out);
        for (input, path) in &inputs {
            if resolve(path) == r {
                return Err(PipelineError::Invalid(format!(
                    "{what} {} is {input} {}: writing it would destroy the input; choose another output path",
                    out.display(),
                    path.display()
                )));
            }
        }
        for (other, path) in &outputs[..i] {
            if resolve(path) == r {
                return Err(PipelineError::Invalid(format!(
                    "{what} {} is also {other}: give each output its own path",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// The backward half of the zero-phase filter over a stream of forward-filtered hops, in blocks: each
/// block is filtered backward from `window` hops past its end with a fresh filter, which has forgotten
/// its start by the time it reaches the block. Without `offline_zero_phase` hops pass straight through.
struct BackwardPass {
    cfg: SmoothingConfig,
    /// Forward-filtered hops not yet filtered backward.
    pending: VecDeque<HopOutput>,
    block: usize,
    window: usize,
}

impl BackwardPass {
    fn new(cfg: &SmoothingConfig) -> Self {
        // The slowest pole is the filter at rest: alpha at min_cutoff_hz. After `window` steps a start
        // error is (1 - alpha)^window of itself: 1e-12, far below f32's resolution.
        let dt = HOP_SECS as f32;
        let alpha = 1.0 / (1.0 + 1.0 / (std::f32::consts::TAU * cfg.min_cutoff_hz.max(1e-3) * dt));
        let window = ((1e-12f64).ln() / f64::from(1.0 - alpha).ln()).ceil().clamp(50.0, 60_000.0) as usize;
        Self { cfg: cfg.clone(), pending: VecDeque::new(), block: window.max(200), window }
    }

    /// Takes one forward-filtered hop; moves the hops that are final into `done`.
    fn push(&mut self, hop: HopOutput, done: &mut VecDeque<HopOutput>) {
        if !(self.cfg.enabled && self.cfg.offline_zero_phase) {
            done.push_back(hop);
            return;
        }
        self.pending.push_back(hop);
        if self.pending.len() >= self.block + self.window {
            let mut filter = ParamSmoother::new(&self.cfg, HOP_SECS as f32);
            let mut tail: Vec<HopOutput> = self.pending.iter().copied().collect();
            for h in tail.iter_mut().rev() {
                filter.step(&mut h.params);
            }
            done.extend(&tail[..self.block]);
            self.pending.drain(..self.block);
        }
    }

    /// At the end of the stream: the rest, filtered backward from the true end.
    fn finish(&mut self, done: &mut VecDeque<HopOutput>) {
        let mut filter = ParamSmoother::new(&self.cfg, HOP_SECS as f32);
        let mut rest: Vec<HopOutput> = self.pending.drain(..).collect();
        for h in rest.iter_mut().rev() {
            filter.step(&mut h.params);
        }
        done.extend(rest);
    }
}

/// The frame side of the render: rig, draw, encode and write one frame.
struct FrameWriter<'a> {
    job: &'a RenderJob,
    rig: &'a Rig,
    ctx: &'a GpuContext,
    renderer: WarpRenderer,
    pose: Pose,
    /// The MP4 and the frame files.
    sinks: Vec<Box<dyn FrameSink>>,
    motion_out: Option<MotionWriter>,
    record_scratch: MotionScratch,
    /// The contact sheet's frames: every `sheet_every`-th, 12 of them (up to 24 when the length is not
    /// known ahead; then every other one is dropped and the step doubles).
    sheet: Vec<(RgbaImage, f32)>,
    sheet_every: u64,
    sheet_known: bool,
    sum_open: f64,
    max_open: f32,
    frames: u64,
}

impl FrameWriter<'_> {
    /// Draws frame `n`, `f` of the way from hop `a` to hop `b`.
    fn draw(
        &mut self,
        n: u64,
        (a, b, f): (&HopOutput, &HopOutput, f32),
        t: &mut StageTimings,
    ) -> Result<(), PipelineError> {
        let t_secs = self.job.frame.frame_secs(n);
        let params =
            frame_pose(self.rig, (a, b, f), (None, None), self.job.config.motion.lips_meet_jaw, &mut self.pose);
        let mouth_open = self.rig.mouth_open(&self.pose);
        self.sum_open += f64::from(mouth_open);
        self.max_open = self.max_open.max(mouth_open);

        let s = Instant::now();
        let rgba = self.renderer.render(self.ctx, &self.pose)?;
        t.render.add(s.elapsed(), 1);
        if self.job.sheet_out.is_some()
            && n.is_multiple_of(self.sheet_every)
            && (!self.sheet_known || self.sheet.len() < 12)
        {
            let (width, height) = (self.job.frame.width_px(), self.job.frame.height_px());
            self.sheet.push((RgbaImage::from_raw(width, height, rgba.to_vec()).expect("frame size"), mouth_open));
            if !self.sheet_known && self.sheet.len() == 24 {
                let kept: Vec<_> = std::mem::take(&mut self.sheet).into_iter().step_by(2).collect();
                self.sheet = kept;
                self.sheet_every *= 2;
            }
        }
        let s = Instant::now();
        let frame = Frame { index: n, rgba, presented: s, motion_lag_secs: None, marker: None };
        for sink in &mut self.sinks {
            sink.write(&frame)?;
        }
        t.encode.add(s.elapsed(), 1);
        if let Some(w) = self.motion_out.as_mut() {
            // Offline the frame at `t_secs` shows the sound at `t_secs`.
            let time = RecordTime { t_secs, audio_t_secs: Some(t_secs) };
            self.record_scratch.write(w, n, time, mouth_open, &self.pose, &params)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// The sheet's 12 frames, spread over the render.
    fn sheet_frames(&mut self) -> (Vec<RgbaImage>, Vec<f32>) {
        let all = std::mem::take(&mut self.sheet);
        let step = all.len().div_ceil(12).max(1);
        all.into_iter().step_by(step).take(12).unzip()
    }
}

/// Hop `k`'s output with its mouth from `mouth`, the phone-timed track (`render --text`), where that
/// covers the sound at the centre of mel frame `k`.
fn with_timed_mouth(h: &HopOutput, k: usize, mouth: Option<&[MotionParams]>) -> HopOutput {
    let mut h = *h;
    let hop = (clock::frame_centre_secs(k) / HOP_SECS).round() as usize;
    if let Some(m) = mouth.zip(hop.checked_sub(1)).and_then(|(track, i)| track.get(i)) {
        h.params.take_mouth(m);
    }
    h
}

/// Where frame `n`'s time falls among the hops: the hop before it and the fraction to the next.
fn hop_position(n: u64, frame: FrameGeometry) -> f64 {
    ((frame.frame_secs(n) - clock::frame_centre_secs(0)) / HOP_SECS).max(0.0)
}

/// Renders a portrait speaking an audio file, offline.
///
/// # Errors
/// The first [`PipelineError`] any stage raises; nothing is left under an output's name, and no
/// temporary beside it.
pub fn render_offline(job: &RenderJob) -> Result<RenderSummary, PipelineError> {
    let wall = Instant::now();
    let cfg = &job.config;
    cfg.validate()?;
    // The background settings and picture next: cheaper to reject than the audio or the portrait.
    let bg = &cfg.background;
    if bg.mode == BackgroundMode::Alpha && job.frames_dir.is_none() && job.raw_out.is_none() {
        return Err(PipelineError::Invalid(
            "background mode alpha needs --frames-dir or --raw-out (an MP4 has no alpha; the MP4 shows the person \
             over black)"
                .into(),
        ));
    }
    check_output_paths(job)?;
    let backdrop_image = backdrop_image(cfg)?;
    // Every output is opened (staged under a temporary name) before the work starts: a path that cannot
    // be written fails now, not after the render, and nothing appears under a final name until the end.
    // The sinks are finished in this order, the MP4 (its mux the slowest step) last.
    let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
    if let Some(dir) = job.frames_dir.as_deref() {
        sinks.push(Box::new(PngSequence::create(dir, job.frame)?));
    }
    if let Some(path) = job.raw_out.as_deref() {
        sinks.push(Box::new(RawFrames::create(path, job.frame)?));
    }
    let over_black = bg.mode == BackgroundMode::Alpha;
    sinks.push(Box::new(Mp4Writer::create(&job.output, job.frame, over_black, &cfg.output)?));
    let motion_out = job.motion_out.as_deref().map(MotionWriter::create).transpose()?;
    let sheet_stage = job
        .sheet_out
        .as_deref()
        .map(|p| -> Result<Staged, OutputError> {
            let stage = Staged::file(p)?;
            std::fs::File::create(stage.path()).map_err(|source| OutputError::Io { path: p.to_owned(), source })?;
            Ok(stage)
        })
        .transpose()?;
    let mut t = StageTimings::default();

    // Then the audio: the cheapest input file to reject (its header is read here, its body as it goes).
    let start = Instant::now();
    let mut stream = match &job.audio {
        Input::File(p) => AudioStream::open_file(p)?,
        Input::Bundled { name, bytes } => AudioStream::open_bytes(bytes, Path::new(name))?,
    };
    t.decode.add(start.elapsed(), 0);
    let audio_name = stream.path().to_owned();

    let start = Instant::now();
    let portrait = prepare_portrait(&job.portrait, cfg)?;
    t.portrait.add(start.elapsed(), 1);
    let model = load_motion_model(cfg, false)?;
    // The chain is built before the GPU, so that a noise model that does not fit fails first.
    let motion_model_name = format!("{} ({}, {})", model.name(), model.kind(), model.provider());
    let lookahead = model.lookahead_frames();
    let mut chain = HopChain::new(model, cfg);
    let motion_model_name = match load_noise_model(cfg)? {
        Some(noisy) => {
            let name = format!("{motion_model_name}, among other voices blended with {}", noisy.name());
            chain = chain.with_noise_model(noisy)?;
            name
        }
        None => motion_model_name,
    };

    let start = Instant::now();
    let ctx = GpuContext::new()?;
    let mut renderer = WarpRenderer::new(&ctx, &portrait.image, &portrait.geometry(), job.frame)?;
    renderer.set_backdrop(&ctx, &backdrop(cfg, backdrop_image.as_ref())?);
    renderer.set_mark(&ctx, super::disclosure_mark(cfg));
    warm_up(&portrait.rig, &mut renderer, &ctx)?;
    t.render_setup.add(start.elapsed(), 1);

    // Per hop: mel -> motion -> smoothing. The signal is padded with one window of silence so that the
    // last video frames have a mel frame centred after them. A model with lookahead speaks for the frame
    // `lookahead` hops back: its first outputs are dropped and as many hops of silence more are fed, so
    // output k belongs to mel frame k.
    let rig = &portrait.rig;
    let mut to_skip = lookahead;
    let mut backward = BackwardPass::new(&cfg.smoothing);
    // Smoothed hops from index `done_base` on; those no frame will need again are dropped.
    let mut done: VecDeque<HopOutput> = VecDeque::new();
    let mut done_base = 0usize;

    let estimated_frames = stream.declared_secs().map(|s| ((s * f64::from(job.frame.fps())).round() as u64).max(1));
    let mut out = FrameWriter {
        job,
        rig,
        ctx: &ctx,
        renderer,
        pose: rig.rest_pose(),
        sinks,
        motion_out,
        record_scratch: MotionScratch::new(rig.keypoints.len()),
        sheet: Vec::new(),
        sheet_every: estimated_frames.map_or(1, |n| (n / 12).max(1)),
        sheet_known: estimated_frames.is_some(),
        sum_open: 0.0,
        max_open: 0.0,
        frames: 0,
    };
    let bar = if job.progress { ProgressBar::new(estimated_frames.unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} rendering [{bar:32}] {pos}/{len} frames  {per_sec}  eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );

    let mut resampler: Option<Resampler16k> = None;
    // Noise suppression between the resampler and the hops (`[audio] denoise`); it gives its samples a few
    // chunks late and the rest at the end, aligned to the input.
    let mut denoiser = if cfg.audio.denoise { Some(Denoiser::new().map_err(AudioError::from)?) } else { None };
    // The resampler's output on to `pcm`, through the denoiser if there is one (with `last`, its tail
    // too), and how noisy each hop of it still is to `hop_noise` (`Denoiser::take_hop_noise`; none without
    // the denoiser).
    let mut pass_on =
        |raw: &[f32], (pcm, hop_noise): (&mut Vec<f32>, &mut Vec<f32>), last: bool| -> Result<(), AudioError> {
            match denoiser.as_mut() {
                Some(d) => {
                    d.push(raw, pcm)?;
                    if last {
                        d.finish(pcm)?;
                    }
                    d.take_hop_noise(hop_noise);
                }
                None => pcm.extend_from_slice(raw),
            }
            Ok(())
        };
    // How noisy each hop of `pcm` is, from its first (that of the hop fed last for the padding).
    let (mut hop_noise, mut last_noise): (Vec<f32>, f32) = (Vec::new(), 0.0);
    let mut raw: Vec<f32> = Vec::new();
    let mut pcm: Vec<f32> = Vec::new();
    let (mut samples_16k, mut hops_fed, mut next_frame) = (0u64, 0usize, 0u64);
    let mut hop = [0.0f32; HOP_SAMPLES];
    // Steps the chain over every whole hop in `pcm` (all of it, zero-padded, at the end); says how many.
    let mut feed = |(pcm, hop_noise): (&mut Vec<f32>, &mut Vec<f32>),
                    last: bool,
                    done: &mut VecDeque<HopOutput>,
                    t: &mut StageTimings| {
        let (mut used, mut fed, mut noise_used) = (0, 0, 0);
        while pcm.len() - used >= HOP_SAMPLES || (last && used < pcm.len()) {
            let n = (pcm.len() - used).min(HOP_SAMPLES);
            hop[..n].copy_from_slice(&pcm[used..used + n]);
            hop[n..].fill(0.0);
            used += n;
            fed += 1;
            if let Some(&m) = hop_noise.get(noise_used) {
                (last_noise, noise_used) = (m, noise_used + 1);
            }
            let stepped = chain.step_in_noise(&hop, last_noise)?;
            t.mel.add(chain.times.mel, 1);
            let Some(h) = stepped else { continue };
            t.motion.add(chain.times.motion, 1);
            t.smooth.add(chain.times.smooth, 1);
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            backward.push(h, done);
        }
        pcm.drain(..used);
        hop_noise.drain(..noise_used);
        Ok::<_, PipelineError>(fed)
    };

    // The stream: decode, resample, hop, and draw each frame whose hops are final.
    loop {
        check_stop(job)?;
        let s = Instant::now();
        let Some((chunk, rate_hz)) = stream.next_chunk()? else { break };
        t.decode.add(s.elapsed(), 0);
        for sink in &mut out.sinks {
            sink.write_audio(chunk, rate_hz)?;
        }
        let s = Instant::now();
        let r = match resampler.as_mut() {
            Some(r) => r,
            None => resampler.insert(Resampler16k::new(rate_hz, &audio_name)?),
        };
        raw.clear();
        r.push(chunk, &mut raw)?;
        samples_16k += raw.len() as u64;
        pass_on(&raw, (&mut pcm, &mut hop_noise), false)?;
        t.resample.add(s.elapsed(), 0);
        hops_fed += feed((&mut pcm, &mut hop_noise), false, &mut done, &mut t)?;
        // A frame is drawn once both hops around its time are final, and while it lies inside the audio
        // decoded so far (the frame count is only known at the end).
        let known_frames = (clock::secs_from_samples(samples_16k as usize) * f64::from(job.frame.fps())).floor();
        while (next_frame as f64) < known_frames {
            let pos = hop_position(next_frame, job.frame);
            let i0 = pos.floor() as usize;
            if i0 + 1 >= done_base + done.len() {
                break;
            }
            let a = with_timed_mouth(&done[i0 - done_base], i0, job.mouth.as_deref());
            let b = with_timed_mouth(&done[i0 + 1 - done_base], i0 + 1, job.mouth.as_deref());
            out.draw(next_frame, (&a, &b, (pos - pos.floor()) as f32), &mut t)?;
            bar.inc(1);
            next_frame += 1;
            // Hops before this frame's are needed no more.
            let keep_from = hop_position(next_frame, job.frame).floor() as usize;
            while done_base < keep_from && !done.is_empty() {
                done.pop_front();
                done_base += 1;
            }
        }
    }
    let audio_truncated = stream.finish()?;
    t.decode.add(std::time::Duration::ZERO, 1);
    let s = Instant::now();
    if let Some(r) = resampler.as_mut() {
        raw.clear();
        r.finish(&mut raw)?;
        samples_16k += raw.len() as u64;
        pass_on(&raw, (&mut pcm, &mut hop_noise), true)?;
    }
    t.resample.add(s.elapsed(), 1);
    // The rest of the audio, then silence up to one window and the model's lookahead past its end.
    let padded_len = samples_16k as usize + N_FFT + lookahead * HOP_SAMPLES;
    hops_fed += feed((&mut pcm, &mut hop_noise), true, &mut done, &mut t)?;
    let total_hops = padded_len.div_ceil(HOP_SAMPLES);
    while hops_fed < total_hops {
        pcm.resize(HOP_SAMPLES, 0.0);
        hops_fed += feed((&mut pcm, &mut hop_noise), false, &mut done, &mut t)?;
    }
    let s = Instant::now();
    backward.finish(&mut done);
    t.smooth.add(s.elapsed(), 0);
    let n_hops = done_base + done.len();
    if n_hops == 0 {
        return Err(PipelineError::Invalid("the audio is too short for one 25 ms analysis window".into()));
    }

    // The frames left, up to the audio's length.
    let audio_secs = clock::secs_from_samples(samples_16k as usize);
    let n_frames = ((audio_secs * f64::from(job.frame.fps())).round() as u64).max(1);
    bar.set_length(n_frames);
    while next_frame < n_frames {
        check_stop(job)?;
        let pos = hop_position(next_frame, job.frame).min((n_hops - 1) as f64);
        let (i0, frac) = (pos.floor() as usize, (pos - pos.floor()) as f32);
        let i1 = (i0 + 1).min(n_hops - 1);
        let a = with_timed_mouth(&done[i0 - done_base], i0, job.mouth.as_deref());
        let b = with_timed_mouth(&done[i1 - done_base], i1, job.mouth.as_deref());
        out.draw(next_frame, (&a, &b, frac), &mut t)?;
        bar.inc(1);
        next_frame += 1;
    }
    bar.finish_and_clear();

    let mut staged: Vec<Staged> = Vec::new();
    if let Some(w) = out.motion_out.take() {
        staged.extend(w.finish()?);
    }
    let (sheet_frames, sheet_bars) = out.sheet_frames();
    let (frames, sum_open, max_open) = (out.frames, out.sum_open, out.max_open);

    // The muxer takes the audio as decoded: the input is read once (a pipe or FIFO works).
    let s = Instant::now();
    for sink in std::mem::take(&mut out.sinks) {
        staged.extend(
            sink.finish(&job.stop)
                .map_err(|e| if job.stop.load(Ordering::Acquire) { PipelineError::Interrupted } else { e.into() })?,
        );
    }
    t.mux.add(s.elapsed(), 1);

    if let Some(stage) = sheet_stage {
        let sheet = output::contact_sheet(&sheet_frames, &sheet_bars, 4, 256.min(job.frame.width_px()));
        let format = image::ImageFormat::from_path(stage.dest()).unwrap_or(image::ImageFormat::Png);
        sheet
            .save_with_format(stage.path(), format)
            .map_err(|e| OutputError::Io { path: stage.dest().to_owned(), source: std::io::Error::other(e) })?;
        staged.push(stage);
    }
    check_stop(job)?;
    // Everything is complete: the outputs take their names.
    for stage in staged {
        stage.commit()?;
    }

    Ok(RenderSummary {
        output: job.output.clone(),
        frames,
        fps: job.frame.fps(),
        width: job.frame.width_px(),
        height: job.frame.height_px(),
        audio_secs,
        audio_truncated,
        wall_secs: wall.elapsed().as_secs_f64(),
        motion_model: motion_model_name,
        adapter: format!("{} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend),
        mean_mouth_open: (sum_open / n_frames as f64) as f32,
        max_mouth_open: max_open,
        timings: t,
    })
}
