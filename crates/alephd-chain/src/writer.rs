//! Writer: packs unconfirmed messages into an archive, stores it and anchors its id on chain.
//! Sequential by construction: one batch in flight at most.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::abi;
use crate::config::{ChainConfig, ConfigError};
use crate::rpc::{RpcClient, RpcError};
use crate::seams::{ArchiveError, ArchiveStore, SeamError, UnconfirmedSource};
use crate::tx::{LegacyTx, TxError, Wallet, sign_legacy};

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("writer needs chain.writer_key")]
    NoKey,
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    #[error("tx: {0}")]
    Tx(#[from] TxError),
    #[error("archive: {0}")]
    Archive(#[from] ArchiveError),
    #[error("source: {0}")]
    Seam(#[from] SeamError),
    #[error("transaction {0} reverted")]
    Reverted(String),
    #[error("transaction {0} not mined in time")]
    NotMined(String),
}

/// A batch anchored on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    pub tx_hash: String,
    pub block: u64,
    pub messages: usize,
    pub archive: String,
}

pub struct Writer {
    cfg: ChainConfig,
    rpc: RpcClient,
    wallet: Wallet,
    contract: [u8; 20],
    archives: Arc<dyn ArchiveStore>,
    source: Arc<dyn UnconfirmedSource>,
}

impl Writer {
    pub fn new(
        cfg: &ChainConfig,
        archives: Arc<dyn ArchiveStore>,
        source: Arc<dyn UnconfirmedSource>,
    ) -> Result<Self, WriterError> {
        cfg.validate()?;
        let key = cfg.writer_key.as_deref().ok_or(WriterError::NoKey)?;
        Ok(Self {
            rpc: RpcClient::new(&cfg.rpc_url, cfg.rpc_timeout())?,
            wallet: Wallet::from_hex(key)?,
            contract: cfg.contract_address()?,
            cfg: cfg.clone(),
            archives,
            source,
        })
    }

    pub fn address(&self) -> [u8; 20] {
        self.wallet.address()
    }

    /// Anchors one batch if there are unconfirmed messages; waits for the receipt.
    pub async fn publish_once(&self) -> Result<Option<Anchored>, WriterError> {
        let messages = self.source.unconfirmed(self.cfg.batch_size).await?;
        if messages.is_empty() {
            return Ok(None);
        }
        let hashes: Vec<String> = messages
            .iter()
            .filter_map(|m| {
                m.get("item_hash")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        let archive = json!({"protocol": "aleph", "version": 1, "content": {"messages": messages}});
        let bytes = serde_json::to_vec(&archive).map_err(|e| SeamError(e.to_string()))?;
        let id = self.archives.put(bytes).await?;
        let payload =
            json!({"protocol": "aleph-offchain", "version": 1, "content": id.as_str()}).to_string();
        let data = abi::encode_strings_call(abi::DO_EMIT_SIG, &[&payload]);
        let from = self.wallet.address();
        let gas = self.rpc.estimate_gas(&from, &self.contract, &data).await?;
        let tx = LegacyTx {
            nonce: self.rpc.nonce(&from).await?,
            gas_price: self.rpc.gas_price().await?,
            gas: gas + gas / 5,
            to: self.contract,
            data,
            chain_id: self.cfg.chain_id,
        };
        let tx_hash = self.rpc.send_raw(&sign_legacy(&tx, &self.wallet)?).await?;
        let deadline = Instant::now() + self.cfg.rpc_timeout().max(Duration::from_secs(60));
        let block = loop {
            match self.rpc.receipt(&tx_hash).await? {
                Some((block, true)) => break block,
                Some((_, false)) => return Err(WriterError::Reverted(tx_hash)),
                None if Instant::now() > deadline => return Err(WriterError::NotMined(tx_hash)),
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        self.source.mark_sent(&hashes, &tx_hash).await?;
        tracing::info!(%tx_hash, block, messages = hashes.len(), archive = %id, "chain writer: batch anchored");
        Ok(Some(Anchored {
            tx_hash,
            block,
            messages: hashes.len(),
            archive: id.to_string(),
        }))
    }

    /// Publishes every batch period until `shutdown` turns true; failures are logged and the
    /// batch is retried next period (messages stay unconfirmed until a receipt is seen).
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.publish_once().await {
                tracing::warn!(error = %e, "chain writer: batch not anchored, retrying next period");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.batch_period()) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
