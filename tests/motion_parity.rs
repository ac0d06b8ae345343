//! The baseline motion model run by ort in Rust against onnxruntime 1.31.1 in Python on the same mel
//! fixture (tests/data/baseline_motion.json, rounded to 5 decimals).

mod common;

use facecast::motion::{MotionModel, baseline_model};
use facecast::vocab::clock::N_MELS;

#[test]
fn baseline_matches_python_onnxruntime() {
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::data("baseline_motion.json")).unwrap()).unwrap();
    let want: Vec<f64> = fixture["motion"].as_array().unwrap().iter().map(|row| row[0].as_f64().unwrap()).collect();
    let mel = common::read_f32(&common::data("mel_speech.logmel.f32"));
    assert_eq!(mel.len(), want.len() * N_MELS);

    let mut model = MotionModel::load(&baseline_model(), 1).expect("load the baseline");
    assert_eq!(model.channels(), ["jaw_open"]);
    assert_eq!(model.kind(), "baseline");
    let mut opened = 0;
    for (i, (frame, w)) in mel.chunks_exact(N_MELS).zip(&want).enumerate() {
        let p = model.step(frame).unwrap();
        let got = (f64::from(p.jaw_open) * 1e5).round() / 1e5;
        assert!((got - w).abs() <= 1.01e-5, "frame {i}: rust {got}, python {w}");
        opened += usize::from(p.jaw_open > 0.5);
    }
    // The fixture is real speech: the jaw must open somewhere and rest somewhere.
    assert!(opened > 5 && opened < want.len() - 5, "{opened} of {} frames open", want.len());
}

#[test]
fn wrong_frame_length_is_an_error() {
    let mut model = MotionModel::load(&baseline_model(), 1).unwrap();
    assert!(model.step(&[0.0; 10]).is_err());
}

#[test]
fn missing_model_file_is_a_clear_error() {
    let src = facecast::onnx::ModelSource::File("no/such/model.onnx".into());
    let err = MotionModel::load(&src, 1).err().expect("must fail").to_string();
    assert!(err.contains("no/such/model.onnx"), "{err}");
}
