"""Log-mel features exactly as facecast's features/ computes them, and the training augmentation.

The mel convention is librosa's (tests/mel_parity.rs holds facecast's streaming mel to it): 16 kHz,
25 ms Hann window (400), 10 ms hop (160), no centring, power spectrum, 80 Slaney mel bins with Slaney
area normalisation, fmin 0, fmax 8000, log10(max(mel, 1e-10)). Frame i covers samples
[160 i, 160 i + 400).
"""
import math

import librosa
import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

SR = 16000
HOP = 160
N_FFT = 400
N_MELS = 80
LOG_FLOOR = 1e-10
MEL_PARAMS = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, window="hann", center=False,
                  power=2.0, n_mels=N_MELS, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
# The centre frequency of each mel bin, Hz.
MEL_CENTRES_HZ = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=MEL_PARAMS["fmin"], fmax=MEL_PARAMS["fmax"],
                                         htk=False)[1:-1]


def log_mel(y):
    """[frames, 80] float32 log10 mel power of float samples (16 kHz)."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) < N_FFT:
        y = np.concatenate([y, np.zeros(N_FFT - len(y), np.float32)])
    mel = librosa.feature.melspectrogram(y=y, **MEL_PARAMS)
    return np.log10(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def coloured_noise(n, rng, colour):
    """Unit-RMS noise: white, pink (1/f), brown (1/f^2) or mains hum with harmonics."""
    if colour == "hum":
        t = np.arange(n) / SR
        f0 = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) for k in range(1, 8))
        x = x + 0.05 * rng.standard_normal(n)
    else:
        w = rng.standard_normal(n)
        if colour == "white":
            x = w
        else:
            spec = np.fft.rfft(w)
            f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
            spec /= f ** (0.5 if colour == "pink" else 1.0)
            x = np.fft.irfft(spec, n)
    return (x / (rms(x) + 1e-12)).astype(np.float32)


def room_impulse(rng):
    """A synthetic room: direct path, a few early reflections, and an exponentially decaying tail."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(SR * rt60)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.005 * SR)] = 0.0
    h = tail * rng.uniform(0.1, 0.5)
    h[0] = 1.0
    for _ in range(4):
        k = int(rng.uniform(0.002, 0.02) * SR)
        h[k] += rng.uniform(-0.5, 0.5)
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def augment(x, rng):
    """One random acoustic condition: level, room, codec band or resampling, noise. Keeps the timing."""
    x = np.asarray(x, dtype=np.float32)
    x = x / rms(x) * 10 ** (rng.uniform(-40, -14) / 20)
    if rng.random() < 0.4:
        x = fftconvolve(x, room_impulse(rng))[: len(x)].astype(np.float32)
    r = rng.random()
    if r < 0.2:  # a phone or headset codec band
        lo, hi = [(300, 3400), (200, 3400), (100, 7000), (150, 5500)][rng.integers(4)]
        sos = butter(4, [lo, hi], btype="band", fs=SR, output="sos")
        x = sosfilt(sos, x).astype(np.float32)
        if rng.random() < 0.4:  # 8-bit mu-law
            mu = 255.0
            peak = np.max(np.abs(x)) + 1e-9
            y = np.sign(x) * np.log1p(mu * np.abs(x / peak)) / np.log1p(mu)
            y = np.round(y * 127) / 127
            x = (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu * peak).astype(np.float32)
    elif r < 0.45:  # resampled through a lower rate and back
        low = int(rng.choice([8000, 11025, 12000]))
        g = math.gcd(low, SR)
        y = resample_poly(resample_poly(x, low // g, SR // g), SR // g, low // g)
        x = np.resize(y, len(x)).astype(np.float32)
    speech = rms(x)
    if rng.random() < 0.65:
        snr = rng.uniform(5, 40)
        colour = rng.choice(["white", "pink", "brown", "hum"], p=[0.3, 0.35, 0.2, 0.15])
        x = x + coloured_noise(len(x), rng, colour) * speech * 10 ** (-snr / 20)
    # A microphone's own floor, -80..-50 dBFS.
    x = x + coloured_noise(len(x), rng, "white") * 10 ** (rng.uniform(-80, -50) / 20)
    gain = 10 ** (rng.uniform(-6, 6) / 20)
    return np.clip(x * gain, -1.0, 1.0).astype(np.float32)


def background(n, rng):
    """Audio without speech: digital silence, a quiet floor, or noise from -70 to -30 dBFS."""
    r = rng.random()
    if r < 0.2:
        return np.zeros(n, np.float32)
    colour = rng.choice(["white", "pink", "brown", "hum"])
    level = rng.uniform(-75, -30) if r > 0.5 else rng.uniform(-75, -55)
    return coloured_noise(n, rng, colour) * 10 ** (level / 20)
