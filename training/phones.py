"""Phones to lip-sync targets: the mapping table behind facecast's trained motion model.

Every engine's phones are first mapped to one ARPAbet-style set (lower case; `pau` for silence):
flite, festival and pocketsphinx already use it (the CMU/radio set); espeak-ng's IPA is mapped by
ESPEAK_IPA below. Each phone then has
  * one of the 15 visemes of the common industry set (Oculus/Meta: sil PP FF TH DD kk CH SS nn RR aa E I O U);
  * articulation targets: jaw_open, lip_close (p/b/m closure), lip_round (pucker), lip_stretch (wide).
Diphthongs move: their first 60% takes the first vowel's targets, the rest the second's.

Coarticulation (frame_targets): the per-frame step targets are smoothed with an anticipatory kernel
(ANTICIPATE_S before the frame, CARRY_S after), so that the lips begin to move before the sound, as
real lips do. Vowel nuclei dominate the jaw: over the middle half of a vowel the opening is lifted back
to at least 90% of the vowel's target. Bilabial closure dominates: within a /p b m/ the smoothed lip_close is lifted back to 1
over the middle 60% of the phone and jaw_open is held below 0.1 there, so a short /b/ between two open
vowels still closes the lips.
"""
import numpy as np

VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"]
ARTIC = ["jaw_open", "lip_close", "lip_round", "lip_stretch"]
HOP_S = 0.01
ANTICIPATE_S = 0.06
CARRY_S = 0.03

# phone: (viseme, jaw_open, lip_close, lip_round, lip_stretch). jaw_open 1 is the widest speech opening
# (/aa/); the scale is set so that ordinary vowels read clearly on an avatar (0.3..0.9).
TABLE = {
    "pau": ("sil", 0.00, 0.0, 0.0, 0.0),
    "p": ("PP", 0.00, 1.0, 0.0, 0.0),
    "b": ("PP", 0.00, 1.0, 0.0, 0.0),
    "m": ("PP", 0.00, 1.0, 0.0, 0.0),
    "f": ("FF", 0.10, 0.0, 0.0, 0.15),
    "v": ("FF", 0.10, 0.0, 0.0, 0.15),
    "th": ("TH", 0.22, 0.0, 0.0, 0.1),
    "dh": ("TH", 0.22, 0.0, 0.0, 0.1),
    "t": ("DD", 0.22, 0.0, 0.0, 0.2),
    "d": ("DD", 0.22, 0.0, 0.0, 0.2),
    "k": ("kk", 0.30, 0.0, 0.0, 0.1),
    "g": ("kk", 0.30, 0.0, 0.0, 0.1),
    "ng": ("nn", 0.25, 0.0, 0.0, 0.1),
    "ch": ("CH", 0.18, 0.0, 0.6, 0.0),
    "jh": ("CH", 0.18, 0.0, 0.6, 0.0),
    "sh": ("CH", 0.15, 0.0, 0.6, 0.0),
    "zh": ("CH", 0.15, 0.0, 0.6, 0.0),
    "s": ("SS", 0.10, 0.0, 0.0, 0.45),
    "z": ("SS", 0.10, 0.0, 0.0, 0.45),
    "n": ("nn", 0.22, 0.0, 0.0, 0.15),
    "l": ("nn", 0.30, 0.0, 0.0, 0.1),
    "r": ("RR", 0.22, 0.0, 0.45, 0.0),
    "er": ("RR", 0.40, 0.0, 0.35, 0.0),
    "axr": ("RR", 0.40, 0.0, 0.3, 0.0),
    "w": ("U", 0.1, 0.0, 0.9, 0.0),
    "y": ("I", 0.15, 0.0, 0.0, 0.55),
    "hh": ("kk", 0.45, 0.0, 0.0, 0.0),
    "aa": ("aa", 1.0, 0.0, 0.0, 0.0),
    "ae": ("aa", 0.90, 0.0, 0.0, 0.35),
    "ah": ("aa", 0.75, 0.0, 0.0, 0.0),
    "ao": ("O", 0.85, 0.0, 0.45, 0.0),
    "ax": ("E", 0.50, 0.0, 0.0, 0.0),
    "eh": ("E", 0.65, 0.0, 0.0, 0.35),
    "ey": ("E", 0.55, 0.0, 0.0, 0.5),
    "ih": ("I", 0.40, 0.0, 0.0, 0.45),
    "iy": ("I", 0.30, 0.0, 0.0, 0.8),
    "ow": ("O", 0.65, 0.0, 0.7, 0.0),
    "uh": ("U", 0.40, 0.0, 0.55, 0.0),
    "uw": ("U", 0.30, 0.0, 1.0, 0.0),
}
# Diphthongs: (first phone, second phone); open-vowel diphthongs keep their viseme as the first part's.
DIPHTHONGS = {"ay": ("aa", "iy"), "aw": ("aa", "uw"), "oy": ("ao", "iy")}
OPEN_VOWELS = {"aa", "ae", "ao", "aw", "ay"}
VOWELS = {"aa", "ae", "ah", "ao", "ax", "eh", "ey", "ih", "iy", "ow", "uh", "uw", "er", "axr"}
BILABIALS = {"p", "b", "m"}

