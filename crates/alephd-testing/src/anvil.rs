//! A real anvil (Foundry's dev EVM chain, installed from npm by `scripts/test-env.sh`) on a
//! loopback port of its own choosing, killed when dropped.
//!
//! anvil binds port 0 and we read the port it got from its `Listening on` line: choosing a
//! "free" port first and passing it in races with every other test doing the same (two anvils
//! on one port: one exits, and its test talks to the other one's chain until that dies).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::repo_root;

/// How long anvil may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The well-known private keys of anvil's default dev accounts #0..#2 (public test keys).
pub const ANVIL_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// anvil's default chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// A running anvil.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    addr: SocketAddr,
}

impl Anvil {
    /// `<repo>/tests-js/node_modules/.bin/anvil`; an error telling how to install it when
    /// missing (a test that needs a chain fails, never passes silently).
    pub fn binary() -> anyhow::Result<PathBuf> {
        let path = repo_root().join("tests-js/node_modules/.bin/anvil");
        if !path.exists() {
            bail!(
                "{} not found: run scripts/test-env.sh to install anvil (npm @foundry-rs/anvil)",
                path.display()
            );
        }
        Ok(path)
    }

    /// Starts anvil mining a block per transaction (plus blocks mined on demand).
    pub fn start() -> anyhow::Result<Self> {
        Self::spawn(None)
    }

    /// Starts anvil mining a block every `seconds`.
    pub fn with_block_time(seconds: u64) -> anyhow::Result<Self> {
        Self::spawn(Some(seconds))
    }

    fn spawn(block_time: Option<u64>) -> anyhow::Result<Self> {
        let mut command = Command::new(Self::binary()?);
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--chain-id",
            &ANVIL_CHAIN_ID.to_string(),
        ]);
        if let Some(s) = block_time {
            command.arg("--block-time").arg(s.to_string());
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot spawn anvil")?;
        let stdout = child.stdout.take().context("anvil's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads the bound address, then keeps draining anvil's request log so it never blocks.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(addr) = line.trim().strip_prefix("Listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut anvil = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(addr) => {
                    anvil.addr = addr
                        .parse()
                        .with_context(|| format!("anvil printed an odd address `{addr}`"))?;
                    return Ok(anvil);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = anvil.child.wait()?;
                    bail!("anvil exited at start: {status}");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = anvil.child.try_wait()? {
                        bail!("anvil exited at start: {status}");
                    }
                    if Instant::now() > deadline {
                        bail!("anvil did not start listening within {START_TIMEOUT:?}");
                    }
                }
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
