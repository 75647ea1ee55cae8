//! The `sandbox` runtime: Aleph PROGRAMs as they are (zip/squashfs/plain code on a squashfs
//! Debian runtime; interface `asgi` served by the runtime's uvicorn, or `binary` listening on
//! :8080) run under bubblewrap as an unprivileged uid, in fresh user, mount, PID, IPC, UTS and
//! network namespaces, with a seccomp filter and cgroup memory/CPU/PID limits.
//!
//! The host reaches a program only through its unix socket (ASGI) or by connecting inside the
//! program's own network namespace (binary on :8080); the sandbox never shares the host's
//! network namespace, so host loopback services stay out of reach. Outbound networking exists
//! only with `environment.internet`, through slirp4netns without host loopback.
//!
//! Parts: `spec` (what to run), `image` (the read-only extraction cache), `command` (the
//! bwrap command line), `cgroup` (limits), `seccomp` (the filter), `instance` (one running
//! program: start, readiness, output, stop), `forward` (HTTP over the instance's connection),
//! `runtime` (warm instances, idle stop), [`build`] (`alephd runtime build`).

pub mod build;
mod cgroup;
mod command;
mod forward;
mod image;
mod instance;
mod runtime;
mod seccomp;
mod spec;

use thiserror::Error;

pub use cgroup::{Cgroups, Limits};
pub(crate) use image::ImageCache;
pub use instance::EVENT_HEADER;
pub use runtime::SandboxRuntime;
pub use seccomp::UnsupportedArch;
pub use spec::{FileRef, SandboxConfig, SandboxProgram, SandboxVolume, VolumeSource};

/// Why a program could not be run or answer. `Display` is the message for the caller; program
/// failures carry the program's own output.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad code: {0}")]
    BadCode(String),
    #[error("bad entrypoint: {0}")]
    BadEntrypoint(String),
    #[error("bad mount point {path}: {why}")]
    BadMount { path: String, why: String },
    #[error("bad variable name {0:?} (letters, digits and _, not starting with a digit)")]
    BadVariable(String),
    #[error(transparent)]
    Seccomp(#[from] UnsupportedArch),
    #[error("the program exited during start-up ({status}); its output:\n{output}")]
    StartFailed { status: String, output: String },
    #[error("the program did not accept connections within {secs} s; its output:\n{output}")]
    StartTimeout { secs: f64, output: String },
    #[error("the program exited while answering ({status}); its output:\n{output}")]
    Crashed { status: String, output: String },
    #[error("the request to the program failed: {0}")]
    Request(String),
    #[error("the program did not answer within {0} s")]
    RequestTimeout(f64),
}

impl SandboxError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status a caller of `/vm/{hash}` gets: 502 when the program (its code, its
    /// start or its answer) is at fault, 504 on timeouts, 500 for the node's own failures.
    pub fn http_status(&self) -> u16 {
        match self {
            SandboxError::Io { .. } | SandboxError::Seccomp(_) => 500,
            SandboxError::StartTimeout { .. } | SandboxError::RequestTimeout(_) => 504,
            _ => 502,
        }
    }
}
