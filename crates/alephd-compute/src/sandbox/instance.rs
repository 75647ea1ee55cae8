//! One running program: its bubblewrap process (joined to its cgroup before exec, dropped to
//! the unprivileged uid by `setpriv`), its captured output, its connection target, and its
//! stop. Start-up ends when the program accepts a connection, or fails with the program's own
//! output when it exits or times out first.
//!
//! Processes must be spawned from a long-lived thread (a runtime worker, never
//! `spawn_blocking`): `--die-with-parent` kills the sandbox when the spawning *thread* ends.

use std::{
    collections::VecDeque,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::{Child, Command},
};

use super::{
    SandboxError, SandboxProgram, cgroup::InstanceCgroup, command, forward::Connections,
    forward::Target,
};

/// Lines of output kept per instance, and the longest line kept.
const OUTPUT_LINES: usize = 200;
const OUTPUT_LINE_BYTES: usize = 2048;
/// How often start-up checks whether the program accepts connections.
const READY_POLL: Duration = Duration::from_millis(1);
/// How long a failed request waits for the program's death to show.
const DEATH_GRACE: Duration = Duration::from_millis(500);
/// Output lines quoted in a start-up error.
const ERROR_LINES: usize = 30;

/// The program's stdout and stderr: the last lines, each numbered so a caller can take what
/// was printed after a mark (one execution's output).
#[derive(Debug, Default)]
pub(crate) struct Output(Mutex<(u64, VecDeque<Line>)>);

