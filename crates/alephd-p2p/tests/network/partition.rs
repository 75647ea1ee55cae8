//! Catch-up: a node restarted after missing 1,000 messages, and a healed partition, converge.

use std::time::{Duration, Instant};

use crate::harness::{TestNode, line, message, now_secs, settle, test_config, wait_for};

async fn same_roots(nodes: &[&TestNode]) -> bool {
    let first = nodes[0].store.root().await;
    for node in &nodes[1..] {
        if node.store.root().await != first {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_on_1000_messages() {
    let mut nodes = line(3).await;
    settle().await;
    let late = nodes.pop().unwrap();
    let (keypair, store) = (late.keypair.clone(), late.store.clone());
    late.stop();
    drop(late);
    let base = now_secs();
    for i in 0..1_000 {
        nodes[0]
            .post(&message(
                &format!("while down {i}"),
                base + f64::from(i) / 1000.0,
            ))
            .await;
    }
    wait_for(
        "1000 messages on node 1",
        Duration::from_secs(30),
        || async { nodes[1].store.len().await == 1_000 },
    )
    .await;
    assert_eq!(store.len().await, 0);
    let restarted = TestNode::start_with(test_config(), keypair, store).await;
    let started = Instant::now();
    restarted.connect(&nodes[1]).await;
    wait_for("catch-up to 1000", Duration::from_secs(30), || async {
        same_roots(&[&nodes[0], &nodes[1], &restarted]).await
    })
    .await;
    eprintln!("caught up 1000 messages in {:?}", started.elapsed());
    assert!(restarted.handle.stats().sync_delivered >= 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_converges_within_30s() {
    let mut nodes = Vec::new();
    for _ in 0..5 {
        nodes.push(TestNode::start(test_config()).await);
    }
    let [a1, a2, b1, b2, bridge] = &nodes[..] else {
        unreachable!()
    };
    a2.connect(a1).await;
    b2.connect(b1).await;
    a1.connect(bridge).await;
    b1.connect(bridge).await;
    settle().await;
    let before = message("before the split", now_secs());
    a2.post(&before).await;
    wait_for(
        "everyone has the first message",
        Duration::from_secs(10),
        || async { same_roots(&[a1, a2, b1, b2, bridge]).await },
    )
    .await;

    bridge.stop();
    let bridge_id = bridge.handle.local_peer_id().to_string();
    wait_for("the bridge to be gone", Duration::from_secs(10), || async {
        !a1.handle
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer_id == bridge_id)
            && !b1
                .handle
                .peers()
                .await
                .unwrap()
                .iter()
                .any(|p| p.peer_id == bridge_id)
    })
    .await;
    let t = now_secs();
    for i in 0..20 {
        a2.post(&message(&format!("side a {i}"), t + f64::from(i)))
            .await;
        b2.post(&message(&format!("side b {i}"), t + f64::from(i)))
            .await;
    }
    wait_for(
        "each side to agree internally",
        Duration::from_secs(10),
        || async { a1.store.len().await == 21 && b1.store.len().await == 21 },
    )
    .await;
    assert!(
        !same_roots(&[a1, b1]).await,
        "the sides diverged while split"
    );

    let healed = Instant::now();
    a1.connect(b1).await;
    wait_for(
        "convergence after the heal",
        Duration::from_secs(30),
        || async { same_roots(&[a1, a2, b1, b2]).await },
    )
    .await;
    eprintln!("converged {:?} after the heal", healed.elapsed());
    assert_eq!(a2.store.len().await, 41);
    drop(nodes);
}
