//! Reader: polls AlephSync logs from a checkpoint, waits for confirmations, and feeds the
//! messages of anchored archives (and smart-contract messages) to the pipeline.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::abi::{self, SyncContractEvent};
use crate::config::{ChainConfig, ConfigError};
use crate::rpc::{RawLog, RpcClient, RpcError};
use crate::seams::{
    ArchiveError, ArchiveId, ArchiveStore, CheckpointKey, CheckpointStore, Confirmation,
    MessageSink, SeamError,
};

#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    #[error("checkpoint/sink: {0}")]
    Seam(#[from] SeamError),
}

/// What one sync pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncStats {
    pub logs: u64,
    pub messages: u64,
    pub ignored: u64,
    pub last_block: u64,
}

pub struct Reader {
    cfg: ChainConfig,
    rpc: RpcClient,
    contract: [u8; 20],
    authorized: Vec<[u8; 20]>,
    archives: Arc<dyn ArchiveStore>,
    sink: Arc<dyn MessageSink>,
    checkpoints: Arc<dyn CheckpointStore>,
    key: CheckpointKey,
}

enum Outcome {
    Delivered(u64),
    Ignored,
}

impl Reader {
    pub fn new(
        cfg: &ChainConfig,
        archives: Arc<dyn ArchiveStore>,
        sink: Arc<dyn MessageSink>,
        checkpoints: Arc<dyn CheckpointStore>,
    ) -> Result<Self, ReaderError> {
        cfg.validate()?;
        let contract = cfg.contract_address()?;
        Ok(Self {
            rpc: RpcClient::new(&cfg.rpc_url, cfg.rpc_timeout())?,
            authorized: cfg.authorized()?,
            key: CheckpointKey {
                chain: cfg.chain.clone(),
                contract: abi::address_hex(&contract),
            },
            cfg: cfg.clone(),
            contract,
            archives,
            sink,
            checkpoints,
        })
    }

