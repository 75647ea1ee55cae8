//! Chain sync against a real anvil chain started by each test: the AlephSync contract is
//! deployed from its committed build output, the writer anchors archives with real signed
//! transactions, the reader replays real logs. The sink and the unconfirmed source are small
//! recorders here; the node's implementations are exercised end to end in the `alephd` crate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alephd_chain::{
    ArchiveId, ArchiveStore, ChainConfig, CheckpointStore, Confirmation, DirArchiveStore,
    FileCheckpointStore, MessageSink, Provenance, Reader, RpcClient, SeamError, SecretKey,
    TxSender, UnconfirmedSource, Writer, abi, tx::Wallet,
};
use alephd_testing::{ANVIL_CHAIN_ID, ANVIL_KEYS, Anvil};
use async_trait::async_trait;
use serde_json::{Value, json};

const TX_TIMEOUT: Duration = Duration::from_secs(30);

/// What the reader delivered, in order.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(Value, Provenance, Confirmation)>>,
}

#[async_trait]
impl MessageSink for Recorder {
    async fn deliver(
        &self,
        messages: Vec<Value>,
        provenance: Provenance,
        confirmation: Confirmation,
    ) -> Result<(), SeamError> {
        let mut got = self.got.lock().unwrap();
        for m in messages {
            got.push((m, provenance, confirmation.clone()));
        }
        Ok(())
    }
}

