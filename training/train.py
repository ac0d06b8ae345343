#!/usr/bin/env python3
"""Trains facecast's audio-to-motion model and exports it to ONNX.

Input per 10 ms hop: one 80-bin log-mel frame (features.py). Output per hop: jaw_open, lip_close,
lip_round, lip_stretch (sigmoid, 0..1) and the probabilities of the 15 visemes (softmax), for the frame
`lookahead` hops *before* the newest input frame. The network is causal: a per-frame projection, a
2-layer GRU, a lookahead convolution over the GRU's last `lookahead` + 1 hidden states, and a linear
head. Its state is an explicit ONNX input/output (`state` [layers + lookahead, 1, hidden] ->
`state_out`): the GRU's state and the hidden states the convolution still needs. A streaming caller feeds one frame per hop and keeps the state; the model has seen
`lookahead` frames past the frame it speaks for, which is its whole algorithmic delay.

Loss: squared error on the four articulation channels and on the mouth's opening (jaw_open x
(1 - lip_close)), cross-entropy on the visemes, and a hinge at the key frames (phones.key_frames): the
lips shut inside /p b m/, the mouth well open inside open vowels.

Targets come from phones through training/phones.py. Training data: training/gen_data.py, augmented
here (features.py) with two random acoustic conditions per utterance, plus background-only clips
(digital silence, floors and noise from -75 to -30 dBFS) that must keep the mouth at rest.

Off by default; train.sh turns them on (`--channel-eq 0.35 --vtlp 0.1 --open-min 0.75
--key-open-weight 12`) for the quality variant throughout and for a 700-step fine-tune of the live one
(`--init`, from the live model trained without them): `--channel-eq SIGMA` sends each training window
through a random channel (`channel_eq`), a smooth equaliser curve over the mel bins, as a microphone, a
room or a voice's own timbre colours the spectrum; `--vtlp RANGE` warps each window's frequencies by a
random factor in 1 +- RANGE (`vtlp`, vocal tract length perturbation); `--open-min` and
`--key-open-weight` set the open-vowel hinge. On the held-out voices (2026-11-27) they took the open-vowel
rate from 97.5% to 99.6% (quality) and from 95.7% to 99.4% (live), past the energy baseline's 99.2%, and
closure to 97.5% and 99.3%, for 5.4 and 1.3 points of viseme accuracy. Trained with them from the start,
the live variant reached only 98.9%, at 6 points of viseme accuracy and nearly three times the mouth's
wander on -60 dBFS noise. The held-out flite voice rms, whose long-term spectrum sits 8 dB (rms over the
bins) from the training voices' mean, is where they gain most.

The live fine-tune also anticipates (`--lead 1 --rest-weight 12`; the comment ANTICIPATION in this file
and the model card): trained toward the mouth one hop after what it has heard, with more weight on a
still mouth in silence, it went from 9.3 ms late against the targets to 3.4 ms, ahead of both baselines
(+6.2 and +6.4 ms). The quality model trains with `--lead 1` throughout: 5.0 ms late before, 3.5 ms
early after.

The mouth as facecast draws it (`--rest-gap G --lips-meet-jaw J [--drawn-mouth]`, 2026-12-07): the rig
draws the opening as G (1 - lip_close) + (1 - G) jaw_open, and `[motion] lips_meet_jaw` first raises
lip_close to 1 - jaw_open / J. With both flags the /p b m/ hinge measures that drawn opening, so a jaw
shut below J passes it; with `--drawn-mouth` the mouth's squared error and the open-vowel hinge measure it
too (against the target's jaw_open x (1 - lip_close)). As 1000-step fine-tunes of the bundled quality
model they raised closure on the real-speech dev set, through the CLI, from 76.6% to 89.2% (model card,
"Training toward the drawn mouth"); not bundled yet.

Usage: train.py --data training/data --lookahead 0 --out models/motion_live.onnx [--steps N] [--seed S]
"""
import argparse
import json
import os
import sys
import time
from multiprocessing import Pool

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import phones as P  # noqa: E402

