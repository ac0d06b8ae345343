#!/usr/bin/env python3
"""Builds models/baseline_energy.onnx, facecast's *baseline* audio-to-motion model, and its parity fixture.

The baseline is not learned. Per 10 ms log-mel frame it takes the power in the speech band (the mel bins
whose centres lie in 300..3400 Hz), in dB, and maps it to jaw opening:

    e_db     = 10 log10( sum_{b in band} 10^{logmel_b} + 1e-10 )
    x        = clip((e_db - LO_DB) / (HI_DB - LO_DB), 0, 1)
    jaw_open = x^2 (3 - 2x)                      (smoothstep: soft start and stop)

LO_DB / HI_DB come from the bundled real speech clips: silence and breath sit below about -20 dB and
vowels of normal speech at 5..20 dB. The model has no state and no lookahead (one frame in, one out).
It stays in the repo as the baseline that trained models are compared with.

Graph I/O: input `mel` f32 [batch, frames, 80] (log10 mel power, facecast's features/ convention),
output `motion` f32 [batch, frames, 1]. Metadata: facecast.channels = "jaw_open",
facecast.kind = "baseline", facecast.lookahead_hops = "0".

Also writes tests/data/baseline_motion.json: onnxruntime (Python) on the speech mel fixture, rounded to
5 decimals, which tests/motion_parity.rs compares with ort in Rust.

Usage: scripts/tools-venv.sh && .venv-tools/bin/python scripts/make_baseline_model.py
"""
import json
import math
import os

import librosa
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_MELS = 80
BAND_HZ = (300.0, 3400.0)
LO_DB = -18.0
HI_DB = 8.0


def build() -> onnx.ModelProto:
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=0.0, fmax=8000.0, htk=False)[1:-1]
    band = ((centres >= BAND_HZ[0]) & (centres <= BAND_HZ[1])).astype(np.float32).reshape(N_MELS, 1)
    inits = [
        numpy_helper.from_array(np.array(math.log(10.0), np.float32), "ln10"),
        numpy_helper.from_array(band, "band_weights"),
        numpy_helper.from_array(np.array(1e-10, np.float32), "eps"),
        numpy_helper.from_array(np.array(10.0 / math.log(10.0), np.float32), "db_per_neper"),
        numpy_helper.from_array(np.array(LO_DB, np.float32), "lo_db"),
        numpy_helper.from_array(np.array(1.0 / (HI_DB - LO_DB), np.float32), "inv_range_db"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array(3.0, np.float32), "three"),
    ]
    nodes = [
        helper.make_node("Mul", ["mel", "ln10"], ["mel_ln"]),
        helper.make_node("Exp", ["mel_ln"], ["power"]),
        helper.make_node("MatMul", ["power", "band_weights"], ["band_power"]),
        helper.make_node("Add", ["band_power", "eps"], ["band_power_eps"]),
        helper.make_node("Log", ["band_power_eps"], ["band_ln"]),
        helper.make_node("Mul", ["band_ln", "db_per_neper"], ["band_db"]),
        helper.make_node("Sub", ["band_db", "lo_db"], ["above_lo"]),
        helper.make_node("Mul", ["above_lo", "inv_range_db"], ["x_raw"]),
        helper.make_node("Clip", ["x_raw", "zero", "one"], ["x"]),
        helper.make_node("Mul", ["x", "two"], ["two_x"]),
        helper.make_node("Sub", ["three", "two_x"], ["three_minus_two_x"]),
        helper.make_node("Mul", ["x", "x"], ["x2"]),
        helper.make_node("Mul", ["x2", "three_minus_two_x"], ["motion"]),
    ]
    graph = helper.make_graph(
        nodes,
        "facecast_baseline_energy",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("motion", TensorProto.FLOAT, ["batch", "frames", 1])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facecast")
    model.ir_version = 8
    model.doc_string = ("facecast baseline: speech-band mel energy -> jaw_open. Not learned; the reference "
                        "that trained models are compared with.")
    for k, v in {"facecast.channels": "jaw_open", "facecast.kind": "baseline", "facecast.lookahead_hops": "0",
                 "facecast.band_hz": f"{BAND_HZ[0]:g}-{BAND_HZ[1]:g}", "facecast.lo_db": f"{LO_DB:g}",
                 "facecast.hi_db": f"{HI_DB:g}"}.items():
        helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, k: v})
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    model = build()
    path = os.path.join(ROOT, "models", "baseline_energy.onnx")
    onnx.save(model, path)
    meta = json.load(open(os.path.join(ROOT, "tests", "data", "mel_fixtures.json")))
    frames = meta["fixtures"]["speech"]["frames"]
    mel = np.fromfile(os.path.join(ROOT, "tests", "data", "mel_speech.logmel.f32"), dtype="<f4").reshape(1, frames, N_MELS)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (motion,) = sess.run(["motion"], {"mel": mel})
    out = {"source": "onnxruntime " + ort.__version__ + " (Python) on tests/data/mel_speech.logmel.f32",
           "decimals": 5, "channels": ["jaw_open"],
           "motion": [[round(float(v), 5) for v in row] for row in motion[0]]}
    with open(os.path.join(ROOT, "tests", "data", "baseline_motion.json"), "w") as f:
        json.dump(out, f)
    print(f"wrote {path} ({os.path.getsize(path)} bytes); jaw_open over the fixture: "
          f"mean {motion.mean():.3f}, max {motion.max():.3f}, frames > 0.5: {(motion > 0.5).mean():.0%}")


if __name__ == "__main__":
    main()
