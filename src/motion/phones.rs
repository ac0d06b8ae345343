//! The mouth from phone timings: where a text-to-speech engine says when each phone sounds, the mouth
//! follows those times rather than waiting to hear the sound, and moves a little before it, as a
//! speaker's lips do.
//!
//! Input: [`Phone`]s (espeak-ng's mnemonics) with their times. Output: a mouth track, one
//! [`MotionParams`] per 10 ms hop of the utterance (only the mouth and the visemes set). Thread: the
//! caller's (the control API builds a track when it accepts a text; the motion thread reads it).
//!
//! Each phone has a mouth target by its class (an open vowel drops the jaw, /p b m/ press the lips, /u w/
//! round them, /i s/ stretch them) held through its middle (the targets were set beside the trained
//! offline model's own output on espeak-ng's speech: see the session note on the control API issue); between holds the mouth eases from one
//! target to the next (coarticulation), and the whole track runs [`MOUTH_LEAD_SECS`] ahead of the sound.

use crate::vocab::clock::HOP_SECS;
use crate::vocab::{MotionParams, Phone, Visemes};

/// How far the mouth's movement runs ahead of the sound it makes, seconds: lips close for a /p/ and
/// open for a vowel some tens of milliseconds before the sound is heard.
pub const MOUTH_LEAD_SECS: f32 = 0.05;

/// Over the first this many seconds of an utterance the lead grows from nothing to
/// [`MOUTH_LEAD_SECS`]: the mouth cannot move before the utterance has begun (nothing delays its
/// sound), so it starts with the sound and gains its lead by running a quarter faster than the phones
/// until then. A first /b/ still closes the lips.
pub const LEAD_RAMP_SECS: f32 = 0.2;

/// A mouth shape: jaw drop, lips pressed, rounded, stretched, and its viseme (a [`VISEME_NAMES`] index).
///
/// [`VISEME_NAMES`]: crate::vocab::motion::VISEME_NAMES
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shape {
    jaw: f32,
    close: f32,
    round: f32,
    stretch: f32,
    viseme: usize,
}

const fn shape(jaw: f32, close: f32, round: f32, stretch: f32, viseme: usize) -> Shape {
    Shape { jaw, close, round, stretch, viseme }
}

// The viseme indices of VISEME_NAMES.
const SIL: usize = 0;
const PP: usize = 1;
const FF: usize = 2;
const TH: usize = 3;
const DD: usize = 4;
const KK: usize = 5;
const CH: usize = 6;
const SS: usize = 7;
const NN: usize = 8;
const RR: usize = 9;
const AA: usize = 10;
const E: usize = 11;
const I: usize = 12;
const O: usize = 13;
const U: usize = 14;

const REST: Shape = shape(0.0, 0.0, 0.0, 0.0, SIL);

/// The shape of a vowel's quality, by espeak-ng's vowel letters; `None` for a consonant.
fn vowel(c: char) -> Option<Shape> {
    Some(match c {
        'a' | 'A' | '&' | 'V' | '6' => shape(0.8, 0.0, 0.0, 0.1, AA),
        'e' | 'E' => shape(0.6, 0.0, 0.0, 0.3, E),
        '3' | '@' => shape(0.45, 0.0, 0.1, 0.05, E),
        'i' | 'I' => shape(0.3, 0.0, 0.0, 0.45, I),
        'y' | 'Y' => shape(0.25, 0.0, 0.6, 0.1, U),
        'o' | 'O' | '0' => shape(0.75, 0.0, 0.5, 0.0, O),
        'u' | 'U' => shape(0.25, 0.0, 0.7, 0.0, U),
        // The rounded front and central vowels (German ö, French eu and œ, Russian ё).
        '2' | '9' | '8' | 'W' => shape(0.45, 0.0, 0.5, 0.05, O),
        _ => return None,
    })
}

