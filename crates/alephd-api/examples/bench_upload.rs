//! Upload throughput of `POST /api/v0/storage/add_file` with a signed STORE message (issue
//! 5's benchmark): the real router, processor and store in one process, the multipart body
//! streamed in 64 KiB chunks, `sync: true` so the time includes processing the message
//! (signature, hash check while storing, pin, costs).
//!
//! `cargo run --release -p alephd-api --example bench_upload -- [MiB] [rounds]`
//! (default 100 MiB, 3 rounds).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark harness

#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use std::{convert::Infallible, sync::Arc, time::Instant};

use alephd_api::{ApiState, CoreApi, router};
use alephd_db::Db;
use alephd_processor::{Processor, ProcessorConfig, StoreFetcher, billing::BillingConfig};
use alephd_storage::{StorageConfig, Store};
use axum::{body::Body, http::Request};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const BOUNDARY: &str = "alephdbenchboundary";
const CHUNK: usize = 64 * 1024;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = args.first().copied().unwrap_or(100);
    let rounds = args.get(1).copied().unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    let store = Store::open(dir.path().join("store"), StorageConfig::default())
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    // The uploader's balance comes from a trusted balances-update, as on a real node.
    let oracle = signer::Signer::eth(9);
    let config = ProcessorConfig {
        billing: BillingConfig {
            balance_senders: vec![oracle.address()],
            ..Default::default()
        },
        ..Default::default()
    };
    let (processor, _task) = Processor::spawn(
        db.clone(),
        config,
        Arc::new(StoreFetcher::new(store.clone())),
        cancel.clone(),
    );
    let app = router(
        ApiState::default()
            .with_core(CoreApi::new(db, processor))
            .with_storage(store),
    );
    let alice = signer::Signer::eth(1);
    let update = oracle.message(
        "POST",
        json!({"type": "balances-update", "content": {"chain": "ETH", "main_height": 1,
               "balances": {alice.address(): 1e9}}}),
        1_790_000_000.0,
        "BENCH",
    );
    let request = Request::post("/api/v0/messages")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"sync": true, "message": update}).to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    for round in 0..rounds {
        // Different bytes each round: every upload stores a new file.
        let file: Vec<u8> = (0..mib * 1024 * 1024)
            .map(|i| {
                (i as u64)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(round as u64 * 97) as u8
            })
            .collect();
        let hash = alephd_message::ItemHash::sha256_of(&file);
        let message = alice.message(
            "STORE",
            json!({"item_type": "storage", "item_hash": hash.as_str(), "time": 1_790_000_000.0 + round as f64}),
            1_790_000_000.0,
            "BENCH",
        );
        let metadata = json!({"message": message, "sync": true}).to_string();
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let total = head.len() + file.len() + tail.len();
        let mut chunks = vec![Bytes::from(head)];
        chunks.extend(file.chunks(CHUNK).map(Bytes::copy_from_slice));
        chunks.push(Bytes::from(tail));
        let body = Body::from_stream(futures::stream::iter(
            chunks.into_iter().map(Ok::<_, Infallible>),
        ));
        let request = Request::post("/api/v0/storage/add_file")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("content-length", total)
            .body(body)
            .unwrap();
        let started = Instant::now();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        let elapsed = started.elapsed();
        assert!(status.is_success(), "{status}: {answer:?}");
        println!(
            "round {round}: {mib} MiB in {elapsed:?} = {:.1} MB/s ({status}, {})",
            (mib * 1024 * 1024) as f64 / 1e6 / elapsed.as_secs_f64(),
            String::from_utf8_lossy(&answer)
        );
    }
    cancel.cancel();
}
