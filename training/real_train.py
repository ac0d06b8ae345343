#!/usr/bin/env python3
"""Real speech for training, in gen_data.py's format: recordings of people from Debian main, each with phone
times, none of them a reader of the dev set (real_speech.py).

Sources (fetched with `apt-get download`, unpacked with `dpkg-deb -x` into OUT/, nothing installed):
  * festvox-ru: the recorded database of a Russian unit-selection voice (msu_ru_nsh_clunits), one male
    reader, 620 utterances, 99.5 min, 16 kHz, with phone labels made by festvox's own labelling
    (lab/*.lab), mapped to the table's phones by FESTVOX_RU below. BSD-like licence.
  * fillets-ng-data-cs and -nl: the voiced dialogue of the game Fish Fillets NG, several voice actors in
    Czech and Dutch (22.05 kHz Vorbis, resampled to 16 kHz), its text in fillets-ng-data's
    script/LEVEL/dialogs_{cs,nl}.lua (`dialogId("ID", ...)` then `dialogStr("text")`; the sound is
    sound/LEVEL/LANG/ID.ogg), aligned by phones.align_text with espeak-ng's cs and nl voices (the
    cross-language alignment of the dev set). GPL-2: used for training only, never shipped.
The speaker of a fillets line is the middle part of its id ("m": the small fish, "v": the big one, ...).

Output: OUT/train.pkl, a list of {engine: "real", voice, text, audio (int16, 16 kHz), phones
[(start_s, end_s, phone)], language, speaker} as gen_data.py writes, and OUT/summary.json (minutes per
source and speaker). train.py takes it beside the synthetic data with `--extra-data OUT`.

Usage: real_train.py [--out training/data/real-train] [--sources festvox-ru,fillets-cs,fillets-nl]
                     [--max-minutes M per source] [--jobs N]
"""
import argparse
import glob
import json
import os
import pickle
import re
import subprocess
import sys
import wave
from multiprocessing import Pool

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import phones as P  # noqa: E402
import real_speech as R  # noqa: E402

SR = 16000
FESTVOX_DIR = "usr/share/festival/voices/russian/msu_ru_nsh_clunits"
FILLETS_DIR = "usr/share/games/fillets-ng"
FILLETS_VOICES = {"cs": "cs", "nl": "nl"}
# festvox-ru's phones (a doubled consonant is palatalised, a doubled vowel stressed; "ay", "ae", "ur" are its
# reduced vowels, "y" is ы, "c" ц, "ch" ч, "sch" щ, "h" х, "j" й) in the table's set. Palatalised
# consonants are the plain ones (as for espeak-ng's Russian), ц is the /s/ it ends in.
FESTVOX_RU = {"pau": "pau", "a": "ah", "aa": "aa", "ay": "ax", "ae": "ih", "e": "eh", "ee": "eh", "i": "ih",
              "ii": "iy", "o": "ao", "oo": "ao", "u": "uh", "uu": "uw", "ur": "uh", "y": "ih", "yy": "ih",
              "j": "y", "c": "s", "ch": "ch", "sch": "sh", "sh": "sh", "zh": "zh", "h": "hh", "hh": "hh"}
for _c in "p b m t d n k g s z v f l r".split():
    FESTVOX_RU[_c] = FESTVOX_RU[_c + _c] = _c


