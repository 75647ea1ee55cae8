//! `alephd bench p2p`: gossip between real `alephd daemon` processes on this machine.
//!
//! For each network size it starts that many daemons (this binary) on loopback, each
//! bootstrapping to the first, and measures:
//! - propagation latency: messages posted one at a time (round-robin over the nodes) over
//!   HTTP; the time from the POST to the moment every node has announced it processed on its
//!   `/api/ws0/messages` websocket; p50/p95/max;
//! - sustained gossip throughput: signed messages offered to one node at a fixed rate for a
//!   few seconds; how many reached every node (catch-up is slowed to once an hour so that it
//!   cannot hide gossip loss) and the rate at which the slowest node applied them.
//!
//! Every daemon gets a fresh data dir in a temporary directory, removed at the end.

use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_message::{
    Address, Channel, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use anyhow::{Context, bail, ensure};
use clap::Args;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

#[derive(Debug, Args)]
pub(crate) struct P2pBenchArgs {
    /// Network sizes to measure, each with fresh daemons.
    #[arg(long, value_delimiter = ',', default_value = "5,20")]
    nodes: Vec<usize>,
    /// Messages timed one at a time for the latency percentiles.
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// Offered rates (messages/s) of the throughput runs.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000")]
    rates: Vec<u32>,
    /// Seconds each throughput run offers load.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Throughput runs only on networks up to this size (every node verifies and stores every
    /// message, so the machine, not the network, is the limit for big local networks).
    #[arg(long, default_value_t = 5)]
    throughput_max_nodes: usize,
}

/// One daemon process; killed on drop.
struct BenchNode {
    child: Child,
    api: SocketAddr,
    p2p: String,
    peer_id: String,
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BenchNode {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) async fn run(args: P2pBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.nodes.iter().all(|n| *n >= 2),
        "a network has at least 2 nodes"
    );
    let binary = std::env::current_exe().context("cannot find the alephd binary")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()?;
    for &size in &args.nodes {
        let dir = tempfile::tempdir()?;
        let nodes = start_network(&binary, dir.path(), size, &http).await?;
        let latency = measure_latency(&nodes, &http, args.samples).await?;
        println!(
            "p2p propagation, {size} nodes: post → processed on all: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} messages)",
            latency.0, latency.1, latency.2, args.samples
        );
        if size <= args.throughput_max_nodes {
            for &rate in &args.rates {
                let report = measure_throughput(&nodes, &http, rate, args.seconds).await?;
                println!("p2p throughput, {size} nodes, {rate} msgs/s offered: {report}");
            }
        }
        drop(nodes);
    }
    Ok(())
}

async fn start_network(
    binary: &Path,
    dir: &Path,
    size: usize,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<BenchNode>> {
    let mut nodes: Vec<BenchNode> = Vec::with_capacity(size);
    for i in 0..size {
        let bootstrap = nodes
            .first()
            .map(|first| format!("{}/p2p/{}", first.p2p, first.peer_id));
        let node = spawn_node(binary, &dir.join(format!("node{i}")), bootstrap, http).await?;
        nodes.push(node);
    }
    // Every node connected, then a few gossipsub heartbeats to build the mesh.
    for node in &nodes {
        wait_for(Duration::from_secs(60), || async {
            let peers: Value = get_json(http, &node.url("/api/v0/p2p/peers.json")).await?;
            Ok(peers["connected"].as_array().is_some_and(|c| !c.is_empty()))
        })
        .await
        .context("a node did not connect")?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(nodes)
}

async fn spawn_node(
    binary: &Path,
    data_dir: &Path,
    bootstrap: Option<String>,
    http: &reqwest::Client,
) -> anyhow::Result<BenchNode> {
    std::fs::create_dir_all(data_dir)?;
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
    let log = std::fs::File::create(data_dir.join("daemon.log"))?;
    let mut command = Command::new(binary);
    command
        .arg("daemon")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--api-addr")
        .arg(api.to_string())
        .arg("--p2p-addr")
        .arg(&p2p)
        .arg("--log")
        .arg("warn")
        // Catch-up once an hour: what arrives, arrives by gossip.
        .env("ALEPHD_P2P__SYNC_INTERVAL_SECS", "3600")
        .env("ALEPHD_P2P__DISCOVERY_INTERVAL_SECS", "5")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(addr) = &bootstrap {
        command.arg("--bootstrap").arg(addr);
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut node = BenchNode {
        child,
        api,
        p2p,
        peer_id: String::new(),
    };
    let info_url = node.url("/api/v0/info/public.json");
    wait_for(Duration::from_secs(60), || async {
        Ok(get_json(http, &info_url).await.is_ok())
    })
    .await
    .with_context(|| format!("daemon in {} did not start", data_dir.display()))?;
    let info = get_json(http, &info_url).await?;
    node.peer_id = info["peer_id"].as_str().context("no peer id")?.to_owned();
    Ok(node)
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?;
    ensure!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await.unwrap_or(false) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out after {limit:?}")
}

/// Signed POSTs on their own channel.
fn messages(signer: &EthAccount, run: &str, count: usize) -> anyhow::Result<Vec<Value>> {
    let base = alephd_processor::now();
    (0..count)
        .map(|n| {
            let time = base + n as f64 / 1e6;
            let content = json!({"address": signer.address(), "time": time, "type": "bench", "content": {"run": run, "n": n}});
            let unsigned = UnsignedMessage::inline(
                signer.chain(),
                Address::new(signer.address()),
                MessageType::Post,
                &content,
                time,
            )?
            .with_channel(Channel::new("P2P-BENCH")?);
            Ok(signer.sign_message(unsigned)?.to_wire_value())
        })
        .collect()
}

async fn post(http: &reqwest::Client, node: &BenchNode, message: &Value) -> anyhow::Result<()> {
    let response = http
        .post(node.url("/api/v0/messages"))
        .json(&json!({"sync": false, "message": message}))
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "message refused: {}",
        response.status()
    );
    Ok(())
}

/// Arrival of each message on each node, from the nodes' websockets.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

async fn watch(
    nodes: &[BenchNode],
    arrivals: &Arrivals,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for node in nodes {
        let url = format!("ws://{}/api/ws0/messages?history=0", node.api);
        let (socket, _) = tokio_tungstenite::connect_async(&url)
            .await
            .with_context(|| format!("cannot open {url}"))?;
        let arrivals = arrivals.clone();
        tasks.push(tokio::spawn(async move {
            let (_, mut read) = socket.split();
            while let Some(Ok(frame)) = read.next().await {
                let at = Instant::now();
                let Ok(text) = frame.to_text() else { continue };
                let Ok(value) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                if let Some(hash) = value["item_hash"].as_str() {
                    arrivals
                        .lock()
                        .await
                        .entry(hash.to_owned())
                        .or_default()
                        .push(at);
                }
            }
        }));
    }
    Ok(tasks)
}

/// p50, p95 and max in milliseconds.
async fn measure_latency(
    nodes: &[BenchNode],
    http: &reqwest::Client,
    samples: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let arrivals: Arrivals = Arc::default();
    let watchers = watch(nodes, &arrivals).await?;
    let signer = EthAccount::generate();
    let all = messages(&signer, "latency", samples)?;
    let mut latencies = Vec::with_capacity(samples);
    for (i, message) in all.iter().enumerate() {
        let hash = message["item_hash"].as_str().context("no item hash")?;
        let start = Instant::now();
        post(http, &nodes[i % nodes.len()], message).await?;
        let everywhere = wait_for(Duration::from_secs(30), || async {
            Ok(arrivals
                .lock()
                .await
                .get(hash)
                .is_some_and(|a| a.len() >= nodes.len()))
        })
        .await;
        if everywhere.is_err() {
            bail!("message {i} did not reach every node within 30 s");
        }
        let last = arrivals.lock().await[hash].iter().copied().max();
        let last = last.context("no arrival")?;
        latencies.push(last.duration_since(start).as_secs_f64() * 1e3);
    }
    watchers.iter().for_each(|w| w.abort());
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok((at(0.50), at(0.95), at(1.0)))
}

/// One throughput run's outcome.
struct Throughput {
    offered: usize,
    /// Fewest messages any node applied.
    min_applied: u64,
    /// The slowest node's rate over the run (first post to its last applied message).
    slowest_rate: f64,
    posting_rate: f64,
}

impl std::fmt::Display for Throughput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = self.offered as u64 - self.min_applied.min(self.offered as u64);
        write!(
            f,
            "posted at {:.0}/s; {} of {} on every node ({} lost); slowest node applied {:.0} msgs/s",
            self.posting_rate, self.min_applied, self.offered, lost, self.slowest_rate
        )
    }
}

async fn applied_count(http: &reqwest::Client, node: &BenchNode) -> anyhow::Result<u64> {
    let root = get_json(http, &node.url("/api/v0/state_root.json")).await?;
    root["messages"].as_u64().context("no message count")
}

async fn measure_throughput(
    nodes: &[BenchNode],
    http: &reqwest::Client,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<Throughput> {
    let offered = rate as usize * seconds as usize;
    let signer = EthAccount::generate();
    let all = Arc::new(messages(&signer, &format!("rate {rate}"), offered)?);
    let mut before = Vec::new();
    for node in nodes {
        before.push(applied_count(http, node).await?);
    }
    // Paced posting to the first node: every millisecond, the messages now due.
    let (tx, mut rx) = mpsc::channel::<usize>(offered.max(1));
    let start = Instant::now();
    let pacer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut sent = 0usize;
        while sent < offered {
            tick.tick().await;
            let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as usize).min(offered);
            while sent < due {
                if tx.send(sent).await.is_err() {
                    return;
                }
                sent += 1;
            }
        }
    });
    let target = &nodes[0];
    let posting = futures::stream::poll_fn(|cx| rx.poll_recv(cx)).for_each_concurrent(64, |i| {
        let all = all.clone();
        async move {
            if let Err(e) = post(http, target, &all[i]).await {
                eprintln!("post failed: {e:#}");
            }
        }
    });
    posting.await;
    let _ = pacer.await;
    let posting_rate = offered as f64 / start.elapsed().as_secs_f64();

    // Wait until every node has everything, or nothing moved for 10 s.
    let mut done_at: Vec<Option<Instant>> = vec![None; nodes.len()];
    let mut counts = vec![0u64; nodes.len()];
    let mut last_progress = Instant::now();
    while done_at.iter().any(Option::is_none) && last_progress.elapsed() < Duration::from_secs(10) {
        for (i, node) in nodes.iter().enumerate() {
            if done_at[i].is_some() {
                continue;
            }
            let count = applied_count(http, node).await?.saturating_sub(before[i]);
            if count > counts[i] {
                counts[i] = count;
                last_progress = Instant::now();
            }
            if count >= offered as u64 {
                done_at[i] = Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = done_at
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_else(Instant::now);
    let min_applied = counts.iter().copied().min().unwrap_or(0);
    Ok(Throughput {
        offered,
        min_applied,
        slowest_rate: min_applied as f64 / finished.duration_since(start).as_secs_f64(),
        posting_rate,
    })
}