impl Recorder {
    fn hashes(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _, _)| m["item_hash"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Unconfirmed messages kept in memory; confirmed ones move to `confirmed`.
#[derive(Default)]
struct Outbox {
    pending: Mutex<Vec<Value>>,
    confirmed: Mutex<Vec<(String, Confirmation)>>,
}

#[async_trait]
impl UnconfirmedSource for Outbox {
    async fn unconfirmed(&self, limit: usize) -> Result<Vec<Value>, SeamError> {
        Ok(self
            .pending
            .lock()
            .unwrap()
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn mark_confirmed(
        &self,
        item_hashes: &[String],
        confirmation: &Confirmation,
    ) -> Result<(), SeamError> {
        let done: HashSet<&String> = item_hashes.iter().collect();
        self.pending
            .lock()
            .unwrap()
            .retain(|m| !done.contains(&m["item_hash"].as_str().unwrap().to_owned()));
        let mut c = self.confirmed.lock().unwrap();
        for h in item_hashes {
            c.push((h.clone(), confirmation.clone()));
        }
        Ok(())
    }
}

/// A wire-shaped message with a unique item hash (the reader does not verify messages; the
/// node's pipeline does).
fn message(n: u64) -> Value {
    let content =
        json!({"address": "0xabc", "time": n as f64, "type": "test", "content": {"n": n}})
            .to_string();
    json!({
        "sender": "0xabc", "chain": "ETH", "signature": "0x00", "type": "POST",
        "item_type": "inline", "item_content": content,
        "item_hash": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content.as_bytes())),
        "time": n as f64, "channel": "TEST",
    })
}

struct Chain {
    anvil: Anvil,
    rpc: RpcClient,
    contract: [u8; 20],
    sync_key: &'static str,
    dir: tempfile::TempDir,
}

impl Chain {
    async fn start() -> Self {
        let anvil = Anvil::start().unwrap();
        let rpc = RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap();
        let deployer = sender(&anvil, ANVIL_KEYS[0]);
        let contract = deployer.deploy_aleph_sync(TX_TIMEOUT).await.unwrap();
        Self {
            anvil,
            rpc,
            contract,
            sync_key: ANVIL_KEYS[0],
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, confirmations: u64) -> ChainConfig {
        ChainConfig {
            enabled: true,
            chain: "ETH".into(),
            rpc_url: self.anvil.url(),
            contract: abi::address_hex(&self.contract),
            chain_id: ANVIL_CHAIN_ID,
            confirmations,
            poll_interval_ms: 100,
            start_block: 0,
            authorized_emitters: vec![abi::address_hex(
                &Wallet::from_hex(self.sync_key).unwrap().address(),
            )],
            writer_key: Some(SecretKey(self.sync_key.into())),
            batch_period_ms: 100,
            batch_size: 3,
            max_block_range: 1000,
            archive_attempts: 1,
            tx_timeout_ms: 20_000,
            ..ChainConfig::default()
        }
    }

    fn archives(&self) -> Arc<DirArchiveStore> {
        Arc::new(DirArchiveStore::open(&self.dir.path().join("archives")).unwrap())
    }

    fn checkpoints(&self) -> Arc<FileCheckpointStore> {
        Arc::new(FileCheckpointStore::new(
            &self.dir.path().join("checkpoint.json"),
        ))
    }

    fn reader(&self, cfg: &ChainConfig, sink: Arc<Recorder>) -> Reader {
        Reader::new(cfg, self.archives(), sink, self.checkpoints()).unwrap()
    }

    async fn mine(&self, blocks: u64) {
        self.rpc
            .call("anvil_mine", json!([format!("0x{blocks:x}")]))
            .await
            .unwrap();
    }

    async fn head(&self) -> u64 {
        self.rpc.block_number().await.unwrap()
    }

    /// `doEmit(payload)` from `key`, waited for; returns (tx hash, block).
    async fn emit(&self, key: &str, payload: &str) -> (String, u64) {
        let s = sender(&self.anvil, key);
        let sent = s.do_emit(self.contract, payload).await.unwrap();
        let r = s.wait_mined(&sent.tx_hash, TX_TIMEOUT).await.unwrap();
        (sent.tx_hash, r.block)
    }

    /// Stores an archive of `messages` and returns its offchain payload.
    async fn archive(&self, messages: &[Value]) -> (ArchiveId, String) {
        let bytes = serde_json::to_vec(
            &json!({"protocol": "aleph", "version": 1, "content": {"messages": messages}}),
        )
        .unwrap();
        let id = self.archives().put(bytes).await.unwrap();
        let payload = offchain(id.as_str());
        (id, payload)
    }
}

fn offchain(id: &str) -> String {
    json!({"protocol": "aleph-offchain", "version": 1, "content": id}).to_string()
}

fn sender(anvil: &Anvil, key: &str) -> TxSender {
    let rpc = Arc::new(RpcClient::new(&anvil.url(), Duration::from_secs(10)).unwrap());
    TxSender::new(
        rpc,
        Wallet::from_hex(key).unwrap(),
        ANVIL_CHAIN_ID,
        u128::MAX,
    )
}

#[tokio::test]
async fn writer_anchors_batches_and_reader_replays_them_after_n_confirmations() {
    let chain = Chain::start().await;
    let cfg = chain.config(2);
    let outbox = Arc::new(Outbox::default());
    let sent: Vec<Value> = (0..7).map(message).collect();
    outbox.pending.lock().unwrap().extend(sent.clone());
    let writer = Writer::new(&cfg, chain.archives(), outbox.clone()).unwrap();

    // anvil mines one block per transaction: mine blocks alongside so batches get buried.
    let mut anchored = Vec::new();
    loop {
        // Blocks keep coming for as long as the writer waits, however slow the machine.
        let publish = writer.publish_once();
        tokio::pin!(publish);
        let batch = loop {
            tokio::select! {
                r = &mut publish => break r,
                () = tokio::time::sleep(Duration::from_millis(50)) => chain.mine(1).await,
            }
        };
        match batch.unwrap() {
            Some(a) => anchored.push(a),
            None => break,
        }
    }
    assert_eq!(
        anchored.iter().map(|a| a.messages).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    // The writer recorded each message's confirmation with its transaction's block.
    let confirmed = outbox.confirmed.lock().unwrap().clone();
    assert_eq!(confirmed.len(), 7);
    for (hash, c) in &confirmed {
        let a = anchored
            .iter()
            .find(|a| a.tx_hash == c.tx_hash)
            .expect("confirmation of an anchored tx");
        assert_eq!(a.block, c.height, "{hash}");
    }

    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.messages, 7, "{stats:?}");
    let expected: Vec<String> = sent
        .iter()
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sink.hashes(), expected, "chain order, each once");
    for (m, provenance, c) in sink.got.lock().unwrap().iter() {
        assert_eq!(*provenance, Provenance::Archive);
        let a = anchored.iter().find(|a| a.tx_hash == c.tx_hash).unwrap();
        assert_eq!(c.height, a.block);
        assert_eq!(c.chain, "ETH");
        assert!(c.time > 0);
        assert!(m["item_content"].is_string());
    }
    // The archive on chain is the offchain payload with the stored id.
    let archive_id = ArchiveId::parse(&anchored[0].archive).unwrap();
    let stored: Value =
        serde_json::from_slice(&chain.archives().get(&archive_id).await.unwrap()).unwrap();
    assert_eq!(stored["protocol"], "aleph");
    assert_eq!(stored["content"]["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn logs_wait_for_the_confirmation_depth() {
    let chain = Chain::start().await;
    let cfg = chain.config(3);
    let (_, payload) = chain.archive(&[message(1)]).await;
    let (_, block) = chain.emit(chain.sync_key, &payload).await;
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    for _ in 0..2 {
        reader.sync_once().await.unwrap();
        assert!(sink.hashes().is_empty(), "applied before 3 confirmations");
        chain.mine(1).await;
    }
    assert_eq!(chain.head().await, block + 2);
    reader.sync_once().await.unwrap();
    assert!(sink.hashes().is_empty());
    chain.mine(1).await;
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.messages, 1);
    assert_eq!(stats.last_block, Some(block));
}

#[tokio::test]
async fn a_restarted_reader_resumes_from_its_checkpoint_without_gaps_or_duplicates() {
    let chain = Chain::start().await;
    let cfg = chain.config(1);
    let all: Vec<Value> = (0..9).map(message).collect();
    let sink = Arc::new(Recorder::default());
    for round in all.chunks(3) {
        let (_, payload) = chain.archive(&round[..2]).await;
        chain.emit(chain.sync_key, &payload).await;
        // The reader is dropped and rebuilt each round, as a restarted node would be.
        let reader = chain.reader(&cfg, sink.clone());
        chain.mine(1).await;
        reader.sync_once().await.unwrap();
        drop(reader);
        let (_, payload) = chain.archive(&round[2..]).await;
        chain.emit(chain.sync_key, &payload).await;
    }
    chain.mine(1).await;
    let reader = chain.reader(&cfg, sink.clone());
    reader.sync_once().await.unwrap();
    // Nothing new: a second pass delivers nothing again.
    assert_eq!(reader.sync_once().await.unwrap().messages, 0);
    let expected: Vec<String> = all
        .iter()
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sink.hashes(), expected);
    let saved = chain
        .checkpoints()
        .load(reader.checkpoint_key())
        .await
        .unwrap();
    assert_eq!(saved.last_block, Some(chain.head().await - 1));
}

#[tokio::test]
async fn a_reorg_shallower_than_the_confirmation_depth_changes_nothing() {
    let chain = Chain::start().await;
    let cfg = chain.config(3);
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    let (_, kept) = chain.archive(&[message(1)]).await;
    chain.emit(chain.sync_key, &kept).await;
    chain.mine(3).await;
    reader.sync_once().await.unwrap();
    assert_eq!(sink.hashes().len(), 1);

    // A batch lands, is two blocks deep, then the chain reorganizes it away.
    let snapshot = chain.rpc.call("evm_snapshot", json!([])).await.unwrap();
    let (_, orphan) = chain.archive(&[message(2)]).await;
    let (_, orphan_block) = chain.emit(chain.sync_key, &orphan).await;
    chain.mine(1).await;
    reader.sync_once().await.unwrap();
    let reverted = chain
        .rpc
        .call("evm_revert", json!([snapshot]))
        .await
        .unwrap();
    assert_eq!(reverted, json!(true));
    // The other branch: a different batch, and enough blocks to bury it.
    let (_, replacement) = chain.archive(&[message(3)]).await;
    let (_, block) = chain.emit(chain.sync_key, &replacement).await;
    assert_eq!(
        block, orphan_block,
        "the replacement took the orphan's height"
    );
    chain.mine(3).await;
    reader.sync_once().await.unwrap();
    let expected = [message(1), message(3)]
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .to_vec();
    assert_eq!(
        sink.hashes(),
        expected,
        "the orphaned batch must never be applied"
    );
}

#[tokio::test]
async fn hostile_or_broken_events_are_ignored_and_later_good_ones_still_apply() {
    let chain = Chain::start().await;
    let cfg = chain.config(0);
    let archives = chain.archives();
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());

    // An unauthorized emitter anchoring a perfectly good archive.
    let (_, good_payload) = chain.archive(&[message(100)]).await;
    chain.emit(ANVIL_KEYS[1], &good_payload).await;
    // Malformed payloads from the authorized emitter.
    for bad in [
        "not json".to_owned(),
        json!({"protocol": "aleph-offchain", "version": 2, "content": "x"}).to_string(),
        json!({"protocol": "other", "version": 1, "content": {}}).to_string(),
        offchain("../../etc/passwd"),
        json!({"protocol": "aleph", "version": 1, "content": {"nomessages": []}}).to_string(),
    ] {
        chain.emit(chain.sync_key, &bad).await;
    }
    // An archive whose stored bytes do not match their id.
    let (tampered_id, tampered_payload) = chain.archive(&[message(101)]).await;
    std::fs::write(
        chain.dir.path().join("archives").join(tampered_id.as_str()),
        b"{\"protocol\":\"aleph\",\"version\":1,\"content\":{\"messages\":[]}}",
    )
    .unwrap();
    chain.emit(chain.sync_key, &tampered_payload).await;
    // A stored file that is JSON but not an aleph archive.
    let not_archive = archives.put(b"{\"hello\":1}".to_vec()).await.unwrap();
    chain
        .emit(chain.sync_key, &offchain(not_archive.as_str()))
        .await;
    // Inline `aleph` v1 batch, then a good archive.
    let inline = json!({"protocol": "aleph", "version": 1, "content": {"messages": [message(1)]}});
    chain.emit(chain.sync_key, &inline.to_string()).await;
    let (_, good) = chain.archive(&[message(2)]).await;
    chain.emit(chain.sync_key, &good).await;

    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.ignored, 8, "{stats:?}");
    assert_eq!(stats.waiting_for, None);
    let expected = [message(1), message(2)]
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .to_vec();
    assert_eq!(sink.hashes(), expected);
}

