//! The `wasm` runtime: PROGRAMs whose code is a WebAssembly component of WASI 0.2's
//! `wasi:http/proxy` world, run by wasmtime with a fresh instance per request.
//!
//! A PROGRAM asks for this runtime by naming [`WASM_RUNTIME_REF`] as its `runtime.ref` (a
//! well-known hash that no STORE has to provide); its `code.ref` is the STORE of the `.wasm`
//! component (`encoding: plain`). Everything else keeps Aleph's meaning: `resources.memory`
//! caps the instance's linear memory, `resources.seconds` its time per request (an epoch
//! deadline traps a guest that spins, a timer ends one that waits: both 504; optional fuel
//! makes it a deterministic CPU budget too), `variables` are its environment,
//! `environment.internet` opens outbound HTTP and sockets (closed otherwise, except the node's
//! own API with `environment.aleph_api`), and volumes become WASI preopens. A spinning guest
//! yields its thread at every epoch tick, so it slows nobody else down.
//!
//! Writable volumes have their `size_mib`: WASI preopens have no quota, so the runtime
//! measures each running instance's writable volumes every `volume_check_ms` and stops an
//! instance that grew one past its size (507). The cap is thus enforced to within what a
//! guest writes in one check interval; a persistent volume already over its size (from such
//! a burst) stays usable for reading and deleting, and any growth stops the instance.
//!
//! Components are compiled once, when first needed, and the machine code is kept on disk
//! under the code's content hash and the engine's compatibility hash; later starts load it
//! without Cranelift. Compiled programs stay in memory as an `InstancePre` (imports resolved)
//! and instances come from wasmtime's pooling allocator, so a request pays for instantiation
//! only. Each program has a bounded number of instances at once and a bounded queue behind
//! them (503 when full).
//!
//! A PROGRAM with `on.persistent` is a `wasi:cli/command` component instead: its `run` is
//! started once and kept running (no time limit, the other limits as above), restarted by
//! the supervisor's keeper with backoff when it ends.
//!
//! Parts: `host` (per-instance state: WASI context, output capture, outbound policy),
//! `runtime` (engine, compilation cache, loaded programs, serving), `command` (persistent
//! programs).

mod command;
mod host;
mod runtime;

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use command::CommandStatus;
pub use runtime::{WasmOutput, WasmRuntime};

use crate::sandbox::FileRef;

pub use alephd_message::content::WASM_RUNTIME_REF;

/// `[compute.wasm]`: how the Wasm runtime runs programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WasmConfig {
    /// Instances of one program running at once; more requests wait in its queue.
    pub max_concurrency: usize,
    /// Requests waiting per program beyond the running ones; more get 503.
    pub max_queue: usize,
    /// How long a queued request waits for an instance before it gets 503.
    pub queue_timeout_secs: f64,
    /// Instances alive at once on this node, all programs together (the pool's size).
    pub pool_instances: u32,
    /// The largest linear memory any program may ask for, in MiB (the pool's slot size).
    pub max_memory_mib: u64,
    /// Compiled programs kept loaded; the least recently used is unloaded past this.
    pub max_loaded: usize,
    /// A program that served nothing for this long is unloaded (its machine code stays on
    /// disk).
    pub idle_secs: f64,
    /// Largest component accepted, in MiB.
    pub max_code_mib: u64,
    /// CPU fuel per second of `resources.seconds` (wasmtime fuel: about one unit per Wasm
    /// instruction), a deterministic CPU budget on top of the wall-clock limit. 0 (the
    /// default) turns fuel off: metering costs every guest some speed.
    pub fuel_per_second: u64,
    /// How often, in milliseconds, a running instance's writable volumes are measured
    /// against their `size_mib`.
    pub volume_check_ms: u64,
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 64,
            max_queue: 1024,
            queue_timeout_secs: 10.0,
            pool_instances: 1000,
            max_memory_mib: 2048,
            max_loaded: 256,
            idle_secs: 600.0,
            max_code_mib: 256,
            fuel_per_second: 0,
            volume_check_ms: 10,
        }
    }
}

