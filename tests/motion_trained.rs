//! The trained motion models (models/motion_live.onnx, motion_quality.onnx, motion_noise.onnx): ort in Rust,
//! stepped one frame at a time with the state carried between steps, equals onnxruntime 1.31.1 in
//! Python run over the whole fixture at once (tests/data/trained_motion.json, 5 decimals); the mouth
//! rests on silence and on quiet noise; the state resets.

mod common;

use facecast::features::LogMel;
use facecast::motion::{MotionModel, live_model, noise_model, quality_model};
use facecast::onnx::ModelSource;
use facecast::vocab::clock::{HOP_SAMPLES, N_MELS};
use facecast::vocab::motion::VISEME_NAMES;

fn fixture() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(common::data("trained_motion.json")).unwrap()).unwrap()
}

fn models() -> [(&'static str, ModelSource); 3] {
    [("motion_live.onnx", live_model()), ("motion_quality.onnx", quality_model()), ("motion_noise.onnx", noise_model())]
}

#[test]
fn trained_models_match_python_onnxruntime() {
    let fixture = fixture();
    let mel = common::read_f32(&common::data("mel_speech.logmel.f32"));
    for (file, source) in models() {
        let want = &fixture["models"][file];
        let rows = want["motion"].as_array().unwrap();
        assert_eq!(mel.len(), rows.len() * N_MELS, "{file}");
        let mut model = MotionModel::load(&source, 1).unwrap();
        assert_eq!(model.kind(), "trained");
        let channels: Vec<&str> = want["channels"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(model.channels(), channels.as_slice(), "{file}");
        assert_eq!(model.lookahead_frames() as u64, want["lookahead_frames"].as_u64().unwrap(), "{file}");
        let mut worst = 0.0f64;
        let (mut opened, mut rested) = (0, 0);
        for (frame, row) in mel.chunks_exact(N_MELS).zip(rows) {
            let p = model.step(frame).unwrap();
            for (got, w) in model.raw().iter().zip(row.as_array().unwrap()) {
                worst = worst.max((f64::from(*got) - w.as_f64().unwrap()).abs());
            }
            opened += usize::from(p.jaw_open > 0.3);
            rested += usize::from(p.jaw_open < 0.1);
            let sum: f32 = p.visemes.0.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "{file}: viseme weights sum to {sum}");
        }
        assert!(worst <= 2e-5, "{file}: largest difference from Python {worst:.2e}");
        // Real speech: the jaw opens on some frames and rests on others.
        assert!(opened > 10 && rested > 10, "{file}: {opened} frames open, {rested} at rest");
    }
}

#[test]
fn reset_starts_the_state_afresh() {
    let mel = common::read_f32(&common::data("mel_speech.logmel.f32"));
    let mut model = MotionModel::load(&live_model(), 1).unwrap();
    let run = |m: &mut MotionModel| -> Vec<f32> {
        mel.chunks_exact(N_MELS)
            .take(120)
            .flat_map(|f| {
                m.step(f).unwrap();
                m.raw().to_vec()
            })
            .collect()
    };
    let first = run(&mut model);
    let carried = run(&mut model);
    model.reset();
    let again = run(&mut model);
    assert_eq!(first, again, "after reset the model must repeat itself exactly");
    assert_ne!(first, carried, "without reset the state carries over (else the test shows nothing)");
}

/// mouth_open = jaw_open x (1 - lip_close) over `samples`, one value per hop, after the first `skip` hops.
fn mouth_track(source: &ModelSource, samples: &[f32], skip: usize) -> Vec<f32> {
    let mut model = MotionModel::load(source, 1).unwrap();
    let mut mel = LogMel::new();
    let mut out = Vec::new();
    for hop in samples.chunks_exact(HOP_SAMPLES) {
        if let Some(frame) = mel.step(hop).unwrap() {
            let p = model.step(frame).unwrap();
            out.push(p.jaw_open * (1.0 - p.lip_close));
        }
    }
    out.split_off(skip)
}

fn std(x: &[f32]) -> f32 {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt()
}

#[test]
fn the_mouth_rests_on_silence_and_quiet_noise() {
    let n = 16_000 * 8;
    let mut rng = fastrand::Rng::with_seed(11);
    let rms = 10f32.powf(-60.0 / 20.0);
    let white: Vec<f32> = (0..n).map(|_| (rng.f32() * 2.0 - 1.0) * rms * 3f32.sqrt()).collect();
    // Brown-ish noise (a room's rumble): integrated white noise, leaky, scaled to -60 dBFS.
    let mut acc = 0.0f32;
    let mut brown: Vec<f32> = (0..n)
        .map(|_| {
            acc = 0.995 * acc + (rng.f32() - 0.5);
            acc
        })
        .collect();
    let b_rms = (brown.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt();
    brown.iter_mut().for_each(|x| *x *= rms / b_rms);
    for (name, source) in models() {
        for (what, signal) in
            [("silence", vec![0.0f32; n]), ("white -60 dBFS", white.clone()), ("brown -60 dBFS", brown.clone())]
        {
            let track = mouth_track(&source, &signal, 100);
            let (s, max) = (std(&track), track.iter().copied().fold(0.0f32, f32::max));
            assert!(s <= 0.02, "{name} on {what}: mouth_open std {s:.4}");
            assert!(max <= 0.1, "{name} on {what}: the mouth opens to {max:.3}");
        }
        // The instrument can fail: speech makes the same measure move.
        let speech = common::read_f32(&common::data("mel_speech.input.f32"));
        let track = mouth_track(&source, &speech, 0);
        assert!(std(&track) > 0.1, "{name}: speech moves the mouth (std {:.3})", std(&track));
    }
}

#[test]
fn viseme_names_cover_the_model_channels() {
    let model = MotionModel::load(&live_model(), 1).unwrap();
    let visemes: Vec<&str> = model.channels().iter().filter_map(|c| c.strip_prefix("viseme_")).collect();
    assert_eq!(visemes, VISEME_NAMES);
}