def read_pcm16(path):
    with wave.open(path) as w:
        if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16 kHz mono s16")
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def decode(path):
    """Any file ffmpeg reads, as 16 kHz mono int16."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ar", str(SR), "-ac", "1", "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16)


def festvox_ru_corpus(out):
    """festvox-ru's utterances, unpacked under OUT (fetched first if missing), in name order and lazily:
    (name, text, wav path, [(start_s, end_s, label)]) with the labels as festvox wrote them."""
    base = os.path.join(R.unpack(out, ["festvox-ru"], FESTVOX_DIR), FESTVOX_DIR)
    texts = {}
    with open(os.path.join(base, "etc", "txt.done.data"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\(\s*(\S+)\s+"(.*)"\s*\)', line.strip())
            if m:
                texts[m.group(1)] = m.group(2).replace("+", "")
    for name in sorted(texts):
        labels, t0 = [], 0.0
        with open(os.path.join(base, "lab", name + ".lab")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    end = float(parts[0])
                    labels.append((t0, end, parts[2]))
                    t0 = end
        yield name, texts[name], os.path.join(base, "wav", name + ".wav"), labels


def festvox_ru(out, max_secs):
    items, secs = [], 0.0
    for name, text, wav, labels in festvox_ru_corpus(os.path.join(out, "festvox-ru")):
        unknown = sorted({lab for _, _, lab in labels if lab not in FESTVOX_RU})
        if unknown:
            raise SystemExit(f"festvox-ru {name}: phone {unknown[0]!r} is not in FESTVOX_RU")
        audio = read_pcm16(wav)
        items.append({"engine": "real", "voice": "festvox-ru", "speaker": "festvox-ru", "language": "ru",
                      "text": text, "audio": audio, "phones": [(s, e, FESTVOX_RU[lab]) for s, e, lab in labels]})
        secs += len(audio) / SR
        if max_secs and secs >= max_secs:
            break
    return items


def fillets_lines(root, lang):
    """(id, speaker, text, ogg path) of every voiced line in LANG, in file order."""
    base = os.path.join(root, FILLETS_DIR)
    pat = re.compile(r'dialogId\("([^"]+)",\s*"[^"]*",\s*"(?:[^"\\]|\\.)*"\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)')
    for script in sorted(glob.glob(os.path.join(base, "script", "*", f"dialogs_{lang}.lua"))):
        level = os.path.basename(os.path.dirname(script))
        with open(script, encoding="utf-8") as f:
            for m in pat.finditer(f.read()):
                ogg = os.path.join(base, "sound", level, lang, m.group(1) + ".ogg")
                parts = m.group(1).split("-")
                if os.path.exists(ogg) and len(parts) >= 3:
                    yield m.group(1), parts[1], m.group(2), ogg


def _align(job):
    ident, speaker, text, ogg, lang = job
    words = R.usable_text(text)
    if words is None:
        return None
    audio = decode(ogg)
    try:
        phones = P.align_text(audio.tobytes(), words, FILLETS_VOICES[lang])
    except Exception:  # no path through the audio (a sigh, a line the actor changed)
        return None
    if sum(1 for p in phones if p[2] != "pau") < 3:
        return None
    return {"engine": "real", "voice": f"fillets-{lang}-{speaker}", "speaker": f"fillets-{lang}-{speaker}",
            "language": lang, "text": words, "audio": audio, "phones": phones}


def fillets(out, lang, max_secs, jobs):
    pkgs = [f"fillets-ng-data-{lang}", "fillets-ng-data"]
    root = R.unpack(os.path.join(out, f"fillets-{lang}"), pkgs, os.path.join(FILLETS_DIR, "sound"))
    lines = list(fillets_lines(root, lang))
    if not lines:
        raise SystemExit(f"fillets {lang}: no voiced lines found under {root}")
    items, secs, skipped = [], 0.0, 0
    with Pool(jobs) as pool:
        for k, it in enumerate(pool.imap(_align, [(*line, lang) for line in lines], chunksize=4)):
            if it is None:
                skipped += 1
                continue
            items.append(it)
            secs += len(it["audio"]) / SR
            if k % 200 == 0:
                print(f"  fillets {lang}: {k}/{len(lines)} lines, {secs / 60:.1f} min aligned", flush=True)
            if max_secs and secs >= max_secs:
                pool.terminate()
                break
    print(f"  fillets {lang}: {len(items)} lines aligned, {skipped} left out", flush=True)
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "real-train"))
    ap.add_argument("--sources", default="festvox-ru,fillets-cs,fillets-nl")
    ap.add_argument("--max-minutes", type=float, default=0, help="per source; 0 = all of it")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    max_secs = a.max_minutes * 60
    items = []
    for src in a.sources.split(","):
        if src == "festvox-ru":
            items += festvox_ru(a.out, max_secs)
        elif src.startswith("fillets-") and src[8:] in FILLETS_VOICES:
            items += fillets(a.out, src[8:], max_secs, a.jobs)
        else:
            raise SystemExit(f"unknown source {src!r}: festvox-ru, fillets-cs or fillets-nl")
    with open(os.path.join(a.out, "train.pkl"), "wb") as f:
        pickle.dump(items, f)
    summary = {}
    for it in items:
        summary[it["speaker"]] = summary.get(it["speaker"], 0.0) + len(it["audio"]) / SR / 60
    summary = {k: round(v, 2) for k, v in sorted(summary.items())}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"minutes": round(sum(summary.values()), 1), "per_speaker": summary}, f, indent=1)
    print(f"{len(items)} utterances, {sum(summary.values()):.1f} min -> {a.out}/train.pkl")
    if P.UNKNOWN:
        print(f"phones the table lacks (aligned as ax): {P.UNKNOWN}")


if __name__ == "__main__":
    main()
