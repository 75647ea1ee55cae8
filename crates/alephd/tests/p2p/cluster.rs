//! Real `alephd daemon` processes wired into a p2p network on loopback, and the helpers the
//! network tests and the benchmark share: signed messages, state roots, polling.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

use std::{
    path::Path,
    time::{Duration, Instant},
};

use alephd_message::{
    Address, Channel, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use alephd_sdk::AlephClient;
use alephd_testing::{Daemon, DaemonBuilder};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_alephd");

/// Settings that make a small loopback network converge quickly (catch-up and re-dials every
/// second or two instead of Aleph's minutes); behaviour is otherwise the default.
pub const FAST_NETWORK: [(&str, &str); 3] = [
    ("ALEPHD_P2P__SYNC_INTERVAL_SECS", "2"),
    ("ALEPHD_P2P__DISCOVERY_INTERVAL_SECS", "2"),
    ("ALEPHD_P2P__ALIVE_INTERVAL_SECS", "5"),
];

/// One running node.
pub struct Node {
    pub daemon: Daemon,
    pub peer_id: String,
    pub client: AlephClient,
    pub http: reqwest::Client,
}

/// How to start a node.
#[derive(Default, Clone)]
pub struct NodeOptions<'a> {
    pub bootstrap: Vec<String>,
    pub data_dir: Option<&'a Path>,
    pub env: Vec<(String, String)>,
}

impl Node {
    pub async fn start(options: NodeOptions<'_>) -> Node {
        let mut builder = DaemonBuilder::new(BIN);
        if let Some(dir) = options.data_dir {
            builder = builder.data_dir(dir);
        }
        for (k, v) in FAST_NETWORK {
            builder = builder.env(k, v);
        }
        for (k, v) in &options.env {
            builder = builder.env(k, v);
        }
        for addr in &options.bootstrap {
            builder = builder.arg("--bootstrap").arg(addr);
        }
        let daemon = tokio::task::spawn_blocking(move || builder.start())
            .await
            .unwrap()
            .unwrap();
        let client = AlephClient::new(&daemon.api_url()).unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let info: Value = http
            .get(format!("{}/api/v0/info/public.json", daemon.api_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let peer_id = info["peer_id"].as_str().unwrap().to_owned();
        Node {
            daemon,
            peer_id,
            client,
            http,
        }
    }

    /// Its full multiaddr, `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    pub fn multiaddr(&self) -> String {
        format!("{}/p2p/{}", self.daemon.p2p_addr(), self.peer_id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.api_url())
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `(root, messages)` of `/api/v0/state_root.json`.
    pub async fn state_root(&self) -> (String, u64) {
        let root = self.get_json("/api/v0/state_root.json").await;
        (
            root["root"].as_str().unwrap().to_owned(),
            root["messages"].as_u64().unwrap(),
        )
    }

    /// The message's status on this node (`None` while unknown).
    pub async fn status(&self, hash: &str) -> Option<String> {
        let response = self
            .http
            .get(self.url(&format!("/api/v0/messages/{hash}")))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        body["status"].as_str().map(str::to_owned)
    }

    pub async fn post(&self, message: &Value) {
        let result = self.client.submit_value(message, false).await.unwrap();
        assert!(
            matches!(result.http_status, 200 | 202),
            "message refused: {result:?}"
        );
    }

    /// Connected peer ids.
    pub async fn connected(&self) -> Vec<String> {
        let peers = self.get_json("/api/v0/p2p/peers.json").await;
        peers["connected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["peer_id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn metrics(&self) -> Value {
        self.get_json("/api/v0/p2p/metrics.json").await
    }

    /// SIGTERM, then wait for the exit.
    pub async fn stop(mut self) -> Daemon {
        let status = tokio::task::spawn_blocking(move || {
            let status = self.daemon.terminate();
            (self.daemon, status)
        })
        .await
        .unwrap();
        assert!(status.1.unwrap().success(), "daemon failed on SIGTERM");
        status.0
    }
}

/// Polls `check` every 100 ms until it holds (true) or `limit` passes (false).
pub async fn poll_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls like [`poll_until`]; fails the test with `what` and the nodes' logs on timeout.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, nodes: &[&Node], check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !poll_until(limit, check).await {
        for node in nodes {
            eprintln!("===== log of {}\n{}", node.peer_id, node.daemon.log());
        }
        panic!("timed out waiting for {what}");
    }
}

/// Whether every node reports the same state root with at least `min_messages` messages.
pub async fn same_root(nodes: &[&Node], min_messages: u64) -> bool {
    let mut roots = Vec::new();
    for node in nodes {
        roots.push(node.state_root().await);
    }
    roots.iter().all(|r| r == &roots[0]) && roots[0].1 >= min_messages
}

/// A signed POST (wire JSON) from `signer`; `n` makes it unique.
pub fn signed_post(signer: &EthAccount, n: usize, channel: &str) -> Value {
    let time = 1_700_000_000.0 + n as f64 / 1000.0;
    let content = json!({"address": signer.address(), "time": time, "type": "p2p-test", "content": {"n": n, "channel": channel}});
    let unsigned = UnsignedMessage::inline(
        signer.chain(),
        Address::new(signer.address()),
        MessageType::Post,
        &content,
        time,
    )
    .unwrap()
    .with_channel(Channel::new(channel).unwrap());
    signer.sign_message(unsigned).unwrap().to_wire_value()
}

/// A signed STORE of a file already stored under `file_hash`.
pub fn signed_store(signer: &EthAccount, file_hash: &str) -> Value {
    let time = 1_700_000_500.0;
    let content = json!({"address": signer.address(), "time": time, "item_type": "storage", "item_hash": file_hash});
    let unsigned = UnsignedMessage::inline(
        signer.chain(),
        Address::new(signer.address()),
        MessageType::Store,
        &content,
        time,
    )
    .unwrap();
    signer.sign_message(unsigned).unwrap().to_wire_value()
}

/// Posts every message to `node`, `concurrency` at a time.
pub async fn post_all(node: &Node, messages: &[Value], concurrency: usize) {
    use futures::StreamExt as _;
    futures::stream::iter(messages)
        .for_each_concurrent(concurrency, |m| node.post(m))
        .await;
}
