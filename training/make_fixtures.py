#!/usr/bin/env python3
"""Writes tests/data/trained_motion.json: onnxruntime (Python) output of the trained models on the
speech mel fixture (tests/data/mel_speech.logmel.f32), which tests/motion_trained.rs compares with ort in
Rust stepping one frame at a time and carrying the state.

Row i is what the model returns after frame i is fed (no lookahead shift), every channel, rounded to
5 decimals. The whole sequence runs in one call from a zero state after 50 frames of digital silence
(facecast's MotionModel::reset does the same warm-up).

Usage: training/make_fixtures.py [models/motion_live.onnx models/motion_quality.onnx models/motion_noise.onnx]
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    paths = sys.argv[1:] or [os.path.join(ROOT, "models", f) for f in ("motion_live.onnx", "motion_quality.onnx", "motion_noise.onnx")]
    meta = json.load(open(os.path.join(ROOT, "tests", "data", "mel_fixtures.json")))
    frames = meta["fixtures"]["speech"]["frames"]
    mel = np.fromfile(os.path.join(ROOT, "tests", "data", "mel_speech.logmel.f32"), dtype="<f4").reshape(1, frames, 80)
    out = {"source": f"onnxruntime {ort.__version__} (Python) on tests/data/mel_speech.logmel.f32", "models": {}}
    for p in paths:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        s = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        m = s.get_modelmeta().custom_metadata_map
        shape = [d if isinstance(d, int) else 1 for d in next(i for i in s.get_inputs() if i.name == "state").shape]
        # facecast's MotionModel::reset: 50 frames of digital silence (log-mel -10) before the first step.
        warm = np.full((1, 50, 80), -10.0, np.float32)
        y = s.run(["motion"], {"mel": np.concatenate([warm, mel], 1), "state": np.zeros(shape, np.float32)})[0][0][50:]
        out["models"][os.path.basename(p)] = {
            "channels": m["facecast.channels"].split(","),
            "lookahead_frames": int(m["facecast.lookahead_frames"]),
            "motion": np.round(y.astype(np.float64), 5).tolist(),
        }
        print(f"{p}: {y.shape[0]} frames, jaw_open {y[:, 0].min():.3f}..{y[:, 0].max():.3f}")
    with open(os.path.join(ROOT, "tests", "data", "trained_motion.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