    /// Processes every confirmed block after the checkpoint, saving it after each range.
    pub async fn sync_once(&self) -> Result<SyncStats, ReaderError> {
        let mut stats = SyncStats::default();
        let head = self.rpc.block_number().await?;
        let Some(safe) = head.checked_sub(self.cfg.confirmations) else {
            return Ok(stats);
        };
        let mut from = match self.checkpoints.load(&self.key).await? {
            Some(done) => done + 1,
            None => self.cfg.start_block,
        };
        let topics = [
            abi::topic(abi::SYNC_EVENT_SIG),
            abi::topic(abi::MESSAGE_EVENT_SIG),
        ];
        let mut range = self.cfg.max_block_range;
        while from <= safe {
            let to = safe.min(from.saturating_add(range - 1));
            let logs = match self.rpc.get_logs(&self.contract, &topics, from, to).await {
                Ok(l) => l,
                Err(e) if e.is_too_many_results() && range > 1 => {
                    range = (range / 2).max(1);
                    tracing::info!(
                        from,
                        to,
                        range,
                        "chain reader: node refused log range, shrinking"
                    );
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for log in &logs {
                stats.logs += 1;
                match self.handle_log(log).await? {
                    Outcome::Delivered(n) => stats.messages += n,
                    Outcome::Ignored => stats.ignored += 1,
                }
            }
            self.checkpoints.save(&self.key, to).await?;
            stats.last_block = to;
            from = to + 1;
        }
        Ok(stats)
    }

    /// Polls until `shutdown` turns true; RPC failures are logged and retried next poll.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.sync_once().await {
                tracing::warn!(error = %e, "chain reader: sync pass failed, retrying next poll");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll_interval()) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn handle_log(&self, log: &RawLog) -> Result<Outcome, ReaderError> {
        let at = format!(
            "block {} tx {} log {}",
            log.block_number, log.tx_hash, log.log_index
        );
        if log.removed {
            tracing::warn!(%at, "chain reader: ignoring removed log");
            return Ok(Outcome::Ignored);
        }
        let decoded = match log.topic0 {
            Some(t) if t == abi::topic(abi::SYNC_EVENT_SIG) => abi::decode_sync_event(&log.data),
            Some(t) if t == abi::topic(abi::MESSAGE_EVENT_SIG) => {
                abi::decode_message_event(&log.data)
            }
            _ => return Ok(Outcome::Ignored),
        };
        let event = match decoded {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%at, error = %e, "chain reader: ignoring undecodable event");
                return Ok(Outcome::Ignored);
            }
        };
        let time = self.rpc.block_time(log.block_number).await?;
        let conf = Confirmation {
            chain: self.cfg.chain.clone(),
            height: log.block_number,
            tx_hash: log.tx_hash.clone(),
            time,
        };
        match event {
            SyncContractEvent::Sync { addr, message, .. } => {
                if !self.authorized.is_empty() && !self.authorized.contains(&addr) {
                    tracing::warn!(%at, emitter = %abi::address_hex(&addr), "chain reader: ignoring SyncEvent from unauthorized emitter");
                    return Ok(Outcome::Ignored);
                }
                let messages = match self.messages_of_sync(&message, &at).await {
                    Some(m) => m,
                    None => return Ok(Outcome::Ignored),
                };
                let n = messages.len() as u64;
                for m in messages {
                    self.sink.deliver(m, conf.clone()).await?;
                }
                Ok(Outcome::Delivered(n))
            }
            SyncContractEvent::Message {
                addr,
                msgtype,
                msgcontent,
                ..
            } => {
                let m = smart_contract_message(&self.cfg.chain, &addr, &msgtype, &msgcontent, time);
                self.sink.deliver(m, conf).await?;
                Ok(Outcome::Delivered(1))
            }
        }
    }

    /// Messages referenced by a SyncEvent payload; `None` (with a log line) when unusable.
    async fn messages_of_sync(&self, payload: &str, at: &str) -> Option<Vec<Value>> {
        let v: Value = match serde_json::from_str(payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%at, error = %e, "chain reader: ignoring SyncEvent whose message is not JSON");
                return None;
            }
        };
        let content = match (
            v.get("protocol").and_then(Value::as_str),
            v.get("version").and_then(Value::as_u64),
        ) {
            (Some("aleph"), Some(1)) => v.get("content").cloned(),
            (Some("aleph-offchain"), Some(1)) => {
                let Some(id) = v
                    .get("content")
                    .and_then(Value::as_str)
                    .and_then(ArchiveId::parse)
                else {
                    tracing::warn!(%at, "chain reader: ignoring aleph-offchain payload without a valid archive id");
                    return None;
                };
                self.fetch_archive(&id, at).await?.get("content").cloned()
            }
            _ => {
                tracing::warn!(%at, "chain reader: ignoring SyncEvent with unknown protocol/version");
                return None;
            }
        };
        match content
            .as_ref()
            .and_then(|c| c.get("messages"))
            .and_then(Value::as_array)
        {
            Some(ms) => Some(
                ms.iter()
                    .filter(|m| m.get("item_hash").is_some_and(Value::is_string))
                    .cloned()
                    .collect(),
            ),
            None => {
                tracing::warn!(%at, "chain reader: ignoring batch without content.messages");
                None
            }
        }
    }

    async fn fetch_archive(&self, id: &ArchiveId, at: &str) -> Option<Value> {
        let mut delay = std::time::Duration::from_millis(200);
        for attempt in 1..=self.cfg.archive_attempts {
            match self.archives.get(id).await {
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) if v.get("protocol").and_then(Value::as_str) == Some("aleph") => {
                        return Some(v);
                    }
                    _ => {
                        tracing::warn!(%at, archive = %id, "chain reader: ignoring archive that is not an aleph v1 batch");
                        return None;
                    }
                },
                Err(e @ ArchiveError::Mismatch { .. }) => {
                    tracing::warn!(%at, error = %e, "chain reader: ignoring archive with mismatching content");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(%at, archive = %id, attempt, error = %e, "chain reader: archive unavailable, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        tracing::warn!(%at, archive = %id, "chain reader: giving up on missing archive");
        None
    }
}

/// The unsigned inline message a `MessageEvent` stands for (spec §7.2 `smart-contract`).
pub fn smart_contract_message(
    chain: &str,
    addr: &[u8; 20],
    msgtype: &str,
    msgcontent: &str,
    time: u64,
) -> Value {
    let sender = abi::address_hex(addr);
    let item_content = if msgtype == "STORE_IPFS" {
        json!({"address": sender, "time": time as f64, "item_type": "ipfs", "item_hash": msgcontent}).to_string()
    } else {
        msgcontent.to_owned()
    };
    let msg_type = if msgtype == "STORE_IPFS" {
        "STORE"
    } else {
        msgtype
    };
    json!({
        "sender": sender,
        "chain": chain,
        "signature": null,
        "type": msg_type,
        "item_type": "inline",
        "item_hash": hex::encode(Sha256::digest(item_content.as_bytes())),
        "item_content": item_content,
        "time": time as f64,
        "channel": null,
        "check_message": false,
    })
}
