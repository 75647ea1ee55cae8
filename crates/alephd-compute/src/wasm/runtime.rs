//! The Wasm runtime proper: one engine (pooling allocator, epoch interruption), a cache of
//! compiled components on disk, the programs loaded in memory (their `ProxyPre`, an instance
//! limit and a queue), and serving one request with a fresh instance.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{body::Body, http};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
    component::{Component, Linker, ResourceTable},
};
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView, p2::bindings::ProxyPre};

use super::{
    WasmConfig, WasmError, WasmProgram, WasmVolumeSource,
    host::{Capture, GuestResponse, Host, Outbound},
};
use crate::sandbox::FileRef;

/// How often the epoch ticks: the resolution of `resources.seconds` for a spinning guest,
/// and how long it runs before yielding its thread.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory kept resident between instances (see `engine`).
const KEEP_RESIDENT: usize = 16 << 20;

/// Output kept per execution and stream.
const OUTPUT_KEPT: usize = crate::supervisor::OUTPUT_KEPT;

/// The Wasm runtime (cheap to clone).
#[derive(Clone)]
pub struct WasmRuntime {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("work_dir", &self.inner.root)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) engine: Engine,
    pub(super) linker: Linker<Host>,
    pub(super) config: WasmConfig,
    compiled_dir: PathBuf,
    volumes_dir: PathBuf,
    scratch_dir: PathBuf,
    root: PathBuf,
    images: crate::sandbox::ImageCache,
    /// `host:port` of this node's API, for programs with `aleph_api`.
    api: Mutex<Option<String>>,
    loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    /// One compilation per code hash at a time (others wait for it).
    compiling: tokio::sync::Mutex<()>,
    seq: AtomicU64,
    /// Persistent programs (`wasi:cli` commands) running or just ended, by program id.
    pub(super) commands: Mutex<HashMap<String, super::command::Command>>,
}

/// A program ready to instantiate.
struct Loaded {
    /// The code's content hash: a new version with other code replaces this slot.
    key: String,
    pre: ProxyPre<Host>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    last_used: Mutex<Instant>,
    running: AtomicUsize,
}

/// What one request produced besides its response.
#[derive(Debug, Default)]
pub struct WasmOutput {
    pub stdout: String,
    pub stderr: String,
    /// Whether the program had to be compiled or loaded for this request.
    pub cold: bool,
}

