//! The streaming log-mel against librosa 0.11 (fixtures by scripts/make_mel_fixtures.py, center=False,
//! Slaney mel, periodic Hann, log10 with a 1e-10 floor). Bound: absolute error <= 1e-4 on every value.

mod common;

use facecast::features::LogMel;
use facecast::vocab::clock::{self, N_MELS};

fn check(name: &str) {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::data("mel_fixtures.json")).unwrap()).unwrap();
    let fx = &meta["fixtures"][name];
    let samples = common::read_f32(&common::data(&format!("mel_{name}.input.f32")));
    let want = common::read_f32(&common::data(&format!("mel_{name}.logmel.f32")));
    assert_eq!(samples.len() as u64, fx["samples"].as_u64().unwrap());
    let frames = fx["frames"].as_u64().unwrap() as usize;
    assert_eq!(clock::frame_count(samples.len()), frames, "frame count convention");
    assert_eq!(want.len(), frames * N_MELS);

    // Stream it hop by hop, as the live loop does; the last partial hop is zero-padded, which can only
    // add frames after the ones librosa computed.
    let got = LogMel::new().process_all(&samples);
    assert!(got.len() >= want.len());
    let (mut worst, mut at) = (0.0f32, 0);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let e = (g - w).abs();
        if e > worst {
            worst = e;
            at = i;
        }
    }
    assert!(worst <= 1e-4, "{name}: max |error| {worst} at frame {}, bin {}", at / N_MELS, at % N_MELS);
}

#[test]
fn speech_matches_librosa() {
    check("speech");
}

#[test]
fn synthetic_chirp_noise_and_silence_match_librosa() {
    check("synthetic");
}

#[test]
fn chunking_does_not_change_frames() {
    // The same signal fed in hops gives the same frames as process_all.
    let samples = common::read_f32(&common::data("mel_speech.input.f32"));
    let whole = LogMel::new().process_all(&samples);
    let mut mel = LogMel::new();
    let mut streamed = Vec::new();
    for hop in samples.chunks_exact(clock::HOP_SAMPLES) {
        if let Some(f) = mel.step(hop).unwrap() {
            streamed.extend_from_slice(f);
        }
    }
    assert_eq!(&whole[..streamed.len()], &streamed[..]);
}