# espeak-ng IPA (English voices) -> the set above. Stress and syllabic marks are stripped first.
ESPEAK_IPA = {
    "ɑː": "aa", "ɑ": "aa", "ɒ": "aa", "a": "ae", "æ": "ae", "aɪ": "ay", "aʊ": "aw", "ɐ": "ah", "ʌ": "ah",
    "ə": "ax", "ᵻ": "ih", "ɚ": "er", "ɜː": "er", "ɜ": "er", "ɛ": "eh", "e": "eh", "eɪ": "ey", "eə": "eh",
    "ɛə": "eh", "ɛː": "eh", "ɪ": "ih", "i": "iy", "iː": "iy", "iə": "ih", "ɪə": "ih", "ɔ": "ao", "ɔː": "ao",
    "ɔɪ": "oy", "oʊ": "ow", "əʊ": "ow", "o": "ow", "oː": "ao", "ʊ": "uh", "ʊə": "uh", "u": "uw", "uː": "uw",
    "ɔːɹ": "ao", "ɑːɹ": "aa", "ɔɐ": "ao", "ɑɹ": "aa", "ɪɹ": "ih", "ɛɹ": "eh", "ʊɹ": "uh", "aɪə": "ay",
    "aʊə": "aw", "əl": "ax", "ɜːɹ": "er", "ɐɪ": "ey", "ɐʊ": "ow", "ʉː": "uw", "ʉ": "uw", "y": "uw",
    "p": "p", "b": "b", "m": "m", "f": "f", "v": "v", "θ": "th", "ð": "dh", "t": "t", "d": "d", "n": "n",
    "l": "l", "ɫ": "l", "k": "k", "ɡ": "g", "g": "g", "ŋ": "ng", "s": "s", "z": "z", "ʃ": "sh", "ʒ": "zh",
    "tʃ": "ch", "dʒ": "jh", "h": "hh", "ɹ": "r", "r": "r", "ɾ": "d", "w": "w", "ʍ": "w", "j": "y",
    "ʔ": "t", "x": "k", "ç": "hh", "ɬ": "l", "t^": "t", "ʲ": "y", "nʲ": "n", "tʲ": "t", "dʲ": "d",
    # Other languages' voices (the real-speech dev set's es, fr, it, ru; the English voices said none of these
    # in 400 training utterances).
    # Spanish: the approximants of intervocalic /b d g/ (β is not a closure: the lips come near, not
    # together), the palatals. French: uvular r as a back-tongue consonant (no rounding, as English /r/
    # has), the front rounded vowels as rounded. Italian and Russian: affricates by their fricative, long
    # and dental consonants as plain, the glide-vowel letters by their vowel (align_text splits them).
    # Not yet "t̪": English voices say it (before θ, about one in 40 utterances) and it falls to "ax";
    # mapping it changes the bundled models' training data, so it waits for the next retrain.
    "β": "v", "ɣ": "g", "ʎ": "l", "ʝ": "y", "oɪ": "oy", "ʁ": "g", "œ": "uh", "ø": "uh", "ɵ": "ow", "ɲ": "n",
    "ts": "s", "dz": "z", "ss": "s", "d̪": "d", "ɭ": "l", "ɕ": "sh", "ʑ": "zh", "ja": "aa", "ju": "uw",
    "u\"": "uw", "ɪ^": "ih",
    # Czech and Dutch (real_train.py's fillets lines): the palatal stops as alveolar, ř (voiced and voiceless)
    # as the fricative it is heard as, Dutch ʋ as v, the diphthongs by their English neighbours (ou as ow,
    # ui as oy, ij/ei as ey).
    "c": "t", "ɟ": "d", "dʑ": "jh", "r̝": "zh", "r̝̊": "sh", "eʊ": "ow", "ʋ": "v", "ɛɪ": "ey", "œy": "oy",
    "ʌʊ": "aw", "yʊ": "uw",
}
# Phones that are two in the pronunciation a recogniser aligns (align_text): an affricate, a glide and vowel.
SPLIT = {"ts": ("t", "s"), "dz": ("d", "z"), "ja": ("y", "aa"), "ju": ("y", "uw")}
_STRIP = "ˈˌ̩̃ˑ'-"
UNKNOWN = {}