impl WasmRuntime {
    /// A runtime keeping its files under `work_dir/wasm`.
    pub fn new(
        config: WasmConfig,
        work_dir: &Path,
        unsquashfs: PathBuf,
    ) -> Result<Self, WasmError> {
        config.validate().map_err(WasmError::Internal)?;
        let [compiled_dir, volumes_dir, scratch_dir, root] = super::dirs(work_dir);
        for dir in [&compiled_dir, &volumes_dir, &scratch_dir] {
            std::fs::create_dir_all(dir).map_err(|e| WasmError::io("creating the wasm dir", e))?;
        }
        // Scratch directories of instances that died with a previous run of the node.
        if let Ok(entries) = std::fs::read_dir(&scratch_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let engine = engine(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| WasmError::Internal(format!("linking WASI: {e}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| WasmError::Internal(format!("linking wasi:http: {e}")))?;
        let max_code = config.max_code_mib.saturating_mul(1 << 20);
        let images = crate::sandbox::ImageCache::new(root.clone(), unsquashfs, max_code);
        let inner = Arc::new(Inner {
            engine,
            linker,
            config,
            compiled_dir,
            volumes_dir,
            scratch_dir,
            root,
            images,
            api: Mutex::new(None),
            loaded: Mutex::new(HashMap::new()),
            compiling: tokio::sync::Mutex::new(()),
            seq: AtomicU64::new(0),
            commands: Mutex::new(HashMap::new()),
        });
        spawn_epoch_ticker(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// Where this node's API listens (`host:port`), for programs with `aleph_api`.
    pub fn set_api_authority(&self, authority: String) {
        *self.inner.api.lock().unwrap_or_else(|p| p.into_inner()) = Some(authority);
    }

    /// Whether `id` is loaded (compiled and resolved), i.e. its next request is warm.
    pub fn is_loaded(&self, id: &str) -> bool {
        self.lock_loaded().contains_key(id)
    }

    /// Instances of `id` running now.
    pub fn running(&self, id: &str) -> usize {
        self.lock_loaded()
            .get(id)
            .map_or(0, |l| l.running.load(Ordering::Relaxed))
    }

    /// Compiles (or loads the compiled code of) `program` ahead of its first request.
    /// Returns whether it had to be loaded now.
    pub async fn prepare(&self, program: &WasmProgram) -> Result<bool, WasmError> {
        if program.persistent {
            // A command: compiled (and cached) now, started by the keeper.
            return self.component(&program.code).await.map(|_| true);
        }
        self.loaded(program).await.map(|(_, cold)| cold)
    }

    /// Serves one request with a fresh instance of `program`.
    pub async fn handle(
        &self,
        program: &WasmProgram,
        request: http::Request<Body>,
    ) -> (Result<http::Response<Body>, WasmError>, WasmOutput) {
        let mut output = WasmOutput::default();
        let loaded = match self.loaded(program).await {
            Ok((loaded, cold)) => {
                output.cold = cold;
                loaded
            }
            Err(e) => return (Err(e), output),
        };
        let permit = match self.slot(&loaded).await {
            Ok(permit) => permit,
            Err(e) => return (Err(e), output),
        };
        let stdout = Capture::new(OUTPUT_KEPT);
        let stderr = Capture::new(OUTPUT_KEPT);
        let result = self
            .run(program, &loaded, request, permit, &stdout, &stderr)
            .await;
        output.stdout = stdout.text();
        output.stderr = stderr.text();
        (result, output)
    }

    /// Unloads programs idle for longer than `idle_secs` (their machine code stays on disk).
    pub fn evict_idle(&self) -> usize {
        let idle = Duration::from_secs_f64(self.inner.config.idle_secs);
        let mut loaded = self.lock_loaded();
        let before = loaded.len();
        loaded.retain(|_, l| {
            l.running.load(Ordering::Relaxed) > 0
                || l.last_used.lock().map_or(true, |t| t.elapsed() < idle)
        });
        before - loaded.len()
    }

    /// Unloads one program (forgotten, or replaced).
    pub fn unload(&self, id: &str) {
        self.lock_loaded().remove(id);
    }

    /// Unloads idle programs every few seconds, while the runtime lives.
    pub fn spawn_reaper(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let evicted = WasmRuntime { inner }.evict_idle();
                if evicted > 0 {
                    tracing::debug!(evicted, "idle wasm programs unloaded");
                }
            }
        });
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Loaded>>> {
        self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaded program for `program`'s current code, loading it when needed.
    async fn loaded(&self, program: &WasmProgram) -> Result<(Arc<Loaded>, bool), WasmError> {
        let config = &self.inner.config;
        check_memory(config, program)?;
        if program.persistent {
            return Err(WasmError::BadCode(
                "a persistent Wasm program runs as a wasi:cli command and serves no HTTP".into(),
            ));
        }
        if let Some(l) = self.lock_loaded().get(&program.id)
            && l.key == program.code.key
        {
            return Ok((Arc::clone(l), false));
        }
        let _one_at_a_time = self.inner.compiling.lock().await;
        // Someone else may have loaded it while we waited.
        if let Some(l) = self.lock_loaded().get(&program.id)
            && l.key == program.code.key
        {
            return Ok((Arc::clone(l), false));
        }
        let component = self.component(&program.code).await?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| WasmError::BadCode(format!("{e:#}")))?;
        let loaded = Arc::new(Loaded {
            key: program.code.key.clone(),
            pre,
            slots: Arc::new(Semaphore::new(config.max_concurrency)),
            waiting: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
            running: AtomicUsize::new(0),
        });
        let mut map = self.lock_loaded();
        if map.len() >= config.max_loaded && !map.contains_key(&program.id) {
            // The least recently used idle program makes room.
            let oldest = map
                .iter()
                .filter(|(_, l)| l.running.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, l)| *l.last_used.lock().unwrap_or_else(|p| p.into_inner()))
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                map.remove(&id);
            }
        }
        map.insert(program.id.clone(), Arc::clone(&loaded));
        Ok((loaded, true))
    }

    /// The compiled component for a code file: from the on-disk cache, else compiled (off the
    /// async threads) and cached.
    #[allow(unsafe_code)]
    pub(super) async fn component(&self, code: &FileRef) -> Result<Component, WasmError> {
        let engine = self.inner.engine.clone();
        let safe = !code.key.is_empty() && code.key.chars().all(|c| c.is_ascii_alphanumeric());
        if !safe {
            return Err(WasmError::BadCode(format!("bad code hash {:?}", code.key)));
        }
        // The engine's compatibility hash: machine code from another wasmtime or other
        // settings is never loaded.
        let compat = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            h.finish()
        };
        let cached = self
            .inner
            .compiled_dir
            .join(format!("{}-{compat:016x}.cwasm", code.key));
        let source = code.path.clone();
        let max = self.inner.config.max_code_mib.saturating_mul(1 << 20);
        let tmp = self.inner.compiled_dir.join(format!(
            ".{}-{}-{}",
            code.key,
            std::process::id(),
            self.inner.seq.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::task::spawn_blocking(move || -> Result<Component, WasmError> {
            if cached.exists() {
                // SAFETY: the file is machine code this node's own engine wrote (compiled
                // below, renamed into place whole), named by the engine's compatibility hash;
                // nothing else writes to the compiled dir.
                match unsafe { Component::deserialize_file(&engine, &cached) } {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!(path = %cached.display(), "compiled code unusable, compiling again: {e:#}");
                        let _ = std::fs::remove_file(&cached);
                    }
                }
            }
            let size = std::fs::metadata(&source)
                .map_err(|e| WasmError::io("reading the component", e))?
                .len();
            if size > max {
                return Err(WasmError::BadCode(format!(
                    "the component is {size} bytes, more than the {max} this node accepts"
                )));
            }
            let bytes = std::fs::read(&source).map_err(|e| WasmError::io("reading the component", e))?;
            if !wasmparser_is_component(&bytes) {
                return Err(WasmError::BadCode(
                    "not a WebAssembly component (a core module or another file); build for \
                     wasm32-wasip2 or wrap it with `wasm-tools component new`"
                        .into(),
                ));
            }
            let compiled = engine
                .precompile_component(&bytes)
                .map_err(|e| WasmError::BadCode(format!("{e:#}")))?;
            std::fs::write(&tmp, &compiled).map_err(|e| WasmError::io("writing compiled code", e))?;
            std::fs::rename(&tmp, &cached).map_err(|e| WasmError::io("caching compiled code", e))?;
            // SAFETY: as above: `compiled` came from this engine a moment ago.
            unsafe { Component::deserialize(&engine, &compiled) }
                .map_err(|e| WasmError::Internal(format!("loading compiled code: {e:#}")))
        })
        .await
        .map_err(|e| WasmError::Internal(format!("the compiler thread failed: {e}")))?
    }

    /// An instance slot for `loaded`: at once when one is free, else after waiting in its
    /// bounded queue.
    async fn slot(&self, loaded: &Loaded) -> Result<OwnedSemaphorePermit, WasmError> {
        if let Ok(permit) = Arc::clone(&loaded.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let waiting = loaded.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = scopeguard(&loaded.waiting);
        if waiting >= self.inner.config.max_queue {
            return Err(WasmError::Busy(waiting));
        }
        let wait = Duration::from_secs_f64(self.inner.config.queue_timeout_secs);
        match tokio::time::timeout(wait, Arc::clone(&loaded.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(WasmError::Internal("the program's slots closed".into())),
            Err(_) => Err(WasmError::QueueTimeout(
                self.inner.config.queue_timeout_secs,
            )),
        }
    }

    /// The store for one instance of `program`.
    fn store(
        &self,
        program: &WasmProgram,
        stdout: &Capture,
        stderr: &Capture,
        images: &HashMap<String, PathBuf>,
        stop: &Stop,
        timed: bool,
    ) -> Result<(Store<Host>, Scratch, Vec<Watched>), WasmError> {
        // Removes the ephemeral dirs made so far if this fails half-way.
        let mut scratch = Scratch(Vec::new());
        let mut watched = Vec::new();
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        for (name, value) in &program.variables {
            wasi.env(name, value);
        }
        if program.internet {
            wasi.inherit_network()
                .allow_ip_name_lookup(true)
                .allow_tcp(true)
                .allow_udp(true);
        }
        for volume in &program.volumes {
            let bad = |why: &str| WasmError::BadVolume {
                mount: volume.mount.clone(),
                why: why.to_owned(),
            };
            if !volume.mount.starts_with('/') || volume.mount.split('/').any(|c| c == "..") {
                return Err(bad("the mount point must be an absolute path without `..`"));
            }
            let (host, writable) = match &volume.source {
                WasmVolumeSource::Immutable(file) => (
                    images
                        .get(&file.key)
                        .cloned()
                        .ok_or_else(|| bad("its image was not extracted"))?,
                    false,
                ),
                WasmVolumeSource::Ephemeral { .. } => {
                    let dir = self.inner.scratch_dir.join(format!(
                        "{}-{}",
                        std::process::id(),
                        self.inner.seq.fetch_add(1, Ordering::Relaxed)
                    ));
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| WasmError::io("creating an ephemeral volume", e))?;
                    scratch.0.push(dir.clone());
                    (dir, true)
                }
                WasmVolumeSource::Persistent { name, .. } => {
                    let safe = |s: &str| {
                        !s.is_empty()
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                    };
                    if !safe(name) || !safe(&program.id) {
                        return Err(bad("bad volume name"));
                    }
                    let dir = self.inner.volumes_dir.join(&program.id).join(name);
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| WasmError::io("creating a persistent volume", e))?;
                    (dir, true)
                }
            };
            let perms = match writable {
                true => FsPerms::ReadWrite,
                false => FsPerms::ReadOnly,
            };
            if let Some(cap) = volume.source.cap_bytes() {
                // What it holds now: growth past the cap from here on stops the instance.
                let baseline = match volume.source {
                    WasmVolumeSource::Persistent { .. } => disk_usage(&host),
                    _ => 0,
                };
                watched.push(Watched {
                    mount: volume.mount.clone(),
                    dir: host.clone(),
                    cap,
                    baseline,
                });
            }
            wasi.preopened_dir(&host, &volume.mount, perms)
                .map_err(|e| bad(&format!("cannot open {}: {e:#}", host.display())))?;
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size((program.memory_mib as usize).saturating_mul(1 << 20))
            .build();
        let api = self
            .inner
            .api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let host = Host {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits,
            outbound: Outbound {
                internet: program.internet,
                api: program.aleph_api.then_some(api).flatten(),
            },
        };
        let mut store = Store::new(&self.inner.engine, host);
        store.limiter(|host| &mut host.limits);
        if self.inner.config.fuel_per_second > 0 && timed {
            let fuel = fuel_of(&self.inner.config, program);
            store
                .set_fuel(fuel)
                .map_err(|e| WasmError::Internal(format!("setting fuel: {e:#}")))?;
        }
        // At every epoch tick the guest yields its thread to other tasks; past its time, or
        // once it filled a volume, it is interrupted.
        let deadline = timed.then(|| Instant::now() + Duration::from_secs(program.seconds));
        let stop = Arc::clone(stop);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if stop.get().is_some() || deadline.is_some_and(|d| Instant::now() >= d) {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        Ok((store, scratch, watched))
    }

    /// Everything one instance of `program` needs before it starts: its images extracted,
    /// its store (time-limited per request when `timed`, else only yielding), its scratch
    /// dirs and the watcher of its writable volumes.
    pub(super) async fn instance(
        &self,
        program: &WasmProgram,
        stdout: &Capture,
        stderr: &Capture,
        timed: bool,
    ) -> Result<Instance, WasmError> {
        let mut images = HashMap::new();
        for volume in &program.volumes {
            if let WasmVolumeSource::Immutable(file) = &volume.source {
                let dir =
                    self.inner
                        .images
                        .squashfs(file)
                        .await
                        .map_err(|e| WasmError::BadVolume {
                            mount: volume.mount.clone(),
                            why: e.to_string(),
                        })?;
                images.insert(file.key.clone(), dir);
            }
        }
        let stop: Stop = Arc::new(std::sync::OnceLock::new());
        let (store, cleanup, watched) =
            self.store(program, stdout, stderr, &images, &stop, timed)?;
        let watcher = (!watched.is_empty()).then(|| {
            let every = Duration::from_millis(self.inner.config.volume_check_ms);
            AbortOnDrop(tokio::spawn(watch_volumes(
                watched,
                Arc::clone(&stop),
                every,
            )))
        });
        Ok(Instance {
            store,
            cleanup,
            watcher,
            stop,
        })
    }

    async fn run(
        &self,
        program: &WasmProgram,
        loaded: &Arc<Loaded>,
        request: http::Request<Body>,
        permit: OwnedSemaphorePermit,
        stdout: &Capture,
        stderr: &Capture,
    ) -> Result<http::Response<Body>, WasmError> {
        let Instance {
            mut store,
            cleanup,
            watcher,
            stop,
        } = self.instance(program, stdout, stderr, true).await?;
        let request = incoming(request).map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
        });
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (req, out) = {
            let mut view = store.data_mut().http();
            let req = view
                .new_incoming_request(
                    wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
                    request,
                )
                .map_err(|e| WasmError::Internal(format!("{e:#}")))?;
            let out = view
                .new_response_outparam(sender)
                .map_err(|e| WasmError::Internal(format!("{e:#}")))?;
            (req, out)
        };
        let pre = loaded.pre.clone();
        *loaded.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let running = RunningGuard::enter(Arc::clone(loaded));
        // The guest runs in its own task: it may go on streaming the body after the head.
        // The task owns the instance slot, the scratch dirs and the running count until then.
        let task = tokio::spawn(async move {
            let _permit = permit;
            let _running = running;
            // Dropped in this order: the watcher stops before the scratch dirs go.
            let _cleanup = cleanup;
            let _watcher = watcher;
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let seconds = program.seconds;
        let fuel = fuel_of(&self.inner.config, program);
        let failed = |e: wasmtime::Error| match stop.get() {
            Some((mount, size_mib)) => WasmError::VolumeFull {
                mount: mount.clone(),
                size_mib: *size_mib,
            },
            None => trap(e, seconds, fuel),
        };
        let head = tokio::time::timeout(Duration::from_secs(seconds), receiver).await;
        let response: GuestResponse = match head {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                return Err(WasmError::Trap(format!(
                    "the program answered with an error: {code:?}"
                )));
            }
            // The guest never set a response: its task says why.
            Ok(Err(_)) => {
                let why = match task.await {
                    Ok(Ok(())) => "the program returned without a response".to_owned(),
                    Ok(Err(e)) => return Err(failed(e)),
                    Err(e) => format!("the program's task failed: {e}"),
                };
                return Err(WasmError::Trap(why));
            }
            Err(_) => {
                task.abort();
                return Err(WasmError::Timeout(seconds));
            }
        };
        Ok(response
            .map(|body| Body::new(body.map_err(|e| std::io::Error::other(format!("{e:?}"))))))
    }
}

/// The request as the guest sees it: an absolute URI (wasi:http wants an authority).
fn incoming(request: http::Request<Body>) -> http::Request<Body> {
    let (mut parts, body) = request.into_parts();
    if parts.uri.authority().is_none() {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.parse::<http::uri::Authority>().is_ok())
            .unwrap_or("localhost")
            .to_owned();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        if let Ok(uri) = http::Uri::builder()
            .scheme("http")
            .authority(host)
            .path_and_query(path)
            .build()
        {
            parts.uri = uri;
        }
    }
    http::Request::from_parts(parts, body)
}

/// A failed instance, told apart: the epoch deadline or its fuel (504), or anything else the
/// guest did.
fn trap(e: wasmtime::Error, seconds: u64, fuel: u64) -> WasmError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => WasmError::Timeout(seconds),
        Some(wasmtime::Trap::OutOfFuel) => WasmError::OutOfFuel(fuel),
        _ => WasmError::Trap(format!("{e:#}")),
    }
}

