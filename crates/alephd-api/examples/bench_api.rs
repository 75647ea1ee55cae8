//! Read-path latency: a node with N applied messages (posts and aggregates from 8 addresses)
//! serves `messages.json` and `aggregates/{address}.json` at a fixed request rate; prints
//! p50/p99/max per route. In-process (the axum router, no sockets): handler + database time.
//!
//! `cargo run --release -p alephd-api --example bench_api -- [N] [requests/s] [seconds]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_api::{ApiState, CoreApi, router};
use alephd_db::{Db, NewPending, ops};
use alephd_processor::{NoContentStore, Pipeline, Processor, ProcessorConfig};
use axum::{body::Body, http::Request};
use serde_json::{Value, json};
use signer::{Signer, aggregate, post};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |a| a.parse().expect("N"));
    let rate: u64 = args.next().map_or(1000, |a| a.parse().expect("rate"));
    let seconds: u64 = args.next().map_or(5, |a| a.parse().expect("seconds"));
    let signers: Vec<Signer> = (1..=8u8).map(Signer::sol).collect();
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            let s = &signers[i % 8];
            if i % 2 == 0 {
                post(s, "bench", json!({"i": i}), 1_000.0 + i as f64)
            } else {
                aggregate(
                    s,
                    None,
                    &format!("k{}", i % 10),
                    json!({"i": i, "f": i % 7}),
                    1_000.0 + i as f64,
                )
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    for chunk in messages.chunks(1000) {
        let texts: Vec<String> = chunk.iter().map(Value::to_string).collect();
        let pending: Vec<NewPending<'_>> = chunk
            .iter()
            .zip(&texts)
            .map(|(m, t)| NewPending {
                item_hash: m["item_hash"].as_str().unwrap(),
                sender: m["sender"].as_str().unwrap(),
                signature: m["signature"].as_str().unwrap(),
                message: t,
                origin: "bench",
                reception_time: 0.0,
            })
            .collect();
        let mut tx = db.begin().await.unwrap();
        ops::enqueue_many(&mut tx, &pending).await.unwrap();
        tx.commit().await.unwrap();
    }
    let (events, _) = tokio::sync::broadcast::channel(16);
    let pipeline = Pipeline::new(
        db.clone(),
        Arc::new(NoContentStore),
        ProcessorConfig::default(),
        events,
    );
    while pipeline.run_batch(f64::MAX).await.unwrap() > 0 {}
    db.optimize().await.unwrap();
    let (processor, _task) = Processor::spawn(
        db.clone(),
        ProcessorConfig::default(),
        Arc::new(NoContentStore),
        CancellationToken::new(),
    );
    let app = router(ApiState::default().with_core(CoreApi::new(db, processor)));

    let routes = [
        (
            "messages.json".to_owned(),
            "/api/v0/messages.json".to_owned(),
        ),
        (
            "messages.json?addresses&msgTypes".to_owned(),
            format!(
                "/api/v0/messages.json?addresses={}&msgTypes=POST&pagination=20",
                signers[3].address()
            ),
        ),
        (
            "aggregates/{addr}.json".to_owned(),
            format!("/api/v0/aggregates/{}.json", signers[5].address()),
        ),
    ];
    for (name, uri) in routes {
        // Service time: one request at a time.
        let t = Instant::now();
        for _ in 0..100 {
            let response = app
                .clone()
                .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
        }
        println!("{name}: sequential mean {:.2?}", t.elapsed() / 100);
        let total = rate * seconds;
        let mut interval = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
        let mut handles = Vec::with_capacity(total as usize);
        for _ in 0..total {
            interval.tick().await;
            let app = app.clone();
            let uri = uri.clone();
            handles.push(tokio::spawn(async move {
                let start = Instant::now();
                let response = app
                    .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert!(
                    response.status().is_success(),
                    "{uri}: {}",
                    response.status()
                );
                let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                start.elapsed()
            }));
        }
        let mut latencies = Vec::with_capacity(handles.len());
        for h in handles {
            latencies.push(h.await.unwrap());
        }
        latencies.sort();
        let pick =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "{name}: {total} requests at {rate}/s over {n} messages: p50 {:.2?} p99 {:.2?} max {:.2?}",
            pick(0.5),
            pick(0.99),
            latencies[latencies.len() - 1]
        );
    }
}
