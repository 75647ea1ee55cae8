//! Balance sweep and removal + GC over many STORE messages (issue 5's benchmark).
//!
//! `cargo run --release -p alephd-processor --example bench_billing -- [stores] [owners]`
//! (default 100 000 STOREs over 10 000 owners). Each STORE pins its own small file in a real
//! store and costs 1 token held; every other owner's balance covers none of their files. The
//! sweep moves those to `removing`; the removal pass (grace 0) removes them, unpins their
//! files and runs GC, which deletes them from disk. Setup writes rows directly (the pipeline
//! has its own benchmark); the timed parts are the lifecycle's own code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark harness

use std::time::Instant;

use alephd_db::{BalanceRecord, CostLine, Db, FilePin, MessageRecord, MessageStatus, ops};
use alephd_processor::{billing::BillingConfig, lifecycle};
use alephd_storage::{AddOptions, Engine, PinMode, PinOwner, StorageConfig, Store};
use futures::{StreamExt, stream};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let stores = args.first().copied().unwrap_or(100_000);
    let owners = args.get(1).copied().unwrap_or(10_000).max(1);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    let store = Store::open(dir.path().join("store"), StorageConfig::default())
        .await
        .unwrap();

    let started = Instant::now();
    let files: Vec<String> = stream::iter(0..stores)
        .map(|i| {
            let store = store.clone();
            async move {
                let mut opts = AddOptions::new(Engine::Storage, 1 << 20);
                opts.pin = PinMode::Owner(PinOwner::new(message_hash(i)).unwrap());
                let bytes = format!("file number {i} of the billing benchmark").into_bytes();
                store
                    .add_bytes(bytes.into(), opts)
                    .await
                    .unwrap()
                    .content
                    .to_string()
            }
        })
        .buffered(8)
        .collect()
        .await;
    println!(
        "setup: {stores} files stored and pinned in {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let owner = |i: usize| format!("0x{:040x}", i % owners);
    for chunk in (0..stores).collect::<Vec<_>>().chunks(5000) {
        let mut tx = db.begin().await.unwrap();
        let records: Vec<MessageRecord> = chunk
            .iter()
            .map(|&i| record(i, &owner(i), &files[i]))
            .collect();
        ops::insert_messages(&mut tx, &records, &[]).await.unwrap();
        let statuses: Vec<(String, MessageStatus, f64)> = chunk
            .iter()
            .map(|&i| (message_hash(i), MessageStatus::Processed, i as f64))
            .collect();
        ops::set_statuses(&mut tx, &statuses).await.unwrap();
        for &i in chunk {
            let pin = FilePin {
                item_hash: message_hash(i),
                owner: owner(i),
                file_hash: files[i].clone(),
                engine: "storage".into(),
                size: 40,
                kind: "file".into(),
                reference: None,
                time: i as f64,
            };
            ops::insert_file_pin(&mut tx, &pin).await.unwrap();
            let cost = CostLine {
                item_hash: message_hash(i),
                owner: owner(i),
                cost_type: "STORAGE".into(),
                name: "STORAGE".into(),
                reference: None,
                payment_type: "hold".into(),
                cost_hold: 1.0,
                cost_stream: 0.0,
                cost_credit: 0.0,
            };
            ops::insert_costs(&mut tx, &[cost]).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    for o in 0..owners {
        // Even owners can pay for everything, odd owners for nothing.
        let balance = if o % 2 == 0 { 1e9 } else { 0.0 };
        let b = BalanceRecord {
            address: owner(o),
            chain: "ETH".into(),
            dapp: String::new(),
            balance,
            height: 1,
            item_hash: "bench".into(),
            time: 0.0,
        };
        ops::upsert_balance(&mut tx, &b).await.unwrap();
    }
    tx.commit().await.unwrap();
    println!(
        "setup: {stores} STORE rows, costs and {owners} balances in {:?}",
        started.elapsed()
    );

    let config = BillingConfig {
        removal_grace_secs: 0.0,
        ..Default::default()
    };
    let started = Instant::now();
    let sweep = lifecycle::balance_sweep(&db, &config, 1.0).await.unwrap();
    let sweep_time = started.elapsed();
    println!(
        "balance sweep: {} owners, {} resources, {} → removing in {sweep_time:?} ({:.0} resources/s)",
        sweep.owners,
        sweep.resources,
        sweep.to_removing,
        sweep.resources as f64 / sweep_time.as_secs_f64()
    );
    let started = Instant::now();
    let again = lifecycle::balance_sweep(&db, &config, 2.0).await.unwrap();
    println!(
        "balance sweep with nothing to change: {:?} ({} changes)",
        started.elapsed(),
        again.to_removing + again.to_processed
    );

    let started = Instant::now();
    let removed = lifecycle::remove_due(&db, Some(&store), &config, 3.0)
        .await
        .unwrap();
    let removal_time = started.elapsed();
    println!("removal: {removed} removed (tombstones, pins dropped) in {removal_time:?}");
    let before = store.totals().await.unwrap();
    let started = Instant::now();
    let gc = store.gc().await.unwrap();
    let gc_time = started.elapsed();
    let after = store.totals().await.unwrap();
    println!(
        "GC: freed {} roots / {} blocks / {} bytes in {gc_time:?} (roots {} → {})",
        gc.roots, gc.blocks, gc.bytes, before.roots, after.roots
    );
}

fn message_hash(i: usize) -> String {
    format!("{i:064x}")
}

fn record(i: usize, owner: &str, file: &str) -> MessageRecord {
    MessageRecord {
        item_hash: message_hash(i),
        sender: owner.to_owned(),
        chain: "ETH".into(),
        signature: Some("0x".into()),
        message_type: "STORE".into(),
        item_type: "inline".into(),
        item_content: None,
        content: format!(
            r#"{{"address":"{owner}","time":{i},"item_type":"storage","item_hash":"{file}"}}"#
        ),
        time: i as f64,
        channel: Some("BENCH".into()),
        owner: owner.to_owned(),
        content_type: None,
        content_key: None,
        content_ref: None,
        content_item_hash: Some(file.to_owned()),
        payment_type: Some("hold".into()),
        size: 40,
        reception_time: i as f64,
    }
}