N_ART = len(P.ARTIC)
N_VIS = len(P.VISEMES)
CHANNELS = P.ARTIC + [f"viseme_{v}" for v in P.VISEMES]
ART_WEIGHTS = torch.tensor([1.5, 1.5, 0.7, 0.7])
# The mouth's opening, jaw_open x (1 - lip_close), is what a viewer sees. Beside the per-channel loss it
# has its own squared error everywhere (MOUTH_WEIGHT), and at the key frames (phones.key_frames) a hinge:
# inside a /p b m/ an opening above CLOSED_MAX costs, inside an open vowel one below OPEN_MIN does
# (KEY_CLOSED_WEIGHT, KEY_OPEN_WEIGHT; neither bar asks more than the frame's own target). A per-channel
# loss alone leaves uncertain frames at half-open, which reads as lips that don't quite close on /p b m/
# and vowels that don't quite open. At weight 2 for both, the misses left were mostly /ao/ before /r/
# ("for", "your") opened to a third of the range, and /p b m/ half-closed in the quality variant.
MOUTH_WEIGHT = 1.0
KEY_CLOSED_WEIGHT = 4.0
KEY_OPEN_WEIGHT = 6.0
CLOSED_MAX = 0.05
OPEN_MIN = 0.6
# The channel equaliser (--channel-eq): cosines 1..EQ_TERMS over the mel bins, each of amplitude
# N(0, sigma) in log10 units (0.35 is 3.5 dB; the sum's rms is then about 5 dB), on a share EQ_SHARE of
# the training windows.
EQ_TERMS = 5
EQ_SHARE = 0.8
# Vocal tract length perturbation (--vtlp RANGE; Jaitly and Hinton, 2013): each window's spectrum is
# warped along frequency by a random factor in 1 +- RANGE (formants move up when it is above 1), up to
# VTLP_KNEE_HZ, then linearly to 8 kHz, which stays put; the warp reads the log-mel between bin centres.
VTLP_KNEE_HZ = 4800.0
VTLP_SHARE = 0.8
# ANTICIPATION (--lead HOPS): the targets lead the sound (lips move before it), so a model with no
# lookahead, trained toward the frame it has just heard, comes out late. With a lead it is trained toward
# the articulation, visemes and open-vowel key frames HOPS hops later: a prediction from what it has heard.
# The /p b m/ key frames stay where they are heard (moved too, the open vowels lost their margin over the
# energy baseline), and --rest-weight adds weight to the mouth's error on silent frames (a model that
# predicts twitches more on faint noise).
WARMUP = 30  # frames at the start of each training window left out of the loss (the state is warming)


class MotionNet(nn.Module):
    """Causal GRU plus a lookahead convolution over its hidden states (a "row convolution", as in
    DeepSpeech 2): the output for frame t - L sees the GRU's states for frames t - L .. t.

    ONNX state, one tensor [layers + L, 1, hidden]: the GRU's state, then the last L hidden vectors.
    """

    def __init__(self, mean, std, hidden=128, layers=2, lookahead=0):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("inv_std", 1.0 / torch.as_tensor(std, dtype=torch.float32))
        self.inp = nn.Linear(F.N_MELS, hidden)
        self.gru = nn.GRU(hidden, hidden, layers, batch_first=True)
        # Depthwise over time (each hidden unit its own L + 1 taps), then mixed across units.
        self.look = nn.Conv1d(hidden, hidden, kernel_size=lookahead + 1, groups=hidden) if lookahead > 0 else None
        self.mix = nn.Linear(hidden, hidden) if lookahead > 0 else None
        self.head = nn.Linear(hidden, N_ART + N_VIS)
        self.layers, self.hidden, self.lookahead = layers, hidden, lookahead

    def zero_state(self, batch):
        return torch.zeros(self.layers + self.lookahead, batch, self.hidden)

    def logits(self, mel, state):
        x = torch.relu(self.inp((mel - self.mean) * self.inv_std))
        y, gru_state = self.gru(x, state[: self.layers].contiguous())
        if self.look is None:
            return self.head(y), gru_state
        L = self.lookahead
        seq = torch.cat([state[self.layers:].transpose(0, 1), y], 1)  # [B, L + T, H]
        z = torch.relu(self.mix(self.look(seq.transpose(1, 2)).transpose(1, 2)))  # [B, T, H]
        z = z + seq[:, : seq.shape[1] - L]  # residual: the state of the frame spoken for
        new_state = torch.cat([gru_state, seq[:, seq.shape[1] - L:].transpose(0, 1)], 0)
        return self.head(z), new_state

    def forward(self, mel, state):
        o, state = self.logits(mel, state)
        return torch.cat([torch.sigmoid(o[..., :N_ART]), torch.softmax(o[..., N_ART:], dim=-1)], -1), state


