//! Non-inline messages whose content sits in the real storage engine (`alephd-storage`).
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/signer.rs"]
mod signer;

use std::sync::Arc;

use alephd_db::{Db, NewPending, ops};
use alephd_processor::{Pipeline, ProcessorConfig, StoreFetcher};
use alephd_storage::{AddOptions, Engine, Layout, StorageConfig, Store};
use serde_json::{Value, json};
use signer::Signer;

fn stored_message(signer: &Signer, hash: &str, item_type: &str) -> Value {
    let buffer = format!(
        "{}\n{}\nAGGREGATE\n{hash}",
        signer.chain(),
        signer.address()
    );
    json!({
        "sender": signer.address(), "chain": signer.chain(), "signature": signer.sign(&buffer),
        "type": "AGGREGATE", "item_type": item_type, "item_hash": hash, "time": 5.0, "channel": "TEST",
    })
}

#[tokio::test]
async fn storage_and_ipfs_content_come_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store"), StorageConfig::default())
        .await
        .unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    let alice = Signer::eth(1);
    let mut messages = Vec::new();
    for (key, engine, item_type) in [
        ("a", Engine::Storage, "storage"),
        ("b", Engine::Ipfs(Layout::V0), "ipfs"),
    ] {
        let content = json!({"address": alice.address(), "time": 5.0, "key": key, "content": {"from": item_type}});
        let added = store
            .add_bytes(
                content.to_string().into_bytes().into(),
                AddOptions::new(engine, 1 << 20),
            )
            .await
            .unwrap();
        messages.push(stored_message(
            &alice,
            &added.content.to_string(),
            item_type,
        ));
    }
    let (events, _) = tokio::sync::broadcast::channel(16);
    let pipeline = Pipeline::new(
        db.clone(),
        Arc::new(StoreFetcher::new(store)),
        ProcessorConfig::default(),
        events,
    );
    let mut tx = db.begin().await.unwrap();
    for m in &messages {
        let text = m.to_string();
        let p = NewPending {
            item_hash: m["item_hash"].as_str().unwrap(),
            sender: m["sender"].as_str().unwrap(),
            signature: m["signature"].as_str().unwrap(),
            message: &text,
            origin: "test",
            reception_time: 0.0,
        };
        ops::enqueue(&mut tx, &p).await.unwrap();
    }
    tx.commit().await.unwrap();
    while pipeline.run_batch(1.0).await.unwrap() > 0 {}
    let mut conn = db.read().await.unwrap();
    for (key, from) in [("a", "storage"), ("b", "ipfs")] {
        let agg = ops::aggregate(&mut conn, &alice.address(), key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&agg.content).unwrap(),
            json!({"from": from})
        );
    }
}