# espeak-ng's voices for other languages (gen_data.py --language-hours): marks stripped first (dental, long,
# aspirated, non-syllabic, voiceless ring) and the symbols only they say. Used only with other_language=True,
# so the English voices' data (and the bundled models trained on it) do not change.
_STRIP_OTHER = "\u032a\u02d0\u02b0\u032f\u0325\u030a\u0361"
# How: a vowel by its nearest English vowel in height and rounding (Russian and Polish ɨ as ih); a diphthong
# by the English one of the same glide (German ɔʏ as oy, Czech ou as ow); Polish retroflex and alveolo-
# palatal sibilants and affricates by the English postalveolar ones, whose lips they share; German and
# Spanish χ by k (as x already is); German pf by f; Esperanto ŭ as w; espeak-ng's name "A" (Irish) as ah.
# What is left after this (gen_data.py counts it in summary.json's unmapped_phones): espeak-ng's "??", a
# few in an hour.
OTHER_IPA = {
    "ɨ": "ih", "ɔø": "oy", "ɔʏ": "oy", "ɛʊ": "ow", "tɕ": "ch", "dʑ": "jh", "ʂ": "sh", "ʐ": "zh", "uə": "uh",
    "χ": "k", "A": "ah", "uɪ": "oy", "iʊ": "uw", "\u016d": "w", "u\u0306": "w", "pf": "f",
}


def espeak_ipa_to_arpa(ipa, other_language=False):
    s = "".join(c for c in ipa if c not in _STRIP)
    if other_language:
        s = "".join(c for c in s if c not in _STRIP_OTHER) or s
        if s in OTHER_IPA:
            return OTHER_IPA[s]
    if s in ESPEAK_IPA:
        return ESPEAK_IPA[s]
    if s.endswith("ː") and s[:-1] in ESPEAK_IPA:
        return ESPEAK_IPA[s[:-1]]
    if s.endswith("ɹ") and s[:-1] in ESPEAK_IPA:
        return ESPEAK_IPA[s[:-1]]
    if s.endswith("ʲ") and s[:-1] in ESPEAK_IPA:  # Russian palatalised consonants
        return espeak_ipa_to_arpa(s[:-1], other_language)
    UNKNOWN[s] = UNKNOWN.get(s, 0) + 1
    return "ax"


_ARPA_ALIASES = {"sil": "pau", "sp": "pau", "h#": "pau", "ssil": "pau", "+nsn+": "pau", "+spn+": "pau",
                 "ix": "ih", "el": "l", "em": "m", "en": "n", "dx": "d", "q": "t", "nx": "n", "ux": "uw",
                 "oh": "ao", "h": "hh", "@": "ax", "i": "iy", "j": "y", "e": "eh", "a": "aa", "o": "ao",
                 "u": "uw", "hv": "hh", "axh": "ax", "ng": "ng"}


def normalise_arpa(p):
    """ARPAbet (any case, with stress digits) or radio-set phone -> the table's set."""
    p = p.strip().lower().rstrip("012")
    p = _ARPA_ALIASES.get(p, p)
    if p in TABLE or p in DIPHTHONGS:
        return p
    UNKNOWN[p] = UNKNOWN.get(p, 0) + 1
    return "ax"


def _spans(phones):
    """Phones with diphthongs split: [(start, end, table_phone, original_phone)]."""
    out = []
    for s, e, p in phones:
        if p in DIPHTHONGS:
            a, b = DIPHTHONGS[p]
            m = s + 0.6 * (e - s)
            out.append((s, m, a, p))
            out.append((m, e, b, p))
        else:
            out.append((s, e, p if p in TABLE else "ax", p))
    return out


