#!/usr/bin/env python3
"""What a contrast curve on lip_close would do to the product's lip sync, read from `facecast render`'s own
--motion-out, and the curve that does most on a fitting set.

The rig (src/portrait/rig) draws the lips' opening as the portrait's own gap at rest, which only lip_close
shuts, plus the jaw's drop: mouth_open = g (1 - lip_close) + (1 - g) jaw_open, with g the rest gap's share
of the widest opening (0.36 for the bundled portrait; fitted here from the records, exactly linear). On
real voices the jaw shuts at /p b m/ but lip_close stays low (median 0.31 on the dev set), so the lips stay
a third apart. A curve

    f(x) = clamp((x - lo) / (hi - lo), 0, 1)

on the smoothed lip_close, before the rig, would undo a hedged lip_close: below lo the lips stay as the
portrait has them, above hi they meet. (Measured, 2026-12-06: it does not help; at most /p b m/ lip_close
is near 0, not hedged, and the closure rate is read against each clip's own floor. Model card, "Two more
tries".) Everything is scored as eval_product.py scores it (closure, open vowels,
correlation with the phone target, lag), with mouth_open recomputed from the records' parameters.

The CLI runs once per condition; its records are kept in --work, so a rerun only rescores.

Usage: lip_curve.py --set training/data/real | --pkl training/data/real-train/train.pkl [--max-minutes M]
                    [--conditions clean,babble] [--work DIR] [--curve LO,HI ...] [--grid]
"""
import argparse
import json
import os
import pickle
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import eval_product as E  # noqa: E402

LOS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
HIS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.85, 1.0]


def load_pkl(path, max_minutes):
    with open(path, "rb") as f:
        items = pickle.load(f)
    clips, total = [], {}
    for i, it in enumerate(items):
        spk = f"{it.get('language', '?')}/{it.get('speaker', it.get('voice', '?'))}"
        if max_minutes and total.get(spk, 0.0) >= max_minutes * 60:
            continue
        x = np.asarray(it["audio"], np.float32) / 32768
        clips.append({"name": f"{i:05}", "x": x, "phones": [tuple(p) for p in it["phones"]],
                      "language": it.get("language", "?"), "speaker": spk})
        total[spk] = total.get(spk, 0.0) + len(x) / E.SR
    return clips


def records(path):
    t, mo, jaw, lc = [], [], [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            t.append(r.get("audio_t_secs", r["t_secs"]))
            mo.append(r["mouth_open"])
            jaw.append(r["params"]["jaw_open"])
            lc.append(r["params"]["lip_close"])
    return np.array(t), np.array(mo), np.array(jaw), np.array(lc)


def curve(lc, lo, hi):
    return np.clip((lc - lo) / (hi - lo), 0.0, 1.0)


def score(clips, t, mo):
    return E.summarise([E.score_clip(t, mo, c) for c in clips])


def line(name, r):
    return (f"{name:24} closure {r['closure']:6.1%} ({r['n_closure']})  open {r['open_vowels']:6.1%} ({r['n_open']})  "
            f"corr {r['corr']:.3f}  lag " + (f"{r['median_clip_lag_ms']:+.1f} ms" if r["median_clip_lag_ms"] is not None else "-"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=None)
    ap.add_argument("--pkl", default=None)
    ap.add_argument("--max-minutes", type=float, default=0, help="per speaker, with --pkl")
    ap.add_argument("--exe", default=os.path.join(E.ROOT, "target", "release", "facecast"))
    ap.add_argument("--config", default=None)
    ap.add_argument("--conditions", default="clean")
    ap.add_argument("--work", default="/tmp/lip_curve")
    ap.add_argument("--curve", action="append", default=[], help="LO,HI to score")
    ap.add_argument("--grid", action="store_true", help="score every (lo, hi) of the grid")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    clips = E.load_set(a.set, 0) if a.set else load_pkl(a.pkl, a.max_minutes)
    joined = E.join(clips)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.work, exist_ok=True)
    for cond in a.conditions.split(","):
        noisy = E.condition(joined, clips, cond, rng)
        motion = os.path.join(a.work, f"{cond}.jsonl")
        if not os.path.exists(motion):
            wav = os.path.join(a.work, f"{cond}.wav")
            E.write_wav(wav, noisy)
            E.run_cli(a.exe, "render", wav, motion, a.config, 64, [])
        t, mo, jaw, lc = records(motion)
        design = np.stack([1 - lc, jaw, np.ones_like(jaw)], 1)
        coef, *_ = np.linalg.lstsq(design, mo, rcond=None)
        resid = np.abs(design @ coef - mo).max()
        g = coef[0]
        print(f"== {cond}: {len(clips)} clips; mouth_open = {coef[0]:.4f} (1 - lip_close) + {coef[1]:.4f} jaw_open "
              f"+ {coef[2]:.4f} (max residual {resid:.1e})", flush=True)
        print(line("as rendered", score(clips, t, mo)), flush=True)
        bil = [m for c in clips for m in (np.array(E.P.midpoints(c["phones"], E.P.BILABIALS)) + c["start"])]
        opn = [m for c in clips for m in (np.array(E.P.midpoints(c["phones"], E.P.OPEN_VOWELS)) + c["start"])]
        for name, mids in (("/p b m/", bil), ("open vowels", opn)):
            q = np.percentile(np.interp(mids, t, lc), [10, 25, 50, 75, 90])
            j = np.percentile(np.interp(mids, t, jaw), [25, 50, 75])
            print(f"   lip_close at {name}: deciles {np.round(q, 3)}; jaw_open quartiles {np.round(j, 3)}")
        todo = [tuple(float(v) for v in c.split(",")) for c in a.curve]
        if a.grid:
            todo += [(lo, hi) for lo in LOS for hi in HIS if hi > lo]
        best = None
        for lo, hi in todo:
            mo2 = g * (1 - curve(lc, lo, hi)) + coef[1] * jaw + coef[2]
            r = score(clips, t, mo2)
            print(line(f"curve {lo:.2f},{hi:.2f}", r), flush=True)
            key = r["closure"] + r["open_vowels"]
            if best is None or key > best[0]:
                best = (key, lo, hi)
        if best:
            print(f"best closure + open vowels: lo {best[1]}, hi {best[2]}")


if __name__ == "__main__":
    main()
