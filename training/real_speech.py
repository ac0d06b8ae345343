#!/usr/bin/env python3
"""Real speech for the product's lip-sync evaluation: Asterisk's core prompts, read by professional voice
talent, from Debian main, cut to 16 kHz WAV and phone-aligned.

Source: Debian's asterisk-core-sounds-en-g722 (true 16 kHz G.722, the voice "Allison", en_US, female)
with its transcripts in asterisk-core-sounds-en (/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz).
Licence: CC-BY-SA-3.0 (Digium / Allison Smith). The packages are fetched with `apt-get download` and
unpacked with `dpkg -x` into training/data/real/ (git-ignored); nothing is installed.

Alignment: English is aligned at phone level by pocketsphinx 5.1.1 (its bundled en-US model) to the
given transcript. Prompts whose transcript holds a word the dictionary lacks, digits, or a bracketed
description ("[ascending tones]") are left out, and so are alignments pocketsphinx cannot close.

Usage: real_speech.py [--out training/data/real] [--max-clips N]
Writes OUT/wav/<name>.wav and OUT/alignments.json ({name: {"text", "speaker", "language", "phones"}}).
"""
import argparse
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import phones as P  # noqa: E402

PACKAGES = ["asterisk-core-sounds-en-g722", "asterisk-core-sounds-en"]


def fetch(out):
    deb_dir = os.path.join(out, "deb")
    root = os.path.join(out, "root")
    if os.path.isdir(os.path.join(root, "usr/share/asterisk/sounds")):
        return root
    os.makedirs(deb_dir, exist_ok=True)
    for pkg in PACKAGES:
        if not glob.glob(os.path.join(deb_dir, pkg + "_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=deb_dir, check=True, capture_output=True)
    for deb in glob.glob(os.path.join(deb_dir, "*.deb")):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def transcripts(root):
    path = os.path.join(root, "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
    out = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            out[name.strip()] = text.strip()
    return out


def usable_text(text):
    """The transcript as words pocketsphinx can align, or None."""
    if not text or "[" in text or re.search(r"\d", text):
        return None
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    return " ".join(words) if len(words) >= 2 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "real"))
    ap.add_argument("--max-clips", type=int, default=0, help="0 = every usable prompt")
    a = ap.parse_args()
    root = fetch(a.out)
    texts = transcripts(root)
    wav_dir = os.path.join(a.out, "wav")
    os.makedirs(wav_dir, exist_ok=True)
    cache = os.path.join(a.out, "alignments.json")
    result = json.load(open(cache)) if os.path.exists(cache) else {}
    sounds = sorted(glob.glob(os.path.join(root, "usr/share/asterisk/sounds/en_US_f_Allison/**/*.g722"),
                           recursive=True))
    done = 0
    for path in sounds:
        rel = os.path.relpath(path, os.path.join(root, "usr/share/asterisk/sounds/en_US_f_Allison"))
        key = os.path.splitext(rel)[0]
        text = usable_text(texts.get(key, texts.get(os.path.basename(key), "")))
        if text is None:
            continue
        name = "en_allison_" + key.replace("/", "_")
        wav = os.path.join(wav_dir, name + ".wav")
        if name not in result:
            if not os.path.exists(wav):
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "g722", "-i", path, "-ar", "16000", "-ac", "1",
                                "-c:a", "pcm_s16le", wav], check=True)
            with wave.open(wav) as w:
                pcm = w.readframes(w.getnframes())
            try:
                ph = P.align_text(pcm, text)
            except Exception as e:  # an out-of-vocabulary word, or no path through the audio
                print(f"skip {name}: {e}", file=sys.stderr)
                continue
            if not ph or sum(1 for p in ph if p[2] != "pau") < 3:
                continue
            result[name] = {"text": text, "speaker": "en_US_f_Allison", "language": "en", "phones": ph}
        done += 1
        if a.max_clips and done >= a.max_clips:
            break
    with open(cache, "w") as f:
        json.dump(result, f, indent=0)
    secs = sum(r["phones"][-1][1] for r in result.values())
    print(f"{len(result)} clips, {secs / 60:.1f} min aligned -> {cache}")


if __name__ == "__main__":
    main()
