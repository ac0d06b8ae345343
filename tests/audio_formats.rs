//! Every supported container/codec decodes and resamples to the same 16 kHz mono speech.
//! Fixtures: assets/speech/cards_001.wav (16 kHz mono) re-encoded by ffmpeg into FLAC (44.1 kHz
//! stereo), MP3 (44.1 kHz stereo), OGG/Vorbis (48 kHz mono), raw AAC (ADTS, 44.1 kHz mono) and WAV
//! (22.05 kHz).

mod common;

use std::path::Path;

use facecast::audio::{self, AudioError};

fn load(path: &Path) -> Vec<f32> {
    let d = audio::decode_file(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!d.truncated, "{} reported truncated", path.display());
    audio::resample_to_16k(&d, path).unwrap().samples
}

/// Normalised cross-correlation at the best lag within +-max_lag samples.
fn best_correlation(a: &[f32], b: &[f32], max_lag: isize) -> (f64, isize) {
    let mut best = (f64::MIN, 0);
    for lag in -max_lag..=max_lag {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &x) in a.iter().enumerate() {
            let j = i as isize + lag;
            if j < 0 || j as usize >= b.len() {
                continue;
            }
            let y = b[j as usize];
            ab += f64::from(x) * f64::from(y);
            aa += f64::from(x) * f64::from(x);
            bb += f64::from(y) * f64::from(y);
        }
        let c = ab / (aa.sqrt() * bb.sqrt()).max(1e-12);
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

#[test]
fn all_formats_decode_to_the_same_speech() {
    let reference = load(&common::root().join("assets/speech/cards_001.wav"));
    assert_eq!(reference.len(), 17_526);
    for (file, min_corr) in [
        ("cards_001_44k_stereo.flac", 0.99),
        ("cards_001_22k.wav", 0.99),
        ("cards_001_48k.ogg", 0.95),
        ("cards_001_44k_stereo.mp3", 0.95),
        ("cards_001_44k.aac", 0.95),
    ] {
        let got = load(&common::data(file));
        // Same duration within 60 ms (MP3, Vorbis and raw AAC carry encoder padding).
        let diff = (got.len() as f64 - reference.len() as f64).abs() / 16_000.0;
        assert!(diff < 0.06, "{file}: {} vs {} samples", got.len(), reference.len());
        let (corr, lag) = best_correlation(&reference, &got, 1200);
        assert!(corr >= min_corr, "{file}: correlation {corr:.4} at lag {lag}");
        // Lossless and PCM inputs must be in time with the reference (resampler delay compensated).
        if file.ends_with(".flac") || file.ends_with(".wav") {
            assert!(lag.abs() <= 1, "{file}: lag {lag} samples");
        }
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = audio::decode_file(Path::new("no/such/file.wav")).unwrap_err();
    assert!(matches!(err, AudioError::Open { .. }));
    assert!(err.to_string().contains("no/such/file.wav"), "{err}");
}

#[test]
fn empty_and_non_audio_files_are_clear_errors() {
    let dir = common::scratch("audio_bad");
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let err = audio::decode_file(&empty).unwrap_err();
    assert!(matches!(err, AudioError::Unsupported { .. }), "{err:?}");

    let text = dir.join("notes.mp3");
    std::fs::write(&text, "this is not audio at all, just words in a text file\n".repeat(50)).unwrap();
    let err = audio::decode_file(&text).unwrap_err();
    assert!(matches!(err, AudioError::Unsupported { .. } | AudioError::Decode { .. }), "{err:?}");

    // A WAV header that declares data but holds none.
    let wav = std::fs::read(common::root().join("assets/speech/cards_001.wav")).unwrap();
    let header_only = dir.join("header_only.wav");
    std::fs::write(&header_only, &wav[..44]).unwrap();
    let err = audio::decode_file(&header_only).unwrap_err();
    assert!(matches!(err, AudioError::Empty { .. } | AudioError::Unsupported { .. }), "{err:?}");
}

#[test]
fn truncated_file_keeps_what_was_decoded() {
    let dir = common::scratch("audio_truncated");
    let wav = std::fs::read(common::root().join("assets/speech/cards_001.wav")).unwrap();
    let cut = dir.join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 2]).unwrap();
    let d = audio::decode_file(&cut).unwrap();
    assert!(d.truncated);
    let secs = d.duration_secs();
    assert!((secs - 1.095 / 2.0).abs() < 0.02, "decoded {secs} s");
}
