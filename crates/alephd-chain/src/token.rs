//! Balances from the chain itself: a reader of an ERC-20 token's `Transfer` events. For every
//! holder a range of blocks touched, it asks the token for `balanceOf(holder)` at the range's
//! last block, so balances are exact whatever the token does on transfers (fees, rebases)
//! and no arithmetic on 256-bit amounts happens here. Same checkpoint, confirmation depth and
//! range shrinking as the sync reader.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::abi;
use crate::config::{ChainConfig, ConfigError};
use crate::reader::ReaderError;
use crate::rpc::RpcClient;
use crate::seams::{CheckpointKey, CheckpointStore, SeamError};

/// A holder's balance at a height.
#[derive(Debug, Clone, PartialEq)]
pub struct HolderBalance {
    /// `0x`-prefixed lowercase hex.
    pub address: String,
    /// In whole tokens (`balanceOf / 10^decimals`).
    pub balance: f64,
    pub height: u64,
    /// Block time, seconds since the epoch.
    pub time: u64,
    /// The last transfer of the range that touched this holder.
    pub tx_hash: String,
}

/// Where balances go (the node: its balances table, used by the cost checks).
#[async_trait]
pub trait BalanceSink: Send + Sync {
    async fn update(&self, token: &str, balances: Vec<HolderBalance>) -> Result<(), SeamError>;
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenStats {
    pub transfers: u64,
    pub holders_updated: u64,
    pub last_block: Option<u64>,
}

pub struct TokenReader {
    cfg: ChainConfig,
    rpc: RpcClient,
    token: [u8; 20],
    sink: Arc<dyn BalanceSink>,
    checkpoints: Arc<dyn CheckpointStore>,
    key: CheckpointKey,
}

impl TokenReader {
    pub fn new(
        cfg: &ChainConfig,
        sink: Arc<dyn BalanceSink>,
        checkpoints: Arc<dyn CheckpointStore>,
    ) -> Result<Self, ReaderError> {
        cfg.validate()?;
        let token = cfg.token_address()?.ok_or(ConfigError::NoToken)?;
        Ok(Self {
            rpc: RpcClient::new(&cfg.rpc_url, cfg.rpc_timeout())?,
            key: CheckpointKey {
                chain: cfg.chain.clone(),
                contract: format!("erc20:{}", abi::address_hex(&token)),
            },
            cfg: cfg.clone(),
            token,
            sink,
            checkpoints,
        })
    }

    pub fn checkpoint_key(&self) -> &CheckpointKey {
        &self.key
    }

    /// Updates the balance of every holder touched by a transfer buried under
    /// `confirmations` since the checkpoint.
    pub async fn sync_once(&self) -> Result<TokenStats, ReaderError> {
        let mut stats = TokenStats::default();
        let mut state = self.checkpoints.load(&self.key).await?;
        let head = self.rpc.block_number().await?;
        let Some(safe) = head.checked_sub(self.cfg.confirmations) else {
            return Ok(stats);
        };
        let mut from = state
            .last_block
            .map_or(self.cfg.token_start_block, |b| b.saturating_add(1));
        let topics = [abi::topic(abi::TRANSFER_EVENT_SIG)];
        let mut range = self.cfg.max_block_range;
        let mut decimals = None;
        while from <= safe {
            let (to, logs) = self
                .rpc
                .logs_from(&self.token, &topics, from, safe, &mut range)
                .await?;
            // Holder → last transfer touching it in this range.
            let mut touched = BTreeMap::new();
            for log in logs.iter().filter(|l| !l.removed) {
                let (Some(f), Some(t)) = (log.topics.get(1), log.topics.get(2)) else {
                    tracing::warn!(block = log.block_number, tx = %log.tx_hash, "token reader: ignoring a Transfer log without indexed from/to");
                    continue;
                };
                stats.transfers += 1;
                for holder in [f, t].into_iter().filter_map(abi::topic_address) {
                    if holder != [0u8; 20] {
                        touched.insert(holder, log.tx_hash.clone());
                    }
                }
            }
            if !touched.is_empty() {
                let decimals = match decimals {
                    Some(d) => d,
                    None => *decimals.insert(self.decimals(to).await?),
                };
                let time = self.rpc.block_time(to).await?;
                let mut balances = Vec::with_capacity(touched.len());
                for (holder, tx_hash) in touched {
                    let data = abi::encode_address_call(abi::BALANCE_OF_SIG, &holder);
                    let raw = self.rpc.call_at(&self.token, &data, to).await?;
                    let Ok(balance) = abi::uint256_scaled(&raw, decimals) else {
                        tracing::warn!(holder = %abi::address_hex(&holder), "token reader: balanceOf answered garbage; holder skipped");
                        continue;
                    };
                    balances.push(HolderBalance {
                        address: abi::address_hex(&holder),
                        balance,
                        height: to,
                        time,
                        tx_hash,
                    });
                }
                stats.holders_updated += balances.len() as u64;
                self.sink
                    .update(&abi::address_hex(&self.token), balances)
                    .await?;
            }
            state.last_block = Some(to);
            self.checkpoints.save(&self.key, &state).await?;
            stats.last_block = Some(to);
            from = to + 1;
        }
        Ok(stats)
    }

    async fn decimals(&self, height: u64) -> Result<u8, ReaderError> {
        let data = abi::selector(abi::DECIMALS_SIG);
        let raw = self.rpc.call_at(&self.token, &data, height).await?;
        abi::uint_small(&raw).map_err(|e| ReaderError::Token {
            token: abi::address_hex(&self.token),
            detail: format!("decimals() unusable: {e}"),
        })
    }

    /// Polls until `shutdown` fires; failures are logged and retried next poll.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            match self.sync_once().await {
                Ok(s) if s.transfers > 0 => {
                    tracing::info!(transfers = s.transfers, holders = s.holders_updated, last_block = ?s.last_block, "token reader: balances updated");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "token reader: pass failed, retrying next poll");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.poll_interval()) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}
