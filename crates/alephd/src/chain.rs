//! Chain sync in the node (`[chain]`, spec §7): the seams of `alephd-chain` over the node's
//! real parts. Archives live in the content store under the CID `ipfs add` gives them (what
//! pyaleph anchors), fetched from `archive_sources` when missing and checked against that
//! CID by the store itself; replayed messages enter the processor's durable queue and their
//! confirmations go to the state database; the writer anchors what no chain confirmed yet.
//!
//! Nothing here may stop the node: chain, RPC and peer failures are logged and retried.

use std::{path::Path, sync::Arc, time::Duration};

use alephd_chain::{
    ArchiveError, ArchiveId, ArchiveStore, BalanceSink, ChainConfig, Confirmation,
    FileCheckpointStore, HolderBalance, MessageSink, Provenance, Reader, SeamError, TokenReader,
    UnconfirmedSource, Writer,
};
use alephd_db::{BalanceRecord, Db, MessageRecord, ops};
use alephd_message::{IncomingMessage, ItemHash, ItemType};
use alephd_processor::{ContentFetcher, Origin, ProcessorHandle};
use alephd_storage::{AddError, AddOptions, ContentRef, Engine, Layout, PinMode, PinOwner, Store};
use anyhow::Context;
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Largest archive we store or fetch: twice what our writer makes (other writers' batches of
/// 10,000 messages are usually a few MB).
const MAX_ARCHIVE_BYTES: u64 = 2 * alephd_chain::MAX_ARCHIVE_BYTES as u64;
/// Pin owner of archives: they stay as long as the node keeps its history.
const ARCHIVE_PIN: &str = "chain-archives";
/// Submissions in flight while replaying one batch (the processor group-commits them).
const SUBMIT_CONCURRENCY: usize = 256;
/// Time limit of one archive download from a source.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the reader (and the writer when a sync key is configured) if `[chain]` is enabled.
/// Archives are read from `store`, else through `fetcher` (peers), else from the configured
/// `archive_sources`. The tasks end when `cancel` fires.
pub(crate) fn spawn(
    config: &ChainConfig,
    data_dir: &Path,
    db: &Db,
    (store, fetcher): (&Store, Arc<dyn ContentFetcher>),
    processor: &ProcessorHandle,
    cancel: &CancellationToken,
) -> anyhow::Result<JoinSet<()>> {
    let mut tasks = JoinSet::new();
    if !config.enabled {
        return Ok(tasks);
    }
    let archives = Arc::new(StoreArchives::new(
        store.clone(),
        fetcher,
        &config.archive_sources,
    )?);
    let sink = Arc::new(PipelineSink {
        db: db.clone(),
        processor: processor.clone(),
    });
    let checkpoints = Arc::new(FileCheckpointStore::new(
        &data_dir.join("chain-checkpoint.json"),
    ));
    let reader = Reader::new(config, archives.clone(), sink, checkpoints.clone())
        .context("invalid [chain] section")?;
    tasks.spawn(reader.run(cancel.clone()));
    if config.token_contract.is_some() {
        let balances = Arc::new(DbBalances {
            db: db.clone(),
            chain: config.chain.clone(),
        });
        let tokens =
            TokenReader::new(config, balances, checkpoints).context("invalid [chain] section")?;
        tasks.spawn(tokens.run(cancel.clone()));
    }
    if config.writer_key.is_some() {
        let source = Arc::new(DbUnconfirmed { db: db.clone() });
        let writer = Writer::new(config, archives, source).context("invalid [chain] section")?;
        tracing::info!(
            address = %alephd_chain::abi::address_hex(&writer.address()),
            "chain writer enabled (sync node)"
        );
        tasks.spawn(writer.run(cancel.clone()));
    }
    tracing::info!(chain = %config.chain, contract = %config.contract, rpc = %config.rpc_url, "chain sync enabled");
    Ok(tasks)
}

/// Waits for the chain tasks to stop (after the shutdown token fired).
pub(crate) async fn join(mut tasks: JoinSet<()>) {
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a chain sync task failed");
        }
    }
}

/// Archives in the content store, addressed by CIDv0 like `ipfs add`.
struct StoreArchives {
    store: Store,
    /// The processor's fetcher: local store, then p2p peers and HTTP peers, CID-checked.
    fetcher: Arc<dyn ContentFetcher>,
    sources: Vec<String>,
    http: reqwest::Client,
    pin: PinOwner,
}

