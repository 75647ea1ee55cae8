//! Chain sync end to end on a real anvil chain (1-second blocks) with real daemons: node A, a
//! sync node, anchors the messages posted to it; node B starts from an empty data dir knowing
//! only the chain's RPC, the contract and A's API as an archive source, replays the chain and
//! reaches A's state root. Confirmations in both APIs name the anchoring transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_chain::{RpcClient, TxSender, abi, tx::Wallet};
use alephd_message::{
    Address, Channel, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer},
};
use alephd_sdk::AlephClient;
use alephd_testing::{ANVIL_CHAIN_ID, ANVIL_KEYS, Anvil, Daemon, DaemonBuilder};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
/// Generous: a slow CI machine must not fail this; nothing is timed.
const PATIENCE: Duration = Duration::from_secs(120);

fn posts(n: usize) -> Vec<Value> {
    let eth = EthAccount::generate();
    (0..n)
        .map(|i| {
            let time = 1_700_000_000.0 + i as f64;
            let content = json!({"address": eth.address(), "time": time, "type": "chain-e2e", "content": {"i": i}});
            let unsigned = UnsignedMessage::inline(
                eth.chain(),
                Address::new(eth.address()),
                MessageType::Post,
                &content,
                time,
            )
            .unwrap()
            .with_channel(Channel::new("CHAIN-E2E").unwrap());
            eth.sign_message(unsigned).unwrap().to_wire_value()
        })
        .collect()
}

fn write_config(dir: &Path, chain: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("chain.toml");
    std::fs::write(&path, chain).unwrap();
    path
}

