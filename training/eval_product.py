#!/usr/bin/env python3
"""Lip sync as the viewer sees it: runs the facecast CLI itself (`facecast render`, or `facecast live
--input FILE --headless`) on real speech and scores the `mouth_open` of its `--motion-out` against phone
alignments. Nothing here runs the model: every figure comes from the product's own output, after every
filter and default between the model and the screen.

The clips of a set are joined into one WAV with a second of silence between them (one run of the CLI per
condition; the silence keeps the clips apart), and each frame is placed in its clip by `audio_t_secs`
(offline equal to `t_secs`; live, the input's position of the sound the frame shows).

Metrics per clip, then summed per speaker, per language and over the set (training/phones.py gives the
targets; the thresholds are eval_lipsync.py's):
  * closure: share of /p b m/ midpoints where mouth_open is below 20% of that clip's range (min..max);
  * open vowels: share of /aa ae ah ao aw ay/ midpoints above 50% of that range;
  * corr: Pearson correlation of mouth_open with the coarticulated phone target, on the 10 ms grid;
  * lag: the shift (ms, +-250) that best correlates them, positive = the mouth late.

Conditions (--conditions): clean; babble (a mixture of four other clips of the set) or pink noise at
10 dB SNR; phone (a 300-3400 Hz band, 4th-order Butterworth).

Usage: eval_product.py --set training/data/real [--mode render|live] [--config cfg.toml] [--portrait IMG]
                       [--conditions clean,babble,pink,phone] [--max-secs 300 (per language)] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
from scipy.signal import butter, sosfilt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import phones as P  # noqa: E402

SR = 16000
PORTRAIT = os.path.join(ROOT, "assets", "portraits", "astronaut.png")
GAP_SECS = 1.0


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def load_set(set_dir, max_secs):
    """The set's clips in name order; with max_secs, each language's first clips up to that much audio."""
    with open(os.path.join(set_dir, "alignments.json")) as f:
        al = json.load(f)
    clips, total = [], {}
    for name in sorted(al):
        lang = al[name].get("language", "?")
        if max_secs and total.get(lang, 0.0) >= max_secs:
            continue
        x = read_wav(os.path.join(set_dir, "wav", name + ".wav"))
        clips.append({"name": name, "x": x, **al[name]})
        total[lang] = total.get(lang, 0.0) + len(x) / SR
    return clips


def join(clips):
    gap = np.zeros(int(GAP_SECS * SR), np.float32)
    parts, t = [gap], GAP_SECS
    for c in clips:
        c["start"] = t
        parts += [c["x"], gap]
        t += len(c["x"]) / SR + GAP_SECS
    return np.concatenate(parts)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def pink(n, rng):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    return np.fft.irfft(spec, n).astype(np.float32)


def condition(x, clips, kind, rng):
    """The joined signal under a condition; noise levels are set against the speech's own RMS."""
    if kind == "clean":
        return x
    speech = x[np.abs(x) > 1e-4]
    level = rms(speech)
    if kind == "phone":
        sos = butter(4, [300, 3400], btype="band", fs=SR, output="sos")
        return sosfilt(sos, x).astype(np.float32)
    if kind == "pink":
        noise = pink(len(x), rng)
    elif kind == "babble":
        noise = np.zeros_like(x)
        for _ in range(4):  # four other talkers, each the set's clips in another order, looped
            order = rng.permutation(len(clips))
            talker = np.concatenate([clips[i]["x"] for i in order])
            talker = np.tile(talker, int(np.ceil(len(x) / len(talker))))[: len(x)]
            noise += np.roll(talker, rng.integers(len(talker)))
    else:
        raise SystemExit(f"unknown condition {kind}")
    noise *= level / rms(noise) * 10 ** (-10 / 20)
    return (x + noise).astype(np.float32)


def run_cli(exe, mode, wav, motion, cfg, size, extra, portrait=PORTRAIT):
    if mode == "render":
        cmd = [exe, "render", "--portrait", portrait, "--audio", wav, "--output", motion + ".mp4", "--motion-out", motion, "--size", str(size)]
    else:
        cmd = [exe, "live", "--portrait", portrait, "--input", wav, "--headless", "--motion-out", motion, "--size", str(size)]
    if cfg:
        cmd += ["--config", cfg]
    cmd += extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    times, opens = [], []
    with open(motion) as f:
        for line in f:
            rec = json.loads(line)
            # Offline, a build from before audio_t_secs is placed by t_secs (the same clock there).
            t = rec.get("audio_t_secs", rec["t_secs"] if mode == "render" else None)
            if t is not None:
                times.append(t)
                opens.append(rec["mouth_open"])
    return np.array(times), np.array(opens)


