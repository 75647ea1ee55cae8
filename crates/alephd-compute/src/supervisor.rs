//! The supervisor: from a PROGRAM's item hash to a running program. It resolves the current
//! version (`replaces`), reads the message, fetches code, runtime and immutable volumes from the
//! content store into a local file cache, hands the program to its runtime, and keeps a bounded
//! history of executions per program (status, timing, output) for the logs API.
//!
//! Runtimes are chosen by the program's `runtime.ref`: [`WASM_RUNTIME_REF`] runs the code as a
//! `wasi:http` component in the [`wasm`](crate::wasm) runtime; any other ref is a STORE'd
//! Debian runtime image for the Linux [`sandbox`](crate::sandbox).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    path::{Path, PathBuf},
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alephd_db::{Db, FilePin, ops};
use alephd_message::content::{Interface, MachineVolume, ProgramContent};
use alephd_storage::{ContentRef, Store};
use axum::{body::Body, http};
use futures::StreamExt;
use serde::Serialize;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

use serde_json::Value;

use crate::{
    sandbox::{
        EVENT_HEADER, FileRef, SandboxError, SandboxProgram, SandboxRuntime, SandboxVolume,
        VolumeSource,
    },
    wasm::{WASM_RUNTIME_REF, WasmError, WasmProgram, WasmRuntime, WasmVolume, WasmVolumeSource},
};

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Http,
    Message,
    Persistent,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Message => "message",
            Self::Persistent => "persistent",
        }
    }
}

/// One execution being recorded.
struct Run<'a> {
    resolved: &'a Resolved,
    trigger: Trigger,
    started_at: f64,
    began: Instant,
    cold: bool,
}

impl<'a> Run<'a> {
    fn new(
        resolved: &'a Resolved,
        trigger: Trigger,
        started_at: f64,
        began: Instant,
        cold: bool,
    ) -> Self {
        Self {
            resolved,
            trigger,
            started_at,
            began,
            cold,
        }
    }
}

/// Executions kept per program for the logs API.
pub const EXECUTIONS_KEPT: usize = 100;
/// Output kept per execution and stream, in bytes.
pub const OUTPUT_KEPT: usize = 64 * 1024;

/// `[compute]`: whether and how this node runs programs.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Serve programs on `/vm/{hash}` and by host name.
    pub enabled: bool,
    /// Programs answer on `<base32(hash)>.<domain>`; unset: on any domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Where programs' files, extracted images and persistent volumes live. Unset:
    /// `<data-dir>/compute` when the sandbox's uid can reach it, else
    /// `/var/lib/alephd/compute-<id of the data dir>` (a data dir under `/root` is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<std::path::PathBuf>,
    /// The Linux sandbox runtime.
    pub sandbox: crate::sandbox::SandboxConfig,
    /// The Wasm runtime.
    pub wasm: crate::wasm::WasmConfig,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            domain: None,
            work_dir: None,
            sandbox: crate::sandbox::SandboxConfig::default(),
            wasm: crate::wasm::WasmConfig::default(),
        }
    }
}

