//! Chain sync benchmark on a real anvil chain with real `alephd daemon` processes.
//!
//! 1. **Replay**: N signed messages are packed into archives of `--archive` messages, stored on
//!    node A (`POST /api/v0/add`, the CIDv0 a sync node anchors) and anchored by `doEmit`. A
//!    fresh node B, knowing only the RPC, the contract and A as archive source, replays the
//!    chain; we time B from its start until every message is processed (messages/s).
//! 2. **Post → confirmation**: messages posted one by one to sync node A (writer on, 1-second
//!    blocks); for each, the time from the POST's answer until the API shows it `confirmed`.
//!
//! Needs the release binary and anvil (`scripts/test-env.sh`):
//! `cargo build --release -p alephd --bin alephd --example bench_chain &&
//!  target/release/examples/bench_chain [--messages 100000] [--archive 1000,10000]
//!  [--posts 30] [--confirmations 1]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_chain::{RpcClient, TxSender, abi, tx::Wallet};
use alephd_message::{
    Address, Channel, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use alephd_testing::{ANVIL_CHAIN_ID, ANVIL_KEYS, Anvil, Daemon, DaemonBuilder};
use anyhow::{Context, bail};
use serde_json::{Value, json};

const CHANNEL: &str = "CHAIN-BENCH";

struct Args {
    messages: usize,
    archives: Vec<usize>,
    posts: usize,
    confirmations: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 100_000,
        archives: vec![1_000, 10_000],
        posts: 30,
        confirmations: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--messages" => a.messages = value.parse()?,
            "--archive" => {
                a.archives = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--posts" => a.posts = value.parse()?,
            "--confirmations" => a.confirmations = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// The release `alephd` next to this example (`target/release/alephd`), or `ALEPHD_BIN`.
fn binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ALEPHD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|examples| examples.parent())
        .context("no parent dir")?
        .join("alephd");
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p alephd --bin alephd",
            bin.display()
        );
    }
    Ok(bin)
}

fn signed_posts(n: usize, offset: usize) -> Vec<Value> {
    let eth = EthAccount::generate();
    (0..n)
        .map(|i| {
            let time = 1_700_000_000.0 + (offset + i) as f64;
            let content = json!({"address": eth.address(), "time": time, "type": "bench", "content": {"i": i}});
            let unsigned = UnsignedMessage::inline(
                eth.chain(),
                Address::new(eth.address()),
                MessageType::Post,
                &content,
                time,
            )
            .unwrap()
            .with_channel(Channel::new(CHANNEL).unwrap());
            eth.sign_message(unsigned).unwrap().to_wire_value()
        })
        .collect()
}

fn chain_toml(rpc: &str, contract: &str, emitter: &str, extra: &str) -> String {
    format!(
        "[chain]\nenabled = true\nrpc_url = \"{rpc}\"\ncontract = \"{contract}\"\n\
         chain_id = {ANVIL_CHAIN_ID}\npoll_interval_ms = 200\nstart_block = 0\n\
         authorized_emitters = [\"{emitter}\"]\n{extra}"
    )
}

fn start(config: &str) -> anyhow::Result<(Daemon, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config)?;
    let daemon = DaemonBuilder::new(binary()?)
        .arg("--config")
        .arg(path.to_str().context("path")?)
        .env("RUST_LOG", "warn")
        .start()?;
    Ok((daemon, dir))
}

async fn processed(http: &reqwest::Client, api: &str) -> anyhow::Result<u64> {
    let page: Value = http
        .get(format!(
            "{api}/api/v0/messages.json?channels={CHANNEL}&pagination=1"
        ))
        .send()
        .await?
        .json()
        .await?;
    page["pagination_total"]
        .as_u64()
        .context("no pagination_total")
}

/// Stores `bytes` on node A as `ipfs add` would; returns the CID.
async fn ipfs_add(http: &reqwest::Client, api: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("a"),
    );
    let text = http
        .post(format!("{api}/api/v0/add"))
        .multipart(form)
        .send()
        .await?
        .text()
        .await?;
    let line: Value = serde_json::from_str(text.lines().last().context("empty answer")?)?;
    Ok(line["Hash"].as_str().context("no Hash")?.to_owned())
}

/// A fresh AlephSync contract: each run replays only its own history.
async fn deploy(sync: &TxSender) -> anyhow::Result<String> {
    Ok(abi::address_hex(
        &sync.deploy_aleph_sync(Duration::from_secs(60)).await?,
    ))
}