/// Refuses a program asking more memory than this node's pool slots hold.
pub(super) fn check_memory(config: &WasmConfig, program: &WasmProgram) -> Result<(), WasmError> {
    if program.memory_mib > config.max_memory_mib {
        return Err(WasmError::TooMuchMemory {
            asked: program.memory_mib,
            max: config.max_memory_mib,
        });
    }
    Ok(())
}

/// The fuel one request of `program` gets.
fn fuel_of(config: &WasmConfig, program: &WasmProgram) -> u64 {
    config
        .fuel_per_second
        .saturating_mul(program.seconds.max(1))
}

/// Set once an instance must stop for a full volume: its mount and size.
pub(super) type Stop = Arc<std::sync::OnceLock<(String, u64)>>;

/// An instance about to start; the guards go with the task that runs it.
pub(super) struct Instance {
    pub(super) store: Store<Host>,
    /// Its ephemeral dirs, removed when dropped.
    pub(super) cleanup: Scratch,
    /// Measures its writable volumes while it lives.
    pub(super) watcher: Option<AbortOnDrop>,
    /// Set when it must stop for a full volume.
    pub(super) stop: Stop,
}

/// A writable volume of a running instance, measured against its cap.
struct Watched {
    mount: String,
    dir: PathBuf,
    cap: u64,
    /// Bytes in it when the instance started.
    baseline: u64,
}