/// Why a program cannot be served. `status()` is what the caller of `/vm/{hash}` gets.
#[derive(Debug, Error)]
pub enum ComputeError {
    #[error("no program {0} on this node")]
    NotFound(String),
    #[error("program {0} was forgotten")]
    Forgotten(String),
    #[error("{0} is an INSTANCE: instances are not served on /vm")]
    NotAProgram(String),
    #[error("the program's message does not parse: {0}")]
    BadMessage(String),
    #[error("the program's {what} {reference} is not available: {why}")]
    MissingFile {
        what: &'static str,
        reference: String,
        why: String,
    },
    #[error("the Linux sandbox runtime is not available on this node: {0}")]
    RuntimeUnavailable(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Wasm(#[from] WasmError),
    #[error("the node failed: {0}")]
    Internal(String),
}

impl ComputeError {
    /// 404/410 for unknown or forgotten programs, 400 when their files are missing or bad,
    /// 503 when no runtime can run them here, the runtime's own status otherwise.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ComputeError::NotFound(_) => S::NOT_FOUND,
            ComputeError::Forgotten(_) => S::GONE,
            ComputeError::NotAProgram(_)
            | ComputeError::BadMessage(_)
            | ComputeError::MissingFile { .. } => S::BAD_REQUEST,
            ComputeError::RuntimeUnavailable(_) => S::SERVICE_UNAVAILABLE,
            ComputeError::Sandbox(e) => {
                S::from_u16(e.http_status()).unwrap_or(S::INTERNAL_SERVER_ERROR)
            }
            ComputeError::Wasm(e) => {
                S::from_u16(e.http_status()).unwrap_or(S::INTERNAL_SERVER_ERROR)
            }
            ComputeError::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<alephd_db::DbError> for ComputeError {
    fn from(e: alephd_db::DbError) -> Self {
        ComputeError::Internal(e.to_string())
    }
}

/// The current version of a program, ready for its runtime.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The hash the program is known by (its first version): names its instance and volumes.
    pub original: String,
    /// The version that runs (the newest `replaces`, or the original).
    pub version: String,
    /// `code.ref`, for the `Aleph-Program-Code-Ref` header.
    pub code_ref: String,
    pub program: Program,
}

/// A program for one of the runtimes.
#[derive(Debug, Clone)]
pub enum Program {
    Sandbox(SandboxProgram),
    Wasm(WasmProgram),
}

impl Program {
    /// The original hash: names the program's instance, slot and volumes.
    pub fn id(&self) -> &str {
        match self {
            Program::Sandbox(p) => &p.id,
            Program::Wasm(p) => &p.id,
        }
    }

    /// `sandbox` or `wasm`.
    pub fn runtime(&self) -> &'static str {
        match self {
            Program::Sandbox(_) => "sandbox",
            Program::Wasm(_) => "wasm",
        }
    }

    /// `on.persistent`.
    pub fn persistent(&self) -> bool {
        match self {
            Program::Sandbox(p) => p.persistent,
            Program::Wasm(p) => p.persistent,
        }
    }
}

/// A Wasm instance's output as the executions log keeps it: lines tagged by stream.
fn output_lines(out: crate::wasm::WasmOutput) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    for (stream, text) in [("stdout", out.stdout), ("stderr", out.stderr)] {
        lines.extend(text.lines().map(|line| (stream, line.to_owned())));
    }
    lines
}

/// One request (or trigger) a program served.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub id: u64,
    /// Unix seconds.
    pub started_at: f64,
    pub duration_ms: f64,
    /// `http`.
    pub trigger: &'static str,
    /// The version that ran.
    pub version: String,
    /// `ok` (the program answered) or `error` (it could not).
    pub status: &'static str,
    pub http_status: u16,
    /// Whether the instance was started for this request.
    pub cold: bool,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct History {
    executions: VecDeque<Execution>,
    requests: u64,
    errors: u64,
    cold_starts: u64,
    last_version: String,
    last_at: f64,
    runtime: &'static str,
}

/// Per-program counters, for `/about/executions/list` and the logs API.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramStats {
    pub item_hash: String,
    pub version: String,
    pub runtime: &'static str,
    pub running: bool,
    /// Wasm: compiled and resolved in memory, so the next request is warm.
    pub loaded: bool,
    pub requests: u64,
    pub errors: u64,
    pub cold_starts: u64,
    pub last_request_at: f64,
    pub memory_bytes: Option<u64>,
}

/// The compute side of a node (cheap to clone).
#[derive(Debug, Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    store: Store,
    sandbox: Result<SandboxRuntime, String>,
    wasm: Result<WasmRuntime, String>,
    files_dir: PathBuf,
    /// `<base32(hash)>.<domain>` reaches a program; `None`: any domain.
    domain: Option<String>,
    history: Mutex<HashMap<String, History>>,
    seq: AtomicU64,
}

/// How long a message trigger's output may take to reach the pipe readers.
const TRIGGER_OUTPUT_SETTLE: Duration = Duration::from_millis(50);