fn chain_section(rpc: &str, contract: &str, emitter: &str, extra: &str) -> String {
    format!(
        "[chain]\nenabled = true\nchain = \"ETH\"\nrpc_url = \"{rpc}\"\ncontract = \"{contract}\"\n\
         chain_id = {ANVIL_CHAIN_ID}\nconfirmations = 1\npoll_interval_ms = 300\nstart_block = 0\n\
         authorized_emitters = [\"{emitter}\"]\n{extra}"
    )
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Polls `check` until it returns `Some`, or fails with the daemon logs after `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, daemons: &[&Daemon], mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = daemons.iter().map(|d| d.log()).collect();
            panic!(
                "{what}: not reached in {PATIENCE:?}\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The confirmations of `hashes` on a node, once every one of them is confirmed.
async fn confirmations(api: &str, hashes: &[String]) -> Option<Vec<(String, Value)>> {
    let url = format!(
        "{api}/api/v0/messages.json?hashes={}&pagination=0",
        hashes.join(",")
    );
    let page = get(&url).await;
    let messages = page["messages"].as_array()?;
    if messages.len() != hashes.len() || messages.iter().any(|m| m["confirmed"] != json!(true)) {
        return None;
    }
    Some(
        messages
            .iter()
            .map(|m| {
                (
                    m["item_hash"].as_str().unwrap().to_owned(),
                    m["confirmations"].clone(),
                )
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_rebuilds_the_sync_nodes_state_from_the_chain() {
    let anvil = Anvil::with_block_time(1).unwrap();
    let rpc = Arc::new(RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap());
    let sync_key = ANVIL_KEYS[0];
    let sync = TxSender::new(
        rpc.clone(),
        Wallet::from_hex(sync_key).unwrap(),
        ANVIL_CHAIN_ID,
        u128::MAX,
    );
    let contract = abi::address_hex(
        &sync
            .deploy_aleph_sync(Duration::from_secs(30))
            .await
            .unwrap(),
    );
    let emitter = abi::address_hex(&sync.address());

    // Node A: the sync node.
    let dir_a = tempfile::tempdir().unwrap();
    let config_a = write_config(
        dir_a.path(),
        &chain_section(
            &anvil.url(),
            &contract,
            &emitter,
            &format!("writer_key = \"{sync_key}\"\nbatch_period_ms = 500\nbatch_size = 7\n"),
        ),
    );
    let a = DaemonBuilder::new(BIN)
        .arg("--config")
        .arg(config_a.to_str().unwrap())
        .start()
        .unwrap();
    let client = AlephClient::new(&a.api_url()).unwrap();
    let messages = posts(20);
    for m in &messages {
        let r = client.submit_value(m, false).await.unwrap();
        assert!(matches!(r.http_status, 200 | 202), "{r:?}");
    }
    // A user's own on-chain message: an unsigned POST made by calling doMessage.
    let user = TxSender::new(
        rpc.clone(),
        Wallet::from_hex(ANVIL_KEYS[2]).unwrap(),
        ANVIL_CHAIN_ID,
        u128::MAX,
    );
    let user_address = abi::address_hex(&user.address());
    let user_content = json!({"address": user_address, "time": 1_700_000_100.0,
        "type": "chain-e2e", "content": {"from": "doMessage"}})
    .to_string();
    user.do_message(
        alephd_chain::abi::parse_address(&contract).unwrap(),
        "POST",
        &user_content,
    )
    .await
    .unwrap();
    let user_hash = alephd_message::ItemHash::sha256_of(&user_content)
        .as_str()
        .to_owned();

    let mut hashes: Vec<String> = messages
        .iter()
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .collect();
    hashes.push(user_hash.clone());
    let api_a = a.api_url();
    let on_a = eventually("A confirms every message", &[&a], || {
        confirmations(&api_a, &hashes)
    })
    .await;

    // Every confirmation names a real transaction to the contract, at its real height.
    for (hash, confs) in &on_a {
        let c = &confs[0];
        assert_eq!(c["chain"], "ETH", "{hash}");
        let tx = c["hash"].as_str().unwrap();
        let receipt = rpc.receipt(tx).await.unwrap().expect("mined");
        assert_eq!(c["height"].as_u64().unwrap(), receipt.block, "{hash}");
        let tx_json = rpc
            .call("eth_getTransactionByHash", json!([tx]))
            .await
            .unwrap();
        assert_eq!(tx_json["to"].as_str().unwrap(), contract, "{hash}");
    }
    // 20 signed messages in batches of at most 7: at least three anchoring transactions.
    let mut txs: Vec<&str> = on_a
        .iter()
        .filter(|(h, _)| *h != user_hash)
        .map(|(_, c)| c[0]["hash"].as_str().unwrap())
        .collect();
    txs.sort_unstable();
    txs.dedup();
    assert!(txs.len() >= 3, "{txs:?}");

    // Node B: empty data dir, the chain and A's API as archive source, no peers.
    let dir_b = tempfile::tempdir().unwrap();
    let config_b = write_config(
        dir_b.path(),
        &chain_section(
            &anvil.url(),
            &contract,
            &emitter,
            &format!("archive_sources = [\"{}\"]\n", a.api_url()),
        ),
    );
    let data_b = dir_b.path().join("data");
    let mut b = DaemonBuilder::new(BIN)
        .data_dir(&data_b)
        .arg("--config")
        .arg(config_b.to_str().unwrap())
        .start()
        .unwrap();
    let api_b = b.api_url();
    let on_b = eventually("B replays every message", &[&a, &b], || {
        confirmations(&api_b, &hashes)
    })
    .await;
    let root_a = get(&format!("{}/api/v0/state_root.json", a.api_url())).await;
    let root_b = eventually("B reaches A's state root", &[&a, &b], || {
        let url = format!("{}/api/v0/state_root.json", b.api_url());
        let want = root_a.clone();
        async move {
            let got = get(&url).await;
            (got == want).then_some(got)
        }
    })
    .await;
    assert_eq!(root_a, root_b);
    assert!(
        b.log().contains("chain reader: sync pass"),
        "B must have replayed from the chain:\n{}",
        b.log()
    );

    // The same confirmations on both nodes.
    let mut on_a = on_a;
    let mut on_b = on_b;
    on_a.sort_by(|x, y| x.0.cmp(&y.0));
    on_b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(on_a, on_b);

    // The contract call became an unsigned message of its caller.
    let m = get(&format!("{}/api/v0/messages/{user_hash}", b.api_url())).await;
    assert_eq!(m["status"], "processed", "{m}");
    assert_eq!(m["message"]["sender"], user_address.as_str(), "{m}");
    assert_eq!(m["message"]["signature"], Value::Null, "{m}");

    // tx-time sort follows confirmation heights.
    let sorted = get(&format!(
        "{}/api/v0/messages.json?channels=CHAIN-E2E&sortBy=tx-time&sortOrder=1&pagination=0",
        b.api_url()
    ))
    .await;
    let heights: Vec<u64> = sorted["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["confirmations"][0]["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights.len(), 20);
    assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");

    // B stops; A anchors more; B restarts on its data dir and resumes from its checkpoint:
    // the new messages arrive, nothing is missing, nothing doubles.
    assert!(b.terminate().unwrap().success(), "{}", b.log());
    drop(b);
    let more = posts(5);
    for m in &more {
        let r = client.submit_value(m, false).await.unwrap();
        assert!(matches!(r.http_status, 200 | 202), "{r:?}");
    }
    let mut all = hashes.clone();
    all.extend(
        more.iter()
            .map(|m| m["item_hash"].as_str().unwrap().to_owned()),
    );
    let mut on_a = eventually("A confirms the new messages", &[&a], || {
        confirmations(&api_a, &all)
    })
    .await;
    let b = DaemonBuilder::new(BIN)
        .data_dir(&data_b)
        .arg("--config")
        .arg(config_b.to_str().unwrap())
        .start()
        .unwrap();
    let api_b = b.api_url();
    let mut on_b = eventually("B catches up after its restart", &[&a, &b], || {
        confirmations(&api_b, &all)
    })
    .await;
    on_a.sort_by(|x, y| x.0.cmp(&y.0));
    on_b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(on_a, on_b);
    let page = get(&format!(
        "{api_b}/api/v0/messages.json?channels=CHAIN-E2E&pagination=1"
    ))
    .await;
    assert_eq!(page["pagination_total"], 25, "{page}");
    let root_a = get(&format!("{api_a}/api/v0/state_root.json")).await;
    let root_b = get(&format!("{api_b}/api/v0/state_root.json")).await;
    assert_eq!(root_a, root_b);
    drop(b);

    // Node C: no archive source of its own; archives come through the node's content
    // fetcher from its peers (here A as an HTTP peer, `[p2p] http_peers`).
    let dir_c = tempfile::tempdir().unwrap();
    let config_c = write_config(
        dir_c.path(),
        &format!(
            "[p2p]\nhttp_peers = [\"{}\"]\n\n{}",
            a.api_url(),
            chain_section(&anvil.url(), &contract, &emitter, "")
        ),
    );
    let c = DaemonBuilder::new(BIN)
        .arg("--config")
        .arg(config_c.to_str().unwrap())
        .start()
        .unwrap();
    let api_c = c.api_url();
    let mut on_c = eventually("C replays every message", &[&a, &c], || {
        confirmations(&api_c, &all)
    })
    .await;
    on_c.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(on_a, on_c);
    let root_c = get(&format!("{api_c}/api/v0/state_root.json")).await;
    assert_eq!(root_a, root_c);
    drop(c);

    // Node D: only a libp2p peer (A). Messages may also reach it by gossip and catch-up,
    // but confirmations come only with the archives, fetched over p2p here.
    let info = get(&format!("{api_a}/api/v0/info/public.json")).await;
    let a_multiaddr = format!("{}/p2p/{}", a.p2p_addr(), info["peer_id"].as_str().unwrap());
    let dir_d = tempfile::tempdir().unwrap();
    let config_d = write_config(
        dir_d.path(),
        &chain_section(&anvil.url(), &contract, &emitter, ""),
    );
    let d = DaemonBuilder::new(BIN)
        .arg("--config")
        .arg(config_d.to_str().unwrap())
        .arg("--bootstrap")
        .arg(&a_multiaddr)
        .start()
        .unwrap();
    let api_d = d.api_url();
    let mut on_d = eventually(
        "D replays every message with archives from its peer",
        &[&a, &d],
        || confirmations(&api_d, &all),
    )
    .await;
    on_d.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(on_a, on_d);
    let root_d = eventually("D reaches A's state root", &[&a, &d], || {
        let url = format!("{api_d}/api/v0/state_root.json");
        let want = root_a.clone();
        async move {
            let got = get(&url).await;
            (got == want).then_some(got)
        }
    })
    .await;
    assert_eq!(root_a, root_d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_transfers_on_chain_become_balances_in_the_api() {
    let anvil = Anvil::start().unwrap();
    let rpc = Arc::new(RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap());
    let owner = TxSender::new(
        rpc.clone(),
        Wallet::from_hex(ANVIL_KEYS[0]).unwrap(),
        ANVIL_CHAIN_ID,
        u128::MAX,
    );
    let contract = abi::address_hex(
        &owner
            .deploy_aleph_sync(Duration::from_secs(30))
            .await
            .unwrap(),
    );
    let code = include_str!("../../../contracts/build/TestToken_sol_TestToken.bin");
    let sent = owner.send(None, hex_decode(code.trim())).await.unwrap();
    let token = owner
        .wait_mined(&sent.tx_hash, Duration::from_secs(30))
        .await
        .unwrap()
        .contract_address
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &chain_section(
            &anvil.url(),
            &contract,
            &abi::address_hex(&owner.address()),
            &format!("token_contract = \"{}\"\n", abi::address_hex(&token)),
        ),
    );
    let node = DaemonBuilder::new(BIN)
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start()
        .unwrap();

    // 42.5 tokens (18 decimals) to a fresh holder, mixed-case in the query.
    let holder = [0xa1u8; 20];
    let mut data = abi::selector("transfer(address,uint256)").to_vec();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&holder);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&42_500_000_000_000_000_000u128.to_be_bytes());
    let sent = owner.send(Some(token), data).await.unwrap();
    owner
        .wait_mined(&sent.tx_hash, Duration::from_secs(30))
        .await
        .unwrap();
    // One more block buries it under the configured confirmation.
    rpc.call("anvil_mine", json!(["0x1"])).await.unwrap();

    let url = format!(
        "{}/api/v0/addresses/0x{}/balance",
        node.api_url(),
        "A1".repeat(20)
    );
    let body = eventually("the holder's balance appears", &[&node], || {
        let url = url.clone();
        async move {
            let b = get(&url).await;
            (b["balance"].as_f64() == Some(42.5)).then_some(b)
        }
    })
    .await;
    assert_eq!(body["details"]["ETH"].as_f64(), Some(42.5), "{body}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
