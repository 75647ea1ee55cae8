//! Gossip benchmark: propagation latency p50/p95 across 5 and 20 in-process nodes on loopback
//! TCP, and sustained throughput (messages per second published, messages lost).
//!
//! `cargo run --release -p alephd-p2p --example propagation [-- --messages 200 --rate 1000 --burst 5000]`
//! (`-- --throughput-only --nodes 5 --rate 3000 --burst 15000` for one throughput run)
//!
//! Each node runs the real service with a minimal node loop that accepts every message (the
//! verdict is what lets gossipsub forward it). Latency is measured from the publish call to the
//! arrival at each other node; each node connects to its predecessor and to one random earlier
//! node, so messages cross several hops.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alephd_message::ItemHash;
use alephd_p2p::{
    ItemKey, Keypair, MemorySyncStore, MessageOrigin, Multiaddr, NoContent, NodeBridge, P2pConfig,
    P2pEvent, P2pHandle, P2pService, Sha256Verifier, Verdict,
};
use anyhow::Context as _;
use bytes::Bytes;
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

type Arrivals = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// Catch-up on or off: with it, what gossip drops under overload is pulled from peers later.
static CATCH_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct Net {
    handles: Vec<P2pHandle>,
    stores: Vec<MemorySyncStore>,
    arrivals: Arrivals,
    cancel: CancellationToken,
}

async fn start(n: usize) -> anyhow::Result<Net> {
    let cancel = CancellationToken::new();
    let arrivals: Arrivals = Arc::default();
    let mut handles: Vec<P2pHandle> = Vec::new();
    let mut stores = Vec::new();
    let mut addrs: Vec<Multiaddr> = Vec::new();
    for i in 0..n {
        let mut config = P2pConfig {
            listen_addr: "/ip4/127.0.0.1/tcp/0".into(),
            kademlia: false,
            ..P2pConfig::default()
        };
        config.limits.channel_capacity = 8_192;
        config.limits.max_gossip_per_peer_per_sec = 100_000;
        config.sync_interval_secs = 2;
        let store = MemorySyncStore::default();
        let bridge = NodeBridge {
            content: Arc::new(NoContent),
            sync: Arc::new(store.clone()),
            verifier: Arc::new(Sha256Verifier),
        };
        let service = P2pService::spawn(
            config,
            Keypair::generate_ed25519(),
            bridge,
            cancel.child_token(),
        )
        .await?;
        let handle = service.handle.clone();
        tokio::spawn(node_loop(
            service.events,
            handle.clone(),
            arrivals.clone(),
            store.clone(),
        ));
        let listen = handle
            .listen_addrs()
            .await?
            .into_iter()
            .next()
            .context("no listen address")?;
        if i > 0 {
            handle.dial(addrs[i - 1].clone()).await?;
            let extra = rand::thread_rng().gen_range(0..i);
            if extra != i - 1 {
                handle.dial(addrs[extra].clone()).await?;
            }
        }
        addrs.push(format!("{listen}/p2p/{}", handle.local_peer_id()).parse()?);
        handles.push(handle);
        stores.push(store);
    }
    // Let connections and gossipsub meshes form (a few heartbeats).
    tokio::time::sleep(Duration::from_secs(4)).await;
    Ok(Net {
        handles,
        stores,
        arrivals,
        cancel,
    })
}

async fn node_loop(
    mut events: tokio::sync::mpsc::Receiver<P2pEvent>,
    handle: P2pHandle,
    arrivals: Arrivals,
    store: MemorySyncStore,
) {
    while let Some(event) = events.recv().await {
        let P2pEvent::Message { data, origin, .. } = event else {
            continue;
        };
        let now = Instant::now();
        if let Some(seq) = std::str::from_utf8(&data)
            .ok()
            .and_then(|s| s.split('"').nth(3)?.parse::<u64>().ok())
        {
            // A message already there (gossip after catch-up, or the reverse) is not a new arrival,
            // but gossip still gets its verdict below so it is forwarded.
            let new = if CATCH_UP.load(std::sync::atomic::Ordering::Relaxed) {
                let key = ItemKey {
                    time_ms: seq,
                    hash: ItemHash::sha256_of(&data),
                };
                store.insert(key, data.clone()).await
            } else {
                true
            };
            if new {
                arrivals
                    .lock()
                    .map(|mut a| a.entry(seq).or_default().push(now))
                    .ok();
            }
        }
        if let MessageOrigin::Gossip(token) = origin {
            let _ = handle.validate(token, Verdict::Accept).await;
        }
    }
}

