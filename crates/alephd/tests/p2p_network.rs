//! The p2p network between real `alephd daemon` processes on loopback: gossip and content
//! fetching across five nodes, catch-up of a node that was down, and convergence after a
//! partition heals. Every wait polls with a deadline; nothing asserts a duration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

#[path = "p2p/cluster.rs"]
mod cluster;

use std::time::Duration;

use alephd_message::signature::EthAccount;
use cluster::{Node, NodeOptions, post_all, same_root, signed_post, signed_store, wait_until};
use sha2::{Digest, Sha256};

/// The tests start many processes on two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn hash_of(value: &serde_json::Value) -> String {
    value["item_hash"].as_str().unwrap().to_owned()
}

async fn start_group(size: usize, first_bootstrap: Vec<String>) -> Vec<Node> {
    let mut nodes = vec![
        Node::start(NodeOptions {
            bootstrap: first_bootstrap,
            ..NodeOptions::default()
        })
        .await,
    ];
    for _ in 1..size {
        let boot = nodes[0].multiaddr();
        nodes.push(
            Node::start(NodeOptions {
                bootstrap: vec![boot],
                ..NodeOptions::default()
            })
            .await,
        );
    }
    nodes
}

async fn all_processed(nodes: &[Node], hash: &str) -> bool {
    for node in nodes {
        if node.status(hash).await.as_deref() != Some("processed") {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_serve_a_message_and_a_file_posted_on_one() {
    let _serial = SERIAL.lock().await;
    let nodes = start_group(5, Vec::new()).await;
    let everyone: Vec<&Node> = nodes.iter().collect();
    let signer = EthAccount::generate();

    let post = signed_post(&signer, 1, "P2P-FIVE");
    nodes[0].post(&post).await;
    let hash = hash_of(&post);
    wait_until(
        "the POST processed on all five nodes",
        Duration::from_secs(60),
        &everyone,
        || all_processed(&nodes, &hash),
    )
    .await;

    // A file only node 1 has, then a STORE message referencing it.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file_hash = hex::encode(Sha256::digest(&file));
    let added: serde_json::Value = nodes[0]
        .http
        .post(nodes[0].url("/api/v0/storage/add_file"))
        .body(file.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["hash"], file_hash.as_str(), "{added}");
    let store = signed_store(&signer, &file_hash);
    nodes[0].post(&store).await;
    let store_hash = hash_of(&store);
    wait_until(
        "the STORE processed on all five nodes",
        Duration::from_secs(60),
        &everyone,
        || all_processed(&nodes, &store_hash),
    )
    .await;
    for node in &nodes[1..] {
        let raw = node.url(&format!("/api/v0/storage/raw/{file_hash}"));
        wait_until(
            "the file fetched from peers",
            Duration::from_secs(60),
            &everyone,
            || async {
                match node.http.get(&raw).send().await {
                    Ok(r) if r.status().is_success() => {
                        let body = r.bytes().await.unwrap();
                        hex::encode(Sha256::digest(&body)) == file_hash && body[..] == file[..]
                    }
                    _ => false,
                }
            },
        )
        .await;
        let metrics = node.metrics().await;
        assert!(
            metrics["fetches_ok"].as_u64().unwrap() >= 1,
            "the file came from a peer: {metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_during_1000_posts_catches_up_after_restart() {
    let _serial = SERIAL.lock().await;
    let mut nodes = start_group(3, Vec::new()).await;
    let late_dir = tempfile::tempdir().unwrap();
    let boot = nodes[0].multiaddr();
    let late = Node::start(NodeOptions {
        bootstrap: vec![boot.clone()],
        data_dir: Some(late_dir.path()),
        ..NodeOptions::default()
    })
    .await;
    // It knew the network, and one message, before going down.
    let signer = EthAccount::generate();
    let first = signed_post(&signer, 0, "P2P-LATE");
    nodes[0].post(&first).await;
    wait_until(
        "the late node to get the first message",
        Duration::from_secs(60),
        &[&late],
        || {
            let late = &late;
            let hash = hash_of(&first);
            async move { late.status(&hash).await.as_deref() == Some("processed") }
        },
    )
    .await;
    drop(late.stop().await);

    let messages: Vec<_> = (1..=1_000)
        .map(|n| signed_post(&signer, n, "P2P-LATE"))
        .collect();
    post_all(&nodes[0], &messages, 16).await;
    let online: Vec<&Node> = nodes.iter().collect();
    wait_until(
        "the online nodes to agree",
        Duration::from_secs(120),
        &online,
        || same_root(&online, 1_001),
    )
    .await;

    let late = Node::start(NodeOptions {
        bootstrap: vec![boot],
        data_dir: Some(late_dir.path()),
        ..NodeOptions::default()
    })
    .await;
    nodes.push(late);
    let all: Vec<&Node> = nodes.iter().collect();
    wait_until(
        "the restarted node to catch up",
        Duration::from_secs(120),
        &all,
        || same_root(&all, 1_001),
    )
    .await;
    let delivered = nodes[3].metrics().await["sync_delivered"].as_u64().unwrap();
    assert!(
        delivered >= 1_000,
        "caught up by range reconciliation: {delivered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_converges() {
    let _serial = SERIAL.lock().await;
    let left = start_group(2, Vec::new()).await;
    let mut right = vec![Node::start(NodeOptions::default()).await];
    let bridge_dir = tempfile::tempdir().unwrap();
    right.push(
        Node::start(NodeOptions {
            bootstrap: vec![right[0].multiaddr()],
            data_dir: Some(bridge_dir.path()),
            ..NodeOptions::default()
        })
        .await,
    );

    let (alice, bob) = (EthAccount::generate(), EthAccount::generate());
    let left_posts: Vec<_> = (0..100).map(|n| signed_post(&alice, n, "LEFT")).collect();
    let right_posts: Vec<_> = (0..100).map(|n| signed_post(&bob, n, "RIGHT")).collect();
    post_all(&left[0], &left_posts, 8).await;
    post_all(&right[0], &right_posts, 8).await;
    let (l, r): (Vec<&Node>, Vec<&Node>) = (left.iter().collect(), right.iter().collect());
    wait_until(
        "the left group to agree",
        Duration::from_secs(60),
        &l,
        || same_root(&l, 100),
    )
    .await;
    wait_until(
        "the right group to agree",
        Duration::from_secs(60),
        &r,
        || same_root(&r, 100),
    )
    .await;
    assert_ne!(left[0].state_root().await, right[0].state_root().await);
    for node in &left {
        let connected = node.connected().await;
        assert!(
            right.iter().all(|r| !connected.contains(&r.peer_id)),
            "the groups are apart"
        );
    }

    // Heal: the right group's second node comes back knowing one node of each side (the
    // left one by address only, without its peer id).
    let bridge = right.pop().unwrap();
    drop(bridge.stop().await);
    right.push(
        Node::start(NodeOptions {
            bootstrap: vec![right[0].multiaddr(), left[0].daemon.p2p_addr().to_owned()],
            data_dir: Some(bridge_dir.path()),
            ..NodeOptions::default()
        })
        .await,
    );
    let all: Vec<&Node> = left.iter().chain(right.iter()).collect();
    wait_until(
        "all nodes to agree after the heal",
        Duration::from_secs(30),
        &all,
        || same_root(&all, 200),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_comes_from_an_http_peer_when_no_p2p_peer_has_it() {
    let _serial = SERIAL.lock().await;
    let holder = Node::start(NodeOptions::default()).await;
    // Not connected over p2p: it only knows the holder's HTTP API.
    let fetcher = Node::start(NodeOptions {
        env: vec![(
            "ALEPHD_P2P__HTTP_PEERS".to_owned(),
            format!("[\"{}\"]", holder.daemon.api_url()),
        )],
        ..NodeOptions::default()
    })
    .await;
    let file: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let file_hash = hex::encode(Sha256::digest(&file));
    let added: serde_json::Value = holder
        .http
        .post(holder.url("/api/v0/storage/add_file"))
        .body(file.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["hash"], file_hash.as_str(), "{added}");
    // The STORE message reaches the fetcher directly (its API), the file over HTTP.
    let store = signed_store(&EthAccount::generate(), &file_hash);
    fetcher.post(&store).await;
    let raw = fetcher.url(&format!("/api/v0/storage/raw/{file_hash}"));
    wait_until(
        "the file fetched from the HTTP peer",
        Duration::from_secs(60),
        &[&holder, &fetcher],
        || async {
            match fetcher.http.get(&raw).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.unwrap()[..] == file[..],
                _ => false,
            }
        },
    )
    .await;
    assert!(
        fetcher.connected().await.is_empty(),
        "no p2p peer was involved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_finds_its_peers_in_the_peer_table() {
    let _serial = SERIAL.lock().await;
    let hub = Node::start(NodeOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(NodeOptions {
        bootstrap: vec![hub.multiaddr()],
        data_dir: Some(dir.path()),
        ..NodeOptions::default()
    })
    .await;
    let hub_addr = hub.multiaddr();
    wait_until(
        "the hub's ALIVE announcement",
        Duration::from_secs(60),
        &[&hub, &node],
        || async {
            let peers = node.get_json("/api/v0/p2p/peers.json").await;
            peers["known"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["p2p_address"] == hub_addr.as_str())
        },
    )
    .await;
    drop(node.stop().await);

    // No --bootstrap this time: only the peer table knows the hub.
    let node = Node::start(NodeOptions {
        data_dir: Some(dir.path()),
        ..NodeOptions::default()
    })
    .await;
    wait_until(
        "the restarted node to dial the hub from its peer table",
        Duration::from_secs(30),
        &[&hub, &node],
        || async { node.connected().await.contains(&hub.peer_id) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alephd_peers_shows_the_running_nodes_view() {
    let _serial = SERIAL.lock().await;
    let hub = Node::start(NodeOptions::default()).await;
    let node = Node::start(NodeOptions {
        bootstrap: vec![hub.multiaddr()],
        ..NodeOptions::default()
    })
    .await;
    wait_until(
        "the two nodes to connect",
        Duration::from_secs(30),
        &[&hub, &node],
        || async { hub.connected().await.contains(&node.peer_id) },
    )
    .await;
    let run = |json: bool| {
        let mut command = std::process::Command::new(cluster::BIN);
        command.arg("peers").arg("--api").arg(hub.daemon.api_url());
        if json {
            command.arg("--json");
        }
        command.output().unwrap()
    };
    // Aleph's shape: the node's multiaddrs, each ending in its peer id.
    let public = hub.get_json("/api/v0/info/public.json").await;
    assert_eq!(
        public["node_multi_addresses"][0],
        hub.multiaddr().as_str(),
        "{public}"
    );
    let table = run(false);
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains(&format!("node {}", hub.peer_id)), "{text}");
    assert!(text.contains("connected peers: 1"), "{text}");
    assert!(text.contains(&node.peer_id), "{text}");
    let json = run(true);
    let view: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(view["public"]["peer_id"], hub.peer_id.as_str());
    assert_eq!(
        view["peers"]["connected"][0]["peer_id"],
        node.peer_id.as_str()
    );
    // A node that is not there is a clear error, not a panic.
    let down = std::process::Command::new(cluster::BIN)
        .args(["peers", "--api", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach the node"));
}