async fn replay(
    anvil: &Anvil,
    sync: &TxSender,
    messages: usize,
    per_archive: usize,
) -> anyhow::Result<()> {
    let contract = &deploy(sync).await?;
    let http = reqwest::Client::new();
    let emitter = abi::address_hex(&sync.address());
    // Node A only hosts archives here (no [chain]): B must fetch every one over HTTP.
    let (a, _dir_a) = start("")?;
    let t = Instant::now();
    let all = signed_posts(messages, 0);
    let sign_s = t.elapsed().as_secs_f64();
    let contract_addr = abi::parse_address(contract).context("contract")?;
    let mut last = None;
    for chunk in all.chunks(per_archive) {
        let archive = json!({"protocol": "aleph", "version": 1, "content": {"messages": chunk}});
        let cid = ipfs_add(&http, &a.api_url(), serde_json::to_vec(&archive)?).await?;
        let payload =
            json!({"protocol": "aleph-offchain", "version": 1, "content": cid}).to_string();
        last = Some(sync.do_emit(contract_addr, &payload).await?);
    }
    let last = last.context("no archive")?;
    sync.wait_mined(&last.tx_hash, Duration::from_secs(120))
        .await?;
    println!(
        "replay setup: {messages} messages signed in {sign_s:.1} s, {} archives of {per_archive} anchored",
        messages.div_ceil(per_archive)
    );

    let t = Instant::now();
    let (b, _dir_b) = start(&chain_toml(
        &anvil.url(),
        contract,
        &emitter,
        &format!(
            "confirmations = 0\narchive_sources = [\"{}\"]\n",
            a.api_url()
        ),
    ))?;
    let started = t.elapsed().as_secs_f64();
    loop {
        let done = processed(&http, &b.api_url()).await?;
        if done as usize >= messages {
            break;
        }
        if t.elapsed() > Duration::from_secs(1800) {
            bail!("B processed only {done} messages in 30 min\n{}", b.log());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "replay: {messages} messages in archives of {per_archive}: {secs:.1} s from node start \
         (start {started:.1} s) = {:.0} messages/s",
        messages as f64 / secs
    );
    Ok(())
}

async fn post_to_confirmation(
    anvil: &Anvil,
    sync: &TxSender,
    posts: usize,
    confirmations: u64,
) -> anyhow::Result<()> {
    let contract = &deploy(sync).await?;
    let http = reqwest::Client::new();
    let key = ANVIL_KEYS[1];
    let emitter = abi::address_hex(&Wallet::from_hex(key)?.address());
    let (a, _dir) = start(&chain_toml(
        &anvil.url(),
        contract,
        &emitter,
        &format!(
            "confirmations = {confirmations}\nwriter_key = \"{key}\"\nbatch_period_ms = 1000\n"
        ),
    ))?;
    let client = alephd_sdk::AlephClient::new(&a.api_url())?;
    let mut times = Vec::new();
    for m in signed_posts(posts, 10_000_000) {
        let hash = m["item_hash"].as_str().context("hash")?.to_owned();
        client.submit_value(&m, true).await?;
        let t = Instant::now();
        loop {
            let v: Value = http
                .get(format!("{}/api/v0/messages/{hash}", a.api_url()))
                .send()
                .await?
                .json()
                .await?;
            if v["message"]["confirmed"] == json!(true) {
                break;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("{hash} not confirmed in 2 min\n{}", a.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        times.push(t.elapsed().as_secs_f64());
        // Spread posts over the batch period so they do not all share one batch.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "post → confirmed (1 s blocks, {confirmations} confirmation(s), 1 s batch period, {posts} posts): \
         min {:.2} s, median {:.2} s, p90 {:.2} s, max {:.2} s",
        pct(0.0),
        pct(0.5),
        pct(0.9),
        pct(1.0)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let anvil = Anvil::with_block_time(1)?;
    let rpc = Arc::new(RpcClient::new(&anvil.url(), Duration::from_secs(30))?);
    let sync = TxSender::new(
        rpc,
        Wallet::from_hex(ANVIL_KEYS[0])?,
        ANVIL_CHAIN_ID,
        u128::MAX,
    );
    for per_archive in &args.archives {
        replay(&anvil, &sync, args.messages, *per_archive).await?;
    }
    if args.posts > 0 {
        post_to_confirmation(&anvil, &sync, args.posts, args.confirmations).await?;
    }
    Ok(())
}
