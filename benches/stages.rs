//! Criterion benches, one group per stage of the offline render, with throughput set:
//! decode (per clip), resample (per second of 44.1 kHz audio), denoise (per second of 16 kHz audio),
//! mel (per hop), motion (per hop),
//! render (per frame at 256, 512 and 1024 px, readback included: the GPU is synchronised before the clock
//! stops), encode (per 512 px frame).
//!
//! Run: `cargo bench --bench stages` (needs scripts/setup.sh done: ONNX Runtime and a Vulkan driver).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facecast::Config;
use facecast::audio::{self, DecodedAudio};
use facecast::features::LogMel;
use facecast::gpu::GpuContext;
use facecast::motion::{MotionModel, baseline_model};
use facecast::output::Mp4Writer;
use facecast::portrait::{self, FaceModels, Portrait};
use facecast::render::WarpRenderer;
use facecast::vocab::clock::{HOP_SAMPLES, N_MELS, SAMPLE_RATE_HZ};
use facecast::vocab::{FrameGeometry, MotionParams};

fn speech() -> Vec<f32> {
    audio::decode_bytes(facecast::assets::DEFAULT_SPEECH_WAV, Path::new("goforward.wav")).unwrap().samples
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("goforward_wav_clip", |b| {
        b.iter(|| audio::decode_bytes(black_box(facecast::assets::DEFAULT_SPEECH_WAV), Path::new("x.wav")).unwrap())
    });
    g.finish();
}

fn bench_resample(c: &mut Criterion) {
    let s = speech();
    // One second of 44.1 kHz audio, made by repeating the clip's samples.
    let d = DecodedAudio {
        samples: s.iter().copied().cycle().take(44_100).collect(),
        rate_hz: 44_100,
        channels: 1,
        truncated: false,
    };
    let mut g = c.benchmark_group("resample");
    g.throughput(Throughput::Elements(1));
    g.bench_function("44k1_to_16k_one_second", |b| {
        b.iter(|| audio::resample_to_16k(black_box(&d), Path::new("x")).unwrap())
    });
    g.finish();
}

fn bench_denoise(c: &mut Criterion) {
    // One second of 16 kHz speech (the clip, repeated) in white noise at about 20 dB SNR, so that the gate
    // mixes in the denoised signal (its cost is the same either way: RNNoise always runs).
    let mut rng = fastrand::Rng::with_seed(1);
    let x: Vec<f32> = speech()
        .iter()
        .copied()
        .cycle()
        .take(SAMPLE_RATE_HZ as usize)
        .map(|v| v + 0.01 * (rng.f32() * 2.0 - 1.0))
        .collect();
    let mut g = c.benchmark_group("denoise");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_second_16k", |b| b.iter(|| audio::denoise(black_box(&x)).unwrap()));
    g.finish();
}

fn bench_mel(c: &mut Criterion) {
    let s = speech();
    let mut mel = LogMel::new();
    let mut g = c.benchmark_group("mel");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("per_hop", |b| {
        b.iter(|| {
            let start = (i * HOP_SAMPLES) % (s.len() - HOP_SAMPLES);
            i += 1;
            black_box(mel.step(&s[start..start + HOP_SAMPLES]).unwrap().map(|f| f[0]));
        })
    });
    g.finish();
}

/// One motion-model step per 10 ms hop, 1 ONNX Runtime thread: the baseline and both trained models.
fn bench_motion(c: &mut Criterion) {
    let frames = LogMel::new().process_all(&speech());
    let n = frames.len() / N_MELS;
    let mut g = c.benchmark_group("motion");
    g.throughput(Throughput::Elements(1));
    for (name, source) in [
        ("baseline_per_hop", baseline_model()),
        ("live_per_hop", facecast::motion::live_model()),
        ("quality_per_hop", facecast::motion::quality_model()),
    ] {
        let mut model = MotionModel::load(&source, 1).unwrap();
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let f = &frames[(i % n) * N_MELS..(i % n + 1) * N_MELS];
                i += 1;
                black_box(model.step(f).unwrap())
            })
        });
    }
    g.finish();
}

fn astronaut() -> Portrait {
    let cfg = Config::default();
    let img = portrait::decode_image(facecast::assets::DEFAULT_PORTRAIT_PNG, "astronaut.png").unwrap();
    let mut models = FaceModels::load(&cfg.portrait).unwrap();
    Portrait::analyze(img, "astronaut.png", &mut models, &cfg).unwrap()
}

fn bench_render(c: &mut Criterion) {
    let p = astronaut();
    let ctx = GpuContext::new().unwrap();
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(1));
    for size in [256u32, 512, 1024] {
        let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), FrameGeometry::square(size, 30).unwrap()).unwrap();
        let mut pose = p.rig.rest_pose();
        let mut k = 0u32;
        g.bench_function(format!("frame_{size}px_with_readback"), |b| {
            b.iter(|| {
                // A jaw that moves, so every frame's keypoints differ.
                k = k.wrapping_add(1);
                p.rig.drive(&MotionParams { jaw_open: (k % 10) as f32 / 10.0, ..Default::default() }, &mut pose);
                black_box(r.render(&ctx, &pose).unwrap()[0])
            })
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let p = astronaut();
    let ctx = GpuContext::new().unwrap();
    let mut r = WarpRenderer::new(&ctx, &p.image, &p.geometry(), FrameGeometry::square(512, 30).unwrap()).unwrap();
    let rest = p.rig.rest_pose();
    let mut open = p.rig.rest_pose();
    p.rig.drive(&MotionParams { jaw_open: 1.0, ..Default::default() }, &mut open);
    let frames = [r.render(&ctx, &rest).unwrap().to_vec(), r.render(&ctx, &open).unwrap().to_vec()];
    let dir = std::env::temp_dir().join(format!("facecast-bench-encode-{}", std::process::id()));
    let mut w = Mp4Writer::create(
        &dir.join("bench.mp4"),
        FrameGeometry::square(512, 30).unwrap(),
        false,
        &Config::default().output,
    )
    .unwrap();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("h264_frame_512px", |b| {
        b.iter(|| {
            i += 1;
            w.write_frame(black_box(&frames[i % 2])).unwrap()
        })
    });
    g.finish();
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    bench_decode,
    bench_resample,
    bench_denoise,
    bench_mel,
    bench_motion,
    bench_render,
    bench_encode
);
criterion_main!(benches);
