//! A motion-model step allocates nothing on the Rust side: the session, the input, output and state
//! tensors and the C names are made once, and a step goes through ONNX Runtime's C `Run` into the
//! pre-allocated outputs (`onnx::RunPlan`). Counted here with a counting global allocator over 1,000
//! steps of each bundled model. (ONNX Runtime's own C++ heap is not Rust's allocator and is not counted;
//! it reuses its arena from run to run.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use facecast::features::N_MELS;
use facecast::motion::{MotionModel, baseline_model, live_model, quality_model};

struct Counting;

thread_local! {
    // Only allocations on the thread under test, while it is watched, count.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if WATCHING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, ALLOCATIONS.with(Cell::get) - before)
}

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
