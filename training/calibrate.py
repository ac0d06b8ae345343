#!/usr/bin/env python3
"""Fits a contrast curve to a trained model's jaw_open channel on training voices, and bakes it into
the ONNX model.

A model trained on squared error hedges where it is unsure: frames inside /p b m/ settle a little open
and open vowels a little shut, so the lips neither quite close nor quite open (the key-frame hinge in
train.py pulls against this, but only partly). The curve undoes that compression with a sigmoid
around a centre c, of slope k, rescaled so that 0 stays 0 and 1 stays 1:

    f(x) = (s(x) - s(0)) / (s(1) - s(0)),  s(x) = 1 / (1 + exp(-k (x - c)))

It is fitted on training voices only (never on the held-out ones that the model card's evaluation
uses): 300 utterances drawn with the seed from train.pkl, each clean and in a room with pink noise at
15 dB SNR. The fit maximises the sum of the bilabial closure rate and the open-vowel rate (the
definitions of eval_lipsync.py), over c in 0.10..0.45 (steps of 0.025) and k in 4..max_k; the
smallest k wins a tie. The model keeps its inputs, outputs, state and metadata; the curve's two
numbers go into the metadata key `facecast.jaw_curve` ("c,k"), and `facecast.jaw_curve_fit` records
the rates before and after on the fitting set.

Usage: training/calibrate.py --model IN.onnx --out OUT.onnx [--data training/data] [--seed 1234]
"""
import argparse
import os
import pickle
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_lipsync as E  # noqa: E402
import features as F  # noqa: E402
import phones as P  # noqa: E402

CENTRES = np.round(np.arange(0.10, 0.451, 0.025), 3)
SLOPES = [4, 6, 8, 10, 12, 16, 20]


def fitting_set(data, seed, n=300):
    """[(mel, phones)]: n training utterances, clean and in a noisy room."""
    with open(os.path.join(data, "train.pkl"), "rb") as f:
        items = pickle.load(f)
    rng = np.random.default_rng(seed)
    out = []
    for j, i in enumerate(rng.choice(len(items), min(n, len(items)), replace=False)):
        x = items[i]["audio"].astype(np.float32) / 32768
        out.append((F.log_mel(x), items[i]["phones"]))
        r = np.random.default_rng([seed, j])
        y = x / max(F.rms(x), 1e-9) * 10 ** (-26 / 20)
        h = F.room_impulse(r)
        h = h[: int(r.uniform(0.2, 0.6) * F.SR)]
        y = F.fftconvolve(y, h)[: len(y)].astype(np.float32)
        y = y + F.coloured_noise(len(y), r, "pink") * F.rms(y) * 10 ** (-15 / 20)
        out.append((F.log_mel(y), items[i]["phones"]))
    return out


def curve(c, k):
    s = lambda x: 1.0 / (1.0 + np.exp(-k * (np.asarray(x, np.float64) - c)))  # noqa: E731
    s0, s1 = s(0.0), s(1.0)
    return lambda x: (s(x) - s0) / (s1 - s0)


def rates(outs, f):
    """(closure rate, open-vowel rate) of mouth_open = f(jaw) x (1 - lip_close), eval_lipsync's rules."""
    ch = cn = oh = on = 0
    for out, phones in outs:
        mo = P.mouth_open(f(out["jaw"]), out["close"])
        lo, hi = float(mo.min()), float(mo.max())
        r = max(hi - lo, 1e-6)
        for t in P.midpoints(phones, P.BILABIALS):
            cn += 1
            ch += int((E.interp(mo, t) - lo) / r < 0.2)
        for t in P.midpoints(phones, P.OPEN_VOWELS):
            on += 1
            oh += int((E.interp(mo, t) - lo) / r > 0.5)
    return ch / max(cn, 1), oh / max(on, 1)


def fit(model_path, data, seed, max_k):
    m = E.OnnxMotion(model_path)
    outs = [(m.run(mel), ph) for mel, ph in fitting_set(data, seed)]
    before = rates(outs, lambda x: x)
    best = None
    for k in [k for k in SLOPES if k <= max_k]:
        for c in CENTRES:
            r = rates(outs, curve(c, k))
            if best is None or sum(r) > sum(best[2]) + 1e-12:
                best = (float(c), k, r)
    return best, before


def bake(src, dst, c, k, meta):
    """Writes src with f applied to channel 0 of its `motion` output."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(src)
    g = m.graph
    out = next(o for o in g.output if o.name == "motion")
    raw = "motion_before_jaw_curve"
    for node in g.node:
        node.output[:] = [raw if o == "motion" else o for o in node.output]
    s0, s1 = (1.0 / (1.0 + np.exp(-k * (v - c))) for v in (0.0, 1.0))

    def const(name, values, dtype=TensorProto.FLOAT):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name + "_v", dtype, [len(values)], values))

    g.node.extend([
        const("jc_start0", [0], TensorProto.INT64), const("jc_end1", [1], TensorProto.INT64),
        const("jc_end_all", [2**62], TensorProto.INT64), const("jc_axis", [2], TensorProto.INT64),
        const("jc_c", [c]), const("jc_k", [float(k)]), const("jc_s0", [float(s0)]), const("jc_span", [float(s1 - s0)]),
        helper.make_node("Slice", [raw, "jc_start0", "jc_end1", "jc_axis"], ["jc_jaw"]),
        helper.make_node("Slice", [raw, "jc_end1", "jc_end_all", "jc_axis"], ["jc_rest"]),
        helper.make_node("Sub", ["jc_jaw", "jc_c"], ["jc_d"]),
        helper.make_node("Mul", ["jc_d", "jc_k"], ["jc_z"]),
        helper.make_node("Sigmoid", ["jc_z"], ["jc_s"]),
        helper.make_node("Sub", ["jc_s", "jc_s0"], ["jc_n"]),
        helper.make_node("Div", ["jc_n", "jc_span"], ["jc_f"]),
        helper.make_node("Concat", ["jc_f", "jc_rest"], [out.name], axis=2),
    ])
    for key, value in meta.items():
        e = next((p for p in m.metadata_props if p.key == key), None) or m.metadata_props.add()
        e.key, e.value = key, value
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the trained ONNX model (train.py's output)")
    ap.add_argument("--out", required=True, help="the ONNX model to write (may be --model)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-k", type=int, default=20, help="the steepest slope tried")
    args = ap.parse_args()
    import onnx

    if any(p.key == "facecast.jaw_curve" for p in onnx.load(args.model).metadata_props):
        sys.exit(f"{args.model} already has a jaw curve; calibrate train.py's output")
    (c, k, after), before = fit(args.model, args.data, args.seed, args.max_k)
    fit_note = (f"closure {before[0]:.4f} -> {after[0]:.4f}, open-vowel {before[1]:.4f} -> {after[1]:.4f} "
                f"on 600 training-voice utterances (seed {args.seed})")
    bake(args.model, args.out, c, k, {"facecast.jaw_curve": f"{c:.3f},{k}", "facecast.jaw_curve_fit": fit_note})
    print(f"{args.out}: jaw curve c={c:.3f} k={k}: {fit_note}")


if __name__ == "__main__":
    main()
