#!/usr/bin/env python3
"""Real speech for the product's lip-sync evaluation: Asterisk's core prompts, read by professional voice
talent, from Debian main, cut to 16 kHz WAV and phone-aligned, in five languages.

Source: Debian's asterisk-core-sounds-LL-g722 (true 16 kHz G.722) with its transcripts in
asterisk-core-sounds-LL (/usr/share/doc/asterisk-core-sounds-LL/core-sounds-LL.txt.gz):
  en  en_US_f_Allison     female  CC-BY-SA-3.0 (Digium / Allison Smith)
  es  es_MX_f_Allison     female  CC-BY-SA-3.0 (the same reader, in Mexican Spanish)
  fr  fr_CA_f_June        female  CC-BY-SA-3.0 (Canadian French)
  it  it_IT_m_Carlo       male    CC-BY-3.0
  ru  ru_RU_f_IvrvoiceRU  female  CC-BY-3.0
The packages are fetched with `apt-get download` and unpacked with `dpkg -x` into training/data/real/
(git-ignored); nothing is installed.

Alignment (phones.align_text): pocketsphinx 5.1.1 and its bundled en-US acoustic model, to the given
transcript. English words come from its dictionary; the other languages' words are spoken by espeak-ng
in that language (es-419, fr-fr, it, ru) and their phones mapped to the nearest English ones: a
cross-language forced alignment. Prompts whose transcript holds digits or a bracketed description
("[ascending tones]"), English words the dictionary lacks, and alignments pocketsphinx cannot close are
left out.

Usage: real_speech.py [--out training/data/real] [--languages en,es,fr,it,ru] [--max-clips N per language]
The dev set of the model card: `real_speech.py --languages en` (every usable English prompt, 224), then
`real_speech.py --languages es,fr,it,ru --max-clips 120` (the first 120 usable of each, in file order).
Writes OUT/wav/<name>.wav and OUT/alignments.json ({name: {"text", "speaker", "sex", "language", "phones"}}).
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

# language: (the voice's folder, its sex, espeak-ng's voice for the pronunciations; None: the dictionary's)
VOICES = {"en": ("en_US_f_Allison", "female", None), "es": ("es_MX_f_Allison", "female", "es-419"),
          "fr": ("fr_CA_f_June", "female", "fr-fr"), "it": ("it_IT_m_Carlo", "male", "it"),
          "ru": ("ru_RU_f_IvrvoiceRU", "female", "ru")}


def unpack(out, packages, present):
    """Debian packages fetched with `apt-get download` into OUT/deb and unpacked into OUT/root (nothing
    installed), unless OUT/root/`present` is there already: OUT/root."""
    deb_dir = os.path.join(out, "deb")
    root = os.path.join(out, "root")
    if os.path.isdir(os.path.join(root, present)):
        return root
    os.makedirs(deb_dir, exist_ok=True)
    for pkg in packages:
        if not glob.glob(os.path.join(deb_dir, pkg + "_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=deb_dir, check=True, capture_output=True)
    for deb in glob.glob(os.path.join(deb_dir, "*.deb")):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def fetch(out, lang):
    return unpack(out, (f"asterisk-core-sounds-{lang}-g722", f"asterisk-core-sounds-{lang}"),
                  os.path.join("usr/share/asterisk/sounds", VOICES[lang][0]))


def transcripts(root, lang):
    path = os.path.join(root, f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz")
    out = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            out[name.strip()] = text.strip()
    return out


def usable_text(text):
    """The transcript as plain lower-case words (any alphabet), or None. A "?" inside a sentence stands
    for a letter the file lost (the Italian list has "sar? esattamente" for "sarà esattamente")."""
    if not text or "[" in text or re.search(r"\d", text) or re.search(r"\w\?(\w|\s+[^\W\d_A-Z])", text):
        return None
    words = re.sub(r"[^\w' ]|_", " ", text.lower().replace("-", " ").replace("\u2019", "'")).split()
    return " ".join(words) if len(words) >= 2 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "real"))
    ap.add_argument("--languages", default="en", help="comma-separated, of " + ",".join(VOICES))
    ap.add_argument("--max-clips", type=int, default=0, help="per language; 0 = every usable prompt")
    a = ap.parse_args()
    wav_dir = os.path.join(a.out, "wav")
    os.makedirs(wav_dir, exist_ok=True)
    cache = os.path.join(a.out, "alignments.json")
    result = json.load(open(cache)) if os.path.exists(cache) else {}
    for lang in a.languages.split(","):
        if lang not in VOICES:
            raise SystemExit(f"unknown language {lang!r}: one of {', '.join(VOICES)}")
        folder, sex, voice = VOICES[lang]
        root = fetch(a.out, lang)
        texts = transcripts(root, lang)
        base = os.path.join(root, "usr/share/asterisk/sounds", folder)
        sounds = sorted(glob.glob(os.path.join(base, "**/*.g722"), recursive=True))
        done = 0
        for path in sounds:
            key = os.path.splitext(os.path.relpath(path, base))[0]
            text = usable_text(texts.get(key, texts.get(os.path.basename(key), "")))
            if text is None:
                continue
            name = f"{lang}_{folder.rsplit('_', 1)[1].lower()}_" + key.replace("/", "_")
            wav = os.path.join(wav_dir, name + ".wav")
            if name not in result:
                if not os.path.exists(wav):
                    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "g722", "-i", path, "-ar", "16000", "-ac",
                                    "1", "-c:a", "pcm_s16le", wav], check=True)
                with wave.open(wav) as w:
                    pcm = w.readframes(w.getnframes())
                try:
                    ph = P.align_text(pcm, text, voice)
                except Exception as e:  # an out-of-vocabulary word, or no path through the audio
                    print(f"skip {name}: {e}", file=sys.stderr)
                    continue
                if not ph or sum(1 for p in ph if p[2] != "pau") < 3:
                    continue
                result[name] = {"text": text, "speaker": folder, "sex": sex, "language": lang,
                                "aligner": "pocketsphinx" + (f"+espeak-ng {voice}" if voice else ""), "phones": ph}
            done += 1
            if a.max_clips and done >= a.max_clips:
                break
    with open(cache, "w") as f:
        json.dump(result, f, indent=0)
    for lang in sorted({r["language"] for r in result.values()}):
        rs = [r for r in result.values() if r["language"] == lang]
        print(f"{lang}: {len(rs)} clips, {sum(r['phones'][-1][1] for r in rs) / 60:.1f} min aligned")
    print(f"-> {cache}")


if __name__ == "__main__":
    main()