/// The shape of a consonant, by its first letter (espeak-ng's mnemonics, shared by its languages).
fn consonant(name: &str) -> Shape {
    if name.starts_with("tS") || name.starts_with("dZ") {
        return shape(0.3, 0.0, 0.4, 0.0, CH);
    }
    match name.chars().next().unwrap_or('_') {
        'p' | 'b' | 'm' => shape(0.02, 1.0, 0.0, 0.0, PP),
        'f' | 'v' => shape(0.12, 0.3, 0.0, 0.1, FF),
        'T' | 'D' => shape(0.25, 0.0, 0.0, 0.05, TH),
        't' | 'd' => shape(0.25, 0.0, 0.0, 0.1, DD),
        'n' | 'l' | 'L' => shape(0.3, 0.0, 0.0, 0.05, NN),
        'k' | 'g' | 'x' | 'G' | 'N' | 'q' => shape(0.2, 0.0, 0.0, 0.05, KK),
        'h' => shape(0.3, 0.0, 0.0, 0.0, KK),
        'S' | 'Z' | 'c' | 'J' | 'C' => shape(0.2, 0.0, 0.4, 0.0, CH),
        's' | 'z' => shape(0.12, 0.0, 0.0, 0.33, SS),
        'r' | 'R' | '*' => shape(0.3, 0.0, 0.25, 0.0, RR),
        'w' | 'W' => shape(0.12, 0.0, 0.8, 0.0, U),
        'j' => shape(0.15, 0.0, 0.2, 0.4, I),
        _ => shape(0.2, 0.0, 0.0, 0.0, DD),
    }
}

/// An IPA letter (Piper's phones, scripts/piper-say.py) as the espeak-ng letter of the same sound; the
/// ASCII letters as they are (the two agree on them); `None` for a mark (stress, length, nasal,
/// palatal, a tie).
fn mnemonic(c: char) -> Option<char> {
    Some(match c {
        'ɑ' => 'A',
        'æ' => '&',
        'ʌ' => 'V',
        'ɐ' => '6',
        'ɛ' => 'E',
        'ɜ' | 'ɝ' | 'ɚ' => '3',
        'ə' => '@',
        'ɪ' | 'ɨ' => 'I',
        'ʏ' => 'Y',
        'ɔ' | 'ɤ' => 'O',
        'ɒ' => '0',
        'ø' => '2',
        'œ' | 'ɶ' => '9',
        'ɵ' => '8',
        'ʊ' | 'ʉ' | 'ɯ' => 'U',
        'ʃ' | 'ɕ' | 'ʂ' => 'S',
        'ʒ' | 'ʑ' | 'ʐ' => 'Z',
        'θ' => 'T',
        'ð' => 'D',
        'ŋ' | 'ɴ' => 'N',
        'ɡ' => 'g',
        'ɹ' | 'ɻ' | 'ʀ' | 'ʁ' => 'r',
        'ɾ' => '*',
        'ɫ' | 'ɭ' => 'l',
        'ʎ' => 'L',
        'ɲ' => 'J',
        'ç' => 'C',
        'χ' | 'ħ' => 'x',
        'ɣ' => 'Q',
        'β' => 'B',
        'ʔ' => 'q',
        'ɱ' => 'm',
        'ɸ' => 'f',
        'ʋ' => 'v',
        'ɦ' => 'h',
        'ɥ' => 'w',
        _ if c.is_ascii() => c,
        _ => return None,
    })
}

/// The mouth targets of one phone and the parts of its time they hold, as fractions of it.
fn targets(phone: &str) -> Vec<(Shape, f32, f32)> {
    // Stress, length and the other marks espeak-ng writes around a phone's letters; IPA as espeak-ng.
    let letters: Vec<char> = phone.chars().filter_map(mnemonic).filter(|c| !"'\",%=:;#-/!^".contains(*c)).collect();
    let phone: String = letters.iter().collect();
    let phone = phone.as_str();
    match letters.first() {
        None | Some('_') => vec![(REST, 0.0, 1.0)],
        Some(&first) => match vowel(first) {
            Some(start) => match letters.last().and_then(|&c| vowel(c)) {
                // A diphthong glides from its first quality to its last.
                Some(end) if letters.len() > 1 && end != start => vec![(start, 0.15, 0.4), (end, 0.65, 0.85)],
                _ => vec![(start, 0.3, 0.7)],
            },
            None => match letters.get(1).and_then(|&c| vowel(c)) {
                // A glide and its vowel in one name (Russian "ja", "ju"): the glide, then the vowel.
                Some(end) if matches!(first, 'j' | 'w') => vec![(consonant(phone), 0.05, 0.25), (end, 0.5, 0.8)],
                // A stop or a nasal holds its closure through most of its time.
                _ => vec![(consonant(phone), 0.15, 0.85)],
            },
        },
    }
}

