//! Hostile peers: garbage gossip, invalid messages, malformed frames, oversized frames and
//! floods do not crash a node, do not change its state, are not forwarded, and get the peer
//! disconnected.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::harness::{TestNode, invalid_message, message, now_secs, settle, test_config, wait_for};

/// Victim connected to a hostile peer and to a bystander that only hears through the victim.
async fn victim_setup() -> (TestNode, TestNode, TestNode) {
    let victim = TestNode::start(test_config()).await;
    let bystander = TestNode::start(test_config()).await;
    let mut hostile_config = test_config();
    hostile_config.limits.max_gossip_size = 1024 * 1024;
    let hostile = TestNode::start(hostile_config).await;
    bystander.connect(&victim).await;
    hostile.connect(&victim).await;
    settle().await;
    (victim, bystander, hostile)
}

async fn wait_banned(victim: &TestNode, hostile: &TestNode) {
    let id = hostile.handle.local_peer_id().to_string();
    wait_for(
        "the hostile peer to be banned",
        Duration::from_secs(10),
        || async {
            eprintln!(
                "DEBUG {:?} {:?}",
                victim.handle.peers().await.unwrap(),
                victim.handle.stats()
            );
            let banned = victim
                .events_seen
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains("PeerBanned") && e.contains(&id));
            banned
                && !victim
                    .handle
                    .peers()
                    .await
                    .unwrap()
                    .iter()
                    .any(|p| p.peer_id == id)
        },
    )
    .await;
}

/// The victim still works: a valid message from the bystander is stored.
async fn still_healthy(victim: &TestNode, bystander: &TestNode) {
    let ok = message("after the attack", now_secs());
    bystander.post(&ok).await;
    wait_for(
        "victim to still accept valid gossip",
        Duration::from_secs(10),
        || async { victim.store.contains(&ok.key.hash).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_invalid_gossip_gets_the_peer_banned_and_is_never_forwarded() {
    let (victim, bystander, hostile) = victim_setup().await;
    let payloads = [
        Bytes::from_static(b"\x00\xffnot json at all"),
        invalid_message("bad hash 1"),
        Bytes::from_static(b"{\"truncated\":"),
        invalid_message("bad hash 2"),
        invalid_message("bad hash 3"),
    ];
    for payload in payloads {
        let _ = hostile.handle.publish_message(payload).await;
    }
    wait_banned(&victim, &hostile).await;
    assert!(victim.store.is_empty().await, "state unchanged");
    assert!(victim.handle.stats().gossip_rejected >= 3);
    assert_eq!(
        bystander.handle.stats().gossip_in,
        0,
        "nothing invalid was forwarded"
    );
    // A banned peer that dials again is dropped at once.
    let _ = hostile.handle.dial(victim.addr.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = hostile.handle.local_peer_id().to_string();
    assert!(
        !victim
            .handle
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer_id == id)
    );
    still_healthy(&victim, &bystander).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_oversized_gossip_do_not_hurt() {
    let (victim, bystander, hostile) = victim_setup().await;
    // Raw TCP garbage, before and after a plausible multistream header.
    let port = victim.addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
        _ => None,
    });
    for prefix in [&b""[..], b"\x13/multistream/1.0.0\n"] {
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port.unwrap()))
            .await
            .unwrap();
        let _ = raw.write_all(prefix).await;
        let _ = raw.write_all(&[0xAB; 70_000]).await;
        drop(raw);
    }
    // Messages over Aleph's 256 KiB limit (the hostile node raised its own limit): never
    // handed to the node, and they sink the sender's score until it is banned.
    for i in 0..4 {
        let big = format!("{{\"pad\":\"{}\",\"i\":{i}}}", "x".repeat(300_000));
        let _ = hostile.handle.publish_message(Bytes::from(big)).await;
    }
    wait_banned(&victim, &hostile).await;
    assert!(victim.store.is_empty().await);
    assert_eq!(victim.handle.stats().gossip_in, 0);
    assert_eq!(bystander.handle.stats().gossip_in, 0);
    still_healthy(&victim, &bystander).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_banned() {
    let mut config = test_config();
    config.limits.max_gossip_per_peer_per_sec = 50;
    config.strike_limit = 2;
    let victim = TestNode::start(config).await;
    let hostile = TestNode::start(test_config()).await;
    hostile.connect(&victim).await;
    settle().await;
    let id = hostile.handle.local_peer_id().to_string();
    let start = now_secs();
    for round in 0..6 {
        for i in 0..200 {
            let _ = hostile
                .handle
                .publish_message(message(&format!("flood {round} {i}"), start).wire)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        if !victim
            .handle
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer_id == id)
        {
            break;
        }
    }
    wait_banned(&victim, &hostile).await;
    assert!(victim.handle.stats().gossip_dropped > 0);
}