def score_clip(times, opens, clip):
    """The clip's counts and its predicted and target series on the 10 ms grid."""
    dur = len(clip["x"]) / SR
    phones = [tuple(p) for p in clip["phones"]]
    sel = (times >= clip["start"]) & (times <= clip["start"] + dur)
    t, mo = times[sel] - clip["start"], opens[sel]
    if len(t) < 4:
        return None
    n = int(dur / P.HOP_S) - 2
    grid = P.frame_times(n)
    pred = np.interp(grid, t, mo)
    _, art, _ = P.frame_targets(phones, n)
    target = P.mouth_open(art[:, 0], art[:, 1])
    lo, hi = float(mo.min()), float(mo.max())
    rng_ = max(hi - lo, 1e-6)
    closed = [(np.interp(m, t, mo) - lo) / rng_ < 0.2 for m in P.midpoints(phones, P.BILABIALS)]
    opened = [(np.interp(m, t, mo) - lo) / rng_ > 0.5 for m in P.midpoints(phones, P.OPEN_VOWELS)]
    return {"close_hits": int(sum(closed)), "close_n": len(closed), "open_hits": int(sum(opened)),
            "open_n": len(opened), "pred": pred, "target": target}


def summarise(scores):
    s = [x for x in scores if x is not None]
    ch, cn = sum(x["close_hits"] for x in s), sum(x["close_n"] for x in s)
    oh, on = sum(x["open_hits"] for x in s), sum(x["open_n"] for x in s)
    preds, targets = [x["pred"] for x in s], [x["target"] for x in s]
    corr = float(np.corrcoef(np.concatenate(preds), np.concatenate(targets))[0, 1])
    clip_lags = [P.best_lag_ms([x["pred"]], [x["target"]]) for x in s if x["target"].std() > 0]
    return {"clips": len(s), "closure": ch / max(cn, 1), "n_closure": cn, "open_vowels": oh / max(on, 1),
            "n_open": on, "corr": corr, "lag_ms": P.best_lag_ms(preds, targets),
            "median_clip_lag_ms": float(np.median(clip_lags)) if clip_lags else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=os.path.join(HERE, "data", "real"))
    ap.add_argument("--exe", default=os.path.join(ROOT, "target", "release", "facecast"))
    ap.add_argument("--mode", choices=["render", "live"], default="render")
    ap.add_argument("--config", default=None)
    ap.add_argument("--portrait", default=PORTRAIT, help="the portrait (default: the bundled one, whose lips are parted)")
    ap.add_argument("--conditions", default="clean")
    ap.add_argument("--size", type=int, default=256, help="frame size; mouth_open does not depend on it")
    ap.add_argument("--max-secs", type=float, default=0, help="use each language's first clips up to this much audio")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("extra", nargs="*", help="more arguments for the CLI (after --)")
    a = ap.parse_args()
    clips = load_set(a.set, a.max_secs)
    joined = join(clips)
    rng = np.random.default_rng(a.seed)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cond in a.conditions.split(","):
            wav = os.path.join(tmp, f"{cond}.wav")
            write_wav(wav, condition(joined, clips, cond, rng))
            times, opens = run_cli(a.exe, a.mode, wav, os.path.join(tmp, f"{cond}.jsonl"), a.config, a.size, a.extra, a.portrait)
            scores = [score_clip(times, opens, c) for c in clips]
            groups = {"all": list(range(len(clips)))}
            for i, c in enumerate(clips):
                groups.setdefault("speaker " + c.get("speaker", "?"), []).append(i)
                groups.setdefault("language " + c.get("language", "?"), []).append(i)
            results[cond] = {g: summarise([scores[i] for i in idx]) for g, idx in groups.items()}
            for g, r in results[cond].items():
                print(f"{a.mode:6} {cond:7} {g:28} clips {r['clips']:4}  closure {r['closure']:.1%} ({r['n_closure']})  "
                      f"open {r['open_vowels']:.1%} ({r['n_open']})  corr {r['corr']:.3f}  lag {r['lag_ms']:+.1f} ms "
                      f"(median per clip {r['median_clip_lag_ms']:+.1f})", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
