//! Writer: packs unconfirmed messages into an archive, stores it and anchors its id on chain
//! (spec §7.1). One batch in flight at most: a batch whose transaction is not yet buried
//! under the configured confirmations is waited for again on the next period instead of
//! being sent a second time, and only a transaction the node has dropped is replaced.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::abi;
use crate::config::{ChainConfig, ConfigError};

/// Largest archive the writer makes (and the node stores or fetches), in bytes.
pub const MAX_ARCHIVE_BYTES: usize = 32 << 20;
/// Gas price raise of a replacement transaction (nodes require at least 10%).
const FEE_BUMP_PERCENT: u128 = 20;
/// The archive's JSON around its messages, with room to spare.
const ARCHIVE_ENVELOPE_BYTES: usize = 128;
use crate::rpc::{RpcClient, RpcError};
use crate::seams::{ArchiveError, ArchiveStore, Confirmation, SeamError, UnconfirmedSource};
use crate::sender::{SendError, TxSender};
use crate::tx::{TxError, Wallet};

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the writer needs chain.writer_key")]
    NoKey,
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    #[error("tx: {0}")]
    Tx(#[from] TxError),
    #[error("sending the batch: {0}")]
    Send(#[from] SendError),
    #[error("archive: {0}")]
    Archive(#[from] ArchiveError),
    #[error("unconfirmed source: {0}")]
    Seam(#[from] SeamError),
}

/// A batch anchored on chain and buried under the configured confirmations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    pub tx_hash: String,
    pub block: u64,
    pub messages: usize,
    pub archive: String,
    /// The batch was cut by `batch_size` or the archive size limit: more may be waiting.
    pub full: bool,
}

/// The batch whose transaction is out.
#[derive(Debug, Clone)]
struct InFlight {
    /// Every version sent (same nonce, rising gas price), oldest first.
    txs: Vec<String>,
    nonce: u64,
    gas_price: u128,
    calldata: Vec<u8>,
    hashes: Vec<String>,
    archive: String,
    full: bool,
}

pub struct Writer {
    cfg: ChainConfig,
    sender: TxSender,
    contract: [u8; 20],
    archives: Arc<dyn ArchiveStore>,
    source: Arc<dyn UnconfirmedSource>,
    in_flight: Mutex<Option<InFlight>>,
}

impl Writer {
    pub fn new(
        cfg: &ChainConfig,
        archives: Arc<dyn ArchiveStore>,
        source: Arc<dyn UnconfirmedSource>,
    ) -> Result<Self, WriterError> {
        cfg.validate()?;
        let key = cfg.writer_key.as_ref().ok_or(WriterError::NoKey)?;
        let rpc = Arc::new(RpcClient::new(&cfg.rpc_url, cfg.rpc_timeout())?);
        Ok(Self {
            sender: TxSender::new(
                rpc,
                Wallet::from_hex(&key.0)?,
                cfg.chain_id,
                cfg.max_gas_price_wei(),
            ),
            contract: cfg.contract_address()?,
            cfg: cfg.clone(),
            archives,
            source,
            in_flight: Mutex::new(None),
        })
    }

    pub fn address(&self) -> [u8; 20] {
        self.sender.address()
    }

    /// Anchors one batch if there are unconfirmed messages (or finishes the batch in flight),
    /// waiting until its transaction is buried; `None` when there was nothing to do.
    pub async fn publish_once(&self) -> Result<Option<Anchored>, WriterError> {
        let mut slot = self.in_flight.lock().await;
        let batch = match slot.take() {
            Some(b) => b,
            None => match self.send_batch().await? {
                Some(b) => b,
                None => return Ok(None),
            },
        };
        let wait = self.cfg.tx_timeout();
        let (tx_hash, receipt) = match self
            .sender
            .wait_buried(&batch.txs, self.cfg.confirmations, wait)
            .await
        {
            Ok(r) => r,
            Err(SendError::Dropped(tx)) => {
                tracing::warn!(%tx, "chain writer: batch transaction dropped by the node; the messages go in the next batch");
                return Err(SendError::Dropped(tx).into());
            }
            Err(SendError::Reverted(tx)) => return Err(SendError::Reverted(tx).into()),
            Err(e @ SendError::NotMined(..)) => {
                // Not mined (or not buried) in time: keep it, with a higher fee if unmined.
                let mut batch = batch;
                self.bump(&mut batch).await;
                *slot = Some(batch);
                return Err(e.into());
            }
            Err(e) => {
                // The RPC failed: keep waiting for this one next time.
                *slot = Some(batch);
                return Err(e.into());
            }
        };
        let time = self.sender.rpc().block_time(receipt.block).await?;
        let confirmation = Confirmation {
            chain: self.cfg.chain.clone(),
            height: receipt.block,
            tx_hash: tx_hash.clone(),
            time,
        };
        self.source
            .mark_confirmed(&batch.hashes, &confirmation)
            .await?;
        tracing::info!(tx = %tx_hash, block = receipt.block, messages = batch.hashes.len(), archive = %batch.archive, "chain writer: batch anchored");
        Ok(Some(Anchored {
            tx_hash,
            block: receipt.block,
            messages: batch.hashes.len(),
            archive: batch.archive,
            full: batch.full,
        }))
    }

    /// Replaces an unmined batch transaction by the same call with the same nonce and a gas
    /// price raised by `FEE_BUMP_PERCENT` (at least the node's current price), within the cap.
    /// Any version may still be mined: all are watched.
    async fn bump(&self, batch: &mut InFlight) {
        let Some(last) = batch.txs.last() else { return };
        if !matches!(self.sender.rpc().receipt(last).await, Ok(None)) {
            return; // mined (waiting for depth) or the RPC is down: nothing to replace
        }
        let current = self.sender.rpc().gas_price().await.unwrap_or(0);
        let raised = batch.gas_price + batch.gas_price * FEE_BUMP_PERCENT / 100 + 1;
        let price = raised.max(current).min(self.cfg.max_gas_price_wei());
        if price <= batch.gas_price {
            tracing::warn!(tx = %last, gas_price = batch.gas_price, "chain writer: batch not mined and already at the gas price cap; waiting");
            return;
        }
        match self
            .sender
            .send_with(
                batch.nonce,
                price,
                Some(self.contract),
                batch.calldata.clone(),
            )
            .await
        {
            Ok(sent) => {
                tracing::warn!(old = %last, new = %sent.tx_hash, gas_price = price, "chain writer: batch not mined in time; replaced with a higher fee");
                batch.txs.push(sent.tx_hash);
                batch.gas_price = price;
            }
            Err(e) => {
                tracing::warn!(tx = %last, error = %e, "chain writer: fee bump refused; waiting for the sent version");
            }
        }
    }

    /// Archives up to `batch_size` unconfirmed messages and sends the `doEmit` transaction.
    async fn send_batch(&self) -> Result<Option<InFlight>, WriterError> {
        let candidates = self.source.unconfirmed(self.cfg.batch_size).await?;
        let count_full = candidates.len() >= self.cfg.batch_size;
        let (messages, hashes, size_full) = pack(candidates, MAX_ARCHIVE_BYTES);
        if hashes.is_empty() {
            return Ok(None);
        }
        let archive = json!({"protocol": "aleph", "version": 1, "content": {"messages": messages}});
        let bytes = serde_json::to_vec(&archive).map_err(|e| SeamError(e.to_string()))?;
        let id = self.archives.put(bytes).await?;
        let payload =
            json!({"protocol": "aleph-offchain", "version": 1, "content": id.as_str()}).to_string();
        let calldata = abi::encode_strings_call(abi::DO_EMIT_SIG, &[&payload]);
        let sent = self
            .sender
            .send(Some(self.contract), calldata.clone())
            .await?;
        tracing::info!(tx = %sent.tx_hash, nonce = sent.nonce, messages = hashes.len(), archive = %id, "chain writer: batch sent");
        Ok(Some(InFlight {
            txs: vec![sent.tx_hash],
            nonce: sent.nonce,
            gas_price: sent.gas_price,
            calldata,
            hashes,
            archive: id.to_string(),
            full: count_full || size_full,
        }))
    }

    /// Publishes every batch period until `shutdown` fires; failures are logged and the batch
    /// is retried next period (messages stay unconfirmed until their batch is buried).
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let pause = match self.publish_once().await {
                // A full batch: more may be waiting, go again at once.
                Ok(Some(a)) if a.full => Duration::ZERO,
                Ok(_) => self.cfg.batch_period(),
                Err(e) => {
                    tracing::warn!(error = %e, "chain writer: batch not anchored yet, retrying next period");
                    self.cfg.batch_period()
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// The leading messages (those with an item hash) whose archive stays under `max_bytes`
/// (at least one), their hashes, and whether the limit cut the batch. Inline messages can
/// be 200 kB each: 10,000 of them would not make a storable archive.
fn pack(candidates: Vec<Value>, max_bytes: usize) -> (Vec<Value>, Vec<String>, bool) {
    let mut messages = Vec::with_capacity(candidates.len());
    let mut hashes = Vec::with_capacity(candidates.len());
    let mut size = ARCHIVE_ENVELOPE_BYTES;
    for m in candidates {
        let Some(hash) = m
            .get("item_hash")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        let len = serde_json::to_vec(&m).map_or(usize::MAX, |b| b.len()) + 1;
        if !messages.is_empty() && size.saturating_add(len) > max_bytes {
            return (messages, hashes, true);
        }
        size = size.saturating_add(len);
        messages.push(m);
        hashes.push(hash);
    }
    (messages, hashes, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_to_fit_the_archive_limit() {
        let m = |i: usize, pad: usize| json!({"item_hash": format!("h{i}"), "item_content": "x".repeat(pad)});
        let all: Vec<Value> = (0..10).map(|i| m(i, 1000)).collect();
        let (messages, hashes, cut) = pack(all.clone(), 1 << 20);
        assert_eq!((messages.len(), cut), (10, false));
        assert_eq!(hashes[9], "h9");
        let (messages, _, cut) = pack(all.clone(), 3_500);
        assert_eq!((messages.len(), cut), (3, true));
        // One oversized message still goes alone rather than blocking the writer forever.
        let (messages, _, cut) = pack(vec![m(0, 10_000), m(1, 10)], 1_000);
        assert_eq!((messages.len(), cut), (1, true));
        // Entries without an item hash are left out of the archive.
        let (messages, hashes, _) = pack(vec![json!({"x": 1}), m(2, 1)], 1_000);
        assert_eq!((messages.len(), hashes), (1, vec!["h2".to_owned()]));
    }
}
