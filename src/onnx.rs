//! The one place that loads ONNX Runtime and builds ort sessions; [`motion`](crate::motion) and
//! [`portrait`](crate::portrait) ask it for sessions.
//!
//! ONNX Runtime is a shared library loaded at run time (ort's `load-dynamic`). It is looked for, in
//! order: `$ORT_DYLIB_PATH`; `.ort/lib/libonnxruntime.so` in the working directory and in every
//! ancestor of the executable's directory (scripts/setup.sh puts it there); the same path under the
//! source tree facecast was built from; finally the system loader's search path.
//!
//! Input: a model file or bundled bytes, a thread count, a provider. Output: ort sessions. Thread: the caller's;
//! the runtime is loaded once per process.

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

/// An ONNX Runtime execution provider a session may ask for (`[motion] provider` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The CPU (always there).
    #[default]
    Cpu,
    /// NVIDIA CUDA: needs the `onnxruntime-gpu` build of ONNX Runtime and CUDA 12/13 with cuDNN 9.
    Cuda,
    /// WebGPU (any vendor, through Vulkan/Metal/D3D12): needs the `onnxruntime-webgpu` build.
    Webgpu,
    /// DirectML (Windows).
    Directml,
    /// Core ML (macOS).
    Coreml,
    /// The first of CUDA, DirectML, Core ML and WebGPU that the loaded ONNX Runtime offers, else the CPU.
    Auto,
}

impl Provider {
    /// The ort execution providers to try, in order, for this choice.
    fn candidates(self) -> Vec<(&'static str, ort::ep::ExecutionProviderDispatch, bool)> {
        use ort::ep::{self, ExecutionProvider};
        let cuda = || {
            (ep::CUDA::NAME, ep::CUDA::default().build().error_on_failure(), ep::CUDA::is_available().unwrap_or(false))
        };
        let webgpu = || {
            (
                ep::WebGPU::NAME,
                ep::WebGPU::default().build().error_on_failure(),
                ep::WebGPU::is_available().unwrap_or(false),
            )
        };
        let dml = || {
            (
                ep::DirectML::NAME,
                ep::DirectML::default().build().error_on_failure(),
                ep::DirectML::is_available().unwrap_or(false),
            )
        };
        let coreml = || {
            (
                ep::CoreML::NAME,
                ep::CoreML::default().build().error_on_failure(),
                ep::CoreML::is_available().unwrap_or(false),
            )
        };
        match self {
            Self::Cpu => vec![],
            Self::Cuda => vec![cuda()],
            Self::Webgpu => vec![webgpu()],
            Self::Directml => vec![dml()],
            Self::Coreml => vec![coreml()],
            Self::Auto => vec![cuda(), dml(), coreml(), webgpu()],
        }
    }
}

/// The CPU provider's name, as ONNX Runtime spells it.
pub const CPU_PROVIDER: &str = "CPUExecutionProvider";

/// Builds a session for `model` on the provider `provider` asks for, or on the CPU where that provider
/// is not in the loaded ONNX Runtime or fails to start (with a warning, unless the choice was `auto`).
/// Returns the session and the name of the provider it runs on.
///
/// # Errors
/// As [`session`].
pub fn session_on(
    model: &ModelSource,
    intra_threads: usize,
    provider: Provider,
) -> Result<(Session, &'static str), OnnxError> {
    let env = environment()?;
    for (name, dispatch, available) in provider.candidates() {
        if !available {
            if provider != Provider::Auto {
                tracing::warn!(provider = name, "the loaded ONNX Runtime has no {name}; running on the CPU");
            }
            continue;
        }
        let built = build(env, model, intra_threads, Some(dispatch));
        match built {
            Ok(session) => return Ok((session, name)),
            Err(e) => tracing::warn!(provider = name, error = %e, "{name} failed to start; trying the next provider"),
        }
    }
    Ok((session(model, intra_threads)?, CPU_PROVIDER))
}