def channel_eq(rng, batch, sigma):
    """[batch, 1, 80] random smooth equaliser curves (log10 units) to add to log-mel windows."""
    bins = (np.arange(F.N_MELS) + 0.5) / F.N_MELS
    basis = np.cos(np.pi * np.arange(1, EQ_TERMS + 1)[:, None] * bins[None, :])  # [terms, 80]
    amp = rng.normal(0.0, sigma, size=(batch, EQ_TERMS)) * (rng.random((batch, 1)) < EQ_SHARE)
    return torch.from_numpy((amp @ basis).astype(np.float32))[:, None, :]


def vtlp(x, rng, spread):
    """[B, T, 80] log-mel windows, each warped along frequency by its own random factor (VTLP)."""
    hz, top = F.MEL_CENTRES_HZ, F.MEL_PARAMS["fmax"]
    b = x.shape[0]
    alpha = np.where(rng.random(b) < VTLP_SHARE, rng.uniform(1 - spread, 1 + spread, b), 1.0)
    knee = VTLP_KNEE_HZ * np.minimum(alpha, 1.0)
    # Output bin at f reads the input at src(f): f / alpha below the knee, then linear to (top, top).
    f = hz[None, :]
    below = f / alpha[:, None]
    k_src = knee[:, None] / alpha[:, None]
    above = k_src + (f - knee[:, None]) * (top - k_src) / (top - knee[:, None])
    src = np.where(f <= knee[:, None], below, above)
    pos = np.clip(np.interp(src, hz, np.arange(F.N_MELS)), 0, F.N_MELS - 1)  # fractional input bin
    lo = np.minimum(np.floor(pos).astype(np.int64), F.N_MELS - 2)
    w = torch.from_numpy((pos - lo).astype(np.float32))[:, None, :]
    lo_t = torch.from_numpy(lo)[:, None, :].expand(-1, x.shape[1], -1)
    a = torch.gather(x, 2, lo_t)
    c = torch.gather(x, 2, lo_t + 1)
    return a + (c - a) * w


# Babble (--babble SHARE): on that share of the utterances, 2..5 other talkers of the training set talk
# at once, together BABBLE_SNR_DB below the speech (a meeting, a café, a TV), before the room and channel
# of F.augment, which colour them all alike. The targets stay the main talker's.
BABBLE_SNR_DB = (0.0, 20.0)
_BABBLE = []


def _init_worker(sources):
    _BABBLE[:] = sources


def _babble(x, rng):
    n = len(x)
    mix = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(2, 6))):
        other = _BABBLE[int(rng.integers(len(_BABBLE)))]
        other = np.tile(other, int(np.ceil(n / len(other))) + 1)
        start = int(rng.integers(len(other) - n + 1))
        part = other[start: start + n]
        mix += part / (F.rms(part) + 1e-9)
    snr = rng.uniform(*BABBLE_SNR_DB)
    return (x + mix * F.rms(x) / (F.rms(mix) + 1e-9) * 10 ** (-snr / 20)).astype(np.float32)