/// Measures `watched` every `every` until one grew past its cap (then marks `stop`, which the
/// epoch callback turns into an interrupt). Ends when aborted with its instance.
async fn watch_volumes(watched: Vec<Watched>, stop: Stop, every: Duration) {
    let watched = Arc::new(watched);
    loop {
        tokio::time::sleep(every).await;
        let w = Arc::clone(&watched);
        let full = tokio::task::spawn_blocking(move || {
            w.iter().find_map(|v| {
                let used = disk_usage(&v.dir);
                (used > v.cap && used > v.baseline).then(|| (v.mount.clone(), v.cap >> 20))
            })
        })
        .await;
        if let Ok(Some(full)) = full {
            tracing::debug!(mount = %full.0, "a wasm instance filled its volume");
            let _ = stop.set(full);
            return;
        }
    }
}

/// Bytes of the files under `dir` (apparent sizes: a sparse file counts whole).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Cheap check of the binary header: `\0asm` with the component layer.
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

/// The engine every program shares.
fn engine(config: &WasmConfig) -> Result<Engine, WasmError> {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.consume_fuel(config.fuel_per_second > 0);
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    let mut pool = PoolingAllocationConfig::new();
    let total = config.pool_instances;
    pool.total_component_instances(total)
        .total_core_instances(total.saturating_mul(4))
        .total_memories(total.saturating_mul(2))
        .total_tables(total.saturating_mul(4))
        .total_stacks(total)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .max_memory_size((config.max_memory_mib as usize).saturating_mul(1 << 20))
        // A slot going back to the pool is reset with memset (only its dirty pages, where
        // the kernel can tell them) instead of madvise: the next instance does not fault
        // its heap in again. A JavaScript engine dirties ~2 MiB per request.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(1 << 20)
        .decommit_batch_size(16);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&c) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            // The pool reserves address space up front; a host with a tight `ulimit -v`
            // refuses it: run with the on-demand allocator instead.
            tracing::warn!("the pooling allocator is unavailable ({e:#}): allocating on demand");
            c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&c).map_err(|e| WasmError::Internal(format!("starting wasmtime: {e:#}")))
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while the runtime lives.
fn spawn_epoch_ticker(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("alephd-wasm-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match inner.upgrade() {
                    Some(inner) => inner.engine.increment_epoch(),
                    None => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the wasm epoch thread ({e}): programs have no time limit");
    }
}

