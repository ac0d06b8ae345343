//! Lip sync as the viewer sees it: `facecast render` and `facecast live --headless` with the default
//! config on real speech that nobody here recorded (tests/data/lipsync: real_clips, ten English Asterisk
//! prompts read by a professional voice and six CMU clips; languages, four Asterisk prompts in each of
//! Spanish, French, Italian and Russian, four other readers), scored from the CLI's own `--motion-out`
//! against phone alignments.
//! A filter, default or format change that flattens closures or shifts the mouth fails here.
//!
//! Each frame is placed in its clip by `audio_t_secs`. Per clip, `mouth_open` is read at the midpoint of
//! every /p b m/ (closed: below 20% of the clip's range) and every open vowel (open: above 50%), and
//! correlated with the coarticulated phone target on the 10 ms grid (training/eval_product.py scores the
//! same way; training/make_lipsync_fixture.py wrote the fixture).

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Frame {
    audio_t_secs: f64,
    mouth_open: f64,
}

#[derive(Debug, Default, PartialEq)]
struct Score {
    closed: usize,
    bilabials: usize,
    opened: usize,
    open_vowels: usize,
    /// Pearson correlation with the target over every clip's grid.
    corr: f64,
}

fn fixture(stem: &str) -> Value {
    let text = std::fs::read_to_string(common::data(&format!("lipsync/{stem}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_motion(path: &Path) -> Vec<Frame> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let t = v.get("audio_t_secs").expect("every record has audio_t_secs");
            t.as_f64().map(|audio_t_secs| Frame { audio_t_secs, mouth_open: v["mouth_open"].as_f64().unwrap() })
        })
        .collect()
}

/// Linear interpolation of `(t, y)` samples (t rising) at `at`, clamped at the ends.
fn interp(t: &[f64], y: &[f64], at: f64) -> f64 {
    let i = t.partition_point(|&x| x < at);
    if i == 0 {
        return y[0];
    }
    if i >= t.len() {
        return y[t.len() - 1];
    }
    let f = (at - t[i - 1]) / (t[i] - t[i - 1]).max(1e-12);
    y[i - 1] + (y[i] - y[i - 1]) * f
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Scores the clips that end by `until_secs` of the joined input (those in `language`, if given).
fn score(frames: &[Frame], fixture: &Value, until_secs: f64, language: Option<&str>) -> Score {
    let mut s = Score::default();
    let (mut pred, mut target) = (Vec::new(), Vec::new());
    for clip in fixture["clips"].as_array().unwrap() {
        let start = clip["start_secs"].as_f64().unwrap();
        let end = start + clip["duration_secs"].as_f64().unwrap();
        if end > until_secs || language.is_some_and(|l| clip["language"] != l) {
            continue;
        }
        let (t, y): (Vec<f64>, Vec<f64>) = frames
            .iter()
            .filter(|f| f.audio_t_secs >= start && f.audio_t_secs <= end)
            .map(|f| (f.audio_t_secs - start, f.mouth_open))
            .unzip();
        assert!(t.len() > 10, "{}: only {} frames", clip["name"], t.len());
        let lo = y.iter().copied().fold(f64::MAX, f64::min);
        let hi = y.iter().copied().fold(f64::MIN, f64::max);
        let rel = |at: f64| (interp(&t, &y, at) - lo) / (hi - lo).max(1e-6);
        for m in clip["bilabial_mid_secs"].as_array().unwrap() {
            s.bilabials += 1;
            s.closed += usize::from(rel(m.as_f64().unwrap()) < 0.2);
        }
        for m in clip["open_vowel_mid_secs"].as_array().unwrap() {
            s.open_vowels += 1;
            s.opened += usize::from(rel(m.as_f64().unwrap()) > 0.5);
        }
        let first = clip["target_first_secs"].as_f64().unwrap();
        let hop = clip["target_hop_secs"].as_f64().unwrap();
        for (i, v) in clip["target_mouth_open"].as_array().unwrap().iter().enumerate() {
            pred.push(interp(&t, &y, first + hop * i as f64));
            target.push(v.as_f64().unwrap());
        }
    }
    s.corr = pearson(&pred, &target);
    s
}

fn facecast(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_facecast"))
        .args(args)
        .env("FACECAST_LOG", "facecast=warn")
        .output()
        .expect("run facecast");
    assert!(out.status.success(), "facecast {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// tests/data/lipsync/real_clips.wav in pink noise at 10 dB SNR through `facecast render`, less one phone
/// and 0.01: closures of 60, open vowels of 34, correlation. 2026-12-07, with noise suppression (`[audio]
/// denoise`, the default): 58, 32, 0.791. 2026-12-08, the noisy-room model blended in by the noise the
/// denoiser leaves (the default; RNNoise takes this noise away, so it hardly comes in): 58, 32, 0.792; blended
/// in wherever the denoiser's gate is open, as `[motion] noise_blend` did on 2026-12-07: 58, 29, 0.739.
const PINK_FIGURES: (usize, usize, f64) = (57, 31, 0.78);
/// The same without noise suppression (`[audio] denoise = false`; 57, 33, 0.778 on 2026-12-07), less one
/// phone: the model alone in noise.
const PINK_RAW_FIGURES: (usize, usize) = (56, 32);
/// tests/data/lipsync/real_clips.wav among four other talkers at 10 dB SNR (babble) through `facecast
/// render`, less one phone and 0.01: closures of 60, open vowels of 34, correlation. 2026-12-08, the
/// noisy-room model blended in by the noise the denoiser leaves (the default): 53, 31, 0.679; the clean
/// model alone (`[motion] noise_blend = false`): 51, 33, 0.658; the noise model blended in wherever the
/// denoiser's gate is open, as `noise_blend` did on 2026-12-07: 55, 31, 0.679.
const BABBLE_FIGURES: (usize, usize, f64) = (52, 30, 0.66);

/// What the render must show for one language of tests/data/lipsync/languages.
struct LanguageFigures {
    language: &'static str,
    /// The fixture's /p b m/ and open vowels in that language.
    phones: (usize, usize),
    /// At least this many closures, open vowels, and this correlation.
    closed: usize,
    opened: usize,
    corr: f64,
}

/// The bundled models' figures through `facecast render`, less one phone and 0.01 (the Italian and Russian
/// correlation bounds stay at the 0.80 and 0.68 of the figures before). 2026-12-07, the quality model
/// fine-tuned toward the drawn mouth (models/README.md): es 13/15, 19/19, 0.794; fr 19/22, 18/18, 0.741;
/// it 20/22, 26/26, 0.805; ru 21/23, 17/18, 0.683. Before that fine-tune, with the lips meeting as the jaw
/// shuts (`[motion] lips_meet_jaw = 0.5`): es 9/15, 19/19, 0.764; fr 16/22, 18/18, 0.724; it 14/22, 26/26,
/// 0.802; ru 19/23, 17/18, 0.694. Before it (2026-12-02): es 5/15, 0.743; fr 10/22, 0.706; it 10/22, 0.813;
/// ru 7/23, 0.672. With the old flattening filter (`[smoothing] beta = 0`) es fell to 3 closures, it to 5,
/// and every correlation below its bound of then.
const LANGUAGE_FIGURES: [LanguageFigures; 4] = [
    LanguageFigures { language: "es", phones: (15, 19), closed: 12, opened: 18, corr: 0.78 },
    LanguageFigures { language: "fr", phones: (22, 18), closed: 18, opened: 17, corr: 0.73 },
    LanguageFigures { language: "it", phones: (22, 26), closed: 19, opened: 25, corr: 0.80 },
    LanguageFigures { language: "ru", phones: (23, 18), closed: 20, opened: 16, corr: 0.68 },
];

/// `facecast render` (default config) of tests/data/lipsync/STEM.wav: its motion records.
fn render(stem: &str) -> Vec<Frame> {
    render_audio(&common::data(&format!("lipsync/{stem}.wav")), stem, &[])
}

/// `facecast render` of `audio` with `extra` arguments; `tag` names its scratch folder.
fn render_audio(audio: &Path, tag: &str, extra: &[&str]) -> Vec<Frame> {
    let dir = common::scratch(&format!("cli_lipsync_render_{tag}"));
    let (mp4, motion) = (dir.join("out.mp4"), dir.join("motion.jsonl"));
    let portrait = common::root().join("assets/portraits/astronaut.png");
    let mut args = vec![
        "render",
        "--portrait",
        portrait.to_str().unwrap(),
        "--audio",
        audio.to_str().unwrap(),
        "--output",
        mp4.to_str().unwrap(),
        "--size",
        "64",
        "--motion-out",
        motion.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    facecast(&args);
    // Offline, each frame shows the sound at its own time.
    let text = std::fs::read_to_string(&motion).unwrap();
    for line in text.lines().take(100) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["audio_t_secs"], v["t_secs"], "{line}");
    }
    read_motion(&motion)
}

/// The samples of tests/data/lipsync/STEM.wav, and its format.
fn read_fixture_audio(stem: &str) -> (Vec<f32>, hound::WavSpec) {
    let mut reader = hound::WavReader::open(common::data(&format!("lipsync/{stem}.wav"))).unwrap();
    let spec = reader.spec();
    (reader.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect(), spec)
}

/// tests/data/lipsync/STEM.wav with `noise` 10 dB under it, as training/eval_product.py mixes them (the
/// noise's RMS 10 dB under that of the speech's samples above 1e-4): the path of the 16 kHz WAV written
/// in scratch folder `tag`.
fn with_noise(stem: &str, tag: &str, noise: &[f32]) -> std::path::PathBuf {
    let (x, spec) = read_fixture_audio(stem);
    assert_eq!(noise.len(), x.len());
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (sum, count) = v.fold((0.0f64, 0usize), |(s, c), x| (s + f64::from(x) * f64::from(x), c + 1));
        (sum / count.max(1) as f64).sqrt() as f32
    };
    let speech = rms(&mut x.iter().copied().filter(|s| s.abs() > 1e-4));
    let gain = speech / rms(&mut noise.iter().copied()) * 10f32.powf(-10.0 / 20.0);
    let path = common::scratch(tag).join("noisy.wav");
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for (s, n) in x.iter().zip(noise) {
        w.write_sample(((s + gain * n).clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// tests/data/lipsync/STEM.wav in a room with pink noise at 10 dB SNR, from a fixed seed (as
/// training/eval_product.py makes it): the path of the WAV written.
fn with_pink_noise(stem: &str) -> std::path::PathBuf {
    use rustfft::{FftPlanner, num_complex::Complex};
    let n = read_fixture_audio(stem).0.len();
    // White noise, its spectrum shaped by 1/sqrt(f), back in time.
    let mut rng = fastrand::Rng::with_seed(5);
    let mut buf: Vec<Complex<f32>> = (0..n)
        .map(|_| {
            // Box-Muller: a Gaussian sample.
            let (u, v) = (rng.f32().max(1e-9), rng.f32());
            Complex::new((-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos(), 0.0)
        })
        .collect();
    let mut planner = FftPlanner::<f32>::new();
    planner.plan_fft_forward(n).process(&mut buf);
    buf[0] = Complex::new(0.0, 0.0);
    for (k, c) in buf.iter_mut().enumerate().skip(1) {
        let f = k.min(n - k) as f32 / n as f32;
        *c /= f.sqrt();
    }
    planner.plan_fft_inverse(n).process(&mut buf);
    let noise: Vec<f32> = buf.iter().map(|c| c.re).collect();
    with_noise(stem, &format!("cli_lipsync_pink_{stem}"), &noise)
}

/// tests/data/lipsync/STEM.wav among four other people talking at once, together 10 dB under it (babble,
/// as training/eval_product.py makes it): the four other readers of tests/data/lipsync/languages (Spanish,
/// French, Italian, Russian), their pauses taken out, each talker starting a quarter further into them,
/// looped. The path of the WAV written.
fn with_babble(stem: &str) -> std::path::PathBuf {
    const HOP: usize = 160;
    let n = read_fixture_audio(stem).0.len();
    let talk: Vec<f32> = read_fixture_audio("languages")
        .0
        .chunks_exact(HOP)
        .filter(|hop| hop.iter().map(|x| x * x).sum::<f32>() > 1e-6 * HOP as f32)
        .flatten()
        .copied()
        .collect();
    let noise: Vec<f32> = (0..n).map(|i| (0..4).map(|k| talk[(i + k * talk.len() / 4) % talk.len()]).sum()).collect();
    with_noise(stem, &format!("cli_lipsync_babble_{stem}"), &noise)
}

#[test]
fn render_shows_the_closures_and_openings_of_real_speech() {
    let frames = render("real_clips");
    let s = score(&frames, &fixture("real_clips"), f64::MAX, None);
    eprintln!("render: {s:?}");
    assert_eq!((s.bilabials, s.open_vowels), (60, 34), "the fixture changed");
    // The default config's figures (2026-12-07, the quality model fine-tuned toward the drawn mouth), less
    // one phone and about 0.01: 57 of 60 closures, 34 of 34 open vowels, correlation 0.811. Before that
    // fine-tune: 50, 34, 0.820. Before the lips met as the jaw shuts (`[motion] lips_meet_jaw = 0`): 35, 34,
    // 0.804, all the model's lip_close then gave on these voices; the filter before the parameter-domain
    // one kept 28 closures (0.785).
    assert_at_least(&s, (56, 33, 0.80), "clean");
}

#[test]
fn render_in_four_more_languages_holds_its_figures() {
    let frames = render("languages");
    let fixture = fixture("languages");
    for LanguageFigures { language, phones, closed, opened, corr } in LANGUAGE_FIGURES {
        let s = score(&frames, &fixture, f64::MAX, Some(language));
        eprintln!("render {language}: {s:?}");
        assert_eq!((s.bilabials, s.open_vowels), phones, "{language}: the fixture changed");
        assert_at_least(&s, (closed, opened, corr), language);
    }
}

/// `facecast render` of `audio` with the config `toml` (written in scratch folder `tag`), scored against
/// the English fixture.
fn render_english_with(audio: &Path, tag: &str, toml: &str) -> Score {
    let cfg = common::scratch(&format!("cli_lipsync_config_{tag}")).join("config.toml");
    std::fs::write(&cfg, toml).unwrap();
    score(&render_audio(audio, tag, &["--config", cfg.to_str().unwrap()]), &fixture("real_clips"), f64::MAX, None)
}

/// Holds `s` to at least `closed` closures, `opened` open vowels and correlation `corr`.
fn assert_at_least(s: &Score, (closed, opened, corr): (usize, usize, f64), what: &str) {
    assert!(s.closed >= closed, "{what}: closures {} of {}", s.closed, s.bilabials);
    assert!(s.opened >= opened, "{what}: open vowels {} of {}", s.opened, s.open_vowels);
    assert!(s.corr >= corr, "{what}: correlation {:.3}", s.corr);
}

/// In steady room noise the render still shows the closures: the English clips with pink noise at 10 dB
/// SNR. The default config (noise suppression, `[audio] denoise`, which takes the noise away, so that the
/// noisy-room model hardly comes in) and the render without noise suppression, each held.
#[test]
fn render_in_pink_noise_keeps_the_closures() {
    let noisy = with_pink_noise("real_clips");
    let s = score(&render_audio(&noisy, "pink", &[]), &fixture("real_clips"), f64::MAX, None);
    eprintln!("render, pink noise: {s:?}");
    let raw = render_english_with(&noisy, "pink_raw", "[audio]\ndenoise = false\n");
    eprintln!("render, pink noise, no denoise: {raw:?}");
    assert_at_least(&s, PINK_FIGURES, "pink noise");
    assert!(raw.closed >= PINK_RAW_FIGURES.0 && raw.opened >= PINK_RAW_FIGURES.1, "without noise suppression: {raw:?}");
}

/// Among other people talking the render still shows the closures: the English clips in babble at 10 dB
/// SNR, which noise suppression does not take away, so that the noisy-room model comes in (`[motion]
/// noise_blend`, the default). Held to its figures, and to more closures than the clean model alone
/// (`noise_blend = false`) shows.
#[test]
fn render_among_other_voices_keeps_the_closures() {
    let noisy = with_babble("real_clips");
    let s = score(&render_audio(&noisy, "babble", &[]), &fixture("real_clips"), f64::MAX, None);
    eprintln!("render, babble: {s:?}");
    let alone = render_english_with(&noisy, "babble_alone", "[motion]\nnoise_blend = false\n");
    eprintln!("render, babble, the clean model alone: {alone:?}");
    assert_at_least(&s, BABBLE_FIGURES, "babble");
    assert!(s.closed > alone.closed, "the noisy-room model added no closure: {s:?} against {alone:?}");
}

#[test]
fn live_from_a_file_shows_the_sound_it_is_given_by_audio_t_secs() {
    let dir = common::scratch("cli_lipsync_live");
    let motion = dir.join("motion.jsonl");
    let audio = common::data("lipsync/real_clips.wav");
    let portrait = common::root().join("assets/portraits/astronaut.png");
    // The first 20 s: five of the Asterisk prompts, played in real time.
    facecast(&[
        "live",
        "--portrait",
        portrait.to_str().unwrap(),
        "--input",
        audio.to_str().unwrap(),
        "--headless",
        "--size",
        "64",
        "--duration",
        "20",
        "--motion-out",
        motion.to_str().unwrap(),
    ]);
    let frames = read_motion(&motion);
    // The input's clock runs with the frames: 20 s of frames show about 20 s of audio.
    let last = frames.last().expect("frames with audio").audio_t_secs;
    assert!((18.0..20.5).contains(&last), "the last frame shows the audio at {last:.2} s");
    assert!(frames.windows(2).all(|w| w[1].audio_t_secs >= w[0].audio_t_secs - 1e-9), "audio_t_secs went back");
    let s = score(&frames, &fixture("real_clips"), 19.0, None);
    eprintln!("live: {s:?}");
    assert!(s.bilabials >= 20, "{s:?}");
    // Figures (2026-12-07): 23 of 24 closures, 7 of 7 open vowels, correlation 0.721 with the live model
    // fine-tuned toward the drawn mouth (0.730 before it); before the lips met as the jaw shuts, 13 to 15
    // of 24 and 0.750 to 0.765. Live runs its own model (no lookahead) and its filter has no backward pass.
    assert!(s.closed * 100 >= 85 * s.bilabials, "closures {} of {}", s.closed, s.bilabials);
    assert!(s.opened * 100 >= 90 * s.open_vowels, "open vowels {} of {}", s.opened, s.open_vowels);
    assert!(s.corr >= 0.7, "correlation {:.3}", s.corr);
}