/// A kept output line: its number, its stream, its text.
type Line = (u64, &'static str, String);

impl Output {
    fn push(&self, stream: &'static str, mut line: String) {
        if line.len() > OUTPUT_LINE_BYTES {
            let mut end = OUTPUT_LINE_BYTES;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (next, lines) = &mut *guard;
        if lines.len() == OUTPUT_LINES {
            lines.pop_front();
        }
        lines.push_back((*next, stream, line));
        *next += 1;
    }

    /// The number the next line will get.
    pub(crate) fn mark(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Kept lines numbered `mark` or later, with their stream (`stdout`/`stderr`).
    pub(crate) fn since(&self, mark: u64) -> Vec<(&'static str, String)> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .filter(|(n, ..)| *n >= mark)
            .map(|(_, s, l)| (*s, l.clone()))
            .collect()
    }

    /// All kept lines, oldest first, as `[stream] line`.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.since(0)
            .into_iter()
            .map(|(s, l)| format!("[{s}] {l}"))
            .collect()
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// What `start` needs besides the program.
pub(crate) struct Launch {
    pub(crate) name: String,
    pub(crate) args: Vec<std::ffi::OsString>,
    pub(crate) run_dir: PathBuf,
    pub(crate) target: Target,
    pub(crate) cgroup: Option<InstanceCgroup>,
    /// `ulimit -v` in KiB when no memory cgroup limits the instance.
    pub(crate) ulimit_kb: Option<u64>,
    pub(crate) seccomp: Arc<Vec<u8>>,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) bwrap: PathBuf,
    pub(crate) slirp4netns: Option<PathBuf>,
    pub(crate) timeout: Duration,
}

/// A started program.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) program: SandboxProgram,
    child: Mutex<Child>,
    slirp: Mutex<Option<Child>>,
    cgroup: Option<InstanceCgroup>,
    run_dir: PathBuf,
    pub(crate) output: Arc<Output>,
    pub(crate) connections: Connections,
    last_used: Mutex<Instant>,
    pub(crate) started_in: Duration,
}

/// The first process joins the instance's cgroups, limits its address space when no memory
/// cgroup does, then becomes `setpriv … bwrap …`.
const WRAPPER: &str = r#"l=$1; shift
while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift
if [ "$l" != - ]; then ulimit -v "$l" || exit 125; fi
exec "$@""#;

impl Instance {
    pub(crate) async fn start(
        program: SandboxProgram,
        launch: Launch,
    ) -> Result<Self, SandboxError> {
        let began = Instant::now();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(WRAPPER).arg("alephd-sandbox");
        cmd.arg(
            launch
                .ulimit_kb
                .map_or_else(|| "-".to_owned(), |kb| kb.to_string()),
        );
        for file in launch.cgroup.iter().flat_map(InstanceCgroup::procs_files) {
            cmd.arg(file);
        }
        cmd.arg("--").arg("setpriv");
        cmd.arg(format!("--reuid={}", launch.uid))
            .arg(format!("--regid={}", launch.gid))
            .args(["--clear-groups", "--"])
            .arg(&launch.bwrap)
            .args(&launch.args);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| SandboxError::io("cannot start bubblewrap", e))?;
        let output = Arc::new(Output::default());
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(capture(
                stdout,
                "stdout",
                launch.name.clone(),
                output.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(capture(
                stderr,
                "stderr",
                launch.name.clone(),
                output.clone(),
            )));
        }
        if let Some(mut stdin) = child.stdin.take() {
            // bwrap reads the filter to EOF from fd 0 before it runs anything.
            let _ = stdin.write_all(&launch.seccomp).await;
        }
        let mut instance = Instance {
            name: launch.name,
            program,
            child: Mutex::new(child),
            slirp: Mutex::new(None),
            cgroup: launch.cgroup,
            run_dir: launch.run_dir,
            output,
            connections: Connections::new(launch.target),
            last_used: Mutex::new(Instant::now()),
            started_in: Duration::ZERO,
        };
        match instance
            .wait_ready(launch.timeout, launch.slirp4netns.as_deref(), readers)
            .await
        {
            Ok(()) => {
                instance.started_in = began.elapsed();
                Ok(instance)
            }
            Err(err) => {
                instance.stop().await;
                Err(err)
            }
        }
    }

    async fn wait_ready(
        &mut self,
        timeout: Duration,
        slirp4netns: Option<&std::path::Path>,
        readers: Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), SandboxError> {
        let deadline = Instant::now() + timeout;
        let mut slirp_pending = slirp4netns;
        loop {
            if let Some(status) = self.exit_status() {
                // Let the readers drain what the program printed before it died.
                for reader in readers {
                    let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
                }
                return Err(SandboxError::StartFailed {
                    status,
                    output: self.output.tail(ERROR_LINES),
                });
            }
            let sandbox_pid = self.sandbox_pid();
            if let (Some(slirp), Some(pid)) = (slirp_pending, sandbox_pid) {
                self.start_slirp(slirp, pid)?;
                slirp_pending = None;
            }
            if let Some(pid) = sandbox_pid {
                self.connections.set_pid(pid);
                if self.connections.probe().await {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(SandboxError::StartTimeout {
                    secs: timeout.as_secs_f64(),
                    output: self.output.tail(ERROR_LINES),
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The sandbox's first process (pid 1 of its namespace), as the host sees it: the only
    /// child of the outer bwrap.
    fn sandbox_pid(&self) -> Option<u32> {
        let outer = self.child.lock().unwrap_or_else(|p| p.into_inner()).id()?;
        let children =
            std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Gives the sandbox a network through slirp4netns. bwrap's `--disable-userns` moves the
    /// sandbox into a nested user namespace right after it starts, and that namespace holds no
    /// capability over the network namespace (its parent owns it): joining "the user namespace
    /// of the pid" is a race slirp4netns loses under load (`setns(CLONE_NEWNET): EPERM`). As
    /// root, slirp4netns joins only the network namespace, by path, which needs no user
    /// namespace at all; otherwise it joins by pid, and says so in the log when that fails.
    fn start_slirp(&self, slirp: &std::path::Path, pid: u32) -> Result<(), SandboxError> {
        let mut cmd = Command::new(slirp);
        cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"]);
        if nix::unistd::geteuid().is_root() {
            cmd.arg("--netns-type=path")
                .arg(format!("/proc/{pid}/ns/net"));
        } else {
            cmd.arg(pid.to_string());
        }
        let mut child = cmd
            .arg("tap0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SandboxError::io(format!("cannot start {}", slirp.display()), e))?;
        // Its complaints (a missing /dev/net/tun, a refused setns) belong in the program's log.
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(capture(
                stderr,
                "slirp4netns",
                self.name.clone(),
                self.output.clone(),
            ));
        }
        *self.slirp.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    /// `Some(status)` once the sandbox has exited.
    pub(crate) fn exit_status(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match child.try_wait() {
            Ok(Some(status)) => Some(describe(status, self.oom_killed())),
            Ok(None) => None,
            Err(e) => Some(format!("unknown: {e}")),
        }
    }

    /// After a failed request: whether the program died (or was OOM-killed, which can leave
    /// its sandbox's init alive for a moment), waiting briefly for the exit to show.
    pub(crate) async fn died(&self) -> Option<String> {
        let deadline = Instant::now() + DEATH_GRACE;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if self.oom_killed() {
                return Some("out of memory: killed by the memory limit".into());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(InstanceCgroup::oom_killed)
    }

    pub(crate) fn memory_usage(&self) -> Option<u64> {
        self.cgroup.as_ref().and_then(InstanceCgroup::memory_usage)
    }

    pub(crate) fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Kills every process of the instance and removes its cgroup and socket directory.
    pub(crate) async fn stop(&self) {
        let _ = self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .start_kill();
        if let Some(mut slirp) = self.slirp.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = slirp.start_kill();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.exit_status().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(cgroup) = self.cgroup.clone() {
            // Blocking (sleeps while the kernel reaps); nothing is spawned from that thread.
            let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
        tracing::debug!(instance = %self.name, "sandbox instance stopped");
    }
}

fn describe(status: std::process::ExitStatus, oom: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    let text = match (status.code(), status.signal()) {
        (Some(125), _) => "the sandbox could not be set up (cgroup or ulimit)".to_owned(),
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    };
    match oom {
        true => format!("{text}; out of memory: killed by the memory limit"),
        false => text,
    }
}

/// Copies one output stream into the instance's kept lines and the debug log.
async fn capture(
    stream: impl AsyncRead + Unpin,
    name: &'static str,
    instance: String,
    output: Arc<Output>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "alephd_compute::program", %instance, stream = name, "{line}");
        output.push(name, line);
    }
}

/// The Python run for ASGI programs: uvicorn serving the app, plus Aleph's `aleph.message`
/// event scope (see the file).
const ASGI_LAUNCHER: &str = include_str!("asgi_launcher.py");

/// The header that marks the node's event requests to an ASGI program's launcher.
pub const EVENT_HEADER: &str = "x-aleph-event";

/// The command inside the sandbox for a program.
pub(crate) fn program_argv(program: &SandboxProgram) -> Result<Vec<String>, SandboxError> {
    use alephd_message::content::Interface;
    Ok(match program.interface {
        Interface::Asgi => {
            let (module, app) = super::image::asgi_module(&program.entrypoint)?;
            let socket = format!("{}/{}", command::RUN_DIR, command::SOCKET_NAME);
            vec![
                "python3".into(),
                "-c".into(),
                ASGI_LAUNCHER.into(),
                format!("{module}:{app}"),
                socket,
                command::CODE_DIR.into(),
            ]
        }
        Interface::Binary => {
            let entry = program.entrypoint.trim_start_matches("./");
            if entry.is_empty() || entry.split('/').any(|c| c == "..") {
                return Err(SandboxError::BadEntrypoint(format!(
                    "{:?}",
                    program.entrypoint
                )));
            }
            let path = match entry.starts_with('/') {
                true => entry.to_owned(),
                false => format!("{}/{entry}", command::CODE_DIR),
            };
            std::iter::once(path)
                .chain(program.args.iter().cloned())
                .collect()
        }
    })
}
