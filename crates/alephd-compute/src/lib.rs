//! `alephd-compute`: runs programs. The `sandbox` runtime runs Aleph PROGRAMs as they are
//! (zip/squashfs/plain code on a Debian runtime image, ASGI or binary) under bubblewrap in fresh
//! namespaces with seccomp and cgroup limits. The `supervisor` turns a PROGRAM's hash into a
//! running program (current version, files fetched from the content store, executions kept);
//! `routes` serve it on `/vm/{hash}` and on `<base32(hash)>.<domain>`. The `wasm` runtime runs
//! WebAssembly components of the `wasi:http/proxy` world with a fresh instance per request.

pub mod routes;
pub mod sandbox;
pub mod supervisor;
pub mod triggers;
pub mod wasm;

pub use supervisor::{ComputeConfig, ComputeError, Supervisor};