fn params(s: &Shape) -> MotionParams {
    let mut visemes = Visemes::default();
    visemes.0[s.viseme] = 1.0;
    MotionParams {
        jaw_open: s.jaw,
        lip_close: s.close,
        lip_round: s.round,
        lip_stretch: s.stretch,
        visemes,
        ..MotionParams::default()
    }
}

/// The mouth track of an utterance of `total_secs` with `phones`: one [`MotionParams`] per hop (the
/// mouth at each hop's end), running [`MOUTH_LEAD_SECS`] ahead of the sound once past its first
/// [`LEAD_RAMP_SECS`]. Empty without phones.
pub fn mouth_track(phones: &[Phone], total_secs: f32) -> Vec<MotionParams> {
    if phones.is_empty() || !total_secs.is_finite() || total_secs <= 0.0 {
        return Vec::new();
    }
    // Keys (time, shape): each target held over its part of the phone, the mouth at rest at both ends.
    let mut keys: Vec<(f32, Shape)> = vec![(f32::MIN, REST)];
    for p in phones {
        let span = (p.end_secs - p.start_secs).max(0.0);
        for (shape, from, to) in targets(&p.name) {
            keys.push((p.start_secs + from * span, shape));
            keys.push((p.start_secs + to * span, shape));
        }
    }
    keys.push((f32::MAX, REST));
    let hops = (total_secs / HOP_SECS as f32).ceil() as usize;
    let mut k = 0;
    (1..=hops)
        .map(|h| {
            let sound = h as f32 * HOP_SECS as f32;
            let t = sound + MOUTH_LEAD_SECS * (sound / LEAD_RAMP_SECS).min(1.0);
            while k + 2 < keys.len() && keys[k + 1].0 <= t {
                k += 1;
            }
            let ((t0, a), (t1, b)) = (keys[k], keys[k + 1]);
            let f =
                if t1 > t0 && t0 > f32::MIN && t1 < f32::MAX { ((t - t0) / (t1 - t0)).clamp(0.0, 1.0) } else { 0.0 };
            // Eased in and out (smoothstep): no corner where one movement turns into the next.
            let f = f * f * (3.0 - 2.0 * f);
            params(&a).lerp(&params(&b), if t1 == f32::MAX { 0.0 } else { f })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(list: &[(&str, f32, f32)]) -> Vec<Phone> {
        list.iter().map(|&(n, s, e)| Phone { name: n.into(), start_secs: s, end_secs: e }).collect()
    }

    /// The track's value at `t` seconds (the hop ending there).
    fn at(track: &[MotionParams], t: f32) -> MotionParams {
        track[(t / HOP_SECS as f32).round() as usize - 1]
    }

    #[test]
    fn a_bilabial_closes_the_lips_an_open_vowel_drops_the_jaw_and_a_pause_rests() {
        // "_ p A: m _": a pause, /p/, an open vowel, /m/, a pause.
        let track = mouth_track(
            &phones(&[("_", 0.0, 0.2), ("p", 0.2, 0.3), ("A:", 0.3, 0.5), ("m", 0.5, 0.6), ("_", 0.6, 1.0)]),
            1.0,
        );
        assert_eq!(track.len(), 100);
        let lead = MOUTH_LEAD_SECS;
        assert!(at(&track, 0.25 - lead).lip_close > 0.99, "the /p/ closure");
        assert!(at(&track, 0.4 - lead).jaw_open > 0.7, "the vowel");
        assert!(at(&track, 0.4 - lead).lip_close < 1e-2);
        assert!(at(&track, 0.55 - lead).lip_close > 0.99, "the /m/ closure");
        assert_eq!(at(&track, 0.9).jaw_open, 0.0, "at rest in the pause");
        assert_eq!(at(&track, 0.1).lip_close, 0.0, "at rest before the speech");
        assert_eq!(at(&track, 0.4 - lead).visemes.top(), Some("aa"));
        assert_eq!(at(&track, 0.25 - lead).visemes.top(), Some("PP"));
    }

    #[test]
    fn the_mouth_moves_before_the_sound_and_eases_between_targets() {
        let track = mouth_track(&phones(&[("_", 0.0, 0.3), ("a", 0.3, 0.6), ("_", 0.6, 1.0)]), 1.0);
        let jaw: Vec<f32> = track.iter().map(|p| p.jaw_open).collect();
        // The jaw starts to drop before the vowel's sound at 0.3 s...
        let first = jaw.iter().position(|&j| j > 0.05).unwrap();
        assert!(((first + 1) as f32 * (HOP_SECS as f32)) < 0.3, "it opens at hop {first}");
        // ...and no hop jumps: the largest step from one hop to the next stays small.
        let step = jaw.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(step < 0.2, "a step of {step}");
    }

    #[test]
    fn a_first_bilabial_closes_the_lips_though_nothing_can_come_before_the_utterance() {
        // "Bob": /b/ from 11 ms, as espeak-ng begins.
        let track =
            mouth_track(&phones(&[("b", 0.011, 0.07), ("0", 0.07, 0.2), ("b", 0.2, 0.26), ("_", 0.26, 0.4)]), 0.4);
        let closed = track[..7].iter().map(|p| p.lip_close).fold(0.0, f32::max);
        assert!(closed > 0.9, "the first /b/ closes the lips to {closed}");
        assert!(track[0].lip_close < 0.5, "from rest, not at a jump");
    }

    #[test]
    fn every_phone_of_ten_of_espeak_ngs_languages_has_a_shape_in_range() {
        // The names espeak-ng 1.51 gave for a sentence in de, fr, es, it, ru, cmn, ja, hi, pt and nl.
        let names = "g u: t @ n m O r I C i: h OY E l f y: b 3 r y k E: S Y: U s aI O~ Z A~ p y z2 e o d l @- a \
            t2 W w D ; J^ ** B Q j dZ * ss ts2 tS; ja 8 V s; A a# u~ E~ H N & eI x a: Wy 2: 9 _| _: _";
        for name in names.split_whitespace() {
            let t = targets(name);
            assert!(!t.is_empty() && t.len() <= 2, "{name}");
            for (s, from, to) in t {
                assert!(0.0 <= from && from < to && to <= 1.0, "{name}");
                for v in [s.jaw, s.close, s.round, s.stretch] {
                    assert!((0.0..=1.0).contains(&v), "{name}: {s:?}");
                }
            }
        }
        // Spot checks: the French /ø/ is rounded, the Russian "ja" glides from /j/ to an open vowel.
        assert!(targets("2:")[0].0.round > 0.4);
        let ja = targets("ja");
        assert_eq!((ja[0].0.viseme, ja[1].0.viseme), (I, AA));
    }

    #[test]
    fn piper_s_ipa_phones_take_the_shapes_of_their_espeak_ng_letters() {
        for (ipa, espeak) in [("ɑː", "A:"), ("ʃ", "S"), ("ɪ", "I"), ("ˈæ", "&"), ("ŋ", "N"), ("iːʲ", "i:"), ("ɔ̃", "O")]
        {
            assert_eq!(targets(ipa), targets(espeak), "{ipa}");
        }
        // A mark alone, or a letter facecast does not know, still gets a shape in range.
        for odd in ["ˈ", "ʼ", "ǃ"] {
            assert!(targets(odd).iter().all(|(s, _, _)| (0.0..=1.0).contains(&s.jaw)), "{odd}");
        }
    }

    #[test]
    fn diphthongs_glide_and_unknown_names_stay_in_range() {
        let track = mouth_track(&phones(&[("aI", 0.0, 0.4), ("@U", 0.4, 0.8), ("Q~", 0.8, 0.9), ("", 0.9, 1.0)]), 1.0);
        let early = at(&track, 0.1 - MOUTH_LEAD_SECS);
        let late = at(&track, 0.3 - MOUTH_LEAD_SECS);
        assert!(early.jaw_open > late.jaw_open && late.lip_stretch > early.lip_stretch, "/aI/ glides to /I/");
        for p in &track {
            for v in [p.jaw_open, p.lip_close, p.lip_round, p.lip_stretch] {
                assert!((0.0..=1.0).contains(&v), "{p:?}");
            }
        }
        assert!(mouth_track(&[], 1.0).is_empty());
        assert!(mouth_track(&phones(&[("a", 0.0, 1.0)]), f32::NAN).is_empty());
    }
}
