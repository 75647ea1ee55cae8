//! `storage.ipfs_rpc_url` end to end with two real daemons that are NOT peers: node B holds
//! the content; node A knows B only as a Kubo-compatible RPC. A message on A whose content
//! is an `ipfs` item that only B has gets processed on A, with the content fetched from B's
//! `/api/v0/dag/export` and verified against its CID; a CID B does not have leaves the
//! message waiting (pending), never processed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

#[path = "p2p/cluster.rs"]
mod cluster;

use std::time::Duration;

use alephd_message::{
    Address, ItemHash, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use cluster::{Node, NodeOptions, wait_until};
use serde_json::{Value, json};

fn ipfs_post(signer: &EthAccount, cid: &str, time: f64) -> Value {
    let unsigned = UnsignedMessage::stored(
        signer.chain(),
        Address::new(signer.address()),
        MessageType::Post,
        ItemHash::parse(cid).unwrap(),
        time,
    );
    signer.sign_message(unsigned).unwrap().to_wire_value()
}

async fn cat(node: &Node, cid: &str) -> bytes::Bytes {
    node.http
        .post(node.url(&format!("/api/v0/cat?arg={cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_only_an_ipfs_rpc_has_is_fetched_and_verified() {
    let holder = Node::start(NodeOptions::default()).await;
    let signer = EthAccount::generate();
    let time = 1_700_000_000.0;
    // Over 256 KiB once serialised, so the CID names a multi-block DAG.
    let content = json!({
        "address": signer.address(),
        "time": time,
        "type": "ipfs-rpc-test",
        "content": {"blob": "x".repeat(300_000)},
    });
    let added: Value = holder
        .http
        .post(holder.url("/api/v0/ipfs/add_json"))
        .json(&content)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cid = added["hash"]
        .as_str()
        .expect("add_json answers a hash")
        .to_owned();
    assert!(cid.starts_with("Qm"), "{added}");

    let node = Node::start(NodeOptions {
        env: vec![(
            "ALEPHD_STORAGE__IPFS_RPC_URL".into(),
            holder.daemon.api_url(),
        )],
        ..NodeOptions::default()
    })
    .await;
    assert!(
        node.connected().await.is_empty(),
        "the two nodes are not peers"
    );

    let message = ipfs_post(&signer, &cid, time);
    let hash = message["item_hash"].as_str().unwrap().to_owned();
    node.post(&message).await;
    wait_until(
        "the ipfs POST processed on the node that only knows the RPC",
        Duration::from_secs(60),
        &[&node],
        || async { node.status(&hash).await.as_deref() == Some("processed") },
    )
    .await;
    let served: Value = node.get_json(&format!("/api/v0/messages/{hash}")).await;
    assert_eq!(
        served["message"]["content"]["content"]["blob"]
            .as_str()
            .map(str::len),
        Some(300_000),
        "{}",
        served["message"]["content"]["type"]
    );
    // The node now holds and serves the content itself, byte-identical.
    let raw = cat(&node, &cid).await;
    let original = cat(&holder, &cid).await;
    assert_eq!(raw, original);

    // A CID the RPC does not have: the message waits for its content.
    let missing = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
    let waiting = ipfs_post(&signer, missing, time + 1.0);
    let waiting_hash = waiting["item_hash"].as_str().unwrap().to_owned();
    node.post(&waiting).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_ne!(
        node.status(&waiting_hash).await.as_deref(),
        Some("processed"),
        "content nobody has cannot be processed"
    );
}
