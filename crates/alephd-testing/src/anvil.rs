//! A real anvil (Foundry's dev EVM chain, installed from npm by `scripts/test-env.sh`) on a
//! free loopback port, killed when dropped.

use std::{
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::{free_port, repo_root};

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
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(Self::binary()?);
        command
            .args(["--host", "127.0.0.1", "--port"])
            .arg(addr.port().to_string())
            .args(["--chain-id", &ANVIL_CHAIN_ID.to_string(), "--silent"]);
        if let Some(s) = block_time {
            command.arg("--block-time").arg(s.to_string());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot spawn anvil")?;
        let mut anvil = Self { child, addr };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = anvil.child.try_wait()? {
                bail!("anvil exited at start: {status}");
            }
            if Instant::now() > deadline {
                bail!("anvil did not listen on {addr} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(anvil)
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
