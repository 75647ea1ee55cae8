//! A real `alephd daemon` process on loopback, killed when dropped.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// How long a daemon may take to answer `/api/v0/version` after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A minimal blocking HTTP/1.1 GET: status code and body. Enough for readiness checks and
/// smoke tests without an HTTP client dependency.
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP response")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Configures a daemon before it starts.
#[derive(Debug)]
pub struct DaemonBuilder {
    binary: PathBuf,
    data_dir: Option<PathBuf>,
    default_data_dir: bool,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl DaemonBuilder {
    /// A daemon from `binary` (in an integration test of the `alephd` crate:
    /// `env!("CARGO_BIN_EXE_alephd")`).
    ///
    /// Aleph's rule that messages must pay with credits from 2027-01-01 is moved far into the
    /// future: the real clients the tests drive still pay by holding, and the tests must not
    /// start failing on a date. A test of the rule sets `..._CREDIT_ONLY_FROM` itself (the
    /// last value set wins).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            data_dir: None,
            default_data_dir: false,
            args: Vec::new(),
            envs: vec![(
                "ALEPHD_PROCESSOR__BILLING__CREDIT_ONLY_FROM".to_owned(),
                "1e12".to_owned(),
            )],
        }
    }

    /// Uses `dir` as its data dir instead of a fresh temporary one.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Passes no `--data-dir`, as a new user would: the daemon uses `$HOME/.alephd`, with
    /// `$HOME` a fresh temporary directory.
    pub fn default_data_dir(mut self) -> Self {
        self.default_data_dir = true;
        self
    }

    /// Adds a command-line argument after `daemon`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Spawns the daemon and waits until its API answers.
    pub fn start(self) -> anyhow::Result<Daemon> {
        // Ports are picked free but handed over later, so another process may take one in
        // between; such a start is retried on fresh ports. Any other failure is the test's.
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            match self.try_start() {
                Err(e) if attempt < ATTEMPTS && is_port_taken(&e) => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    fn try_start(&self) -> anyhow::Result<Daemon> {
        let temp = tempfile::tempdir()?;
        let data_dir = match (&self.data_dir, self.default_data_dir) {
            (Some(dir), _) => dir.clone(),
            (None, true) => temp.path().join(".alephd"),
            (None, false) => temp.path().join("data"),
        };
        let api_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let p2p_addr = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        let log_path = temp.path().join("daemon.log");
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(&self.binary);
        command.arg("daemon");
        if !self.default_data_dir {
            command.arg("--data-dir").arg(&data_dir);
        }
        let child = command
            .arg("--api-addr")
            .arg(api_addr.to_string())
            .arg("--p2p-addr")
            .arg(&p2p_addr)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env("HOME", temp.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot spawn {}", self.binary.display()))?;
        let mut daemon = Daemon {
            child,
            api_addr,
            p2p_addr,
            data_dir,
            log_path,
            _temp: temp,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }
}

/// Whether a failed start was a port someone else took (the daemon's bind error).
fn is_port_taken(error: &anyhow::Error) -> bool {
    let text = format!("{error:#}");
    text.contains("cannot listen on") || text.contains("Address already in use")
}

/// A running daemon. Killed (SIGKILL) on drop if still running.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    api_addr: SocketAddr,
    p2p_addr: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    _temp: tempfile::TempDir,
}

impl Daemon {
    /// The API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The libp2p listen multiaddr it was given (`/ip4/127.0.0.1/tcp/PORT`, no `/p2p/`).
    pub fn p2p_addr(&self) -> &str {
        &self.p2p_addr
    }

    /// Its data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        self.wait_exit(Duration::from_secs(30))
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "daemon did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("daemon exited early with {status}; log:\n{}", self.log());
            }
            if let Ok((200, _)) = http_get(self.api_addr, "/api/v0/version") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "daemon not ready after {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
