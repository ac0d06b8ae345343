#!/usr/bin/env python3
"""How far to trust the real-speech dev set's alignments in languages other than English.

phones.align_text aligns non-English speech with pocketsphinx's English acoustic model, each word's
phones spoken by espeak-ng and mapped to the nearest English ones (real_speech.py). Two checks against
alignments made another way, on what the evaluation reads (the midpoints of /p b m/ and open vowels):

  --english SET   English prompts of a real_speech.py set: the same recordings aligned with espeak-ng's
                  pronunciations against the pocketsphinx dictionary's (isolates the pronunciation source);
  --festvox-ru    Russian: festvox-ru's recorded unit-selection database (one male reader, 620 utterances,
                  Debian main, fetched with `apt-get download` and unpacked into training/data/festvox-ru,
                  BSD-like) comes with phone labels made by its own tools (festvox's automatic labelling,
                  EHMM); the same recordings aligned by align_text with espeak-ng's ru voice.

For each reference /p b m/ (and open vowel): the distance from its midpoint to the nearest aligned
phone of the same class, and whether the reference midpoint lies inside that phone.

Usage: check_alignment.py --english training/data/real | --festvox-ru [--max-clips N]
"""
import argparse
import itertools
import json
import os
import re
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import phones as P  # noqa: E402
import real_train as T  # noqa: E402

FESTVOX = os.path.join(HERE, "data", "festvox-ru")
# festvox-ru's phone names: palatalised consonants doubled (pp, bb, mm), stressed vowels doubled (aa; its
# unstressed "a" is mostly reduced, which espeak-ng writes ʌ or ə, not an open vowel).
FESTVOX_BILABIAL = {"p", "b", "m", "pp", "bb", "mm"}
FESTVOX_OPEN = {"aa"}


def pcm(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return w.readframes(w.getnframes())


def compare(ref, hyp, ref_wanted, hyp_wanted):
    dists, inside = [], []
    spans = [(s, e) for s, e, p in hyp if p in hyp_wanted]
    for s, e, p in ref:
        if p not in ref_wanted:
            continue
        m = 0.5 * (s + e)
        if not spans:
            dists.append(np.inf), inside.append(False)
            continue
        k = int(np.argmin([abs(0.5 * (a + b) - m) for a, b in spans]))
        dists.append(abs(0.5 * sum(spans[k]) - m))
        inside.append(spans[k][0] <= m <= spans[k][1])
    return dists, inside


def summary(d, i):
    d = np.asarray(d)
    return {"n": len(d), "median_ms": round(float(np.median(d)) * 1000, 1),
            "within_20ms": round(float(np.mean(d <= 0.02)), 3), "within_40ms": round(float(np.mean(d <= 0.04)), 3),
            "midpoint_inside": round(float(np.mean(i)), 3)}


def festvox_pairs(max_clips):
    for name, text, wav, ref in itertools.islice(T.festvox_ru_corpus(FESTVOX), max_clips or None):
        words = re.sub(r"[^\w ]|_", " ", text.lower()).split()
        yield name, pcm(wav), " ".join(words), ref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--english", metavar="SET")
    ap.add_argument("--festvox-ru", action="store_true")
    ap.add_argument("--max-clips", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    res = {"bilabial": ([], []), "open vowel": ([], [])}
    clips = 0
    if a.english:
        with open(os.path.join(a.english, "alignments.json")) as f:
            al = json.load(f)
        names = sorted(n for n, r in al.items() if r["language"] == "en")[: a.max_clips or None]
        pairs = ((n, pcm(os.path.join(a.english, "wav", n + ".wav")), al[n]["text"], al[n]["phones"], P.BILABIALS,
                  P.OPEN_VOWELS, "en-us") for n in names)
    elif a.festvox_ru:
        pairs = ((n, x, t, ref, FESTVOX_BILABIAL, FESTVOX_OPEN, "ru") for n, x, t, ref in festvox_pairs(a.max_clips))
    else:
        ap.error("--english SET or --festvox-ru")
    for name, x, text, ref, ref_bilabial, ref_open, voice in pairs:
        try:
            hyp = P.align_text(x, text, voice)
        except Exception as e:
            print(f"skip {name}: {e}", file=sys.stderr)
            continue
        clips += 1
        for key, rw, hw in (("bilabial", ref_bilabial, P.BILABIALS), ("open vowel", ref_open, P.OPEN_VOWELS)):
            d, i = compare([tuple(p) for p in ref], hyp, rw, hw)
            res[key][0].extend(d)
            res[key][1].extend(i)
    out = {"clips": clips, **{k: summary(*v) for k, v in res.items()}}
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
