//! A test node: the real service plus a minimal "node" that accepts a message iff its
//! `item_hash` is the sha256 of its `item_content` (Aleph's rule for inline messages).

#![allow(dead_code, unreachable_pub)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alephd_message::ItemHash;
use alephd_p2p::{
    ItemKey, Keypair, MemoryContent, MemorySyncStore, MessageOrigin, Multiaddr, NodeBridge,
    P2pConfig, P2pEvent, P2pHandle, P2pService, Sha256Verifier, Verdict,
};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

pub struct TestNode {
    pub handle: P2pHandle,
    pub store: MemorySyncStore,
    pub content: MemoryContent,
    pub keypair: Keypair,
    pub addr: Multiaddr,
    pub arrivals: Arc<Mutex<HashMap<ItemHash, Instant>>>,
    pub events_seen: Arc<Mutex<Vec<String>>>,
    cancel: CancellationToken,
}

pub fn test_config() -> P2pConfig {
    let mut config = P2pConfig {
        listen_addr: "/ip4/127.0.0.1/tcp/0".to_owned(),
        kademlia: false,
        sync_interval_secs: 2,
        discovery_interval_secs: 2,
        strike_limit: 3,
        ..P2pConfig::default()
    };
    config.limits.request_timeout_ms = 5_000;
    config
}

impl TestNode {
    pub async fn start(config: P2pConfig) -> Self {
        Self::start_with(
            config,
            Keypair::generate_ed25519(),
            MemorySyncStore::default(),
        )
        .await
    }

    /// Starts a node with a given identity and message store (a restart keeps both).
    pub async fn start_with(config: P2pConfig, keypair: Keypair, store: MemorySyncStore) -> Self {
        let content = MemoryContent::default();
        let bridge = NodeBridge {
            content: Arc::new(content.clone()),
            sync: Arc::new(store.clone()),
            verifier: Arc::new(Sha256Verifier),
        };
        let cancel = CancellationToken::new();
        let service = P2pService::spawn(config, keypair.clone(), bridge, cancel.clone())
            .await
            .expect("service starts");
        let handle = service.handle.clone();
        let listen = handle.listen_addrs().await.unwrap();
        let addr = format!("{}/p2p/{}", listen[0], handle.local_peer_id())
            .parse()
            .unwrap();
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let events_seen = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(run_node(
            service.events,
            handle.clone(),
            store.clone(),
            arrivals.clone(),
            events_seen.clone(),
        ));
        Self {
            handle,
            store,
            content,
            keypair,
            addr,
            arrivals,
            events_seen,
            cancel,
        }
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// The node accepted a message from a client: store it and gossip it.
    pub async fn post(&self, message: &TestMessage) {
        self.store
            .insert(message.key.clone(), message.wire.clone())
            .await;
        // No peers yet is fine: catch-up carries it later.
        let _ = self.handle.publish_message(message.wire.clone()).await;
    }

    pub async fn connect(&self, other: &TestNode) {
        self.handle.dial(other.addr.clone()).await.unwrap();
        let peer = other.handle.local_peer_id().to_string();
        wait_for("connection", Duration::from_secs(10), || async {
            self.handle
                .peers()
                .await
                .unwrap()
                .iter()
                .any(|p| p.peer_id == peer)
        })
        .await;
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run_node(
    mut events: tokio::sync::mpsc::Receiver<P2pEvent>,
    handle: P2pHandle,
    store: MemorySyncStore,
    arrivals: Arc<Mutex<HashMap<ItemHash, Instant>>>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    while let Some(event) = events.recv().await {
        let P2pEvent::Message { from, data, origin } = event else {
            seen.lock().unwrap().push(format!("{event:?}"));
            continue;
        };
        let verdict = match parse_valid(&data) {
            Some(key) => {
                arrivals
                    .lock()
                    .unwrap()
                    .entry(key.hash.clone())
                    .or_insert_with(Instant::now);
                store.insert(key, data).await;
                Verdict::Accept
            }
            None => Verdict::Reject,
        };
        let _ = match origin {
            MessageOrigin::Gossip(token) => handle.validate(token, verdict).await,
            MessageOrigin::CatchUp if verdict == Verdict::Reject => {
                handle.report_invalid(from).await
            }
            MessageOrigin::CatchUp => Ok(()),
        };
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    item_hash: String,
    item_content: String,
    time: f64,
}

fn parse_valid(data: &[u8]) -> Option<ItemKey> {
    let wire: Wire = serde_json::from_slice(data).ok()?;
    let hash = ItemHash::parse(&wire.item_hash).ok()?;
    (ItemHash::sha256_of(wire.item_content.as_bytes()) == hash)
        .then(|| ItemKey::from_secs(wire.time, hash))
}

#[derive(Debug, Clone)]
pub struct TestMessage {
    pub key: ItemKey,
    pub wire: Bytes,
}

/// A valid message with a unique content; `time` in seconds.
pub fn message(tag: &str, time: f64) -> TestMessage {
    let content = format!("{{\"tag\":\"{tag}\",\"time\":{time}}}");
    let hash = ItemHash::sha256_of(content.as_bytes());
    let wire = serde_json::to_vec(&Wire {
        item_hash: hash.as_str().to_owned(),
        item_content: content,
        time,
    })
    .unwrap();
    TestMessage {
        key: ItemKey::from_secs(time, hash),
        wire: Bytes::from(wire),
    }
}

/// A well-formed JSON message whose hash does not match its content.
pub fn invalid_message(tag: &str) -> Bytes {
    let wire = Wire {
        item_hash: ItemHash::sha256_of(b"something else").as_str().to_owned(),
        item_content: format!("{{\"tag\":\"{tag}\"}}"),
        time: 1.0,
    };
    Bytes::from(serde_json::to_vec(&wire).unwrap())
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `n` nodes connected in a line (1-2, 2-3, ...) or as a star around node 0.
pub async fn line(n: usize) -> Vec<TestNode> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(TestNode::start(test_config()).await);
    }
    for pair in nodes.windows(2) {
        pair[1].connect(&pair[0]).await;
    }
    nodes
}

/// Waits until every node's gossip mesh has formed (subscriptions exchanged).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
}