fn payload(seq: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"seq\":\"{seq}\",\"pad\":\"{}\"}}",
        "x".repeat(600)
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn latency(n: usize, messages: u64) -> anyhow::Result<()> {
    let net = start(n).await?;
    let mut sent = HashMap::new();
    for seq in 0..messages {
        let from = &net.handles[(seq as usize) % n];
        sent.insert(seq, Instant::now());
        from.publish_message(payload(seq)).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let arrivals = net
        .arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut all = Vec::new();
    let mut last = Vec::new();
    let mut missing = 0;
    for (seq, t0) in &sent {
        let got = arrivals.get(seq).cloned().unwrap_or_default();
        missing += (n - 1).saturating_sub(got.len());
        all.extend(got.iter().map(|t| t.duration_since(*t0)));
        if let Some(max) = got.iter().max() {
            last.push(max.duration_since(*t0));
        }
    }
    all.sort();
    last.sort();
    println!(
        "{n:>2} nodes, {messages} msgs: per-delivery p50 {:?} p95 {:?} | to-last-node p50 {:?} p95 {:?} | missing deliveries {missing}",
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&last, 0.5),
        percentile(&last, 0.95),
    );
    net.cancel.cancel();
    Ok(())
}

async fn throughput(n: usize, rate: u64, total: u64, catch_up: bool) -> anyhow::Result<()> {
    CATCH_UP.store(catch_up, std::sync::atomic::Ordering::Relaxed);
    let net = start(n).await?;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut refused = 0u64;
    for seq in 0..total {
        ticker.tick().await;
        let data = payload(1_000_000 + seq);
        if catch_up {
            // The publisher accepted it: it is in its own store for peers to catch up from.
            let key = ItemKey {
                time_ms: 1_000_000 + seq,
                hash: ItemHash::sha256_of(&data),
            };
            net.stores[0].insert(key, data.clone()).await;
        }
        if let Err(e) = net.handles[0].publish_message(data).await {
            refused += 1;
            if refused == 1 {
                println!("    publish refused ({e}); counting, not stopping");
            }
        }
    }
    let publish_secs = started.elapsed().as_secs_f64();
    if refused > 0 {
        println!("    {refused} publishes refused by a saturated publisher");
    }
    let expected = total as usize * (n - 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let delivered: usize = net
            .arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .values()
            .map(Vec::len)
            .sum();
        if delivered >= expected || Instant::now() > deadline {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all_secs = started.elapsed().as_secs_f64();
    let stats: Vec<_> = net.handles.iter().map(P2pHandle::stats).collect();
    let sum = |f: fn(&alephd_p2p::P2pStats) -> u64| stats.iter().map(f).sum::<u64>();
    println!(
        "    gossip messages handed to the nodes {} (dropped by a full node channel or the flood limit {}; not sent to slow peers {}; accepted too late to forward {})",
        sum(|s| s.gossip_in),
        sum(|s| s.gossip_dropped),
        sum(|s| s.gossip_send_dropped),
        sum(|s| s.gossip_verdict_late),
    );
    println!(
        "{n:>2} nodes, catch-up {}, {total} msgs at {rate}/s target: published at {:.0} msgs/s, {delivered}/{expected} deliveries ({} lost), all delivered after {:.2} s ({:.0} deliveries/s)",
        if catch_up { "on" } else { "off" },
        total as f64 / publish_secs,
        expected - delivered.min(expected),
        all_secs,
        delivered as f64 / all_secs,
    );
    net.cancel.cancel();
    Ok(())
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages = arg("--messages", 200);
    let rate = arg("--rate", 1_000);
    let burst = arg("--burst", 5_000);
    if std::env::args().any(|a| a == "--throughput-only") {
        return throughput(arg("--nodes", 5) as usize, rate, burst, false).await;
    }
    latency(5, messages).await?;
    latency(20, messages).await?;
    throughput(5, rate, burst, false).await?;
    throughput(20, rate, burst, false).await?;
    throughput(20, rate, burst, true).await?;
    Ok(())
}