impl StoreArchives {
    fn new(
        store: Store,
        fetcher: Arc<dyn ContentFetcher>,
        sources: &[String],
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            fetcher,
            sources: sources
                .iter()
                .map(|s| s.trim_end_matches('/').to_owned())
                .collect(),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .context("cannot build the archive HTTP client")?,
            pin: PinOwner::new(ARCHIVE_PIN).map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    }

    fn options(&self, expect: Option<ContentRef>) -> AddOptions {
        AddOptions {
            pin: PinMode::Owner(self.pin.clone()),
            expect,
            ..AddOptions::new(Engine::Ipfs(Layout::V0), MAX_ARCHIVE_BYTES)
        }
    }

    async fn read_local(&self, item: &ContentRef) -> Result<Option<Vec<u8>>, ArchiveError> {
        let backend = |e: alephd_storage::StoreError| ArchiveError::Backend(e.to_string());
        let Some(stat) = self.store.stat(item).await.map_err(backend)? else {
            return Ok(None);
        };
        if stat.size > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::Backend(format!(
                "stored archive {item} has {} bytes, over the {MAX_ARCHIVE_BYTES} limit",
                stat.size
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(stat.size).unwrap_or(0));
        let mut stream = self.store.read(item, 0..stat.size).await.map_err(backend)?;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| ArchiveError::Backend(e.to_string()))?);
        }
        Ok(Some(bytes))
    }

    /// Downloads from one source, at most `MAX_ARCHIVE_BYTES`; `None` when it has nothing.
    async fn download(&self, base: &str, id: &ArchiveId) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{base}/api/v0/storage/raw/{id}");
        let mut resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if (bytes.len() + chunk.len()) as u64 > MAX_ARCHIVE_BYTES {
                return Err(format!("{url}: more than {MAX_ARCHIVE_BYTES} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }
}

#[async_trait]
impl ArchiveStore for StoreArchives {
    async fn put(&self, bytes: Vec<u8>) -> Result<ArchiveId, ArchiveError> {
        let added = self
            .store
            .add_bytes(bytes.into(), self.options(None))
            .await
            .map_err(|e| ArchiveError::Backend(e.to_string()))?;
        let cid = added.cid.to_string();
        ArchiveId::parse(&cid)
            .ok_or_else(|| ArchiveError::Backend(format!("store gave an unexpected id {cid}")))
    }

    async fn get(&self, id: &ArchiveId) -> Result<Vec<u8>, ArchiveError> {
        let item: ContentRef = id
            .as_str()
            .parse()
            .map_err(|_| ArchiveError::Unsupported(id.clone()))?;
        if let Some(bytes) = self.read_local(&item).await? {
            return Ok(bytes);
        }
        if let Some(bytes) = self.fetch_from_peers(id).await {
            match self.keep(id, item, bytes).await {
                Err(ArchiveError::Mismatch { actual, .. }) => {
                    tracing::warn!(archive = %id, %actual, "chain: a peer served bytes that do not match the archive CID; not used");
                }
                other => return other,
            }
        }
        for base in &self.sources {
            let bytes = match self.download(base, id).await {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(archive = %id, source = %base, error = %e, "chain: archive source failed");
                    continue;
                }
            };
            match self.keep(id, item, bytes).await {
                Err(ArchiveError::Mismatch { actual, .. }) => {
                    tracing::warn!(archive = %id, source = %base, %actual, "chain: source served bytes that do not match the archive CID; not used");
                }
                other => return other,
            }
        }
        Err(ArchiveError::NotFound(id.clone()))
    }
}

impl StoreArchives {
    /// Asks the network (p2p peers, HTTP peers); `None` when nobody has it.
    async fn fetch_from_peers(&self, id: &ArchiveId) -> Option<Vec<u8>> {
        let hash = ItemHash::parse(id.as_str()).ok()?;
        let limit = usize::try_from(MAX_ARCHIVE_BYTES).unwrap_or(usize::MAX);
        match self.fetcher.fetch(ItemType::Ipfs, &hash, limit).await {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::debug!(archive = %id, error = %e, "chain: archive not available from peers");
                None
            }
        }
    }

    /// Stores and pins fetched bytes; the store computes their CID and refuses a mismatch.
    async fn keep(
        &self,
        id: &ArchiveId,
        item: ContentRef,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, ArchiveError> {
        match self
            .store
            .add_bytes(bytes.clone().into(), self.options(Some(item)))
            .await
        {
            Ok(_) => Ok(bytes),
            Err(AddError::Mismatch { actual, .. }) => Err(ArchiveError::Mismatch {
                id: id.clone(),
                actual: actual.to_string(),
            }),
            Err(e) => Err(ArchiveError::Backend(e.to_string())),
        }
    }
}

/// Replayed messages into the processor's durable queue; confirmations into the state DB.
struct PipelineSink {
    db: Db,
    processor: ProcessorHandle,
}

#[async_trait]
impl MessageSink for PipelineSink {
    async fn deliver(
        &self,
        messages: Vec<Value>,
        provenance: Provenance,
        confirmation: Confirmation,
    ) -> Result<(), SeamError> {
        let origin = match provenance {
            Provenance::Archive => Origin::Onchain,
            Provenance::SmartContract => Origin::SmartContract,
        };
        let mut parsed = Vec::with_capacity(messages.len());
        for value in messages {
            let hash = value["item_hash"].as_str().unwrap_or("?").to_owned();
            match IncomingMessage::from_value(value) {
                Ok(m) => parsed.push(m),
                Err(e) => {
                    tracing::warn!(item_hash = %hash, tx = %confirmation.tx_hash, error = %e, "chain: skipping a replayed message that does not parse");
                }
            }
        }
        let hashes: Vec<String> = parsed
            .iter()
            .map(|m| m.item_hash().as_str().to_owned())
            .collect();
        // Confirmations first: a message applied before its confirmation is written would
        // look unconfirmed to this node's writer for a moment and be anchored again.
        add_confirmations(&self.db, &hashes, &confirmation).await?;
        let submitted = futures::stream::iter(parsed)
            .map(|m| self.processor.submit(m, origin))
            .buffer_unordered(SUBMIT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for result in submitted {
            result.map_err(|e| SeamError(format!("queuing a replayed message: {e}")))?;
        }
        Ok(())
    }
}

async fn add_confirmations(db: &Db, hashes: &[String], c: &Confirmation) -> Result<(), SeamError> {
    let err = |e: alephd_db::DbError| SeamError(format!("recording confirmations: {e}"));
    let height = i64::try_from(c.height).map_err(|_| SeamError("height overflows".into()))?;
    let mut tx = db.begin().await.map_err(err)?;
    for hash in hashes {
        ops::add_confirmation(&mut tx, hash, &c.chain, height, &c.tx_hash)
            .await
            .map_err(err)?;
    }
    tx.commit()
        .await
        .map_err(|e| SeamError(format!("recording confirmations: {e}")))
}

/// The writer's view: applied messages no chain has confirmed.
struct DbUnconfirmed {
    db: Db,
}

/// The archive form of a stored message (spec §7.1).
fn wire(m: &MessageRecord) -> Value {
    json!({
        "sender": m.sender, "chain": m.chain, "signature": m.signature,
        "type": m.message_type, "item_content": m.item_content, "item_type": m.item_type,
        "item_hash": m.item_hash, "time": m.time, "channel": m.channel,
    })
}

#[async_trait]
impl UnconfirmedSource for DbUnconfirmed {
    async fn unconfirmed(&self, limit: usize) -> Result<Vec<Value>, SeamError> {
        let err = |e: alephd_db::DbError| SeamError(format!("reading unconfirmed messages: {e}"));
        let mut conn = self.db.read().await.map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let records = ops::unconfirmed(&mut conn, limit).await.map_err(err)?;
        Ok(records.iter().map(wire).collect())
    }

    async fn mark_confirmed(
        &self,
        item_hashes: &[String],
        confirmation: &Confirmation,
    ) -> Result<(), SeamError> {
        add_confirmations(&self.db, item_hashes, confirmation).await
    }
}

/// Token balances read from the chain, as balance lines of the cost checks: one line per
/// (holder, chain, `erc20:<token>`), newest height wins. A node that also trusts
/// `balances-update` posts for the same token would count it twice: configure one source.
struct DbBalances {
    db: Db,
    chain: String,
}

#[async_trait]
impl BalanceSink for DbBalances {
    async fn update(&self, token: &str, balances: Vec<HolderBalance>) -> Result<(), SeamError> {
        let err = |e: alephd_db::DbError| SeamError(format!("recording token balances: {e}"));
        let dapp = format!("erc20:{token}");
        let mut tx = self.db.begin().await.map_err(err)?;
        for b in balances {
            let record = BalanceRecord {
                address: b.address,
                chain: self.chain.clone(),
                dapp: dapp.clone(),
                balance: b.balance,
                height: i64::try_from(b.height).unwrap_or(i64::MAX),
                item_hash: b.tx_hash,
                time: b.time as f64,
            };
            ops::upsert_balance(&mut tx, &record).await.map_err(err)?;
        }
        tx.commit()
            .await
            .map_err(|e| SeamError(format!("recording token balances: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

    use alephd_processor::NoContentStore;
    use axum::{Router, extract::Path as UrlPath, routing::get};

    use super::*;

    async fn store(dir: &Path) -> Store {
        Store::open(dir, alephd_storage::StorageConfig::default())
            .await
            .unwrap()
    }

    /// A source serving `body` for every archive.
    async fn source(body: &'static [u8]) -> String {
        let app = Router::new().route(
            "/api/v0/storage/raw/{cid}",
            get(move |UrlPath(_cid): UrlPath<String>| async move { body.to_vec() }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    const ARCHIVE: &[u8] = br#"{"protocol":"aleph","version":1,"content":{"messages":[]}}"#;

    #[tokio::test]
    async fn archives_from_sources_are_checked_against_their_cid_and_kept() {
        let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
        let none: Arc<dyn ContentFetcher> = Arc::new(NoContentStore);
        // The sync node's store gives the id (an `ipfs add` CIDv0).
        let origin = StoreArchives::new(store(dirs[0].path()).await, none.clone(), &[]).unwrap();
        let id = origin.put(ARCHIVE.to_vec()).await.unwrap();
        assert!(id.as_str().starts_with("Qm"), "{id}");

        // Only a liar: never used, reported as not found (the reader defers it).
        let liar =
            source(b"{\"protocol\":\"aleph\",\"version\":1,\"content\":{\"messages\":[1]}}").await;
        let fooled = StoreArchives::new(
            store(dirs[1].path()).await,
            none.clone(),
            std::slice::from_ref(&liar),
        )
        .unwrap();
        assert!(matches!(
            fooled.get(&id).await,
            Err(ArchiveError::NotFound(_))
        ));

        // A liar, then an honest source: the honest bytes, stored locally for next time.
        let honest = source(ARCHIVE).await;
        let local = store(dirs[2].path()).await;
        let fetcher = StoreArchives::new(local.clone(), none.clone(), &[liar, honest]).unwrap();
        assert_eq!(fetcher.get(&id).await.unwrap(), ARCHIVE);
        let offline = StoreArchives::new(local, none, &[]).unwrap();
        assert_eq!(offline.get(&id).await.unwrap(), ARCHIVE);

        // A sha256 id (storage engine) is checked the same way: other bytes never satisfy it.
        let sha = ArchiveId::of(b"x");
        assert!(matches!(
            fetcher.get(&sha).await,
            Err(ArchiveError::NotFound(_))
        ));
    }

    #[test]
    fn archived_records_parse_back_as_wire_messages() {
        let record = MessageRecord {
            item_hash: "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB".into(),
            sender: "0x0000000000000000000000000000000000000001".into(),
            chain: "ETH".into(),
            signature: Some("0x00".into()),
            message_type: "STORE".into(),
            item_type: "ipfs".into(),
            item_content: None,
            content: "{}".into(),
            time: 1.5,
            channel: Some("TEST".into()),
            owner: String::new(),
            content_type: None,
            content_key: None,
            content_ref: None,
            content_item_hash: None,
            payment_type: None,
            size: 0,
            reception_time: 0.0,
        };
        let m = IncomingMessage::from_value(wire(&record)).unwrap();
        assert_eq!(m.item_hash().as_str(), record.item_hash);
        assert_eq!(m.time(), 1.5);
        assert_eq!(m.item_content(), None);
    }
}
