//! What the sandbox runtime is asked to run: one program with its files already fetched
//! (runtime image, code, immutable volumes as local files named by their content hash), and the
//! sandbox's own configuration. Built by the supervisor from a PROGRAM message; nothing here
//! touches the network or the database.

use std::{collections::BTreeMap, path::PathBuf};

use alephd_message::content::{Encoding, Interface};
use serde::{Deserialize, Serialize};

/// A file fetched from the content store, with the hash that names its cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Where the file is on this host.
    pub path: PathBuf,
    /// Its content hash (the STORE's `item_hash`): names the extracted copy in the cache.
    pub key: String,
}

/// One volume of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A STORE'd squashfs image, extracted once and mounted read-only.
    Immutable(FileRef),
    /// A fresh tmpfs of this size for each instance (its pages count against the memory limit).
    Ephemeral { size_mib: u64 },
    /// A directory kept across instances and restarts, named per program.
    Persistent { name: String },
    /// A host directory prepared by the caller (the supervisor's volumes), bound as is;
    /// writable ones are handed to the sandbox's uid.
    HostDir { path: PathBuf, writable: bool },
}

/// A volume and where it is mounted in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxVolume {
    /// Absolute path inside the sandbox.
    pub mount: String,
    pub source: VolumeSource,
}

/// One program, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProgram {
    /// The program's item hash: names its instance, cgroup and persistent volumes.
    pub id: String,
    /// The runtime root filesystem (a squashfs).
    pub runtime: FileRef,
    /// The code archive and how it is encoded.
    pub code: FileRef,
    pub encoding: Encoding,
    pub interface: Interface,
    /// `module:app` for ASGI; a path relative to the code for binaries.
    pub entrypoint: String,
    pub args: Vec<String>,
    /// Environment variables (`variables` of the message).
    pub variables: BTreeMap<String, String>,
    pub volumes: Vec<SandboxVolume>,
    /// Outbound network (`environment.internet`).
    pub internet: bool,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// `on.persistent`: kept running, never stopped for being idle or to make room.
    pub persistent: bool,
}

/// `[compute.sandbox]`: how the Linux sandbox runs programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The bubblewrap executable.
    pub bwrap: PathBuf,
    /// slirp4netns, for programs with `environment.internet`.
    pub slirp4netns: PathBuf,
    /// unsquashfs, to extract runtime images and squashfs code.
    pub unsquashfs: PathBuf,
    /// The unprivileged host uid/gid programs run as.
    pub uid: u32,
    pub gid: u32,
    /// An instance that served no request for this long is stopped.
    pub idle_secs: f64,
    /// How long a program may take to accept connections after it is started.
    pub start_timeout_secs: f64,
    /// How long one request may take (answer head), including a cold start.
    pub request_timeout_secs: f64,
    /// Processes and threads per instance.
    pub pids_max: u32,
    /// Instances running at once on this node.
    pub max_instances: usize,
    /// Largest uncompressed code archive, in MiB.
    pub max_code_mib: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bwrap: "bwrap".into(),
            slirp4netns: "slirp4netns".into(),
            unsquashfs: "unsquashfs".into(),
            uid: 65534,
            gid: 65534,
            idle_secs: 60.0,
            start_timeout_secs: 10.0,
            request_timeout_secs: 30.0,
            pids_max: 256,
            max_instances: 64,
            max_code_mib: 1024,
        }
    }
}

impl SandboxConfig {
    /// Rejects settings the runtime cannot work with.
    pub fn validate(&self) -> Result<(), String> {
        if self.uid == 0 || self.gid == 0 {
            return Err("compute.sandbox.uid/gid must not be root (0)".into());
        }
        for (name, secs) in [
            ("idle_secs", self.idle_secs),
            ("start_timeout_secs", self.start_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(format!("compute.sandbox.{name} must be > 0"));
            }
        }
        if self.pids_max < 8 || self.max_instances == 0 {
            return Err("compute.sandbox.pids_max must be ≥ 8 and max_instances ≥ 1".into());
        }
        Ok(())
    }
}
