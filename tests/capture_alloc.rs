//! The microphone's data callback allocates nothing: its body, `CaptureWriter::write`, runs here under a
//! counting global allocator, for every sample format facecast accepts, including blocks that overrun the
//! ring (the overrun path must not allocate either).

use std::sync::atomic::Ordering;
use std::time::Duration;

use facecast::audio::live::capture_rings;

mod counting_alloc;
use counting_alloc::watched;

#[test]
fn the_counter_sees_an_allocation() {
    // The instrument works: a Vec allocation on the watched thread is counted.
    let (v, n) = watched(|| vec![1u8; 64]);
    assert_eq!(v.len(), 64);
    assert!(n >= 1, "the counting allocator missed an allocation");
}

#[test]
fn the_capture_callback_allocates_nothing() {
    // A 48 kHz stereo device, 10.7 ms blocks, a ring of 0.1 s so that the reader below falls behind
    // and the writer overruns part of the time.
    let (mut writer, mut reader) = capture_rings(2, 4_800);
    let f32_block: Vec<f32> = (0..1024).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
    let i16_block: Vec<i16> = (0..1024).map(|i| (i * 31 % 20_000) as i16).collect();
    let i32_block: Vec<i32> = (0..1024).map(|i| i * 1_000_000).collect();
    let u16_block: Vec<u16> = (0..1024).map(|i| (i * 61) as u16).collect();
    let mut drained = Vec::with_capacity(48_000);
    let (_, n) = watched(|| {
        for round in 0..2_000 {
            let delay = Some(Duration::from_micros(round));
            match round % 4 {
                0 => writer.write(&f32_block, delay),
                1 => writer.write(&i16_block, None),
                2 => writer.write(&i32_block, delay),
                _ => writer.write(&u16_block, None),
            }
            if round % 16 == 0 {
                drained.clear();
                // The reader is not the callback, but with capacity reserved it allocates nothing either.
                reader.drain(&mut drained);
            }
        }
    });
    let overruns = writer.stats().overrun_frames.load(Ordering::Relaxed);
    assert!(overruns > 0, "the test meant to exercise the overrun path");
    assert_eq!(n, 0, "the capture callback allocated {n} times");
    assert_eq!(writer.stats().blocks.load(Ordering::Relaxed), 2_000);
}