#[tokio::test]
async fn a_missing_archive_is_deferred_and_delivered_once_it_appears() {
    let chain = Chain::start().await;
    let cfg = chain.config(0);
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    let (_, first) = chain.archive(&[message(1)]).await;
    chain.emit(chain.sync_key, &first).await;
    // Announce an archive before storing it (a sync node whose archive has not spread yet).
    let later = serde_json::to_vec(
        &json!({"protocol": "aleph", "version": 1, "content": {"messages": [message(2)]}}),
    )
    .unwrap();
    let later_id = ArchiveId::of(&later);
    let (missing_tx, missing_block) = chain
        .emit(chain.sync_key, &offchain(later_id.as_str()))
        .await;
    let (_, third) = chain.archive(&[message(3)]).await;
    chain.emit(chain.sync_key, &third).await;

    // The replay goes on past the missing archive, which is owed in the checkpoint.
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.waiting_for, Some(later_id.clone()));
    assert_eq!(stats.last_block, Some(chain.head().await));
    let hash = |n: u64| message(n)["item_hash"].as_str().unwrap().to_owned();
    assert_eq!(sink.hashes(), [hash(1), hash(3)]);
    let saved = chain
        .checkpoints()
        .load(reader.checkpoint_key())
        .await
        .unwrap();
    assert_eq!(saved.deferred.len(), 1);
    assert_eq!(saved.deferred[0].archive, later_id.as_str());
    // Still missing: still owed, nothing delivered twice.
    reader.sync_once().await.unwrap();
    assert_eq!(sink.hashes(), [hash(1), hash(3)]);

    // The archive appears; a restarted reader delivers it with its original confirmation.
    chain.archives().put(later).await.unwrap();
    drop(reader);
    let reader = chain.reader(&cfg, sink.clone());
    let stats = reader.sync_once().await.unwrap();
    assert_eq!(stats.messages, 1);
    assert_eq!(sink.hashes(), [hash(1), hash(3), hash(2)]);
    let (_, _, conf) = sink.got.lock().unwrap()[2].clone();
    assert_eq!((conf.tx_hash, conf.height), (missing_tx, missing_block));
    let saved = chain
        .checkpoints()
        .load(reader.checkpoint_key())
        .await
        .unwrap();
    assert!(saved.deferred.is_empty());
    reader.sync_once().await.unwrap();
    assert_eq!(sink.hashes().len(), 3, "delivered once");
}

