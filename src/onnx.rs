//! The one place that loads ONNX Runtime and builds ort sessions; [`motion`](crate::motion) and
//! [`portrait`](crate::portrait) ask it for sessions.
//!
//! ONNX Runtime is a shared library loaded at run time (ort's `load-dynamic`). It is looked for, in
//! order: `$ORT_DYLIB_PATH`; `.ort/lib/libonnxruntime.so` in the working directory and in every
//! ancestor of the executable's directory (scripts/setup.sh puts it there); the same path under the
//! source tree facecast was built from; finally the system loader's search path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

/// Errors from loading ONNX Runtime or building a session.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error(
        "could not load ONNX Runtime ({tried}): {reason}. Run scripts/setup.sh, or set ORT_DYLIB_PATH to libonnxruntime.so"
    )]
    Runtime { tried: String, reason: String },
    /// A model could not be loaded into a session.
    #[error("could not load the ONNX model {model}: {source}")]
    Model {
        model: String,
        #[source]
        source: ort::Error,
    },
}

const LIB_NAME: &str = "libonnxruntime.so";

fn candidate_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(p));
        return out;
    }
    let rel = Path::new(".ort").join("lib").join(LIB_NAME);
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.join(&rel));
    }
    if let Ok(exe) = std::env::current_exe() {
        out.extend(exe.ancestors().skip(1).map(|dir| dir.join(&rel)));
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel));
    out
}

fn load_runtime() -> Result<ort::environment::Environment, String> {
    let candidates = candidate_paths();
    let chosen = candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| PathBuf::from(LIB_NAME));
    let builder = ort::init_from(&chosen).map_err(|e| format!("{}: {e}", chosen.display()))?;
    let env = builder.with_name("facecast").build().map_err(|e| format!("{}: {e}", chosen.display()))?;
    tracing::debug!(library = %chosen.display(), "ONNX Runtime loaded");
    Ok(env)
}

/// The process's one ONNX Runtime environment; it outlives every session.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment.
///
/// # Errors
/// [`OnnxError::Runtime`] when no usable `libonnxruntime.so` is found.
pub fn environment() -> Result<&'static ort::environment::Environment, OnnxError> {
    ENVIRONMENT.get_or_init(load_runtime).as_ref().map_err(|reason| OnnxError::Runtime {
        tried: candidate_paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        reason: reason.clone(),
    })
}

/// Where a model comes from: a file, or bytes bundled into the binary.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A model file on disk.
    File(PathBuf),
    /// A model bundled into the binary, with a name for messages.
    Bundled { name: &'static str, bytes: &'static [u8] },
}

impl ModelSource {
    /// A short name for log lines and errors.
    pub fn name(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Bundled { name, .. } => format!("{name} (bundled)"),
        }
    }
}

/// Builds a CPU session for `model` with `intra_threads` threads.
///
/// # Errors
/// [`OnnxError::Runtime`] when ONNX Runtime cannot be loaded, [`OnnxError::Model`] when the model is
/// missing or invalid.
pub fn session(model: &ModelSource, intra_threads: usize) -> Result<Session, OnnxError> {
    let env = environment()?;
    let wrap = |source: ort::Error| OnnxError::Model { model: model.name(), source };
    let mut builder = Session::builder(env)
        .map_err(wrap)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| wrap(e.into()))?
        .with_intra_threads(intra_threads.max(1))
        .map_err(|e| wrap(e.into()))?;
    match model {
        ModelSource::File(path) => builder.commit_from_file(path).map_err(wrap),
        ModelSource::Bundled { bytes, .. } => builder.commit_from_memory(bytes).map_err(wrap),
    }
}
