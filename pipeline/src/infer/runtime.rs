//! Finding and loading the ONNX Runtime shared library.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::InferError;

/// The library version `ort`'s `api-31` feature needs, as set-up installs it.
const LIBRARY_NAME: &str = "libonnxruntime.so.1.31.1";
/// Where `scripts/setup` installs it, relative to the workspace.
const INSTALL_DIR: &str = ".local/onnxruntime";

/// ONNX Runtime allows one environment per process: every caller shares this one.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// The loaded ONNX Runtime (one per process): create sessions from it.
pub struct Runtime {
    pub(crate) environment: ort::environment::Environment,
    library: PathBuf,
}

impl Runtime {
    /// Loads the library from `ORT_DYLIB_PATH`, else next to the executable, else from
    /// `../lib/lintel/` beside the executable's folder (the package), else from the workspace's `.local/onnxruntime/` (where `scripts/setup` puts it). Later calls return the
    /// runtime loaded first.
    pub fn load() -> Result<&'static Self, InferError> {
        if let Some(runtime) = RUNTIME.get() {
            return Ok(runtime);
        }
        let library = match std::env::var_os("ORT_DYLIB_PATH") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.exists() {
                    return Err(InferError::RuntimeLoad { path, message: "ORT_DYLIB_PATH names no file".into() });
                }
                path
            }
            None => find_library()?,
        };
        Self::load_from(&library)
    }

    /// Loads a specific library file, unless a runtime is already loaded (then that one is returned).
    pub fn load_from(library: &Path) -> Result<&'static Self, InferError> {
        let _loading = LOADING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runtime) = RUNTIME.get() {
            return Ok(runtime);
        }
        let runtime = Self::create(library)?;
        Ok(RUNTIME.get_or_init(|| runtime))
    }

    fn create(library: &Path) -> Result<Self, InferError> {
        let load_error = |message: String| InferError::RuntimeLoad { path: library.to_path_buf(), message };
        // ort panics on some libraries it cannot use; keep that a clear error, not a crash.
        let loaded = std::panic::catch_unwind(|| ort::init_from(library))
            .map_err(|_| load_error("not a usable ONNX Runtime library".into()))?
            .map_err(|e| load_error(e.to_string()))?;
        let environment = loaded.with_name("lintel").build().map_err(|e| load_error(e.to_string()))?;
        Ok(Self { environment, library: library.to_path_buf() })
    }

    /// Loads a model file as a session with `threads` intra-op threads (0: ONNX Runtime's choice).
    ///
    /// Idle intra-op threads sleep instead of spinning: they share the box's cores with the
    /// GStreamer decoders of every camera, and spinning only burned those cores' time. Measured on
    /// `lintel count` (300×300 INT8, 2 threads, 2 cores): 8–16% less CPU for the same frame rate or
    /// a little more.
    pub(crate) fn session(&self, file: &Path, threads: usize) -> Result<ort::session::Session, ort::Error> {
        let mut builder = ort::session::Session::builder(&self.environment)?.with_intra_op_spinning(false)?;
        if threads > 0 {
            builder = builder.with_intra_threads(threads)?;
        }
        builder.commit_from_file(file)
    }

    pub fn library(&self) -> &Path {
        &self.library
    }
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir.clone());
        // The Debian package: /usr/bin/lintel, /usr/lib/lintel/libonnxruntime.so.*
        dirs.push(exe_dir.join("../lib/lintel"));
        // target/{debug,release}[/deps] → the workspace root
        for up in exe_dir.ancestors().skip(1).take(3) {
            dirs.push(up.join(INSTALL_DIR));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(INSTALL_DIR));
    dirs
}

fn find_library() -> Result<PathBuf, InferError> {
    let dirs = candidate_dirs();
    dirs.iter().map(|dir| dir.join(LIBRARY_NAME)).find(|path| path.exists()).ok_or_else(|| InferError::RuntimeMissing {
        searched: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}
