//! A phone of synthesized speech and where it lies in time: what a text-to-speech engine reports beside
//! its sound, and what the mouth track follows.
//!
//! Input: nothing. Output: [`Phone`]. Thread: any.

/// One phone of an utterance, in the engine's own notation (espeak-ng's mnemonics: `p`, `aI`, `@`,
/// `_:` for a pause).
#[derive(Debug, Clone, PartialEq)]
pub struct Phone {
    /// The engine's name for it.
    pub name: String,
    /// Where its sound starts, seconds from the utterance's first sample.
    pub start_secs: f32,
    /// Where it ends (the next phone's start, or the end of the speech).
    pub end_secs: f32,
}
