//! `alephd bench api`: read latency of the REST API over real HTTP on loopback, open loop.
//!
//! A node with N applied messages (posts, amends and aggregates of 8 accounts, through the real
//! pipeline) serves its router on a loopback port; requests are fired at a fixed rate whatever
//! the answers do (open loop), and each latency is measured from the request's *scheduled*
//! time, so a stall shows up in the percentiles instead of silently lowering the rate
//! (no coordinated omission).

use std::{
    future::IntoFuture,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_db::Db;
use alephd_processor::{NoContentStore, Processor, ProcessorConfig};
use anyhow::{Context, ensure};
use clap::Args;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::bench::{Signers, prequeue, sign_all, wait_drained};

#[derive(Debug, Args)]
pub(crate) struct ApiBenchArgs {
    /// Messages in the node before the load starts.
    #[arg(long, short = 'n', default_value_t = 20_000)]
    messages: usize,
    /// Requests per second, per route.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of load per route.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub(crate) async fn run(args: ApiBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.messages > 0 && args.rate > 0 && args.seconds > 0,
        "all arguments must be > 0"
    );
    let messages = sign_all(args.messages, Signers::Mixed)?;
    let addresses: Vec<String> = {
        let mut a: Vec<String> = messages
            .iter()
            .map(|m| m.sender().as_str().to_owned())
            .collect();
        a.sort();
        a.dedup();
        a
    };
    let dir = tempfile::tempdir().context("cannot create a temporary data dir")?;
    let db = Db::open(&dir.path().join("alephd.db")).await?;
    prequeue(&db, &messages).await?;
    let cancel = CancellationToken::new();
    let (handle, task) = Processor::spawn(
        db.clone(),
        ProcessorConfig::default(),
        Arc::new(NoContentStore),
        cancel.clone(),
    );
    handle.wake();
    wait_drained(&db).await?;
    db.optimize().await?;
    let state = alephd_api::ApiState::default()
        .with_core(alephd_api::CoreApi::new(db.clone(), handle.clone()));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(
        axum::serve(listener, alephd_api::router(state))
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .into_future(),
    );
    println!(
        "{} messages applied; open-loop load over loopback HTTP, {} req/s for {} s per route",
        args.messages, args.rate, args.seconds
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    // Only the accounts that own aggregates (an address without any is a correct 404).
    let aggregate_owners: Vec<String> = {
        let mut a: Vec<String> = messages
            .iter()
            .filter(|m| m.message_type() == alephd_message::MessageType::Aggregate)
            .map(|m| m.sender().as_str().to_owned())
            .collect();
        a.sort();
        a.dedup();
        a
    };
    let first = &addresses[0];
    let routes: Vec<(&str, Vec<String>)> = vec![
        (
            "messages.json (latest 20)",
            vec![format!("{base}/api/v0/messages.json?pagination=20&page=1")],
        ),
        (
            "messages.json?addresses=…&msgType=POST",
            addresses
                .iter()
                .map(|a| {
                    format!("{base}/api/v0/messages.json?addresses={a}&msgType=POST&pagination=20")
                })
                .collect(),
        ),
        (
            "aggregates/{address}.json",
            aggregate_owners
                .iter()
                .map(|a| format!("{base}/api/v0/aggregates/{a}.json"))
                .collect(),
        ),
        (
            "posts.json (v1, one address)",
            vec![format!(
                "{base}/api/v1/posts.json?addresses={first}&pagination=20"
            )],
        ),
    ];
    for (name, urls) in routes {
        let report = load(&http, &urls, args.rate, Duration::from_secs(args.seconds)).await?;
        println!("{name:<42} {report}");
    }
    cancel.cancel();
    task.await
        .context("the processor task failed")?
        .context("the processor failed")?;
    db.close().await;
    Ok(())
}

struct LoadReport {
    sent: usize,
    failed: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    achieved: f64,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests ({:.0}/s achieved, {} failed): p50 {:.2?} p99 {:.2?} max {:.2?}",
            self.sent, self.achieved, self.failed, self.p50, self.p99, self.max
        )
    }
}

/// Fires GETs at `rate`/s for `duration`, cycling over `urls`; at most 1,024 in flight (beyond
/// that the node is saturated and the run says so through its failures and percentiles).
async fn load(
    http: &reqwest::Client,
    urls: &[String],
    rate: u32,
    duration: Duration,
) -> anyhow::Result<LoadReport> {
    let total = (u64::from(rate) * duration.as_secs()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let in_flight = Arc::new(Semaphore::new(1024));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let http = http.clone();
        let url = urls[i % urls.len()].clone();
        let permit = in_flight.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(async move {
            let ok = match http.get(&url).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            drop(permit);
            (scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failed = 0;
    for t in tasks {
        let (took, ok) = t.await?;
        latencies.push(took);
        failed += usize::from(!ok);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(LoadReport {
        sent: total,
        failed,
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
        achieved: total as f64 / elapsed.as_secs_f64(),
    })
}