#[tokio::test]
async fn message_events_become_unsigned_smart_contract_messages() {
    let chain = Chain::start().await;
    let cfg = chain.config(0);
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    // Any account may call doMessage: the transaction's sender is the message's sender.
    let user = sender(&chain.anvil, ANVIL_KEYS[2]);
    let content = json!({"address": abi::address_hex(&user.address()), "time": 1.0,
        "type": "note", "content": {"body": "from a contract call"}})
    .to_string();
    let sent = user
        .do_message(chain.contract, "POST", &content)
        .await
        .unwrap();
    let receipt = user.wait_mined(&sent.tx_hash, TX_TIMEOUT).await.unwrap();
    let cid = "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB";
    let sent_store = user
        .do_message(chain.contract, "STORE_IPFS", cid)
        .await
        .unwrap();
    user.wait_mined(&sent_store.tx_hash, TX_TIMEOUT)
        .await
        .unwrap();
    user.do_message(chain.contract, "NOT_A_TYPE", "{}")
        .await
        .unwrap();
    chain.mine(1).await;

    let stats = reader.sync_once().await.unwrap();
    assert_eq!((stats.messages, stats.ignored), (2, 1), "{stats:?}");
    let got = sink.got.lock().unwrap().clone();
    let (post, provenance, conf) = &got[0];
    assert_eq!(*provenance, Provenance::SmartContract);
    assert_eq!(post["type"], "POST");
    assert_eq!(post["signature"], Value::Null);
    assert_eq!(post["sender"], abi::address_hex(&user.address()));
    assert_eq!(post["item_content"], content);
    assert_eq!(
        post["item_hash"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content.as_bytes()))
    );
    assert_eq!(conf.tx_hash, sent.tx_hash);
    assert_eq!(conf.height, receipt.block);
    assert_eq!(post["time"].as_f64().unwrap() as u64, conf.time);
    let (store, _, _) = &got[1];
    assert_eq!(store["type"], "STORE");
    let store_content: Value =
        serde_json::from_str(store["item_content"].as_str().unwrap()).unwrap();
    assert_eq!(store_content["item_hash"], cid);
    assert_eq!(store_content["item_type"], "ipfs");
}

