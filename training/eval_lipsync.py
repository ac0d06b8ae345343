#!/usr/bin/env python3
"""Lip-sync evaluation: audio plus phone timings in, one table out, every model side by side.

Models compared:
  * each trained ONNX model given (run by onnxruntime, as shipped, from a zero state);
  * `energy`: facecast's baseline, models/baseline_energy.onnx (speech-band loudness to jaw opening);
  * `mfcc-template`: a uLipSync-style baseline. 12 MFCCs per frame (DCT of the same log-mel, c1..c12,
    standardised), one mean template per viseme calibrated on clean training speech, cosine similarity
    to each template turned into weights (softmax), jaw_open = (weighted viseme jaw) x loudness gate,
    lip_close = the PP weight x gate; its viseme is the best template.

Metrics (phones.py holds the targets and the mouth_open formula, jaw_open x (1 - lip_close)):
  * viseme accuracy: frames whose predicted viseme equals the phone's (the energy model picks the viseme
    whose table jaw_open is nearest its own);
  * jaw_open correlation (Pearson) with the coarticulated target;
  * bilabial closure: share of /p b m/ midpoints where mouth_open is below 20% of that utterance's
    predicted range (min..max);
  * open-vowel rate: share of /aa ae ao aw ay/ midpoints above 50% of that range;
  * best lag: the shift (ms, +-250) that best correlates predicted and target mouth_open; positive = late.
    Found in 10 ms steps, then refined to a tenth of a step by a parabola through the peak.

Sets: held-out synthetic voices (training/data/heldout.pkl, one voice per engine never trained on), and
real speech (assets/speech, from ../shared/assets/speech) aligned at phone level by pocketsphinx
(alignments cached in training/real_alignments.json).

Usage: eval_lipsync.py --model models/motion_live.onnx --model models/motion_quality.onnx [--json out.json]
       eval_lipsync.py --model ... --audio speech.wav (--phones phones.txt | --text "the words")
"""
import argparse
import json
import os
import pickle
import sys
import wave

import numpy as np
import onnxruntime as ort
from scipy.fft import dct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import features as F  # noqa: E402
import phones as P  # noqa: E402

SPEECH = os.path.join(ROOT, "assets", "speech")  # the clips of ../shared/assets/speech, bundled with their licence
JAW_OF_VISEME = np.array([np.mean([t[1] for p, t in P.TABLE.items() if t[0] == v]) for v in P.VISEMES])
SILENT_MEL = np.full((1, F.N_MELS), np.log10(F.LOG_FLOOR), np.float32)
WARMUP_FRAMES = 50  # motion::WARMUP_FRAMES


class OnnxMotion:
    def __init__(self, path, name=None):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.channels = meta["facecast.channels"].split(",")
        self.lookahead = int(meta.get("facecast.lookahead_frames", "0"))
        self.state_shape = None
        for i in self.sess.get_inputs():
            if i.name == "state":
                self.state_shape = [d if isinstance(d, int) else 1 for d in i.shape]
        self.name = name or os.path.splitext(os.path.basename(path))[0]

    def run(self, mel):
        """Per-frame outputs aligned with `mel` (the lookahead is flushed with silent frames)."""
        # A recurrent model first hears WARMUP_FRAMES of silence, as facecast's MotionModel::reset does.
        warm = WARMUP_FRAMES if self.state_shape else 0
        x = np.concatenate([np.repeat(SILENT_MEL, warm, 0), mel, np.repeat(SILENT_MEL, self.lookahead, 0)])
        feeds = {"mel": x[None].astype(np.float32)}
        if self.state_shape:
            feeds["state"] = np.zeros(self.state_shape, np.float32)
        out = self.sess.run(None, feeds)[0][0][warm + self.lookahead:]
        ch = {c: out[:, i] for i, c in enumerate(self.channels)}
        jaw = ch["jaw_open"]
        close = ch.get("lip_close", np.zeros_like(jaw))
        vis_cols = [c for c in self.channels if c.startswith("viseme_")]
        if vis_cols:
            vis = np.stack([ch[c] for c in vis_cols], 1)
            order = [P.VISEMES.index(c[len("viseme_"):]) for c in vis_cols]
            viseme = np.array(order)[vis.argmax(1)]
        else:
            viseme = np.abs(jaw[:, None] - JAW_OF_VISEME[None, :]).argmin(1)
        return {"jaw": jaw, "close": close, "viseme": viseme}


