//! `alephd bench`: measurements a node operator can run on their own machine.
//!
//! `alephd bench ingest` pushes N pre-signed messages (ETH and/or SOL; POSTs, amends and
//! AGGREGATEs) through the real pipeline on a real SQLite file in a temporary directory, three
//! ways: pre-queued (verify → apply alone), submitted through the processor handle (durable
//! queue with group commit, then the pipeline), and over HTTP (`POST /api/v0/messages` by
//! concurrent clients against the node's own router on loopback). Each run starts from an
//! empty database, and each checks that every message ended up `processed`.

use std::{
    future::IntoFuture,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_db::{Db, MessageStatus, NewPending, ops};
use alephd_message::{
    Address, Chain, IncomingMessage, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer, SolAccount},
};
use alephd_processor::{NoContentStore, Origin, Processor, ProcessorConfig, ProcessorHandle};
use anyhow::{Context, bail, ensure};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Messages/s through the whole pipeline, pre-queued, submitted, and over HTTP.
    Ingest(IngestArgs),
    /// Gossip between real daemons on loopback: propagation latency and throughput.
    P2p(crate::bench_p2p::P2pBenchArgs),
    /// REST read latency over loopback HTTP at a fixed request rate (open loop).
    Api(crate::bench_api::ApiBenchArgs),
    /// Linux sandbox: cold start to first byte, warm latency, instances per GiB.
    Sandbox(crate::bench_sandbox::SandboxBenchArgs),
    /// Wasm runtime: compile, cold and warm latency, requests/s (optionally beside `wasmtime
    /// serve`).
    Wasm(crate::bench_wasm::WasmBenchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Number of messages per run.
    #[arg(long, short = 'n', default_value_t = 20_000)]
    messages: usize,
    /// Which chains sign the messages.
    #[arg(long, value_enum, default_value_t = Signers::Mixed)]
    chain: Signers,
    /// Which ingress paths to measure.
    #[arg(long, value_enum, default_value_t = Via::All)]
    via: Via,
    /// Concurrent submitters (handle) or HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Signers {
    Eth,
    Sol,
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    /// Everything in the durable queue before the processor starts: verify → apply alone.
    Pipeline,
    /// Concurrent `ProcessorHandle::submit` calls (what the API does), then the pipeline.
    Submit,
    /// Concurrent `POST /api/v0/messages` (async) over loopback HTTP, then the pipeline.
    Http,
    All,
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    // Quiet unless `RUST_LOG` asks (`alephd_processor=debug` shows per-batch stage times).
    crate::logging::init("warn")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alephd-bench")
        .build()
        .context("cannot start the async runtime")?;
    match command {
        BenchCommand::Ingest(args) => runtime.block_on(ingest(args)),
        BenchCommand::P2p(args) => runtime.block_on(crate::bench_p2p::run(args)),
        BenchCommand::Api(args) => runtime.block_on(crate::bench_api::run(args)),
        BenchCommand::Sandbox(args) => runtime.block_on(crate::bench_sandbox::run(args)),
        BenchCommand::Wasm(args) => runtime.block_on(crate::bench_wasm::run(args)),
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    ensure!(args.messages > 0, "--messages must be at least 1");
    ensure!(args.clients > 0, "--clients must be at least 1");
    let started = Instant::now();
    let messages = sign_all(args.messages, args.chain)?;
    println!(
        "signed {} {:?} messages in {:.2?} ({} cores)",
        messages.len(),
        args.chain,
        started.elapsed(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let runs: &[Via] = match args.via {
        Via::All => &[Via::Pipeline, Via::Submit, Via::Http],
        one => std::slice::from_ref(match one {
            Via::Pipeline => &Via::Pipeline,
            Via::Submit => &Via::Submit,
            _ => &Via::Http,
        }),
    };
    for via in runs {
        let report = run_once(*via, &messages, args.clients).await?;
        println!("{report}");
    }
    Ok(())
}

/// Signs `n` messages: 8 accounts, half POSTs, a quarter AGGREGATEs, a quarter amends of
/// posts made 131 messages earlier by the same owner (so the target has landed by then).
pub(crate) fn sign_all(n: usize, chains: Signers) -> anyhow::Result<Vec<IncomingMessage>> {
    let accounts: Vec<Arc<dyn Signer>> = (1..=8u8)
        .map(|i| -> anyhow::Result<Arc<dyn Signer>> {
            let eth = match chains {
                Signers::Eth => true,
                Signers::Sol => false,
                Signers::Mixed => i % 2 == 0,
            };
            let mut secret = [0x42u8; 32];
            secret[31] = i;
            Ok(if eth {
                Arc::new(EthAccount::from_secret(&secret)?)
            } else {
                Arc::new(SolAccount::from_secret(&secret)?)
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let base = 1_700_000_000.0;
    let sign = |i: usize, amend_of: Option<&str>| -> anyhow::Result<IncomingMessage> {
        let account = if amend_of.is_some() {
            &accounts[(i - 131) % accounts.len()]
        } else {
            &accounts[i % accounts.len()]
        };
        let address = account.address().to_owned();
        let time = base + i as f64;
        let (message_type, content) = match (i % 4, amend_of) {
            (_, Some(target)) => (
                MessageType::Post,
                json!({"address": address, "time": time, "type": "amend", "ref": target, "content": {"i": i}}),
            ),
            (2, None) => (
                MessageType::Aggregate,
                json!({"address": address, "time": time, "key": format!("k{}", i % 16), "content": {"i": i}}),
            ),
            _ => (
                MessageType::Post,
                json!({"address": address, "time": time, "type": "bench", "content": {"i": i, "tags": ["bench"]}}),
            ),
        };
        let chain: Chain = account.chain();
        let unsigned =
            UnsignedMessage::inline(chain, Address::new(address), message_type, &content, time)?;
        Ok(account.sign_message(unsigned)?)
    };
    // Originals first, on every core; then the amends, which need their targets' hashes.
    let is_amend = |i: usize| i % 4 == 3 && i >= 131;
    let mut out: Vec<Option<IncomingMessage>> = vec![None; n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    for pass in [false, true] {
        let chunk = n.div_ceil(threads);
        let prior: Vec<Option<String>> = out
            .iter()
            .map(|m| m.as_ref().map(|m| m.item_hash().as_str().to_owned()))
            .collect();
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = out
                .chunks_mut(chunk)
                .enumerate()
                .map(|(c, slots)| {
                    let prior = &prior;
                    let sign = &sign;
                    scope.spawn(move || -> anyhow::Result<()> {
                        for (k, slot) in slots.iter_mut().enumerate() {
                            let i = c * chunk + k;
                            if is_amend(i) != pass {
                                continue;
                            }
                            let target = if pass {
                                prior[i - 131].as_deref()
                            } else {
                                None
                            };
                            *slot = Some(sign(i, target)?);
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
            }
            Ok(())
        })?;
    }
    out.into_iter()
        .map(|m| m.context("a message was not signed"))
        .collect()
}

struct Report {
    via: Via,
    n: usize,
    clients: usize,
    queued: Duration,
    total: Duration,
    latency: Option<(Duration, Duration, Duration)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = |d: Duration| self.n as f64 / d.as_secs_f64().max(1e-9);
        let how = match self.via {
            Via::Pipeline => "pre-queued, pipeline alone".to_owned(),
            Via::Submit => format!("{} concurrent ProcessorHandle::submit", self.clients),
            _ => format!(
                "{} concurrent HTTP clients, POST /api/v0/messages",
                self.clients
            ),
        };
        write!(
            f,
            "{:<8} ({how}): {} messages",
            format!("{:?}", self.via).to_lowercase(),
            self.n
        )?;
        if self.via != Via::Pipeline {
            write!(
                f,
                " accepted (durably queued) in {:.2?} = {:.0}/s;",
                self.queued,
                rate(self.queued)
            )?;
        }
        write!(
            f,
            " all processed in {:.2?} = {:.0} msg/s end-to-end",
            self.total,
            rate(self.total),
        )?;
        if let Some((p50, p99, max)) = self.latency {
            write!(
                f,
                "; POST latency p50 {p50:.2?} p99 {p99:.2?} max {max:.2?}"
            )?;
        }
        Ok(())
    }
}

async fn run_once(
    via: Via,
    messages: &[IncomingMessage],
    clients: usize,
) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir().context("cannot create a temporary data dir")?;
    let db = Db::open(&dir.path().join("alephd.db"))
        .await
        .context("cannot open the benchmark database")?;
    if via == Via::Pipeline {
        prequeue(&db, messages).await?;
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
    let latency = match via {
        Via::Pipeline => None,
        Via::Submit => {
            submit_all(&handle, messages, clients).await?;
            None
        }
        _ => Some(post_all(&db, &handle, messages, clients, cancel.clone()).await?),
    };
    let queued = start.elapsed();
    wait_drained(&db).await?;
    let total = start.elapsed();
    cancel.cancel();
    task.await
        .context("the processor task failed")?
        .context("the processor failed")?;
    let mut conn = db.read().await?;
    let (_, processed) = ops::find_hashes(
        &mut conn,
        Some(MessageStatus::Processed),
        None,
        None,
        Default::default(),
        1,
        1,
    )
    .await?;
    drop(conn);
    db.close().await;
    if processed as usize != messages.len() {
        bail!(
            "{via:?}: only {processed} of {} messages were processed",
            messages.len()
        );
    }
    Ok(Report {
        via,
        n: messages.len(),
        clients,
        queued,
        total,
        latency,
    })
}

pub(crate) async fn prequeue(db: &Db, messages: &[IncomingMessage]) -> anyhow::Result<()> {
    let wires: Vec<String> = messages
        .iter()
        .map(|m| m.to_wire_value().to_string())
        .collect();
    for (chunk, texts) in messages.chunks(1000).zip(wires.chunks(1000)) {
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
        let mut tx = db.begin().await?;
        ops::enqueue_many(&mut tx, &pending).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `clients` tasks, each sending every `clients`-th message: arrival close to time order.
async fn submit_all(
    handle: &ProcessorHandle,
    messages: &[IncomingMessage],
    clients: usize,
) -> anyhow::Result<()> {
    let tasks: Vec<JoinHandle<anyhow::Result<()>>> = (0..clients)
        .map(|k| {
            let handle = handle.clone();
            let mine: Vec<IncomingMessage> =
                messages.iter().skip(k).step_by(clients).cloned().collect();
            tokio::spawn(async move {
                for m in mine {
                    handle.submit(m, Origin::Http).await?;
                }
                Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await.context("a submitter panicked")??;
    }
    Ok(())
}

/// Serves the node's own router on a loopback port and posts every message to it; returns
/// the p50/p99/max of the POST round trips.
async fn post_all(
    db: &Db,
    handle: &ProcessorHandle,
    messages: &[IncomingMessage],
    clients: usize,
    cancel: CancellationToken,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let state = alephd_api::ApiState::default()
        .with_core(alephd_api::CoreApi::new(db.clone(), handle.clone()));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        axum::serve(listener, alephd_api::router(state))
            .with_graceful_shutdown(cancel.cancelled_owned())
            .into_future(),
    );
    let url = format!("http://{addr}/api/v0/messages");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let tasks: Vec<JoinHandle<anyhow::Result<Vec<Duration>>>> = (0..clients)
        .map(|k| {
            let http = http.clone();
            let url = url.clone();
            let bodies: Vec<String> = messages
                .iter()
                .skip(k)
                .step_by(clients)
                .map(|m| json!({"sync": false, "message": m.to_wire_value()}).to_string())
                .collect();
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(bodies.len());
                for body in bodies {
                    let t = Instant::now();
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    let text = response.text().await?;
                    took.push(t.elapsed());
                    ensure!(status.is_success(), "POST answered {status}: {text}");
                    let answer: Value = serde_json::from_str(&text)?;
                    ensure!(
                        answer["publication_status"]["status"] == "success",
                        "POST refused: {text}"
                    );
                }
                Ok(took)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(messages.len());
    for t in tasks {
        all.extend(t.await.context("an HTTP client panicked")??);
    }
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((at(0.50), at(0.99), at(1.0)))
}

/// Waits until the durable queue is empty (every message processed or rejected).
pub(crate) async fn wait_drained(db: &Db) -> anyhow::Result<()> {
    loop {
        let mut conn = db.read().await?;
        if ops::pending_count(&mut conn).await? == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