/// Builds a CPU session for `model` with `intra_threads` threads.
///
/// # Errors
/// [`OnnxError::Runtime`] when ONNX Runtime cannot be loaded, [`OnnxError::Model`] when the model is
/// missing or invalid.
pub fn session(model: &ModelSource, intra_threads: usize) -> Result<Session, OnnxError> {
    build(environment()?, model, intra_threads, None).map_err(|source| OnnxError::Model { model: model.name(), source })
}

/// Builds a session with facecast's settings (full graph optimisation, `intra_threads` threads) and,
/// if given, one execution provider that must start.
fn build(
    env: &ort::environment::Environment,
    model: &ModelSource,
    intra_threads: usize,
    provider: Option<ort::ep::ExecutionProviderDispatch>,
) -> Result<Session, ort::Error> {
    let mut builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)?
        .with_intra_threads(intra_threads.max(1))?;
    if let Some(dispatch) = provider {
        builder = builder.with_execution_providers([dispatch])?;
    }
    match model {
        ModelSource::File(path) => builder.commit_from_file(path),
        ModelSource::Bundled { bytes, .. } => builder.commit_from_memory(bytes),
    }
}

/// A session run with fixed input and output names into pre-allocated output tensors, through ONNX
/// Runtime's C `Run` directly. ort's safe `Session::run` builds its input list and an output map on
/// every call; a hop of the live loop should allocate nothing, so the motion model runs through this.
/// The names are turned into C strings once, here.
pub struct RunPlan {
    input_names: Vec<std::ffi::CString>,
    output_names: Vec<std::ffi::CString>,
}

impl RunPlan {
    /// A plan for these input and output names (in the order the values will be passed).
    ///
    /// # Panics
    /// Never for names ONNX accepts; a name with a NUL byte is not a valid ONNX name.
    pub fn new(inputs: &[&str], outputs: &[&str]) -> Self {
        let c = |n: &&str| std::ffi::CString::new(*n).expect("ONNX names have no NUL byte");
        Self { input_names: inputs.iter().map(c).collect(), output_names: outputs.iter().map(c).collect() }
    }

    /// Runs `session` on `inputs`, writing into `outputs`, which must already have the shapes the
    /// model produces for these inputs. Allocates nothing on the Rust side; ONNX Runtime reuses its own
    /// arena.
    ///
    /// # Errors
    /// ONNX Runtime's error when the run fails (a wrong shape included).
    pub fn run<const I: usize, const O: usize>(
        &self,
        session: &mut Session,
        inputs: [&ort::value::Tensor<f32>; I],
        outputs: [&mut ort::value::Tensor<f32>; O],
    ) -> Result<(), ort::Error> {
        use ort::AsPointer;
        assert!(I == self.input_names.len() && O == self.output_names.len(), "a RunPlan's arity is fixed");
        let in_names: [*const std::ffi::c_char; I] = std::array::from_fn(|i| self.input_names[i].as_ptr());
        let out_names: [*const std::ffi::c_char; O] = std::array::from_fn(|i| self.output_names[i].as_ptr());
        let in_values: [*const ort::sys::OrtValue; I] = inputs.map(|v| v.ptr());
        let mut out_values: [*mut ort::sys::OrtValue; O] = outputs.map(|v| v.ptr_mut());
        // SAFETY: every pointer comes from a live ort object borrowed for the whole call (the session
        // mutably, the inputs shared, the outputs mutably), the name arrays and value arrays have the
        // lengths passed, and the names are NUL-terminated C strings owned by `self`. With non-null
        // output values, ONNX Runtime writes into them instead of allocating (its C API contract) and
        // takes no ownership of anything passed.
        let status = unsafe {
            (ort::api().Run)(
                session.ptr_mut(),
                std::ptr::null(),
                in_names.as_ptr(),
                in_values.as_ptr(),
                I,
                out_names.as_ptr(),
                O,
                out_values.as_mut_ptr(),
            )
        };
        // SAFETY: `status` was just returned by an ONNX Runtime API call.
        unsafe { ort::Error::result_from_status(status) }
    }
}