def _features(args):
    item, idx, copy, seed, babble = args
    rng = np.random.default_rng([seed, idx, copy])
    x = item["audio"].astype(np.float32) / 32768.0
    if babble > 0 and _BABBLE and rng.random() < babble:
        x = _babble(x, rng)
    lead, tail = rng.uniform(0.05, 0.9), rng.uniform(0.1, 0.9)
    nl, nt = int(lead * F.SR), int(tail * F.SR)
    y = F.augment(np.concatenate([np.zeros(nl, np.float32), x, np.zeros(nt, np.float32)]), rng)
    mel = F.log_mel(y)
    phones = [(s + nl / F.SR, e + nl / F.SR, p) for s, e, p in item["phones"]]
    vis, art, _ = P.frame_targets(phones, len(mel))
    out = [(mel, vis, art, P.key_frames(phones, len(mel)))]
    if rng.random() < 0.06:  # background alone, 0.5..3 s
        bg = F.background(int(rng.uniform(0.5, 3.0) * F.SR), rng)
        m = F.log_mel(bg)
        out.append((m, np.zeros(len(m), np.int64), np.zeros((len(m), N_ART), np.float32),
                    np.zeros(len(m), np.int8)))
    return out


def build_stream(items, copies, seed, jobs, babble=0.0):
    """All utterances under `copies` random conditions, shuffled and joined into one frame stream."""
    work = [(it, i, c, seed, babble) for c in range(copies) for i, it in enumerate(items)]
    order = np.random.default_rng(seed).permutation(len(work))
    work = [work[k] for k in order]
    mels, vis, art, key = [], [], [], []
    t0 = time.time()
    # Babble talkers: every 7th utterance (speech only, no phones needed), shared with each worker once.
    sources = [it["audio"].astype(np.float32) / 32768.0 for it in items[::7]] if babble > 0 else []
    with Pool(jobs, initializer=_init_worker, initargs=(sources,)) as pool:
        for k, parts in enumerate(pool.imap(_features, work, chunksize=16)):
            for m, v, a, k_ in parts:
                mels.append(m.astype(np.float16))
                vis.append(v.astype(np.int8))
                art.append(a.astype(np.float16))
                key.append(k_.astype(np.int8))
            if k % 2000 == 0:
                print(f"  features {k}/{len(work)} ({time.time() - t0:.0f} s)", flush=True)
    return np.concatenate(mels), np.concatenate(vis), np.concatenate(art), np.concatenate(key)