def frame_times(n_frames):
    """Centre time of mel frame i (window [160 i, 160 i + 400) samples): 12.5 ms + 10 ms * i."""
    return 0.0125 + HOP_S * np.arange(n_frames)


def frame_targets(phones, n_frames):
    """Per mel frame: viseme index [n], articulation [n, 4] after coarticulation, and the raw phone
    at each frame centre (for the metrics)."""
    t = frame_times(n_frames)
    spans = _spans(phones)
    vis = np.zeros(n_frames, np.int64)
    raw = np.zeros((n_frames, 4), np.float32)
    names = ["pau"] * n_frames
    j = 0
    for i, ti in enumerate(t):
        while j + 1 < len(spans) and spans[j][1] <= ti:
            j += 1
        if spans and spans[j][0] <= ti < spans[j][1]:
            _, _, p, orig = spans[j]
            v = TABLE[p][0]
            if orig in DIPHTHONGS:
                v = TABLE[DIPHTHONGS[orig][0]][0]
            vis[i] = VISEMES.index(v)
            raw[i] = TABLE[p][1:]
            names[i] = orig
    # Anticipatory smoothing: a raised-cosine kernel over [-CARRY_S, +ANTICIPATE_S] around each frame,
    # its weight leaning towards the future.
    a, c = int(round(ANTICIPATE_S / HOP_S)), int(round(CARRY_S / HOP_S))
    offs = np.arange(-c, a + 1)
    w = np.where(offs >= 0, np.cos(0.5 * np.pi * offs / (a + 1)) ** 2, np.cos(0.5 * np.pi * offs / (c + 1)) ** 2)
    w /= w.sum()
    pad = np.concatenate([np.repeat(raw[:1], c, 0), raw, np.repeat(raw[-1:], a, 0)])
    art = np.zeros_like(raw)
    for k, o in enumerate(offs):
        art += w[k] * pad[c + o: c + o + n_frames]
    # Vowel nuclei dominate the jaw: over the middle half of a vowel the smoothed opening comes back up
    # to at least 90% of the vowel's own target, so short stressed vowels still open.
    for s, e, p, orig in spans:
        if p in VOWELS:
            first_of_diphthong = orig in DIPHTHONGS and p == DIPHTHONGS[orig][0]
            m0, m1 = s + 0.25 * (e - s), e if first_of_diphthong else e - 0.25 * (e - s)
            sel = (t >= m0) & (t <= m1)
            art[sel, 0] = np.maximum(art[sel, 0], 0.9 * TABLE[p][1])
    # Bilabial dominance: closed lips over the middle of every /p b m/.
    for s, e, p in phones:
        if p in BILABIALS:
            m0, m1 = s + 0.2 * (e - s), e - 0.2 * (e - s)
            sel = (t >= m0) & (t <= m1)
            art[sel, 1] = 1.0
            art[sel, 0] = np.minimum(art[sel, 0], 0.1)
    return vis, np.clip(art, 0.0, 1.0), names


def mouth_open(jaw_open, lip_close):
    """How far apart the lips are, 0..1: the jaw's opening unless the lips are pressed together.
    The same formula judges every model, so a model without lip_close is judged by jaw_open alone."""
    return np.asarray(jaw_open) * (1.0 - np.asarray(lip_close))


# Key frames: where a viewer judges lip sync most, and where training weighs the mouth's opening most
# (train.py): the middle 60% of every /p b m/ (lips shut) and the middle half of every open vowel
# (mouth clearly open; for /aw ay/ 20% to 55% of the diphthong, inside its open first part, which holds
# the midpoint). The evaluation's closure and open-vowel rates are read at these phones' midpoints.
KEY_CLOSED, KEY_OPEN = 1, 2


