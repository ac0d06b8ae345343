#!/usr/bin/env python3
"""Writes the librosa log-mel fixtures that tests/mel_parity.rs checks facecast's streaming mel against.

Convention (the same as facecast's features/ module):
  16 kHz mono, n_fft = win_length = 400 (25 ms), hop_length = 160 (10 ms), periodic Hann window,
  power spectrum (|X|^2), 80 mel bins with the Slaney mel scale and Slaney area normalisation
  (librosa's defaults: htk=False, norm="slaney"), fmin 0, fmax 8000,
  log10(max(mel, 1e-10)).
  center=False: no padding. Frame i covers samples [160 i, 160 i + 400); its centre lies at
  (160 i + 200) / 16000 s. This is the natural convention for a streaming front end, which cannot
  reflect-pad samples it has not received yet.

librosa runs in float64 on the exact float32 samples that the Rust test reads, so the fixture is the
reference and not a second approximation.

Usage: scripts/tools-venv.sh && .venv-tools/bin/python scripts/make_mel_fixtures.py
Writes tests/data/mel_<name>.input.f32 (samples, f32 LE), tests/data/mel_<name>.logmel.f32
(frames x 80, row-major, f32 LE) and tests/data/mel_fixtures.json (shapes and convention).
"""
import json
import os

import librosa
import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data")
SR = 16000
PARAMS = dict(sr=SR, n_fft=400, hop_length=160, win_length=400, window="hann", center=False,
              power=2.0, n_mels=80, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
FLOOR = 1e-10


def log_mel(y32: np.ndarray) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=y32.astype(np.float64), **PARAMS)
    return np.log10(np.maximum(mel, FLOOR)).T  # frames x 80


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    signals = {}
    speech, sr = sf.read(os.path.join(ROOT, "assets", "speech", "goforward.wav"), dtype="float32")
    assert sr == SR
    signals["speech"] = speech[: int(1.5 * SR)]
    rng = np.random.default_rng(7)
    t = np.arange(int(0.6 * SR)) / SR
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + 0.5 * (7000 - 100) / t[-1] * t * t))
    noise = 0.05 * rng.standard_normal(t.size)
    synth = (chirp + noise).astype(np.float32)
    synth[: SR // 10] = 0.0  # digital silence hits the floor
    signals["synthetic"] = synth
    meta = {"convention": {k: v for k, v in PARAMS.items()}, "log10_floor": FLOOR, "fixtures": {}}
    for name, y in signals.items():
        y = np.ascontiguousarray(y, dtype="<f4")
        lm = np.ascontiguousarray(log_mel(y), dtype="<f4")
        y.tofile(os.path.join(OUT, f"mel_{name}.input.f32"))
        lm.tofile(os.path.join(OUT, f"mel_{name}.logmel.f32"))
        meta["fixtures"][name] = {"samples": int(y.size), "frames": int(lm.shape[0]), "n_mels": int(lm.shape[1])}
        print(f"{name}: {y.size} samples -> {lm.shape[0]} frames, log-mel range {lm.min():.3f}..{lm.max():.3f}")
    with open(os.path.join(OUT, "mel_fixtures.json"), "w") as f:
        json.dump(meta, f, indent=2)


if __name__ == "__main__":
    main()
