//! A hostile libp2p peer (the real `alephd-p2p` service driven by the test, plus raw TCP)
//! against a real `alephd daemon`: malformed frames, requests over the protocol's bounds,
//! invalid and badly signed messages, oversized gossip, floods, and wrong or oversized content
//! answers. The daemon does not crash, its state root does not change, nothing invalid reaches
//! a bystander, and each attacker is banned (disconnected) while honest gossip keeps flowing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

#[path = "p2p/cluster.rs"]
mod cluster;

use std::{sync::Arc, time::Duration};

use alephd_message::{
    Address, ItemHash, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use alephd_p2p::{
    Keypair, MemoryContent, MemorySyncStore, NodeBridge, P2pConfig, P2pHandle, P2pService, PeerId,
    Request, Sha256Verifier, TimeRange,
};
use bytes::Bytes;
use cluster::{Node, NodeOptions, signed_post, wait_until};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// Gossip per peer per second the victim accepts in this test (Aleph-scale default: 5,000).
const FLOOD_LIMIT: &str = "50";

struct Hostile {
    handle: P2pHandle,
    /// What it answers to content requests (anything, under any hash).
    content: MemoryContent,
    cancel: CancellationToken,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A libp2p node of our own, connected to `victim`, that sends whatever the test asks.
async fn hostile(victim: &Node) -> Hostile {
    let mut config = P2pConfig {
        listen_addr: "/ip4/127.0.0.1/tcp/0".to_owned(),
        kademlia: false,
        bootstrap: vec![victim.multiaddr()],
        ..P2pConfig::default()
    };
    // Our own limit is raised so oversized messages leave this node.
    config.limits.max_gossip_size = 1024 * 1024;
    let content = MemoryContent::default();
    let bridge = NodeBridge {
        content: Arc::new(content.clone()),
        sync: Arc::new(MemorySyncStore::default()),
        verifier: Arc::new(Sha256Verifier),
    };
    let cancel = CancellationToken::new();
    let service = P2pService::spawn(config, Keypair::generate_ed25519(), bridge, cancel.clone())
        .await
        .unwrap();
    let hostile = Hostile {
        handle: service.handle,
        content,
        cancel,
    };
    let id = hostile.handle.local_peer_id().to_string();
    wait_until(
        "the hostile peer to connect",
        Duration::from_secs(30),
        &[victim],
        || {
            let id = id.clone();
            async move { victim.connected().await.contains(&id) }
        },
    )
    .await;
    hostile
}

/// Publishes, waiting first for gossipsub to see the victim subscribed.
async fn publish(hostile: &Hostile, data: Bytes) {
    for _ in 0..100 {
        match hostile.handle.publish_message(data.clone()).await {
            Err(alephd_p2p::PublishError::NoPeers) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return,
        }
    }
}

async fn wait_banned(victim: &Node, hostile: &Hostile) {
    let id = hostile.handle.local_peer_id().to_string();
    wait_until(
        "the hostile peer to be banned",
        Duration::from_secs(30),
        &[victim],
        || {
            let id = id.clone();
            async move {
                let peers = victim.get_json("/api/v0/p2p/peers.json").await;
                let banned = peers["known"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["peer_id"] == id.as_str() && p["banned"] == true);
                banned && !victim.connected().await.contains(&id)
            }
        },
    )
    .await;
}

/// A well-formed message whose signature is another account's.
fn badly_signed(n: usize) -> Bytes {
    let (owner, forger) = (EthAccount::generate(), EthAccount::generate());
    let mut message = signed_post(&owner, n, "HOSTILE");
    let good = signed_post(&forger, n, "HOSTILE");
    message["signature"] = good["signature"].clone();
    Bytes::from(message.to_string())
}

/// A correctly signed message whose content no one has: never applied, never judged invalid.
fn unavailable_content(signer: &EthAccount, n: usize) -> Bytes {
    let hash = ItemHash::sha256_of(format!("missing {n} {}", signer.address()));
    let unsigned = UnsignedMessage::stored(
        signer.chain(),
        Address::new(signer.address()),
        MessageType::Post,
        hash,
        1_700_000_000.0 + n as f64,
    );
    let message = signer.sign_message(unsigned).unwrap();
    Bytes::from(message.to_wire_value().to_string())
}

/// A correctly signed message whose `storage` content (hash returned) nobody honest has.
fn stored_message(signer: &EthAccount, n: usize) -> (ItemHash, Value) {
    let content = format!(
        "{{\"address\":\"{}\",\"time\":1700000000.0,\"type\":\"t\",\"content\":{{\"n\":{n}}}}}",
        signer.address()
    );
    let hash = ItemHash::sha256_of(content.as_bytes());
    let unsigned = UnsignedMessage::stored(
        signer.chain(),
        Address::new(signer.address()),
        MessageType::Post,
        hash.clone(),
        1_700_000_000.0,
    );
    let message = signer.sign_message(unsigned).unwrap().to_wire_value();
    (hash, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_banned_and_change_nothing() {
    let flood_env = (
        "ALEPHD_P2P__LIMITS__MAX_GOSSIP_PER_PEER_PER_SEC".to_owned(),
        FLOOD_LIMIT.to_owned(),
    );
    let victim = Node::start(NodeOptions {
        env: vec![flood_env],
        ..NodeOptions::default()
    })
    .await;
    let bystander = Node::start(NodeOptions {
        bootstrap: vec![victim.multiaddr()],
        ..NodeOptions::default()
    })
    .await;
    let before = victim.state_root().await;
    let victim_id: PeerId = victim.peer_id.parse().unwrap();

    // 1. Raw TCP garbage, with and without a plausible multistream header.
    let port: u16 = victim
        .daemon
        .p2p_addr()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for prefix in [&b""[..], b"\x13/multistream/1.0.0\n"] {
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let _ = raw.write_all(prefix).await;
        let _ = raw.write_all(&[0xAB; 70_000]).await;
    }

    // 2. Garbage and badly signed gossip: rejected by the node's real verdict.
    let attacker = hostile(&victim).await;
    publish(&attacker, Bytes::from_static(b"\x00\xffnot json")).await;
    publish(&attacker, Bytes::from_static(b"{\"truncated\":")).await;
    for n in 0..4 {
        publish(&attacker, badly_signed(n)).await;
    }
    wait_banned(&victim, &attacker).await;
    drop(attacker);

    // 3. Requests over the exchange protocol's bounds.
    let attacker = hostile(&victim).await;
    for _ in 0..6 {
        let hashes = (0..200u32)
            .map(|i| ItemHash::sha256_of(i.to_be_bytes()))
            .collect();
        let _ = attacker
            .handle
            .request(victim_id, Request::Messages { hashes })
            .await;
        let ranges = vec![TimeRange::until(10); 1_000];
        let _ = attacker
            .handle
            .request(victim_id, Request::Fingerprints { ranges })
            .await;
    }
    wait_banned(&victim, &attacker).await;
    drop(attacker);

    // 4. Messages over Aleph's 256 KiB gossip limit.
    let attacker = hostile(&victim).await;
    for i in 0..4 {
        let big = format!("{{\"pad\":\"{}\",\"i\":{i}}}", "x".repeat(300_000));
        publish(&attacker, Bytes::from(big)).await;
    }
    wait_banned(&victim, &attacker).await;
    drop(attacker);

    // 5. A flood of signed messages whose content is nowhere: only the rate gets it banned.
    let attacker = hostile(&victim).await;
    let signer = EthAccount::generate();
    let id = attacker.handle.local_peer_id().to_string();
    for round in 0..30 {
        for i in 0..200 {
            let _ = attacker
                .handle
                .publish_message(unavailable_content(&signer, round * 1_000 + i))
                .await;
        }
        if !victim.connected().await.contains(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_banned(&victim, &attacker).await;
    let metrics = victim.metrics().await;
    assert!(metrics["gossip_dropped"].as_u64().unwrap() > 0, "{metrics}");
    drop(attacker);

    // 6. Wrong and oversized answers to the victim's content requests: messages whose content
    // only the attacker claims to have, posted to the victim's API.
    let attacker = hostile(&victim).await;
    let owner = EthAccount::generate();
    let oversized = stored_message(&owner, 0);
    attacker
        .content
        .insert(oversized.0, Bytes::from(vec![b'x'; 5 * 1024 * 1024]))
        .await;
    victim.post(&oversized.1).await;
    for n in 1..=6 {
        let (hash, message) = stored_message(&owner, n);
        attacker
            .content
            .insert(hash, Bytes::from_static(b"{\"not\":\"it\"}"))
            .await;
        victim.post(&message).await;
    }
    wait_banned(&victim, &attacker).await;
    let metrics = victim.metrics().await;
    assert!(
        metrics["fetches_bad_content"].as_u64().unwrap() >= 1,
        "{metrics}"
    );
    assert!(metrics["peers_banned"].as_u64().unwrap() >= 5, "{metrics}");
    drop(attacker);

    // The victim is unharmed: same state, nothing forwarded, honest gossip still flows.
    assert_eq!(victim.state_root().await, before, "state unchanged");
    let bystander_metrics: Value = bystander.metrics().await;
    assert_eq!(
        bystander_metrics["gossip_rejected"], 0,
        "{bystander_metrics}"
    );
    assert_eq!(bystander.state_root().await, before);
    let honest = signed_post(&EthAccount::generate(), 1, "AFTER");
    bystander.post(&honest).await;
    let hash = honest["item_hash"].as_str().unwrap().to_owned();
    wait_until(
        "honest gossip to reach the victim",
        Duration::from_secs(30),
        &[&victim, &bystander],
        || {
            let hash = hash.clone();
            let victim = &victim;
            async move { victim.status(&hash).await.as_deref() == Some("processed") }
        },
    )
    .await;
    assert!(victim.daemon.log().contains("banned"), "bans are logged");
}
