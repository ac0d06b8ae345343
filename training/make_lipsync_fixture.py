#!/usr/bin/env python3
"""Writes tests/data/lipsync/: a few real clips joined into one WAV, with what tests/cli_lipsync.rs scores
the CLI's `--motion-out` against (phone midpoints and the coarticulated mouth target on the 10 ms grid).

real_clips: ten of Asterisk's English prompts (training/real_speech.py fetches and aligns them; the voice
Allison Smith, CC-BY-SA-3.0) chosen for their /p b m/, and the six bundled CMU clips with given
transcripts (assets/speech, aligned in training/real_alignments.json).
languages: four Asterisk prompts in each of Spanish, French, Italian and Russian (four other readers;
aligned by pocketsphinx with espeak-ng's pronunciations, real_speech.py), those of 2 to 6 s with the most
/p b m/ per second, one per text.
Each set's clips are joined with a second of silence between them, so one run of the CLI scores them all.

Usage: make_lipsync_fixture.py [--set training/data/real]  (after real_speech.py --languages en,es,fr,it,ru)
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import eval_product as E  # noqa: E402
import phones as P  # noqa: E402

ALLISON = ["entr-num-rmv-blklist", "vm-whichbox", "conf-roll-callcomplete", "conf-getchannel",
           "vm-invalid-password", "sorry-youre-having-problems", "conf-getconfno", "vm-mailboxfull",
           "vm-nobodyavail", "check-number-dial-again"]
CMU = ["cards_001", "cards_002", "cards_003", "cards_004", "cards_005", "goforward"]
OUT = os.path.join(ROOT, "tests", "data", "lipsync")


LANGUAGES = ["es", "fr", "it", "ru"]
PER_LANGUAGE = 4
CLIP_SECS = (2.0, 6.0)


def write_fixture(clips, stem):
    joined = E.join(clips)
    os.makedirs(OUT, exist_ok=True)
    E.write_wav(os.path.join(OUT, stem + ".wav"), joined)
    out = []
    for c in clips:
        phones = [tuple(p) for p in c["phones"]]
        n = int(len(c["x"]) / E.SR / P.HOP_S) - 2
        _, art, _ = P.frame_targets(phones, n)
        target = P.mouth_open(art[:, 0], art[:, 1])
        out.append({
            "name": c["name"], "speaker": c["speaker"], "language": c["language"], "text": c["text"],
            "start_secs": round(c["start"], 6), "duration_secs": round(len(c["x"]) / E.SR, 6),
            "bilabial_mid_secs": [round(t, 4) for t in P.midpoints(phones, P.BILABIALS)],
            "open_vowel_mid_secs": [round(t, 4) for t in P.midpoints(phones, P.OPEN_VOWELS)],
            "target_first_secs": float(P.frame_times(1)[0]), "target_hop_secs": P.HOP_S,
            "target_mouth_open": [round(float(v), 3) for v in target],
        })
    with open(os.path.join(OUT, stem + ".json"), "w") as f:
        json.dump({"gap_secs": E.GAP_SECS, "clips": out}, f, indent=0)
    nb = sum(len(c["bilabial_mid_secs"]) for c in out)
    no = sum(len(c["open_vowel_mid_secs"]) for c in out)
    print(f"{stem}: {len(out)} clips, {len(joined) / E.SR:.1f} s, {nb} /p b m/, {no} open vowels -> {OUT}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=os.path.join(HERE, "data", "real"))
    a = ap.parse_args()
    with open(os.path.join(a.set, "alignments.json")) as f:
        real = json.load(f)
    with open(os.path.join(HERE, "real_alignments.json")) as f:
        cmu = json.load(f)
    clips = []
    for key in ALLISON:
        name = "en_allison_" + key
        clips.append({"name": name, "x": E.read_wav(os.path.join(a.set, "wav", name + ".wav")), **real[name]})
    for name in CMU:
        clips.append({"name": name, "x": E.read_wav(os.path.join(ROOT, "assets", "speech", name + ".wav")),
                      "speaker": "cmu_" + name.split("_")[0], "language": "en", **cmu[name]})
    write_fixture(clips, "real_clips")
    shutil.copy(os.path.join(ROOT, "assets", "speech", "LICENSE.cmu-sphinx"), OUT)
    others = []
    for lang in LANGUAGES:
        cands = []
        for name, r in sorted(real.items()):
            dur = r["phones"][-1][1]
            if r["language"] == lang and CLIP_SECS[0] <= dur <= CLIP_SECS[1]:
                nb = len(P.midpoints([tuple(p) for p in r["phones"]], P.BILABIALS))
                cands.append((-nb / dur, name))
        texts = set()
        for _, name in sorted(cands):
            if len(texts) < PER_LANGUAGE and real[name]["text"] not in texts:
                texts.add(real[name]["text"])
                others.append({"name": name, "x": E.read_wav(os.path.join(a.set, "wav", name + ".wav")), **real[name]})
    write_fixture(others, "languages")


if __name__ == "__main__":
    main()
