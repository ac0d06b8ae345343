//! A motion-model step allocates nothing on the Rust side: the session, the input, output and state
//! tensors and the C names are made once, and a step goes through ONNX Runtime's C `Run` into the
//! pre-allocated outputs (`onnx::RunPlan`). Counted here with a counting global allocator over 1,000
//! steps of each bundled model. (ONNX Runtime's own C++ heap is not Rust's allocator and is not counted;
//! it reuses its arena from run to run.)

mod common;
mod counting_alloc;

use counting_alloc::watched;
use facecast::motion::{MotionModel, baseline_model, live_model, quality_model};
use facecast::vocab::clock::N_MELS;

#[test]
fn a_motion_step_allocates_nothing() {
    // The instrument works: a Vec on the watched thread is counted.
    let (v, n) = watched(|| vec![1u8; 64]);
    assert!(v.len() == 64 && n >= 1, "the counting allocator missed an allocation");

    let mel = common::read_f32(&common::data("mel_speech.logmel.f32"));
    for source in [live_model(), quality_model(), baseline_model()] {
        let mut model = MotionModel::load(&source, 1).unwrap();
        let frames: Vec<&[f32]> = mel.chunks_exact(N_MELS).collect();
        // Warm up: ONNX Runtime plans its memory on the first runs.
        for f in frames.iter().take(10) {
            model.step(f).unwrap();
        }
        let (opened, n) = watched(|| {
            let mut opened = 0usize;
            for i in 0..1_000 {
                let p = model.step(frames[i % frames.len()]).unwrap();
                opened += usize::from(p.jaw_open > 0.3);
            }
            opened
        });
        assert_eq!(n, 0, "{}: {n} allocations in 1,000 steps", model.name());
        assert!(opened > 0, "{}: the steps ran on speech and never opened the jaw", model.name());
    }
}