impl WasmConfig {
    /// Rejects settings the runtime cannot work with.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrency == 0 || self.pool_instances == 0 || self.max_loaded == 0 {
            return Err(
                "compute.wasm.max_concurrency, pool_instances and max_loaded must be ≥ 1".into(),
            );
        }
        if !(1..=4096).contains(&self.max_memory_mib) {
            return Err("compute.wasm.max_memory_mib must be between 1 and 4096".into());
        }
        if self.volume_check_ms == 0 {
            return Err("compute.wasm.volume_check_ms must be ≥ 1".into());
        }
        for (name, secs) in [
            ("queue_timeout_secs", self.queue_timeout_secs),
            ("idle_secs", self.idle_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(format!("compute.wasm.{name} must be > 0"));
            }
        }
        Ok(())
    }
}

/// A preopened directory of a Wasm program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WasmVolumeSource {
    /// A STORE'd squashfs image, extracted once, read-only.
    Immutable(FileRef),
    /// A fresh directory for each instance, removed after it, of at most `size_mib`.
    Ephemeral { size_mib: u64 },
    /// A directory kept across requests, restarts and new versions, named per program, of at
    /// most `size_mib`.
    Persistent { name: String, size_mib: u64 },
}

impl WasmVolumeSource {
    /// The size cap of a writable volume, in bytes.
    pub(crate) fn cap_bytes(&self) -> Option<u64> {
        match self {
            WasmVolumeSource::Immutable(_) => None,
            WasmVolumeSource::Ephemeral { size_mib }
            | WasmVolumeSource::Persistent { size_mib, .. } => {
                Some(size_mib.saturating_mul(1 << 20))
            }
        }
    }
}

/// A volume and the guest path it is preopened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmVolume {
    pub mount: String,
    pub source: WasmVolumeSource,
}

/// One Wasm program, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmProgram {
    /// The program's original item hash: names its loaded slot and its persistent volumes.
    pub id: String,
    /// The component.
    pub code: FileRef,
    pub variables: BTreeMap<String, String>,
    pub volumes: Vec<WasmVolume>,
    /// Outbound HTTP and sockets (`environment.internet`).
    pub internet: bool,
    /// Outbound HTTP to this node's own API (`environment.aleph_api`).
    pub aleph_api: bool,
    /// Linear memory cap, MiB (`resources.memory`).
    pub memory_mib: u64,
    /// Time per request, seconds (`resources.seconds`).
    pub seconds: u64,
    /// `on.persistent`: the code is a `wasi:cli` command kept running, not a request
    /// handler.
    pub persistent: bool,
}

/// Why a Wasm program could not run or answer.
#[derive(Debug, Error)]
pub enum WasmError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the code is not a usable component: {0}")]
    BadCode(String),
    #[error("bad volume {mount}: {why}")]
    BadVolume { mount: String, why: String },
    #[error("the program asks for {asked} MiB of memory, this node allows at most {max} MiB")]
    TooMuchMemory { asked: u64, max: u64 },
    #[error("the program failed: {0}")]
    Trap(String),
    #[error("the program did not answer within {0} s")]
    Timeout(u64),
    #[error("the program used up its CPU fuel ({0} units)")]
    OutOfFuel(u64),
    #[error("the program grew volume {mount} past its {size_mib} MiB")]
    VolumeFull { mount: String, size_mib: u64 },
    #[error("the program is busy: {0} requests already wait for it")]
    Busy(usize),
    #[error("the program did not get an instance within {0} s")]
    QueueTimeout(f64),
    #[error("the node failed: {0}")]
    Internal(String),
}

impl WasmError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        WasmError::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status a caller of `/vm/{hash}` gets: 502 when the program is at fault, 504
    /// when it ran out of time or fuel, 507 when it filled a volume, 503 when it is
    /// saturated, 400 for code or settings this node cannot run.
    pub fn http_status(&self) -> u16 {
        match self {
            WasmError::BadCode(_)
            | WasmError::BadVolume { .. }
            | WasmError::TooMuchMemory { .. } => 400,
            WasmError::Trap(_) => 502,
            WasmError::Timeout(_) | WasmError::OutOfFuel(_) => 504,
            WasmError::VolumeFull { .. } => 507,
            WasmError::Busy(_) | WasmError::QueueTimeout(_) => 503,
            WasmError::Io { .. } | WasmError::Internal(_) => 500,
        }
    }
}

/// Where the Wasm runtime keeps its files under the compute work dir.
pub(crate) fn dirs(work_dir: &std::path::Path) -> [PathBuf; 4] {
    let root = work_dir.join("wasm");
    [
        root.join("compiled"),
        root.join("volumes"),
        root.join("scratch"),
        root.clone(),
    ]
}
