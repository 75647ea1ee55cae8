//! Ingest benchmark: N pre-signed messages (ETH and SOL, POST / amend / AGGREGATE mixed)
//! submitted through `ProcessorHandle::submit` (durable queue, group commit) and processed
//! to `processed` by the real pipeline on a real SQLite file.
//!
//! `cargo run --release -p alephd-processor --example bench_ingest -- [N] [eth|sol|mixed]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

#[path = "../tests/support/signer.rs"]
mod signer;

use std::{sync::Arc, time::Instant};

use alephd_db::{Db, MessageStatus, NewPending, ops};
use alephd_message::IncomingMessage;
use alephd_processor::{NoContentStore, Origin, Processor, ProcessorConfig};
use serde_json::{Value, json};
use signer::{Signer, aggregate, hash_of, post};
use tokio_util::sync::CancellationToken;

fn build(n: usize, mode: &str) -> Vec<Value> {
    let signers: Vec<Signer> = (1..=8u8)
        .map(|i| match mode {
            "eth" => Signer::eth(i),
            "sol" => Signer::sol(i),
            _ if i % 2 == 0 => Signer::eth(i),
            _ => Signer::sol(i),
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = &signers[i % signers.len()];
        let t = 1_700_000_000.0 + i as f64;
        out.push(match i % 4 {
            0 | 1 => post(s, "bench", json!({"i": i, "tags": ["bench"]}), t),
            2 => aggregate(s, None, &format!("k{}", i % 16), json!({"i": i}), t),
            _ if i < 131 => post(s, "bench", json!({"i": i}), t),
            _ => {
                // Amend a post made well before (so it has landed), as its owner.
                let owner = &signers[(i - 131) % signers.len()];
                signer::amend(owner, &hash_of(&out[i - 131]), json!({"i": i}), t)
            }
        });
    }
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(20_000, |a| a.parse().expect("N"));
    let mode = args.next().unwrap_or_else(|| "mixed".into());
    // `prequeued`: everything is in the durable queue before the processor starts, so the
    // number is the pipeline alone (verify → apply); otherwise 64 concurrent submitters.
    let prequeued = args.next().as_deref() == Some("prequeued");
    let t = Instant::now();
    let messages = build(n, &mode);
    eprintln!("signed {n} {mode} messages in {:.2?}", t.elapsed());
    let parsed: Vec<IncomingMessage> = messages
        .iter()
        .map(|m| IncomingMessage::from_value(m.clone()).unwrap())
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    if prequeued {
        let wires: Vec<String> = parsed
            .iter()
            .map(|m| m.to_wire_value().to_string())
            .collect();
        for (chunk, texts) in parsed.chunks(1000).zip(wires.chunks(1000)) {
            let pending: Vec<NewPending<'_>> = chunk
                .iter()
                .zip(texts)
                .map(|(m, text)| NewPending {
                    item_hash: m.item_hash().as_str(),
                    sender: m.sender().as_str(),
                    signature: m.signature().unwrap_or_default(),
                    message: text,
                    origin: "bench",
                    reception_time: 0.0,
                })
                .collect();
            let mut tx = db.begin().await.unwrap();
            ops::enqueue_many(&mut tx, &pending).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    let cancel = CancellationToken::new();
    let (handle, task) = Processor::spawn(
        db.clone(),
        ProcessorConfig::default(),
        Arc::new(NoContentStore),
        cancel.clone(),
    );

    let start = Instant::now();
    handle.wake();
    // 64 concurrent clients, each sending every 64th message: arrival is close to time order.
    let clients = if prequeued { 0 } else { 64 };
    let submitters: Vec<_> = (0..clients)
        .map(|k| {
            let handle = handle.clone();
            let chunk: Vec<IncomingMessage> = parsed.iter().skip(k).step_by(64).cloned().collect();
            tokio::spawn(async move {
                for m in chunk {
                    handle.submit(m, Origin::Http).await.unwrap();
                }
            })
        })
        .collect();
    for s in submitters {
        s.await.unwrap();
    }
    let queued = start.elapsed();
    // Done when the queue is empty (every message processed or rejected).
    loop {
        let left = ops::pending_count(&mut db.read().await.unwrap())
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let total = start.elapsed();
    for f in ["alephd.db", "alephd.db-wal"] {
        let len = std::fs::metadata(dir.path().join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!("{f}: {} MiB", len / (1 << 20));
    }
    cancel.cancel();
    task.await.unwrap().unwrap();
    let mut conn = db.read().await.unwrap();
    let processed = ops::find_hashes(
        &mut conn,
        Some(MessageStatus::Processed),
        None,
        None,
        Default::default(),
        1,
        1,
    )
    .await
    .unwrap()
    .1;
    let how = if prequeued {
        "pre-queued"
    } else {
        "64 concurrent submitters"
    };
    println!(
        "{mode} ({how}): {n} messages, all queued (durable) in {queued:.2?} = {:.0} msg/s; processed {processed} in {total:.2?} = {:.0} msg/s end-to-end",
        n as f64 / queued.as_secs_f64(),
        n as f64 / total.as_secs_f64()
    );
    assert_eq!(processed as usize, n, "every message is processed");
}
