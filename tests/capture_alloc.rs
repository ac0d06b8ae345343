//! The microphone's data callback allocates nothing: its body, `CaptureWriter::write`, runs here under a
//! counting global allocator, for every sample format facecast accepts, including blocks that overrun the
//! ring (the overrun path must not allocate either). The loudspeaker's callback (`--speaker`), and the
//! audio thread's push into its queue, are held to the same.

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

#[test]
fn the_speaker_callback_and_its_queue_allocate_nothing() {
    use facecast::audio::live::speaker_queue;
    use facecast::vocab::clock::HOP_SAMPLES;
    // A 48 kHz stereo output with 20 ms of lead: the callback asks for 10.7 ms at a time while the
    // audio thread pushes 10 ms hops, faster for a while (the queue fills and the callback skips the
    // excess), then not at all (the callback plays silence).
    let (mut input, mut feed) = speaker_queue(48_000, 2, 0.02).unwrap();
    let hop: [f32; HOP_SAMPLES] = std::array::from_fn(|i| (i as f32 * 0.05).sin() * 0.5);
    let mut f32_block = vec![0.0f32; 1024];
    let mut i16_block = vec![0i16; 1024];
    let mut u8_block = vec![0u8; 1024];
    let (_, n) = watched(|| {
        for round in 0..3_000u32 {
            if round < 2_000 {
                input.push(&hop);
                if round % 2 == 0 {
                    input.push(&hop);
                }
            }
            match round % 3 {
                0 => feed.fill(&mut f32_block),
                1 => feed.fill(&mut i16_block),
                _ => feed.fill(&mut u8_block),
            }
        }
    });
    let stats = input.stats();
    assert!(stats.dropped_samples.load(Ordering::Relaxed) > 0, "the test meant to exercise the skip path");
    assert!(stats.underrun_samples.load(Ordering::Relaxed) > 0, "the test meant to exercise the silence path");
    assert_eq!(n, 0, "the speaker's callback or queue allocated {n} times");
    // Both channels carry the same sample.
    assert!(f32_block.chunks(2).all(|f| f[0] == f[1]));
}