class MfccTemplate:
    """uLipSync-style: MFCC templates per viseme, cosine-similarity weights, a loudness gate."""
    name = "mfcc-template"

    def __init__(self, train_items, n=1200, seed=7):
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(train_items), size=min(n, len(train_items)), replace=False)
        feats, labels = [], []
        for k in pick:
            it = train_items[k]
            mel = F.log_mel(it["audio"].astype(np.float32) / 32768)
            vis, _, _ = P.frame_targets(it["phones"], len(mel))
            feats.append(self._mfcc_raw(mel))
            labels.append(vis)
        feats, labels = np.concatenate(feats), np.concatenate(labels)
        self.mu, self.sd = feats.mean(0), feats.std(0) + 1e-6
        z = (feats - self.mu) / self.sd
        self.templates = np.stack([z[labels == v].mean(0) for v in range(len(P.VISEMES))])
        self.templates /= np.linalg.norm(self.templates, axis=1, keepdims=True)

    @staticmethod
    def _mfcc_raw(mel):
        return dct(mel, type=2, norm="ortho", axis=1)[:, 1:13]

    def run(self, mel):
        z = (self._mfcc_raw(mel) - self.mu) / self.sd
        z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-9
        sim = z @ self.templates.T
        w = np.exp(8.0 * sim)
        w /= w.sum(1, keepdims=True)
        gate = energy_gate(mel)
        jaw = (w @ JAW_OF_VISEME) * gate
        return {"jaw": jaw, "close": w[:, P.VISEMES.index("PP")] * gate, "viseme": sim.argmax(1)}


def energy_gate(mel):
    """The baseline's loudness curve (speech-band mel energy, smoothstep from -18 to +8 dB)."""
    band = (F.MEL_CENTRES_HZ >= 300) & (F.MEL_CENTRES_HZ <= 3400)
    e = 10 * np.log10(np.sum(10.0 ** mel[:, band], axis=1) + 1e-10)
    x = np.clip((e + 18) / 26, 0, 1)
    return x * x * (3 - 2 * x)


def interp(values, t):
    pos = (np.asarray(t) - 0.0125) / P.HOP_S
    return np.interp(pos, np.arange(len(values)), values)


def evaluate(model, utts):
    """utts: [(mel, phones)]; returns the metric dict."""
    acc_hit = acc_n = 0
    jp, jt, close_hits, close_n, open_hits, open_n = [], [], 0, 0, 0, 0
    pm, tm = [], []
    for mel, phones in utts:
        out = model.run(mel)
        vis, art, _ = P.frame_targets(phones, len(mel))
        acc_hit += int(np.sum(out["viseme"] == vis))
        acc_n += len(vis)
        jp.append(out["jaw"])
        jt.append(art[:, 0])
        mo = P.mouth_open(out["jaw"], out["close"])
        pm.append(mo)
        tm.append(P.mouth_open(art[:, 0], art[:, 1]))
        lo, hi = float(mo.min()), float(mo.max())
        rng_ = max(hi - lo, 1e-6)
        for t in P.midpoints(phones, P.BILABIALS):
            close_n += 1
            close_hits += int((interp(mo, t) - lo) / rng_ < 0.2)
        for t in P.midpoints(phones, P.OPEN_VOWELS):
            open_n += 1
            open_hits += int((interp(mo, t) - lo) / rng_ > 0.5)
    jaw_corr = float(np.corrcoef(np.concatenate(jp), np.concatenate(jt))[0, 1])
    best = P.best_lag_ms(pm, tm)
    return {"viseme_acc": acc_hit / max(acc_n, 1), "jaw_corr": jaw_corr,
            "bilabial_closure": close_hits / max(close_n, 1), "n_bilabial": close_n,
            "open_vowel": open_hits / max(open_n, 1), "n_open": open_n, "best_lag_ms": best}


def heldout_set(data, noisy=False):
    """The held-out voices, clean, or in a room (RT60 0.2..0.6 s) with pink noise at 15 dB SNR."""
    with open(os.path.join(data, "heldout.pkl"), "rb") as f:
        items = pickle.load(f)
    out = []
    for k, it in enumerate(items):
        x = it["audio"].astype(np.float32) / 32768
        if noisy:
            rng = np.random.default_rng([99, k])
            x = x / F.rms(x) * 10 ** (-26 / 20)
            h = F.room_impulse(rng)
            h = h[: int(rng.uniform(0.2, 0.6) * F.SR)]
            x = F.fftconvolve(x, h)[: len(x)].astype(np.float32)
            x = x + F.coloured_noise(len(x), rng, "pink") * F.rms(x) * 10 ** (-15 / 20)
        out.append((F.log_mel(x), it["phones"]))
    return out