def load_stream(data, copies, seed, jobs, babble=0.0, extra=()):
    # A new data set or a new target mapping gets a new cache.
    import hashlib
    import pickle
    pkls = [os.path.join(d, "train.pkl") for d in (data, *extra)]
    size = "_".join(str(os.path.getsize(p)) for p in pkls)
    with open(P.__file__, "rb") as f:
        targets = hashlib.sha256(f.read()).hexdigest()[:10]
    cache = os.path.join(data, f"stream_k_c{copies}_s{seed}_{size}_{targets}" + (f"_b{babble:g}" if babble > 0 else "")
                         + ".npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["mel"], z["vis"], z["art"], z["key"]
    items = []
    for p in pkls:
        with open(p, "rb") as f:
            items += pickle.load(f)
    mel, vis, art, key = build_stream(items, copies, seed, jobs, babble)
    np.savez(cache, mel=mel, vis=vis, art=art, key=key)
    return mel, vis, art, key


def export(model, path, lookahead, meta_extra):
    """ONNX with dynamic frame count; `state` in, `state_out` out; metadata for facecast."""
    import onnx
    model.eval()
    mel = torch.zeros(1, 7, F.N_MELS)
    state = model.zero_state(1)
    torch.onnx.export(model, (mel, state), path, input_names=["mel", "state"],
                      output_names=["motion", "state_out"], opset_version=17, dynamo=False,
                      dynamic_axes={"mel": {1: "frames"}, "motion": {1: "frames"}})
    m = onnx.load(path)
    meta = {"facecast.channels": ",".join(CHANNELS), "facecast.kind": "trained",
            "facecast.lookahead_frames": str(lookahead), "facecast.state": "state",
            **meta_extra}
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    m.producer_name = "facecast training/train.py"
    onnx.save(m, path)


def onnx_state_dict(path):
    """A bundled model's weights, read back from its ONNX file as MotionNet's state dict (what torch.onnx
    exported, undone: MatMul weights transposed, the GRU's gates from ONNX's z, r, h back to torch's
    r, z, n, its bias split into input and recurrent halves)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    h = init["inp.bias"].shape[0]

    def gates(w):  # rows [z, r, h] -> [r, z, h]
        return np.concatenate([w[h:2 * h], w[:h], w[2 * h:]])

    sd = {k: init[k] for k in ("mean", "inv_std", "inp.bias", "head.bias", "look.weight", "look.bias", "mix.bias")
          if k in init}
    matmuls = [n for n in m.graph.node if n.op_type == "MatMul"]
    grus = [n for n in m.graph.node if n.op_type == "GRU"]
    names = ["inp.weight"] + (["mix.weight"] if "mix.bias" in init else []) + ["head.weight"]
    if len(matmuls) != len(names):
        raise SystemExit(f"{path}: {len(matmuls)} MatMul nodes, expected {len(names)} (not a train.py model?)")
    for name, node in zip(names, matmuls):
        sd[name] = init[node.input[1]].T
    for layer, node in enumerate(grus):
        w, r, b = (init[x][0] for x in node.input[1:4])
        sd[f"gru.weight_ih_l{layer}"], sd[f"gru.weight_hh_l{layer}"] = gates(w), gates(r)
        sd[f"gru.bias_ih_l{layer}"], sd[f"gru.bias_hh_l{layer}"] = gates(b[:3 * h]), gates(b[3 * h:])
    return {k: torch.from_numpy(np.array(v, np.float32)) for k, v in sd.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--lookahead", type=int, default=0, help="hops (10 ms) the model sees past its output")
    ap.add_argument("--out", help="ONNX file to write")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--window", type=int, default=400, help="frames per training window")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--copies", type=int, default=2, help="augmented conditions per utterance")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--variant", default="", help="a name for the model card (live, quality)")
    ap.add_argument("--channel-eq", type=float, default=0.0, metavar="SIGMA",
                    help="random channel equaliser per window, SIGMA log10 units per term (0: off)")
    ap.add_argument("--vtlp", type=float, default=0.0, metavar="RANGE",
                    help="warp each training window's frequencies by a random factor in 1 +- RANGE (0: off)")
    ap.add_argument("--open-min", type=float, default=OPEN_MIN, help="the open-vowel hinge's bar")
    ap.add_argument("--key-open-weight", type=float, default=KEY_OPEN_WEIGHT, help="the open-vowel hinge's weight")
    ap.add_argument("--lead", type=int, default=0, metavar="HOPS",
                    help="anticipation: train each output toward the articulation, viseme and open-vowel key "
                         "frames HOPS hops later (the model still sees no audio past its output; the /p b m/ "
                         "key frames stay where they are heard)")
    ap.add_argument("--rest-weight", type=float, default=0.0,
                    help="extra weight of the mouth opening's squared error on silent frames (viseme sil)")
    ap.add_argument("--init", metavar="CKPT",
                    help="start from this checkpoint (the .pt that train.py writes beside the ONNX, or an .onnx "
                         "it exported, such as a bundled model) instead of a fresh initialisation: a fine-tune "
                         "(with --steps and --lr of its own)")
    ap.add_argument("--extra-data", action="append", default=[], metavar="DIR",
                    help="another folder's train.pkl to train on beside --data's (real_train.py's real speech); "
                         "may be given more than once")
    ap.add_argument("--babble", type=float, default=0.0, metavar="SHARE",
                    help="mix 2..5 other talkers of the set, 0..20 dB below the speech, into this share of the "
                         "utterances (0: off)")
    ap.add_argument("--rest-gap", type=float, default=0.0, metavar="FRACTION",
                    help="the /p b m/ hinge measures the opening as the rig draws it for a portrait whose lips are "
                         "this far apart at rest (a fraction of the widest opening): (gap + (1 - gap) jaw_open) "
                         "(1 - lip_close), so that lip_close, not the jaw alone, must shut them")
    ap.add_argument("--lips-meet-jaw", type=float, default=0.0, metavar="JAW",
                    help="with --rest-gap: the /p b m/ hinge measures the opening as facecast draws it with "
                         "`[motion] lips_meet_jaw = JAW` (motion::lips_meet_as_the_jaw_shuts, then the rig): "
                         "gap (1 - max(lip_close, 1 - jaw_open / JAW)) + (1 - gap) jaw_open, so that a jaw "
                         "shut below JAW shuts the lips too")
    ap.add_argument("--drawn-mouth", action="store_true",
                    help="with --lips-meet-jaw: the mouth's squared error and the open-vowel hinge measure the "
                         "opening as facecast draws it too (the /p b m/ hinge always does with --lips-meet-jaw), "
                         "against the target's jaw_open x (1 - lip_close)")
    ap.add_argument("--key-closed-weight", type=float, default=KEY_CLOSED_WEIGHT, help="the /p b m/ hinge's weight")
    ap.add_argument("--features-only", action="store_true", help="build the cached feature stream and stop")
    args = ap.parse_args()
    if args.drawn_mouth and args.lips_meet_jaw <= 0:
        ap.error("--drawn-mouth needs --lips-meet-jaw")
    if args.lips_meet_jaw > 0 and args.rest_gap <= 0:
        ap.error("--lips-meet-jaw needs --rest-gap (the portrait's lip gap at rest)")
    if not args.features_only and not args.out:
        ap.error("--out is required")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.jobs)
    t0 = time.time()
    mel, vis, art, key = load_stream(args.data, args.copies, args.seed, args.jobs, args.babble, args.extra_data)
    n = len(mel)
    print(f"stream: {n} frames ({n / 360000:.2f} h), {time.time() - t0:.0f} s", flush=True)
    if args.features_only:
        return
    sample = mel[:: max(1, n // 200000)].astype(np.float32)
    mean, std = sample.mean(0), sample.std(0) + 1e-3

    model = MotionNet(mean, std, hidden=args.hidden, lookahead=args.lookahead)
    if args.init:  # its normalisation too: the same data gives the same statistics
        model.load_state_dict(onnx_state_dict(args.init) if args.init.endswith(".onnx") else torch.load(args.init))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    rng = np.random.default_rng(args.seed)
    L, W, K = args.lookahead, args.window, args.lead
    ce = nn.CrossEntropyLoss()
    model.train()
    t1 = time.time()
    run = []
    for step in range(1, args.steps + 1):
        # Room for the lead (one frame more than it needs: the bound the bundled live model was drawn with).
        starts = rng.integers(L, n - W - (K + 1 if K else 0), size=args.batch)
        idx = starts[:, None] + np.arange(W)[None, :]
        x = torch.from_numpy(mel[idx].astype(np.float32))
        if args.vtlp > 0:
            x = vtlp(x, rng, args.vtlp)
        if args.channel_eq > 0:  # a channel colours what it carries; digital silence stays silent
            x = torch.where(x > np.log10(F.LOG_FLOOR) + 0.01, x + channel_eq(rng, args.batch, args.channel_eq), x)
        ya = torch.from_numpy(art[idx - L + K].astype(np.float32))[:, WARMUP:]
        yv = torch.from_numpy(vis[idx - L + K].astype(np.int64))[:, WARMUP:]
        yk_open = torch.from_numpy(key[idx - L + K].astype(np.int64))[:, WARMUP:]
        yk_closed = torch.from_numpy(key[idx - L].astype(np.int64))[:, WARMUP:]
        o, _ = model.logits(x, model.zero_state(args.batch))
        o = o[:, WARMUP:]
        pa = torch.sigmoid(o[..., :N_ART])
        la = ((pa - ya) ** 2 * ART_WEIGHTS).mean()
        lv = ce(o[..., N_ART:].reshape(-1, N_VIS), yv.reshape(-1))
        mo, mo_t = pa[..., 0] * (1 - pa[..., 1]), ya[..., 0] * (1 - ya[..., 1])
        lm = ((mo - mo_t) ** 2).mean()
        closed, opened = (yk_closed == P.KEY_CLOSED).float(), (yk_open == P.KEY_OPEN).float()
        # The bars never ask more than the target itself (a very short phone's target is coarticulated).
        # The closure as the rig draws it: a portrait's lips may be apart at rest (--rest-gap), and only
        # lip_close brings them together.
        if args.lips_meet_jaw > 0:  # the product's rule, then its rig (linear in the two)
            shut = torch.maximum(pa[..., 1], 1 - pa[..., 0] / args.lips_meet_jaw)
            mo_c = args.rest_gap * (1 - shut) + (1 - args.rest_gap) * pa[..., 0]
        elif args.rest_gap > 0:
            mo_c = (args.rest_gap + (1 - args.rest_gap) * pa[..., 0]) * (1 - pa[..., 1])
        else:
            mo_c = mo
        lc = (torch.relu(mo_c - torch.clamp(mo_t, min=CLOSED_MAX)) ** 2 * closed).sum() / closed.sum().clamp(min=1)
        if args.drawn_mouth:
            mo = mo_c
            lm = ((mo - mo_t) ** 2).mean()
        lo = (torch.relu(torch.clamp(mo_t, max=args.open_min) - mo) ** 2 * opened).sum() / opened.sum().clamp(min=1)
        loss = la + 0.1 * lv + MOUTH_WEIGHT * lm + args.key_closed_weight * lc + args.key_open_weight * lo
        if args.rest_weight > 0:
            rest = (yv == P.VISEMES.index("sil")).float()
            loss = loss + args.rest_weight * ((mo - mo_t) ** 2 * rest).sum() / rest.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run.append((la.item(), lv.item(), lm.item(), lc.item(), lo.item()))
        if step % 100 == 0 or step == args.steps:
            a, v, m_, c_, o_ = np.mean(run, axis=0)
            run = []
            rate = step / (time.time() - t1)
            print(f"step {step}/{args.steps}  art {a:.4f}  viseme {v:.3f}  mouth {m_:.4f}  closed {c_:.4f}  open {o_:.4f}  "
                  f"{rate:.1f} steps/s  "
                  f"eta {(args.steps - step) / rate:.0f} s", flush=True)
    secs = time.time() - t0
    params = sum(p.numel() for p in model.parameters())
    extra = {"facecast.variant": args.variant, "facecast.train_steps": str(args.steps),
             "facecast.train_seed": str(args.seed), "facecast.params": str(params)}
    export(model, args.out, L, extra)
    torch.save(model.state_dict(), args.out + ".pt")
    with open(os.path.splitext(args.out)[0] + ".train.json", "w") as f:
        json.dump({"lookahead_frames": L, "steps": args.steps, "batch": args.batch, "window": W,
                   "hidden": args.hidden, "params": params, "train_frames": int(n), "seconds": round(secs),
                   "seed": args.seed, "channels": CHANNELS,
                   "loss": {"art_weights": ART_WEIGHTS.tolist(), "viseme": 0.1, "mouth": MOUTH_WEIGHT,
                            "key_closed": args.key_closed_weight, "key_open": args.key_open_weight, "closed_max": CLOSED_MAX,
                            "open_min": args.open_min},
                   **({"channel_eq_sigma": args.channel_eq} if args.channel_eq > 0 else {}),
                   **({"vtlp_range": args.vtlp} if args.vtlp > 0 else {}),
                   **({"lead_frames": K} if K else {}),
                   **({"rest_weight": args.rest_weight} if args.rest_weight > 0 else {}),
                   **({"babble_share": args.babble} if args.babble > 0 else {}),
                   **({"rest_gap": args.rest_gap} if args.rest_gap > 0 else {}),
                   **({"lips_meet_jaw": args.lips_meet_jaw} if args.lips_meet_jaw > 0 else {}),
                   **({"drawn_mouth": True} if args.drawn_mouth else {}),
                   **({"extra_data": [os.path.basename(os.path.normpath(d)) for d in args.extra_data]}
                      if args.extra_data else {}),
                   **({"init": os.path.basename(args.init), "lr": args.lr} if args.init else {})}, f, indent=1)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, {params} parameters) in {secs:.0f} s")


if __name__ == "__main__":
    main()