impl Supervisor {
    /// A supervisor reading programs from `db` and their files from `store`, caching files in
    /// `work_dir/files`. `sandbox` and `wasm` are the runtimes, or why this node has none.
    pub fn new(
        db: Db,
        store: Store,
        sandbox: Result<SandboxRuntime, String>,
        wasm: Result<WasmRuntime, String>,
        work_dir: &Path,
        domain: Option<String>,
    ) -> Result<Self, ComputeError> {
        let files_dir = work_dir.join("files");
        std::fs::create_dir_all(&files_dir).map_err(|e| {
            ComputeError::Internal(format!("creating {}: {e}", files_dir.display()))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                store,
                sandbox,
                wasm,
                files_dir,
                domain: domain.map(|d| d.trim_matches('.').to_ascii_lowercase()),
                history: Mutex::new(HashMap::new()),
                seq: AtomicU64::new(0),
            }),
        })
    }

    /// The domain programs are reached under by host name, if one is set.
    pub fn domain(&self) -> Option<&str> {
        self.inner.domain.as_deref()
    }

    /// The sandbox runtime, when this node has one.
    pub fn sandbox(&self) -> Option<&SandboxRuntime> {
        self.inner.sandbox.as_ref().ok()
    }

    /// The Wasm runtime, when this node has one.
    pub fn wasm(&self) -> Option<&WasmRuntime> {
        self.inner.wasm.as_ref().ok()
    }

    /// Resolves `item_hash` to the program version that runs now, with its files fetched.
    pub async fn resolve(&self, item_hash: &str) -> Result<Resolved, ComputeError> {
        let mut conn = self.inner.db.read().await?;
        let Some(vm) = ops::vm(&mut conn, item_hash).await? else {
            if ops::forgotten(&mut conn, item_hash).await?.is_some() {
                return Err(ComputeError::Forgotten(item_hash.to_owned()));
            }
            return Err(ComputeError::NotFound(item_hash.to_owned()));
        };
        if vm.vm_type != "PROGRAM" {
            return Err(ComputeError::NotAProgram(item_hash.to_owned()));
        }
        let original = vm.replaces.clone().unwrap_or_else(|| vm.item_hash.clone());
        // The newest version that replaces the original, else the original itself.
        let version = match ops::vm_versions(&mut conn, &original).await?.first() {
            Some(newest) => newest.item_hash.clone(),
            None => original.clone(),
        };
        let Some(message) = ops::message(&mut conn, &version).await? else {
            return Err(ComputeError::NotFound(version));
        };
        let content: ProgramContent = serde_json::from_str(&message.content)
            .map_err(|e| ComputeError::BadMessage(e.to_string()))?;
        let owner = message.owner.clone();
        if content.runtime.reference.as_ref() == WASM_RUNTIME_REF {
            return self
                .resolve_wasm(conn, original, version, &content, &owner)
                .await;
        }

        let runtime_pin = pin_of(
            &mut conn,
            "runtime",
            content.runtime.reference.as_ref(),
            content.runtime.use_latest,
            &owner,
        )
        .await?;
        let code_ref = content.code.reference.to_string();
        let code_pin = pin_of(
            &mut conn,
            "code",
            &code_ref,
            content.code.use_latest,
            &owner,
        )
        .await?;
        let mut volume_pins = Vec::new();
        for volume in &content.volumes {
            if let MachineVolume::Immutable(v) = volume {
                let pin = pin_of(
                    &mut conn,
                    "volume",
                    v.reference.as_ref(),
                    v.use_latest,
                    &owner,
                )
                .await?;
                volume_pins.push(Some(pin));
            } else {
                volume_pins.push(None);
            }
        }
        drop(conn);

        let runtime = self.local_file("runtime", &runtime_pin).await?;
        let code = self.local_file("code", &code_pin).await?;
        let mut volumes = Vec::new();
        for (volume, pin) in content.volumes.iter().zip(volume_pins) {
            let (mount, source) = match (volume, pin) {
                (MachineVolume::Immutable(v), Some(pin)) => (
                    v.mount.clone(),
                    VolumeSource::Immutable(self.local_file("volume", &pin).await?),
                ),
                (MachineVolume::Ephemeral(v), _) => (
                    v.mount.clone(),
                    VolumeSource::Ephemeral {
                        size_mib: v.size_mib,
                    },
                ),
                (MachineVolume::Persistent(v), _) => {
                    let name = v
                        .name
                        .clone()
                        .unwrap_or_else(|| v.mount.as_deref().unwrap_or("data").replace('/', "_"));
                    (v.mount.clone(), VolumeSource::Persistent { name })
                }
                (MachineVolume::Immutable(_), None) => continue,
            };
            // A volume without a mount point has nowhere to go in a function.
            if let Some(mount) = mount {
                volumes.push(SandboxVolume { mount, source });
            }
        }
        // Aleph's default: an entrypoint `module:app` is ASGI, anything else an executable.
        let interface =
            content
                .code
                .interface
                .unwrap_or(if content.code.entrypoint.contains(':') {
                    Interface::Asgi
                } else {
                    Interface::Binary
                });
        let program = Program::Sandbox(SandboxProgram {
            id: original.clone(),
            runtime,
            code,
            encoding: content.code.encoding,
            interface,
            entrypoint: content.code.entrypoint.clone(),
            args: content.code.args.clone().unwrap_or_default(),
            variables: content.variables.clone().unwrap_or_default(),
            volumes,
            internet: content.environment.internet,
            memory_mib: content.resources.memory,
            vcpus: content.resources.vcpus,
            persistent: content.on.persistent == Some(true),
        });
        Ok(Resolved {
            original,
            version,
            code_ref,
            program,
        })
    }

    /// The Wasm side of [`resolve`](Self::resolve): the component and the volumes as
    /// preopens.
    async fn resolve_wasm(
        &self,
        mut conn: alephd_db::ReadConn,
        original: String,
        version: String,
        content: &ProgramContent,
        owner: &str,
    ) -> Result<Resolved, ComputeError> {
        let code_ref = content.code.reference.to_string();
        let code_pin = pin_of(&mut conn, "code", &code_ref, content.code.use_latest, owner).await?;
        let mut pins = Vec::new();
        for volume in &content.volumes {
            pins.push(match volume {
                MachineVolume::Immutable(v) => Some(
                    pin_of(
                        &mut conn,
                        "volume",
                        v.reference.as_ref(),
                        v.use_latest,
                        owner,
                    )
                    .await?,
                ),
                _ => None,
            });
        }
        drop(conn);
        let code = self.local_file("code", &code_pin).await?;
        let mut volumes = Vec::new();
        for (volume, pin) in content.volumes.iter().zip(pins) {
            let (mount, source) = match (volume, pin) {
                (MachineVolume::Immutable(v), Some(pin)) => (
                    v.mount.clone(),
                    WasmVolumeSource::Immutable(self.local_file("volume", &pin).await?),
                ),
                (MachineVolume::Ephemeral(v), _) => (
                    v.mount.clone(),
                    WasmVolumeSource::Ephemeral {
                        size_mib: v.size_mib,
                    },
                ),
                (MachineVolume::Persistent(v), _) => {
                    let name = v
                        .name
                        .clone()
                        .unwrap_or_else(|| v.mount.as_deref().unwrap_or("data").replace('/', "_"));
                    let size_mib = v.size_mib;
                    (
                        v.mount.clone(),
                        WasmVolumeSource::Persistent { name, size_mib },
                    )
                }
                (MachineVolume::Immutable(_), None) => continue,
            };
            if let Some(mount) = mount {
                volumes.push(WasmVolume { mount, source });
            }
        }
        let program = Program::Wasm(WasmProgram {
            id: original.clone(),
            code,
            variables: content.variables.clone().unwrap_or_default(),
            volumes,
            internet: content.environment.internet,
            aleph_api: content.environment.aleph_api,
            memory_mib: content.resources.memory,
            seconds: content.resources.seconds,
            persistent: content.on.persistent == Some(true),
        });
        Ok(Resolved {
            original,
            version,
            code_ref,
            program,
        })
    }

    /// Compiles a Wasm program ahead of its first request (called when its PROGRAM is
    /// processed). Linux programs start on their first request: nothing to do for them.
    pub async fn prepare(&self, item_hash: &str) -> Result<(), ComputeError> {
        let resolved = self.resolve(item_hash).await?;
        if let (Program::Wasm(program), Ok(wasm)) = (&resolved.program, &self.inner.wasm) {
            wasm.prepare(program).await?;
        }
        Ok(())
    }

    /// A local copy of a STORE'd file, fetched from the content store once and kept under its
    /// content hash (written to a temporary name, then renamed: never half a file).
    async fn local_file(&self, what: &'static str, pin: &FilePin) -> Result<FileRef, ComputeError> {
        let missing = |why: String| ComputeError::MissingFile {
            what,
            reference: pin.item_hash.clone(),
            why,
        };
        if pin.kind != "file" {
            return Err(missing(format!("it is a {}, not a file", pin.kind)));
        }
        let safe = pin.file_hash.chars().all(|c| c.is_ascii_alphanumeric());
        if !safe {
            return Err(missing(format!("bad file hash {:?}", pin.file_hash)));
        }
        let path = self.inner.files_dir.join(&pin.file_hash);
        if tokio::fs::metadata(&path).await.is_ok() {
            return Ok(FileRef {
                path,
                key: pin.file_hash.clone(),
            });
        }
        let target = ContentRef::from_str(&pin.file_hash)
            .map_err(|e| missing(format!("bad file hash: {e}")))?;
        let mut stream = self
            .inner
            .store
            .read(&target, 0..u64::MAX)
            .await
            .map_err(|e| missing(format!("not in this node's store: {e}")))?;
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let tmp =
            self.inner
                .files_dir
                .join(format!(".{}.{}-{seq}", pin.file_hash, std::process::id()));
        let io =
            |e: std::io::Error| ComputeError::Internal(format!("writing {}: {e}", tmp.display()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| missing(format!("reading it failed: {e}")))?;
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result?;
        Ok(FileRef {
            path,
            key: pin.file_hash.clone(),
        })
    }

    /// Serves `request` (its URI already the path inside the program) with program
    /// `item_hash`, recording the execution.
    pub async fn serve(
        &self,
        item_hash: &str,
        mut request: http::Request<Body>,
    ) -> http::Response<Body> {
        // The event marker is the node's to set, never a caller's.
        request.headers_mut().remove(EVENT_HEADER);
        self.run(item_hash, request, Trigger::Http).await
    }

    /// Runs program `item_hash` on a processed message it subscribed to (`on.message`): the
    /// message's JSON reaches an ASGI app as Aleph's `aleph.message` scope, a binary program as
    /// a `POST /` with the `x-aleph-event: message` header. Recorded with trigger `message`;
    /// returns the HTTP status of the program's answer (or of the failure).
    pub async fn trigger_message(&self, item_hash: &str, message: &serde_json::Value) -> u16 {
        let body = serde_json::to_vec(message).unwrap_or_default();
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("/")
            .header(EVENT_HEADER, "message")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body));
        let Ok(request) = request else {
            return 500;
        };
        self.run(item_hash, request, Trigger::Message)
            .await
            .status()
            .as_u16()
    }

    /// The current programs with `on.message` subscriptions: (original hash, filters).
    /// Programs replaced by a newer version are reached through their original.
    pub async fn message_subscribers(&self) -> Result<Vec<(String, Vec<Value>)>, ComputeError> {
        let mut conn = self.inner.db.read().await?;
        let mut out = Vec::new();
        for vm in ops::programs_on_message(&mut conn).await? {
            // Only the current version's subscriptions count.
            let Some(original) = current_program(&mut conn, &vm).await? else {
                continue;
            };
            let filters: Vec<Value> = vm
                .on_message
                .as_deref()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            if !filters.is_empty() {
                out.push((original, filters));
            }
        }
        Ok(out)
    }

    /// The current programs with `on.persistent = true` (their original hashes).
    pub async fn persistent_programs(&self) -> Result<Vec<String>, ComputeError> {
        let mut conn = self.inner.db.read().await?;
        let mut out = Vec::new();
        for vm in ops::persistent_vms(&mut conn).await? {
            if let Some(original) = current_program(&mut conn, &vm).await?
                && !out.contains(&original)
            {
                out.push(original);
            }
        }
        Ok(out)
    }

    /// Makes sure the persistent program `item_hash` has a running instance of its current
    /// version. Returns whether it had to start one (recorded with trigger `persistent`, with
    /// the program's start-up output).
    pub async fn keep_running(&self, item_hash: &str) -> Result<bool, ComputeError> {
        let began = Instant::now();
        let started_at = unix_now();
        let resolved = self.resolve(item_hash).await?;
        let program = match &resolved.program {
            Program::Sandbox(program) => program,
            Program::Wasm(program) => {
                return self.keep_wasm(&resolved, program, started_at, began).await;
            }
        };
        let sandbox = match &self.inner.sandbox {
            Ok(sandbox) => sandbox,
            Err(why) => return Err(ComputeError::RuntimeUnavailable(why.clone())),
        };
        let id = &program.id;
        let was_running = sandbox.is_running(id);
        // Also replaces a running instance of an older version.
        let result = sandbox.warm(program).await;
        if was_running && result.is_ok() {
            return Ok(false);
        }
        let output = sandbox.output_since(id, 0).await;
        let run = Run::new(&resolved, Trigger::Persistent, started_at, began, true);
        match result {
            Ok(_) => {
                self.record(run, Ok(200), output);
                Ok(true)
            }
            Err(err) => {
                let err = ComputeError::Sandbox(err);
                self.record(run, Err(&err), output);
                Err(err)
            }
        }
    }

    /// [`Self::keep_running`] for a Wasm command: a failure since the last check is
    /// recorded (with the command's last output) and returned, so the keeper backs off.
    async fn keep_wasm(
        &self,
        resolved: &Resolved,
        program: &WasmProgram,
        started_at: f64,
        began: Instant,
    ) -> Result<bool, ComputeError> {
        let wasm = match &self.inner.wasm {
            Ok(wasm) => wasm,
            Err(why) => return Err(ComputeError::RuntimeUnavailable(why.clone())),
        };
        let (result, output) = wasm.keep(program).await;
        let output = output_lines(output);
        let run = Run::new(resolved, Trigger::Persistent, started_at, began, true);
        match result {
            Ok(crate::wasm::CommandStatus::Running) => Ok(false),
            Ok(crate::wasm::CommandStatus::Started) => {
                self.record(run, Ok(200), output);
                Ok(true)
            }
            Err(err) => {
                let err = ComputeError::Wasm(err);
                self.record(run, Err(&err), output);
                Err(err)
            }
        }
    }

    /// Stops the instance of a program (a persistent one that is no longer wanted).
    pub async fn stop(&self, item_hash: &str) {
        if let Ok(sandbox) = &self.inner.sandbox {
            sandbox.stop(item_hash).await;
        }
        if let Ok(wasm) = &self.inner.wasm {
            wasm.stop_command(item_hash);
        }
    }

    async fn run(
        &self,
        item_hash: &str,
        request: http::Request<Body>,
        trigger: Trigger,
    ) -> http::Response<Body> {
        let began = Instant::now();
        let started_at = unix_now();
        let resolved = match self.resolve(item_hash).await {
            Ok(resolved) => resolved,
            Err(err) => return error_response(item_hash, &err),
        };
        let (answer, cold, output) = match &resolved.program {
            Program::Sandbox(program) => self.run_sandbox(program, request, trigger).await,
            Program::Wasm(program) => self.run_wasm(program, request).await,
        };
        let run = Run::new(&resolved, trigger, started_at, began, cold);
        match answer {
            Ok(mut response) => {
                self.record(run, Ok(response.status().as_u16()), output);
                let headers = response.headers_mut();
                for (name, value) in [
                    ("aleph-program-itemhash", &resolved.version),
                    ("aleph-program-code-ref", &resolved.code_ref),
                ] {
                    if let Ok(value) = http::HeaderValue::from_str(value) {
                        headers.insert(name, value);
                    }
                }
                response
            }
            Err(err) => {
                tracing::info!(program = %resolved.original, version = %resolved.version, "{err}");
                self.record(run, Err(&err), output);
                error_response(item_hash, &err)
            }
        }
    }

    /// One request to a Linux program: its answer, whether it started cold, its output.
    async fn run_sandbox(
        &self,
        program: &SandboxProgram,
        request: http::Request<Body>,
        trigger: Trigger,
    ) -> (
        Result<http::Response<Body>, ComputeError>,
        bool,
        Vec<(&'static str, String)>,
    ) {
        let sandbox = match &self.inner.sandbox {
            Ok(sandbox) => sandbox,
            Err(why) => {
                let err = ComputeError::RuntimeUnavailable(why.clone());
                return (Err(err), false, Vec::new());
            }
        };
        let id = &program.id;
        let cold = !sandbox.is_running(id);
        let mark = sandbox.output_mark(id).await;
        let answer = sandbox.handle(program, request).await;
        if trigger == Trigger::Message {
            // Nobody waits for a message trigger's answer: give the pipe readers time to
            // take what the program printed before answering (an HTTP request only yields).
            tokio::time::sleep(TRIGGER_OUTPUT_SETTLE).await;
        }
        // Lines printed since the request came in (a cold start's are all of the instance's).
        let output = match cold {
            true => sandbox.output_since(id, 0).await,
            false => sandbox.output_since(id, mark).await,
        };
        (answer.map_err(ComputeError::Sandbox), cold, output)
    }

    /// One request to a Wasm program: its answer, whether it was loaded for it, its output.
    async fn run_wasm(
        &self,
        program: &WasmProgram,
        request: http::Request<Body>,
    ) -> (
        Result<http::Response<Body>, ComputeError>,
        bool,
        Vec<(&'static str, String)>,
    ) {
        let wasm = match &self.inner.wasm {
            Ok(wasm) => wasm,
            Err(why) => {
                let err = ComputeError::RuntimeUnavailable(why.clone());
                return (Err(err), false, Vec::new());
            }
        };
        let (answer, out) = wasm.handle(program, request).await;
        let cold = out.cold;
        (answer.map_err(ComputeError::Wasm), cold, output_lines(out))
    }

    fn record(
        &self,
        run: Run<'_>,
        outcome: Result<u16, &ComputeError>,
        output: Vec<(&'static str, String)>,
    ) {
        let Run {
            resolved,
            trigger,
            started_at,
            began,
            cold,
        } = run;
        let mut stdout = String::new();
        let mut stderr = String::new();
        for (stream, line) in output {
            let buf = if stream == "stdout" {
                &mut stdout
            } else {
                &mut stderr
            };
            if buf.len() + line.len() < OUTPUT_KEPT {
                buf.push_str(&line);
                buf.push('\n');
            }
        }
        let (status, http_status, error) = match outcome {
            Ok(code) => ("ok", code, None),
            Err(e) => ("error", e.status().as_u16(), Some(e.to_string())),
        };
        let execution = Execution {
            id: self.inner.seq.fetch_add(1, Ordering::Relaxed),
            started_at,
            duration_ms: began.elapsed().as_secs_f64() * 1e3,
            trigger: trigger.as_str(),
            version: resolved.version.clone(),
            status,
            http_status,
            cold,
            stdout,
            stderr,
            error,
        };
        let mut history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        let h = history.entry(resolved.original.clone()).or_default();
        h.requests += 1;
        h.errors += u64::from(status == "error");
        h.cold_starts += u64::from(cold && status == "ok");
        h.last_version = resolved.version.clone();
        h.last_at = started_at;
        h.runtime = resolved.program.runtime();
        if h.executions.len() == EXECUTIONS_KEPT {
            h.executions.pop_front();
        }
        h.executions.push_back(execution);
    }

    /// The newest `limit` executions of a program (by any of its versions' hashes), newest
    /// first, and its counters.
    pub async fn executions(
        &self,
        item_hash: &str,
        limit: usize,
    ) -> Result<(ProgramStats, Vec<Execution>), ComputeError> {
        let original = self.original_of(item_hash).await?;
        let history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        let executions = history
            .get(&original)
            .map(|h| h.executions.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default();
        let stats = self.stats_of(&original, history.get(&original));
        Ok((stats, executions))
    }

    async fn original_of(&self, item_hash: &str) -> Result<String, ComputeError> {
        let mut conn = self.inner.db.read().await?;
        match ops::vm(&mut conn, item_hash).await? {
            Some(vm) => Ok(vm.replaces.unwrap_or(vm.item_hash)),
            None if ops::forgotten(&mut conn, item_hash).await?.is_some() => {
                Err(ComputeError::Forgotten(item_hash.to_owned()))
            }
            None => Err(ComputeError::NotFound(item_hash.to_owned())),
        }
    }

    fn stats_of(&self, original: &str, history: Option<&History>) -> ProgramStats {
        let runtime = history.map_or("sandbox", |h| h.runtime);
        let sandbox = self.sandbox().filter(|_| runtime == "sandbox");
        let wasm = self.wasm().filter(|_| runtime == "wasm");
        ProgramStats {
            item_hash: original.to_owned(),
            version: history.map(|h| h.last_version.clone()).unwrap_or_default(),
            runtime,
            running: sandbox.is_some_and(|s| s.is_running(original))
                || wasm.is_some_and(|w| w.running(original) > 0),
            loaded: wasm.is_some_and(|w| w.is_loaded(original)),
            requests: history.map_or(0, |h| h.requests),
            errors: history.map_or(0, |h| h.errors),
            cold_starts: history.map_or(0, |h| h.cold_starts),
            last_request_at: history.map_or(0.0, |h| h.last_at),
            memory_bytes: sandbox.and_then(|s| s.memory_usage(original)),
        }
    }

    /// Every program this node served since it started, by original hash.
    pub fn programs(&self) -> BTreeMap<String, ProgramStats> {
        let history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        history
            .iter()
            .map(|(hash, h)| (hash.clone(), self.stats_of(hash, Some(h))))
            .collect()
    }

    /// Stops every running instance (at shutdown).
    pub async fn shutdown(&self) {
        if let Some(sandbox) = self.sandbox() {
            sandbox.stop_all().await;
        }
    }
}

/// The original hash of the program `vm` when `vm` is a PROGRAM and the current version of it
/// (the newest that `replaces` the original, else the original), else `None`.
async fn current_program(
    conn: &mut alephd_db::Conn,
    vm: &alephd_db::VmRecord,
) -> Result<Option<String>, ComputeError> {
    if vm.vm_type != "PROGRAM" {
        return Ok(None);
    }
    let original = vm.replaces.clone().unwrap_or_else(|| vm.item_hash.clone());
    let current = match ops::vm_versions(conn, &original).await?.first() {
        Some(newest) => newest.item_hash.clone(),
        None => original.clone(),
    };
    Ok((current == vm.item_hash).then_some(original))
}

/// The STORE a program names, directly or (`use_latest`) as the newest version of its tag.
async fn pin_of(
    conn: &mut alephd_db::Conn,
    what: &'static str,
    reference: &str,
    use_latest: bool,
    owner: &str,
) -> Result<FilePin, ComputeError> {
    let pin = match use_latest {
        true => match ops::tag_latest(conn, reference, Some(owner)).await? {
            Some(pin) => Some(pin),
            None => ops::file_pin(conn, reference).await?,
        },
        false => ops::file_pin(conn, reference).await?,
    };
    pin.ok_or_else(|| ComputeError::MissingFile {
        what,
        reference: reference.to_owned(),
        why: "no STORE message with this hash was processed here".into(),
    })
}

/// A JSON error for the caller: `{"error", "item_hash"}` with the error's status.
pub fn error_response(item_hash: &str, err: &ComputeError) -> http::Response<Body> {
    let body = serde_json::json!({"error": err.to_string(), "item_hash": item_hash});
    http::Response::builder()
        .status(err.status())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| http::Response::new(Body::empty()))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
