//! A text spoken into a WAV file for the commands that take text (`facecast say`, `facecast render
//! --text`): the same engine as the control API's `POST /say` (espeak-ng, or `[tts] command`).
//!
//! Input: the text, a voice, the config. Output: [`SpokenText`], a temporary WAV that is removed when it
//! is dropped, and the mouth track of its phones where the engine timed them. Thread: the caller's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::PipelineError;
use crate::Config;
use crate::audio::tts::Tts;
use crate::motion::phones::mouth_track;
use crate::vocab::MotionParams;

/// The speech of a text, in a temporary WAV file removed on drop.
pub struct SpokenText {
    path: PathBuf,
    mouth: Option<Arc<[MotionParams]>>,
}

impl SpokenText {
    /// Speaks `text` with `voice` through `cfg`'s engine.
    ///
    /// # Errors
    /// [`PipelineError::Invalid`] for an empty text, or a text longer than `[control] max_say_chars`,
    /// or the engine's refusal (a voice it lacks, a missing or failing engine).
    pub fn new(text: &str, voice: Option<&str>, cfg: &Config) -> Result<Self, PipelineError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PipelineError::Invalid("the text is empty".into()));
        }
        let chars = text.chars().count();
        if chars > cfg.control.max_say_chars {
            return Err(PipelineError::Invalid(format!(
                "the text has {chars} characters; at most {} ([control] max_say_chars)",
                cfg.control.max_say_chars
            )));
        }
        let speech =
            Tts::new(&cfg.tts.command).speak(text, voice).map_err(|e| PipelineError::Invalid(e.to_string()))?;
        let mouth = speech
            .phones
            .as_deref()
            .and_then(|p| Some(mouth_track(p, p.last()?.end_secs)))
            .filter(|t| !t.is_empty())
            .map(Arc::from);
        let wav = speech.wav;
        let path = std::env::temp_dir().join(format!("facecast-text-{}.wav", std::process::id()));
        std::fs::write(&path, wav)
            .map_err(|e| PipelineError::Invalid(format!("cannot write the speech to {}: {e}", path.display())))?;
        Ok(Self { path, mouth })
    }

    /// The WAV file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mouth track of its phones, one set per hop from its first sample, where the engine timed them
    /// (espeak-ng's library does).
    pub fn mouth(&self) -> Option<&Arc<[MotionParams]>> {
        self.mouth.as_ref()
    }
}

impl Drop for SpokenText {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