/// An RPC endpoint in front of anvil that refuses `eth_getLogs` over more than `max` blocks
/// the way hosted nodes do (-32005), counting refusals.
async fn range_limited_proxy(upstream: String, max: u64, refusals: Arc<AtomicU64>) -> String {
    use axum::{Json, Router, routing::post};
    let client = reqwest::Client::new();
    let app = Router::new().route(
        "/",
        post(move |Json(body): Json<Value>| {
            let client = client.clone();
            let upstream = upstream.clone();
            let refusals = refusals.clone();
            async move {
                if body["method"] == "eth_getLogs" {
                    let q = |k: &str| {
                        u64::from_str_radix(
                            body["params"][0][k].as_str().unwrap().trim_start_matches("0x"),
                            16,
                        )
                        .unwrap()
                    };
                    if q("toBlock") - q("fromBlock") + 1 > max {
                        refusals.fetch_add(1, Ordering::Relaxed);
                        return Json(json!({"jsonrpc": "2.0", "id": body["id"],
                            "error": {"code": -32005, "message": "query returned more than 10000 results"}}));
                    }
                }
                let resp = client.post(&upstream).json(&body).send().await.unwrap();
                Json(resp.json::<Value>().await.unwrap())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn log_ranges_shrink_when_the_node_refuses_them() {
    let chain = Chain::start().await;
    let refusals = Arc::new(AtomicU64::new(0));
    let mut cfg = chain.config(0);
    cfg.rpc_url = range_limited_proxy(chain.anvil.url(), 5, refusals.clone()).await;
    cfg.max_block_range = 64;
    let mut expected = Vec::new();
    for n in 0..6 {
        let (_, payload) = chain.archive(&[message(n)]).await;
        chain.emit(chain.sync_key, &payload).await;
        chain.mine(4).await;
        expected.push(message(n)["item_hash"].as_str().unwrap().to_owned());
    }
    let sink = Arc::new(Recorder::default());
    let reader = chain.reader(&cfg, sink.clone());
    let stats = reader.sync_once().await.unwrap();
    assert!(
        refusals.load(Ordering::Relaxed) > 0,
        "the proxy never refused"
    );
    assert_eq!(stats.last_block, Some(chain.head().await));
    assert_eq!(sink.hashes(), expected);
}

#[tokio::test]
async fn the_writer_refuses_gas_prices_over_its_cap_and_sends_nothing() {
    let chain = Chain::start().await;
    let mut cfg = chain.config(0);
    cfg.max_gas_price_gwei = 0; // anvil asks for about 1 gwei
    let outbox = Arc::new(Outbox::default());
    outbox.pending.lock().unwrap().push(message(1));
    let writer = Writer::new(&cfg, chain.archives(), outbox.clone()).unwrap();
    let from = Wallet::from_hex(chain.sync_key).unwrap().address();
    let nonce_before = chain.rpc.nonce(&from).await.unwrap();
    let err = writer.publish_once().await.unwrap_err();
    assert!(err.to_string().contains("exceeds the cap"), "{err}");
    assert_eq!(chain.rpc.nonce(&from).await.unwrap(), nonce_before);
    assert_eq!(outbox.pending.lock().unwrap().len(), 1, "still unconfirmed");
}

#[tokio::test]
async fn an_unmined_batch_is_replaced_with_a_higher_fee_and_anchored_once() {
    let chain = Chain::start().await;
    let mut cfg = chain.config(0);
    cfg.tx_timeout_ms = 300;
    let outbox = Arc::new(Outbox::default());
    outbox
        .pending
        .lock()
        .unwrap()
        .extend([message(1), message(2)]);
    let writer = Writer::new(&cfg, chain.archives(), outbox.clone()).unwrap();
    let price_before = chain.rpc.gas_price().await.unwrap();
    // Blocks stop: the batch transaction waits in the pool.
    chain
        .rpc
        .call("evm_setAutomine", json!([false]))
        .await
        .unwrap();
    for _ in 0..2 {
        let err = writer.publish_once().await.unwrap_err();
        assert!(err.to_string().contains("not mined"), "{err}");
    }
    // One transaction in the pool (the versions replaced each other), none duplicated.
    let status = chain.rpc.call("txpool_status", json!([])).await.unwrap();
    assert_eq!(status["pending"], json!("0x1"), "{status}");
    chain.mine(1).await;
    let anchored = writer.publish_once().await.unwrap().unwrap();
    let tx = chain
        .rpc
        .call("eth_getTransactionByHash", json!([anchored.tx_hash]))
        .await
        .unwrap();
    let price = u128::from_str_radix(
        tx["gasPrice"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(price > price_before, "{price} <= {price_before}");
    assert_eq!(outbox.confirmed.lock().unwrap().len(), 2);
    chain
        .rpc
        .call("evm_setAutomine", json!([true]))
        .await
        .unwrap();
    let sink = Arc::new(Recorder::default());
    chain.reader(&cfg, sink.clone()).sync_once().await.unwrap();
    let expected = [message(1), message(2)]
        .map(|m| m["item_hash"].as_str().unwrap().to_owned())
        .to_vec();
    assert_eq!(sink.hashes(), expected, "one SyncEvent, delivered once");
}
