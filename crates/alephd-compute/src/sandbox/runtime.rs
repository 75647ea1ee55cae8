//! `SandboxRuntime`: the warm instances of this node, one per program, started on the first
//! request, reused while they answer, replaced when their program changed or they died, and
//! stopped after `idle_secs` without a request (or, at `max_instances`, the least recently
//! used first). Owns the extraction cache and the host's cgroup hierarchy.

use std::{
    collections::HashMap,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alephd_message::content::Interface;
use axum::body::Body;

use super::{
    SandboxConfig, SandboxError, SandboxProgram, VolumeSource,
    cgroup::{Cgroups, Limits},
    command::{self, Layout, Mount},
    forward::{BINARY_PORT, Target},
    image::ImageCache,
    instance::{Instance, Launch, program_argv},
    seccomp,
};

/// A program's instance, if running; its lock serialises starting it.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Instance>>>>;

/// The Linux sandbox runtime (cheap to clone: a handle on shared state).
#[derive(Debug, Clone)]
pub struct SandboxRuntime {
    inner: Arc<Inner>,
}

/// Yields before an execution's output is taken (see [`SandboxRuntime::output_since`]).
const OUTPUT_SETTLE_YIELDS: usize = 4;

#[derive(Debug)]
struct Inner {
    config: SandboxConfig,
    work_dir: PathBuf,
    cache: ImageCache,
    cgroups: Cgroups,
    seccomp: Arc<Vec<u8>>,
    /// Per program id: a slot whose lock serialises starting that program.
    slots: Mutex<HashMap<String, Slot>>,
    seq: AtomicU64,
}

impl SandboxRuntime {
    /// A runtime keeping its files under `work_dir` (cache, sockets, persistent volumes).
    pub fn new(config: SandboxConfig, work_dir: PathBuf) -> Result<Self, SandboxError> {
        config.validate().map_err(SandboxError::BadCode)?;
        let seccomp = Arc::new(seccomp::program_bytes()?);
        for dir in ["", "run", "volumes", "images", "code"] {
            let path = work_dir.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(|e| SandboxError::io("creating the sandbox dir", e))?;
            // The unprivileged uid must traverse to its mounts (bwrap runs as that uid).
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711));
        }
        // Mount sources and socket paths read better (and stay shorter) without `..`.
        let work_dir = work_dir.canonicalize().unwrap_or(work_dir);
        let max_code = config.max_code_mib.saturating_mul(1 << 20);
        let cache = ImageCache::new(work_dir.clone(), config.unsquashfs.clone(), max_code);
        let inner = Inner {
            cgroups: Cgroups::detect(),
            cache,
            seccomp,
            slots: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            config,
            work_dir,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The cgroup hierarchy limits go through.
    pub fn cgroups(&self) -> &Cgroups {
        &self.inner.cgroups
    }

    /// Answers `request` (URI: the path inside the program) with `program`, starting it when no
    /// warm instance runs.
    pub async fn handle(
        &self,
        program: &SandboxProgram,
        request: axum::http::Request<Body>,
    ) -> Result<axum::http::Response<Body>, SandboxError> {
        let timeout = Duration::from_secs_f64(self.inner.config.request_timeout_secs);
        let instance = self.instance(program).await?;
        instance.touch();
        let answer = tokio::time::timeout(timeout, instance.connections.send(request)).await;
        instance.touch();
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => match instance.died().await {
                Some(status) => {
                    self.forget(&program.id, &instance).await;
                    let output = instance.output.lines().join("\n");
                    Err(SandboxError::Crashed { status, output })
                }
                None => Err(err),
            },
            Err(_) => Err(SandboxError::RequestTimeout(timeout.as_secs_f64())),
        }
    }

    /// The warm instance of `program`, started if needed; how long its start took is
    /// `started_in` (zero when it was warm).
    pub async fn warm(&self, program: &SandboxProgram) -> Result<Duration, SandboxError> {
        let before = self.is_running(&program.id);
        let instance = self.instance(program).await?;
        Ok(if before {
            Duration::ZERO
        } else {
            instance.started_in
        })
    }

    /// Whether `id` has a running instance.
    pub fn is_running(&self, id: &str) -> bool {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        slot.is_some_and(|s| {
            s.try_lock()
                .is_ok_and(|g| g.as_ref().is_some_and(|i| i.exit_status().is_none()))
        })
    }

    /// The program's recent output lines (stdout and stderr), oldest first.
    pub fn output(&self, id: &str) -> Option<Vec<String>> {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()?;
        let guard = slot.try_lock().ok()?;
        guard.as_ref().map(|i| i.output.lines())
    }

    /// The mark to pass to [`output_since`](Self::output_since): what the program prints from
    /// now on (0 when it is not running yet: everything it will print).
    pub async fn output_mark(&self, id: &str) -> u64 {
        self.current(id).await.map_or(0, |i| i.output.mark())
    }

    /// Lines the program printed since `mark`, with their stream (`stdout`/`stderr`).
    ///
    /// Called right after a request: the program printed before answering, but the tasks
    /// copying its pipes may not have read those lines yet. Yielding first lets them run
    /// when they are ready; a line still unread after that is missed by this execution's
    /// record (it stays in the instance's output).
    pub async fn output_since(&self, id: &str, mark: u64) -> Vec<(&'static str, String)> {
        for _ in 0..OUTPUT_SETTLE_YIELDS {
            tokio::task::yield_now().await;
        }
        self.current(id)
            .await
            .map(|i| i.output.since(mark))
            .unwrap_or_default()
    }

    /// The running instance of `id`, waiting while another request starts or stops it.
    async fn current(&self, id: &str) -> Option<Arc<Instance>> {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()?;
        let guard = slot.lock().await;
        guard.clone()
    }

    /// Memory charged to the instance's cgroup, in bytes.
    pub fn memory_usage(&self, id: &str) -> Option<u64> {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()?;
        let guard = slot.try_lock().ok()?;
        guard.as_ref().and_then(|i| i.memory_usage())
    }

    /// Stops the instance of `id`, if any.
    pub async fn stop(&self, id: &str) {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(slot) = slot
            && let Some(instance) = slot.lock().await.take()
        {
            instance.stop().await;
        }
    }

    /// Stops every instance (node shutdown).
    pub async fn stop_all(&self) {
        let ids: Vec<String> = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for id in ids {
            self.stop(&id).await;
        }
    }

    /// Stops idle instances every few seconds until the runtime is dropped.
    pub fn spawn_reaper(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let idle = Duration::from_secs_f64(self.inner.config.idle_secs);
        let period = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(inner) = weak.upgrade() else { return };
                let runtime = SandboxRuntime { inner };
                for id in runtime.idle_ids(idle) {
                    tracing::info!(program = %id, "stopping an idle sandbox instance");
                    runtime.stop(&id).await;
                }
            }
        })
    }

    fn idle_ids(&self, idle: Duration) -> Vec<String> {
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .filter(|(_, slot)| {
                slot.try_lock().is_ok_and(|g| {
                    g.as_ref()
                        .is_none_or(|i| !i.program.persistent && i.idle_for() >= idle)
                })
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    async fn forget(&self, id: &str, dead: &Arc<Instance>) {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if let Some(slot) = slot {
            let mut guard = slot.lock().await;
            if guard.as_ref().is_some_and(|i| Arc::ptr_eq(i, dead)) {
                guard.take();
            }
        }
        dead.stop().await;
    }

    async fn instance(&self, program: &SandboxProgram) -> Result<Arc<Instance>, SandboxError> {
        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(program.id.clone()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(instance) = guard.as_ref() {
            if instance.exit_status().is_none() && instance.program == *program {
                return Ok(instance.clone());
            }
            if let Some(old) = guard.take() {
                old.stop().await;
            }
        }
        self.make_room(&program.id).await;
        let instance = Arc::new(self.start(program).await?);
        tracing::info!(program = %program.id, instance = %instance.name, started_ms = instance.started_in.as_secs_f64() * 1e3, "sandbox instance started");
        *guard = Some(instance.clone());
        Ok(instance)
    }

    /// At `max_instances`, stops the least recently used other instance.
    async fn make_room(&self, starting: &str) {
        let victim = {
            let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            let running: Vec<_> = slots
                .iter()
                .filter(|(id, _)| id.as_str() != starting)
                .filter_map(|(id, s)| {
                    let guard = s.try_lock().ok()?;
                    let instance = guard.as_ref()?;
                    (!instance.program.persistent).then(|| (id.clone(), instance.idle_for()))
                })
                .collect();
            (running.len() >= self.inner.config.max_instances)
                .then(|| {
                    running
                        .into_iter()
                        .max_by_key(|(_, idle)| *idle)
                        .map(|(id, _)| id)
                })
                .flatten()
        };
        if let Some(id) = victim {
            tracing::info!(program = %id, "stopping a sandbox instance to make room");
            self.stop(&id).await;
        }
    }

    /// Extracts (or finds cached) the runtime image and the code, and checks the entrypoint
    /// is there: the root filesystem and the `/opt/code` directory of the program.
    pub async fn prepare_files(
        &self,
        program: &SandboxProgram,
    ) -> Result<(PathBuf, PathBuf), SandboxError> {
        let cache = &self.inner.cache;
        let rootfs = cache.squashfs(&program.runtime).await?;
        let code = cache
            .code(
                &program.code,
                program.encoding,
                program.interface,
                &program.entrypoint,
            )
            .await?;
        check_entrypoint(program, &code)?;
        Ok((rootfs, code))
    }

    async fn start(&self, program: &SandboxProgram) -> Result<Instance, SandboxError> {
        let inner = &self.inner;
        let (rootfs, code) = self.prepare_files(program).await?;
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{seq}", short(&program.id));
        let run_dir = inner.work_dir.join("run").join(&name);
        let io = |what: &str| {
            let what = what.to_owned();
            move |e| SandboxError::io(what, e)
        };
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir).map_err(io("creating the instance dir"))?;
        let (uid, gid) = (inner.config.uid, inner.config.gid);
        nix::unistd::chown(&run_dir, Some(uid.into()), Some(gid.into()))
            .map_err(|e| SandboxError::io("chown of the instance dir", e.into()))?;
        std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod of the instance dir"))?;

        let mut mounts = vec![Mount::ReadOnly {
            host: code,
            guest: command::CODE_DIR.into(),
        }];
        for volume in &program.volumes {
            command::check_guest_path(&volume.mount)?;
            mounts.push(self.volume_mount(program, volume).await?);
        }
        mounts.push(Mount::ReadWrite {
            host: run_dir.clone(),
            guest: command::RUN_DIR.into(),
        });
        if program.internet {
            let resolv = run_dir.join("resolv.conf");
            std::fs::write(&resolv, "nameserver 10.0.2.3\n").map_err(io("writing resolv.conf"))?;
            mounts.push(Mount::ReadOnly {
                host: resolv,
                guest: "/etc/resolv.conf".into(),
            });
        }
        let mut env = command::base_env();
        for (key, value) in &program.variables {
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SandboxError::BadVariable(key.clone()));
            }
            env.push((key.clone(), value.clone()));
        }
        let layout = Layout {
            rootfs,
            mounts,
            env,
            argv: program_argv(program)?,
        };
        let args = command::bwrap_args(&layout)?;
        let memory_bytes = program.memory_mib.saturating_mul(1 << 20);
        let limits = Limits {
            memory_bytes,
            vcpus: program.vcpus.max(1),
            pids: inner.config.pids_max,
        };
        let cgroup = inner
            .cgroups
            .create(&format!("i-{name}"), limits)
            .map_err(|e| SandboxError::io("creating the instance cgroup", e))?;
        let ulimit_kb =
            (!inner.cgroups.limits_memory()).then_some(memory_bytes / 1024 + (64 << 10));
        let target = match program.interface {
            Interface::Asgi => Target::Unix(run_dir.join(command::SOCKET_NAME)),
            Interface::Binary => Target::NetNs { port: BINARY_PORT },
        };
        let launch = Launch {
            name,
            args,
            run_dir,
            target,
            cgroup,
            ulimit_kb,
            seccomp: inner.seccomp.clone(),
            uid,
            gid,
            bwrap: inner.config.bwrap.clone(),
            slirp4netns: program.internet.then(|| inner.config.slirp4netns.clone()),
            timeout: Duration::from_secs_f64(inner.config.start_timeout_secs),
        };
        Instance::start(program.clone(), launch).await
    }

    async fn volume_mount(
        &self,
        program: &SandboxProgram,
        volume: &super::SandboxVolume,
    ) -> Result<Mount, SandboxError> {
        let guest = volume.mount.clone();
        Ok(match &volume.source {
            VolumeSource::Immutable(file) => Mount::ReadOnly {
                host: self.inner.cache.squashfs(file).await?,
                guest,
            },
            VolumeSource::Ephemeral { size_mib } => Mount::Tmpfs {
                size_bytes: size_mib.saturating_mul(1 << 20),
                guest,
            },
            VolumeSource::HostDir {
                path,
                writable: false,
            } => Mount::ReadOnly {
                host: path.clone(),
                guest,
            },
            VolumeSource::HostDir {
                path,
                writable: true,
            } => {
                let (uid, gid) = (self.inner.config.uid, self.inner.config.gid);
                nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
                    .map_err(|e| SandboxError::io("chown of a volume", e.into()))?;
                Mount::ReadWrite {
                    host: path.clone(),
                    guest,
                }
            }
            VolumeSource::Persistent { name } => {
                let safe = |s: &str| {
                    !s.is_empty()
                        && s.len() <= 64
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                };
                if !safe(name) || !safe(&program.id) {
                    return Err(SandboxError::BadMount {
                        path: guest,
                        why: format!("bad volume name {name:?}"),
                    });
                }
                let host = self
                    .inner
                    .work_dir
                    .join("volumes")
                    .join(&program.id)
                    .join(name);
                std::fs::create_dir_all(&host)
                    .map_err(|e| SandboxError::io("creating a volume", e))?;
                let (uid, gid) = (self.inner.config.uid, self.inner.config.gid);
                nix::unistd::chown(&host, Some(uid.into()), Some(gid.into()))
                    .map_err(|e| SandboxError::io("chown of a volume", e.into()))?;
                Mount::ReadWrite { host, guest }
            }
        })
    }
}

/// A clear error before starting anything when the entrypoint is not in the code.
fn check_entrypoint(program: &SandboxProgram, code: &std::path::Path) -> Result<(), SandboxError> {
    let missing =
        |what: String| SandboxError::BadEntrypoint(format!("{what} not found in the code"));
    match program.interface {
        Interface::Asgi => {
            let (module, _) = super::image::asgi_module(&program.entrypoint)?;
            let base = code.join(module.replace('.', "/"));
            if !(base.with_extension("py").is_file()
                || base.join("__init__.py").is_file()
                || base.is_dir())
            {
                return Err(missing(format!(
                    "module {module:?} of {:?}",
                    program.entrypoint
                )));
            }
        }
        Interface::Binary => {
            let entry = program.entrypoint.trim_start_matches("./");
            if !entry.starts_with('/') && !code.join(entry).is_file() {
                return Err(missing(format!("executable {entry:?}")));
            }
        }
    }
    Ok(())
}

/// A file-name-safe prefix of a program id.
fn short(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect()
}
