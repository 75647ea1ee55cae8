//! Writer: packs unconfirmed messages into an archive, stores it and anchors its id on chain
//! (spec §7.1). One batch in flight at most: a batch whose transaction is not yet buried
//! under the configured confirmations is waited for again on the next period instead of
//! being sent a second time, and only a transaction the node has dropped is replaced.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::config::{ChainConfig, ConfigError};
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
}

/// The batch whose transaction is out.
#[derive(Debug, Clone)]
struct InFlight {
    tx_hash: String,
    hashes: Vec<String>,
    archive: String,
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
        let receipt = match self
            .sender
            .wait_buried(&batch.tx_hash, self.cfg.confirmations, wait)
            .await
        {
            Ok(r) => r,
            Err(SendError::Dropped(tx)) => {
                tracing::warn!(%tx, "chain writer: batch transaction dropped by the node; the messages go in the next batch");
                return Err(SendError::Dropped(tx).into());
            }
            Err(SendError::Reverted(tx)) => return Err(SendError::Reverted(tx).into()),
            Err(e) => {
                // Not buried yet, or the RPC failed: keep waiting for this one next time.
                *slot = Some(batch);
                return Err(e.into());
            }
        };
        let time = self.sender.rpc().block_time(receipt.block).await?;
        let confirmation = Confirmation {
            chain: self.cfg.chain.clone(),
            height: receipt.block,
            tx_hash: batch.tx_hash.clone(),
            time,
        };
        self.source
            .mark_confirmed(&batch.hashes, &confirmation)
            .await?;
        tracing::info!(tx = %batch.tx_hash, block = receipt.block, messages = batch.hashes.len(), archive = %batch.archive, "chain writer: batch anchored");
        Ok(Some(Anchored {
            tx_hash: batch.tx_hash,
            block: receipt.block,
            messages: batch.hashes.len(),
            archive: batch.archive,
        }))
    }

    /// Archives up to `batch_size` unconfirmed messages and sends the `doEmit` transaction.
    async fn send_batch(&self) -> Result<Option<InFlight>, WriterError> {
        let messages = self.source.unconfirmed(self.cfg.batch_size).await?;
        let hashes: Vec<String> = messages
            .iter()
            .filter_map(|m| m.get("item_hash").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        if hashes.is_empty() {
            return Ok(None);
        }
        let archive = json!({"protocol": "aleph", "version": 1, "content": {"messages": messages}});
        let bytes = serde_json::to_vec(&archive).map_err(|e| SeamError(e.to_string()))?;
        let id = self.archives.put(bytes).await?;
        let payload =
            json!({"protocol": "aleph-offchain", "version": 1, "content": id.as_str()}).to_string();
        let sent = self.sender.do_emit(self.contract, &payload).await?;
        tracing::info!(tx = %sent.tx_hash, nonce = sent.nonce, messages = hashes.len(), archive = %id, "chain writer: batch sent");
        Ok(Some(InFlight {
            tx_hash: sent.tx_hash,
            hashes,
            archive: id.to_string(),
        }))
    }

    /// Publishes every batch period until `shutdown` fires; failures are logged and the batch
    /// is retried next period (messages stay unconfirmed until their batch is buried).
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let pause = match self.publish_once().await {
                // A full batch: more may be waiting, go again at once.
                Ok(Some(a)) if a.messages >= self.cfg.batch_size => Duration::ZERO,
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