/// Counts an instance as running while it lives.
struct RunningGuard(Arc<Loaded>);

impl RunningGuard {
    fn enter(loaded: Arc<Loaded>) -> Self {
        loaded.running.fetch_add(1, Ordering::Relaxed);
        Self(loaded)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
        *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

/// Ephemeral volumes of one instance, removed with it.
pub(super) struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Leaves the queue when the waiting request is done (or dropped).
fn scopeguard(waiting: &AtomicUsize) -> impl Drop + '_ {
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    Leave(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_told_from_core_modules() {
        // Core module: version 1, layer 0.
        assert!(!wasmparser_is_component(b"\0asm\x01\x00\x00\x00"));
        // Component: version 0x0d, layer 1.
        assert!(wasmparser_is_component(b"\0asm\x0d\x00\x01\x00"));
        assert!(!wasmparser_is_component(b"PK\x03\x04\x00\x00\x00\x00"));
        assert!(!wasmparser_is_component(b"\0asm"));
    }

    #[test]
    fn requests_get_an_authority() {
        let request = http::Request::builder()
            .uri("/path?q=1")
            .header("host", "abc.example.org")
            .body(Body::empty())
            .unwrap();
        let request = incoming(request).map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
        });
        assert_eq!(request.uri().to_string(), "http://abc.example.org/path?q=1");
        let request = http::Request::builder()
            .uri("/")
            .body(Body::empty())
            .unwrap();
        assert_eq!(incoming(request).uri().to_string(), "http://localhost/");
    }
}