def user_set(audio, phones_file, text):
    """One file given on the command line: any rate, mixed to mono; phones from a file or aligned."""
    import librosa
    y, _ = librosa.load(audio, sr=F.SR, mono=True)
    if phones_file:
        phones = []
        with open(phones_file) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    a, b, p = line.split()[:3]
                    phones.append((float(a), float(b), P.normalise_arpa(p)))
    else:
        pcm = (np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()
        phones = P.align_text(pcm, text)
    return [(F.log_mel(y), phones)]


def align_real(cache):
    """Phone-level alignments of the real clips by pocketsphinx (cached: the tool is slow to load)."""
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    from pocketsphinx import Decoder
    trans = {}
    with open(os.path.join(SPEECH, "cards.transcription")) as f:
        for line in f:
            words = line.replace("<s>", "").replace("</s>", "").split()
            num = words.pop().strip("()")
            trans[f"cards_{num}"] = (" ".join(words), "given transcript")
    trans["goforward"] = ("go forward ten meters", "given transcript")
    asr = Decoder(samprate=16000, loglevel="FATAL")
    for name in ["forever_2", "forever_4"]:  # no transcript: pocketsphinx's own recognition, then aligned
        asr.start_utt()
        asr.process_raw(read_pcm(name), full_utt=True)
        asr.end_utt()
        trans[name] = (asr.hyp().hypstr, "pocketsphinx recognition (no transcript given)")
    out = {}
    for name, (text, source) in sorted(trans.items()):
        out[name] = {"text": text, "source": source, "phones": P.align_text(read_pcm(name), text)}
    with open(cache, "w") as f:
        json.dump(out, f, indent=1)
    return out


def read_pcm(name):
    with wave.open(os.path.join(SPEECH, name + ".wav")) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        return w.readframes(w.getnframes())


def real_set(cache):
    al = align_real(cache)
    utts = []
    for name, a in sorted(al.items()):
        x = np.frombuffer(read_pcm(name), "<i2").astype(np.float32) / 32768
        utts.append((F.log_mel(x), [tuple(p) for p in a["phones"]]))
    return utts


def silence_check(model, secs=10.0, seed=3):
    """mouth_open std on digital silence and on -60 dBFS white and pink noise."""
    rng = np.random.default_rng(seed)
    n = int(secs * F.SR)
    res = {}
    for name, x in [("silence", np.zeros(n, np.float32)),
                    ("white -60 dBFS", F.coloured_noise(n, rng, "white") * 1e-3),
                    ("pink -60 dBFS", F.coloured_noise(n, rng, "pink") * 1e-3)]:
        out = model.run(F.log_mel(x))
        mo = P.mouth_open(out["jaw"], out["close"])[100:]  # after the first second
        res[name] = {"std": float(mo.std()), "mean": float(mo.mean()), "jaw_std": float(out["jaw"][100:].std())}
    return res


def table(rows, title):
    lines = [f"### {title}", "",
             "| model | viseme acc | jaw_open corr | bilabial closure | open-vowel | best lag |",
             "|---|---|---|---|---|---|"]
    for name, m in rows:
        lines.append(f"| {name} | {m['viseme_acc']:.1%} | {m['jaw_corr']:.3f} | {m['bilabial_closure']:.1%} "
                     f"(n={m['n_bilabial']}) | {m['open_vowel']:.1%} (n={m['n_open']}) | {m['best_lag_ms']:+.1f} ms |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="a trained ONNX model (repeatable)")
    ap.add_argument("--baseline", default=os.path.join(ROOT, "models", "baseline_energy.onnx"))
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--alignments", default=os.path.join(HERE, "real_alignments.json"))
    ap.add_argument("--json", help="write every figure here too")
    ap.add_argument("--audio", help="evaluate this audio file instead of the standard sets")
    ap.add_argument("--phones", help="its phone timings: lines 'start_s end_s phone' (ARPAbet)")
    ap.add_argument("--text", help="or its words, aligned to phones with pocketsphinx")
    args = ap.parse_args()
    if args.audio and not (args.phones or args.text):
        ap.error("--audio needs --phones or --text")

    with open(os.path.join(args.data, "train.pkl"), "rb") as f:
        train_items = pickle.load(f)
    models = [OnnxMotion(p) for p in args.model]
    models.append(OnnxMotion(args.baseline, "energy (baseline)"))
    models.append(MfccTemplate(train_items))
    del train_items
    if args.audio:
        sets = {args.audio: user_set(args.audio, args.phones, args.text)}
    else:
        sets = {"held-out synthetic voices": heldout_set(args.data),
                "held-out voices in a room with pink noise at 15 dB SNR": heldout_set(args.data, noisy=True),
                "real speech (assets/speech)": real_set(args.alignments)}
    report = {"sets": {}, "silence": {}}
    for title, utts in sets.items():
        rows = [(m.name, evaluate(m, utts)) for m in models]
        report["sets"][title] = dict(rows)
        secs = sum(len(m) for m, _ in utts) / 100
        print(table(rows, f"{title}: {len(utts)} utterances, {secs / 60:.1f} min"), "\n", flush=True)
    for m in models:
        report["silence"][m.name] = silence_check(m)
    print("### mouth_open on silence and noise (std, after 1 s)\n")
    print("| model | " + " | ".join(next(iter(report["silence"].values())).keys()) + " |")
    print("|---|---|---|---|")
    for name, r in report["silence"].items():
        print(f"| {name} | " + " | ".join(f"{v['std']:.4f} (mean {v['mean']:.3f})" for v in r.values()) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
