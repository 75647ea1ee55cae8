//! Gossip reaches every node, and ALIVE announcements are heard.

use std::time::Duration;

use alephd_p2p::{P2pEvent, PeerType};

use crate::harness::{TestNode, line, message, now_secs, settle, test_config, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_to_one_node_reaches_all_five() {
    let nodes = line(5).await;
    settle().await;
    let msg = message("five", now_secs());
    nodes[0].post(&msg).await;
    for (i, node) in nodes.iter().enumerate() {
        wait_for(
            &format!("node {i} to store the message"),
            Duration::from_secs(10),
            || async { node.store.contains(&msg.key.hash).await },
        )
        .await;
    }
    // Forwarded hop by hop only after each node's verdict.
    assert!(nodes[4].handle.stats().gossip_in >= 1);
    assert_eq!(nodes[0].handle.stats().gossip_out, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alive_announcements_are_heard() {
    let mut config = test_config();
    config.alive_interval_secs = 1;
    config.announce_http = Some("http://127.0.0.1:4024".to_owned());
    let a = TestNode::start(config).await;
    let b = TestNode::start(test_config()).await;
    b.connect(&a).await;
    let a_id = a.handle.local_peer_id().to_string();
    wait_for("ALIVE from a", Duration::from_secs(10), || async {
        let seen = b.events_seen.lock().unwrap();
        seen.iter()
            .any(|e| e.contains("PeerAlive") && e.contains(&a_id) && e.contains("P2p"))
            && seen
                .iter()
                .any(|e| e.contains("PeerAlive") && e.contains("http://127.0.0.1:4024"))
    })
    .await;
    let _ = (PeerType::P2p, std::any::type_name::<P2pEvent>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_without_peer_id_connects_and_kademlia_finds_the_rest() {
    let mut config = test_config();
    config.kademlia = true;
    let a = TestNode::start(config.clone()).await;
    let b = TestNode::start(config.clone()).await;
    b.connect(&a).await;
    // c knows only a's address, without `/p2p/<id>`.
    let bare: String = a.addr.to_string().split("/p2p/").next().unwrap().to_owned();
    config.bootstrap = vec![bare];
    let c = TestNode::start(config).await;
    let (a_id, b_id) = (
        a.handle.local_peer_id().to_string(),
        b.handle.local_peer_id().to_string(),
    );
    wait_for(
        "c to reach a by bare address and b through Kademlia",
        Duration::from_secs(20),
        || async {
            let peers = c.handle.peers().await.unwrap();
            peers.iter().any(|p| p.peer_id == a_id) && peers.iter().any(|p| p.peer_id == b_id)
        },
    )
    .await;
    let peers = c.handle.peers().await.unwrap();
    let a_info = peers.iter().find(|p| p.peer_id == a_id).unwrap();
    assert!(
        a_info
            .addresses
            .iter()
            .any(|addr| addr.starts_with("/ip4/127.0.0.1/tcp/")),
        "{a_info:?}"
    );
    assert!(
        a_info
            .agent
            .as_deref()
            .is_some_and(|v| v.starts_with("alephd/"))
    );
    // A message from c now reaches b (through a or directly).
    settle().await;
    let msg = message("via discovery", now_secs());
    c.post(&msg).await;
    wait_for("b to get c's message", Duration::from_secs(10), || async {
        b.store.contains(&msg.key.hash).await
    })
    .await;
}