def key_frames(phones, n_frames):
    """Per mel frame: 0, KEY_CLOSED (inside a bilabial's middle 60%) or KEY_OPEN (an open vowel's
    middle half), and either for the two frames nearest the phone's midpoint."""
    t = frame_times(n_frames)
    key = np.zeros(n_frames, np.int8)
    for s, e, p in phones:
        # The two frames around the midpoint count too, so that a phone shorter than two hops has some.
        mid = np.abs(t - 0.5 * (s + e)) < HOP_S
        if p in BILABIALS:
            key[((t >= s + 0.2 * (e - s)) & (t <= e - 0.2 * (e - s))) | mid] = KEY_CLOSED
        elif p in DIPHTHONGS and p in OPEN_VOWELS:  # the open first 60%, around the midpoint
            key[((t >= s + 0.2 * (e - s)) & (t <= s + 0.55 * (e - s))) | mid] = KEY_OPEN
        elif p in OPEN_VOWELS:
            key[((t >= s + 0.25 * (e - s)) & (t <= e - 0.25 * (e - s))) | mid] = KEY_OPEN
    return key


def midpoints(phones, wanted):
    return [0.5 * (s + e) for s, e, p in phones if p in wanted]


def best_lag_ms(preds, targets):
    """The shift (ms, +-250) that best correlates predicted and target mouth_open over every utterance
    (10 ms series), positive = the prediction late: found in 10 ms steps, then refined to a tenth of a step
    by a parabola through the peak and its two neighbours."""
    lags = list(range(-25, 26))
    corr = []
    for lag in lags:  # predicted[t] against target[t - lag]
        a, b = [], []
        for p_, t_ in zip(preds, targets):
            n = len(p_)
            if lag >= 0:
                a.append(p_[lag:]), b.append(t_[: n - lag])
            else:
                a.append(p_[: n + lag]), b.append(t_[-lag:])
        corr.append(np.corrcoef(np.concatenate(a), np.concatenate(b))[0, 1])
    i = int(np.nanargmax(corr))
    frac = 0.0
    if 0 < i < len(lags) - 1:
        curve = corr[i - 1] - 2 * corr[i] + corr[i + 1]
        frac = 0.5 * (corr[i - 1] - corr[i + 1]) / curve if curve < 0 else 0.0
    return round(float((lags[i] + frac) * 10), 1)


# pocketsphinx's en-US phones, for pronunciations from espeak-ng (the table's set, upper case, these apart).
_TO_CMU = {"ax": "AH", "axr": "ER"}


def espeak_pronunciations(text, voice):
    """Each word of `text` as espeak-ng's `voice` says it, in pocketsphinx's phones: [[phone, ...], ...]
    (language switches such as "(en)" dropped, SPLIT phones as two)."""
    import subprocess
    out = subprocess.run(["espeak-ng", "-v", voice, "-q", "--ipa", "--sep=_", text], capture_output=True,
                         text=True, check=True).stdout
    words = []
    for word in out.split():
        phones = []
        for ipa in word.split("_"):
            bare = "".join(c for c in ipa if c not in _STRIP).rstrip("ː")
            if not bare or bare.startswith("("):
                continue
            for p in SPLIT.get(bare, (espeak_ipa_to_arpa(ipa),)):
                if p != "pau":
                    phones.append(_TO_CMU.get(p, p.upper()))
        if phones:
            words.append(phones)
    return words


def align_text(pcm16, text, voice=None):
    """Phone-level forced alignment of 16 kHz mono s16 PCM to `text` with pocketsphinx (its bundled
    en-US acoustic model): [(start_s, end_s, phone)] in the table's set. English words are looked up in
    pocketsphinx's own dictionary; with an espeak-ng `voice` (es, fr, it, ru, ...) each word is spoken by
    espeak-ng and its phones mapped to the nearest English ones (espeak_pronunciations), so that the
    English model aligns speech in another language: cross-language forced alignment. On English, where
    both can be compared, the two put 99.1% of 227 /p b m/ midpoints inside each other's phone (120
    prompts; training/check_alignment.py)."""
    from pocketsphinx import Decoder
    d = Decoder(samprate=16000, loglevel="FATAL")
    if voice is not None:
        words = espeak_pronunciations(text, voice)
        for i, w in enumerate(words):
            d.add_word(f"w{i}", " ".join(w), False)
        text = " ".join(f"w{i}" for i in range(len(words)))
    d.set_align_text(text)
    d.start_utt(); d.process_raw(pcm16, full_utt=True); d.end_utt()
    d.set_alignment()
    d.start_utt(); d.process_raw(pcm16, full_utt=True); d.end_utt()
    phones = []
    for word in d.get_alignment():
        for ph in word:
            phones.append((ph.start / 100, (ph.start + ph.duration) / 100, normalise_arpa(ph.name)))
    return phones
