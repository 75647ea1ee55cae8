//! Reader: polls AlephSync logs from a checkpoint, waits for confirmations, and feeds the
//! messages of anchored archives (and smart-contract messages) to the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::abi::{self, SyncContractEvent};
use crate::config::{ChainConfig, ConfigError};
use crate::rpc::{RawLog, RpcClient, RpcError};
use crate::seams::{
    ArchiveError, ArchiveId, ArchiveStore, Checkpoint, CheckpointKey, CheckpointStore,
    Confirmation, DeferredArchive, MessageSink, Provenance, SeamError,
};

/// Most archives a reader keeps owing before it holds its checkpoint instead.
const MAX_DEFERRED: usize = 10_000;
/// Deferred archives asked for again per pass.
const RETRIES_PER_PASS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    #[error("checkpoint/sink: {0}")]
    Seam(#[from] SeamError),
    #[error("token {token}: {detail}")]
    Token { token: String, detail: String },
}

/// What one sync pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncStats {
    /// Logs of the contract seen (delivered or ignored).
    pub logs: u64,
    /// Messages handed to the sink.
    pub messages: u64,
    /// Logs ignored for good (unauthorized, malformed, mismatching archive).
    pub ignored: u64,
    /// Last block fully processed (the checkpoint), if the pass moved it.
    pub last_block: Option<u64>,
    /// The last archive found unavailable in this pass (deferred, retried every pass).
    pub waiting_for: Option<ArchiveId>,
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

/// What became of one log.
enum Outcome {
    Delivered(u64),
    Ignored,
    /// Its archive cannot be had now: deferred with its confirmation.
    Wait(ArchiveId, Confirmation),
}

/// What became of a SyncEvent payload.
enum Batch {
    Messages(Vec<Value>),
    Ignore,
    Wait(ArchiveId),
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

    /// The key this reader's checkpoint is stored under.
    pub fn checkpoint_key(&self) -> &CheckpointKey {
        &self.key
    }

    /// Processes every block buried under `confirmations` after the checkpoint, saving the
    /// checkpoint after each range. Logs are delivered in chain order; an archive that cannot
    /// be fetched is deferred (kept in the checkpoint, retried at the start of every pass,
    /// delivered when it comes) so one lost archive never stops the replay. A pass
    /// interrupted by an error delivers the rest of its range again (the sink is idempotent).
    pub async fn sync_once(&self) -> Result<SyncStats, ReaderError> {
        let mut stats = SyncStats::default();
        let mut state = self.checkpoints.load(&self.key).await?;
        self.retry_deferred(&mut state, &mut stats).await?;
        let head = self.rpc.block_number().await?;
        let Some(safe) = head.checked_sub(self.cfg.confirmations) else {
            return Ok(stats);
        };
        let mut from = match state.last_block {
            Some(done) => done.saturating_add(1),
            None => self.cfg.start_block,
        };
        if from > safe.saturating_add(1) {
            tracing::warn!(
                checkpoint = from - 1,
                head,
                "chain reader: checkpoint is ahead of the chain (another chain at this RPC URL?); waiting"
            );
        }
        let topics = [
            abi::topic(abi::SYNC_EVENT_SIG),
            abi::topic(abi::MESSAGE_EVENT_SIG),
        ];
        let mut range = self.cfg.max_block_range;
        while from <= safe {
            let (to, logs) = self
                .rpc
                .logs_from(&self.contract, &topics, from, safe, &mut range)
                .await?;
            let mut times = HashMap::new();
            for log in &logs {
                stats.logs += 1;
                match self.handle_log(log, &mut times).await? {
                    Outcome::Delivered(n) => stats.messages += n,
                    Outcome::Ignored => stats.ignored += 1,
                    Outcome::Wait(id, conf) => {
                        if state.deferred.len() >= MAX_DEFERRED {
                            // Too much history missing to keep going: hold here instead.
                            tracing::error!(archive = %id, block = log.block_number, "chain reader: {MAX_DEFERRED} archives already deferred; holding the checkpoint before this block");
                            if let Some(done) = log.block_number.checked_sub(1)
                                && done >= from
                            {
                                state.last_block = Some(done);
                                self.checkpoints.save(&self.key, &state).await?;
                                stats.last_block = Some(done);
                            }
                            stats.waiting_for = Some(id);
                            return Ok(stats);
                        }
                        let d = DeferredArchive::new(&id, &conf);
                        if !state.deferred.contains(&d) {
                            tracing::warn!(archive = %id, block = log.block_number, tx = %log.tx_hash, "chain reader: archive unavailable; deferred, retried every poll");
                            state.deferred.push(d);
                        }
                        stats.waiting_for = Some(id);
                    }
                }
            }
            state.last_block = Some(to);
            self.checkpoints.save(&self.key, &state).await?;
            stats.last_block = Some(to);
            from = to + 1;
        }
        Ok(stats)
    }

    /// Tries a few deferred archives again; delivered or hopeless ones leave the list.
    async fn retry_deferred(
        &self,
        state: &mut Checkpoint,
        stats: &mut SyncStats,
    ) -> Result<(), ReaderError> {
        if state.deferred.is_empty() {
            return Ok(());
        }
        // Still-missing ones go to the back, so every archive gets its turn.
        let mut rest = Vec::with_capacity(state.deferred.len());
        let mut again = Vec::new();
        let mut changed = false;
        for (i, d) in std::mem::take(&mut state.deferred).into_iter().enumerate() {
            if i >= RETRIES_PER_PASS {
                rest.push(d);
                continue;
            }
            let Some(id) = ArchiveId::parse(&d.archive) else {
                changed = true;
                continue;
            };
            let at = format!("deferred archive of block {} tx {}", d.height, d.tx_hash);
            match self.fetch_archive(&id, &at, 1).await {
                Batch::Messages(mut archive) => {
                    let messages = archive
                        .pop()
                        .and_then(|a| a.get("content").cloned())
                        .map_or(Batch::Ignore, |c| messages_of(&c, &at));
                    if let Batch::Messages(messages) = messages {
                        stats.messages += messages.len() as u64;
                        self.sink
                            .deliver(messages, Provenance::Archive, d.confirmation())
                            .await?;
                        tracing::info!(archive = %id, block = d.height, "chain reader: deferred archive delivered");
                    }
                    changed = true;
                }
                Batch::Ignore => changed = true,
                Batch::Wait(_) => again.push(d),
            }
        }
        changed |= !again.is_empty() && !rest.is_empty();
        rest.append(&mut again);
        state.deferred = rest;
        if changed {
            self.checkpoints.save(&self.key, state).await?;
        }
        Ok(())
    }

    /// Polls until `shutdown` fires; failures are logged and retried next poll.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            match self.sync_once().await {
                Ok(s) if s.logs > 0 => {
                    tracing::info!(logs = s.logs, messages = s.messages, ignored = s.ignored, last_block = ?s.last_block, "chain reader: sync pass");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "chain reader: sync pass failed, retrying next poll");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.poll_interval()) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn block_time(
        &self,
        height: u64,
        times: &mut HashMap<u64, u64>,
    ) -> Result<u64, ReaderError> {
        if let Some(t) = times.get(&height) {
            return Ok(*t);
        }
        let t = self.rpc.block_time(height).await?;
        times.insert(height, t);
        Ok(t)
    }

    async fn handle_log(
        &self,
        log: &RawLog,
        times: &mut HashMap<u64, u64>,
    ) -> Result<Outcome, ReaderError> {
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
        let conf = Confirmation {
            chain: self.cfg.chain.clone(),
            height: log.block_number,
            tx_hash: log.tx_hash.clone(),
            time: self.block_time(log.block_number, times).await?,
        };
        match event {
            SyncContractEvent::Sync { addr, message, .. } => {
                if !self.authorized.is_empty() && !self.authorized.contains(&addr) {
                    tracing::warn!(%at, emitter = %abi::address_hex(&addr), "chain reader: ignoring SyncEvent from unauthorized emitter");
                    return Ok(Outcome::Ignored);
                }
                let messages = match self.messages_of_sync(&message, &at).await {
                    Batch::Messages(m) => m,
                    Batch::Ignore => return Ok(Outcome::Ignored),
                    Batch::Wait(id) => return Ok(Outcome::Wait(id, conf)),
                };
                let n = messages.len() as u64;
                self.sink
                    .deliver(messages, Provenance::Archive, conf)
                    .await?;
                Ok(Outcome::Delivered(n))
            }
            SyncContractEvent::Message {
                timestamp,
                addr,
                msgtype,
                msgcontent,
            } => {
                let Some(m) = smart_contract_message(
                    &self.cfg.chain,
                    &addr,
                    &msgtype,
                    &msgcontent,
                    timestamp,
                ) else {
                    tracing::warn!(%at, %msgtype, "chain reader: ignoring MessageEvent of unknown type");
                    return Ok(Outcome::Ignored);
                };
                self.sink
                    .deliver(vec![m], Provenance::SmartContract, conf)
                    .await?;
                Ok(Outcome::Delivered(1))
            }
        }
    }

    /// Messages referenced by a SyncEvent payload.
    async fn messages_of_sync(&self, payload: &str, at: &str) -> Batch {
        let v: Value = match serde_json::from_str(payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%at, error = %e, "chain reader: ignoring SyncEvent whose message is not JSON");
                return Batch::Ignore;
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
                    return Batch::Ignore;
                };
                match self.fetch_archive(&id, at, self.cfg.archive_attempts).await {
                    Batch::Messages(mut archive) => {
                        archive.pop().and_then(|a| a.get("content").cloned())
                    }
                    other => return other,
                }
            }
            _ => {
                tracing::warn!(%at, "chain reader: ignoring SyncEvent with unknown protocol/version");
                return Batch::Ignore;
            }
        };
        match content {
            Some(c) => messages_of(&c, at),
            None => {
                tracing::warn!(%at, "chain reader: ignoring batch without content");
                Batch::Ignore
            }
        }
    }

    /// The archive as one JSON value (in a one-element `Messages`), or why not.
    async fn fetch_archive(&self, id: &ArchiveId, at: &str, attempts: u32) -> Batch {
        let mut delay = std::time::Duration::from_millis(200);
        for attempt in 1..=attempts {
            match self.archives.get(id).await {
                Ok(bytes) => {
                    return match serde_json::from_slice::<Value>(&bytes) {
                        Ok(v)
                            if v.get("protocol").and_then(Value::as_str) == Some("aleph")
                                && v.get("version").and_then(Value::as_u64) == Some(1) =>
                        {
                            Batch::Messages(vec![v])
                        }
                        _ => {
                            tracing::warn!(%at, archive = %id, "chain reader: ignoring archive that is not an aleph v1 batch");
                            Batch::Ignore
                        }
                    };
                }
                Err(e @ (ArchiveError::Mismatch { .. } | ArchiveError::Unsupported(_))) => {
                    tracing::warn!(%at, error = %e, "chain reader: ignoring archive (never applied)");
                    return Batch::Ignore;
                }
                Err(e) => {
                    tracing::warn!(%at, archive = %id, attempt, error = %e, "chain reader: archive unavailable");
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
        Batch::Wait(id.clone())
    }
}

/// The entries of a batch's `content.messages` that have an item hash (the pipeline checks
/// the rest of each message).
fn messages_of(content: &Value, at: &str) -> Batch {
    let Some(ms) = content.get("messages").and_then(Value::as_array) else {
        tracing::warn!(%at, "chain reader: ignoring batch without content.messages");
        return Batch::Ignore;
    };
    let good: Vec<Value> = ms
        .iter()
        .filter(|m| m.get("item_hash").is_some_and(Value::is_string))
        .cloned()
        .collect();
    if good.len() < ms.len() {
        tracing::warn!(%at, skipped = ms.len() - good.len(), "chain reader: skipping batch entries without an item_hash");
    }
    Batch::Messages(good)
}

/// The unsigned inline message a `MessageEvent` stands for (spec §7.2 `smart-contract`):
/// `msgtype` is a message type (`POST`, `AGGREGATE`, ...) with `msgcontent` its content, or
/// `STORE_IPFS` with `msgcontent` a CID. `None` for any other `msgtype`.
pub fn smart_contract_message(
    chain: &str,
    addr: &[u8; 20],
    msgtype: &str,
    msgcontent: &str,
    time: u64,
) -> Option<Value> {
    const TYPES: [&str; 6] = [
        "POST",
        "AGGREGATE",
        "STORE",
        "PROGRAM",
        "INSTANCE",
        "FORGET",
    ];
    let sender = abi::address_hex(addr);
    let (msg_type, item_content) = if msgtype == "STORE_IPFS" {
        let content = json!({"address": sender, "time": time as f64, "item_type": "ipfs", "item_hash": msgcontent});
        ("STORE", content.to_string())
    } else {
        (
            *TYPES.iter().find(|t| **t == msgtype)?,
            msgcontent.to_owned(),
        )
    };
    Some(json!({
        "sender": sender,
        "chain": chain,
        "signature": null,
        "type": msg_type,
        "item_type": "inline",
        "item_hash": hex::encode(Sha256::digest(item_content.as_bytes())),
        "item_content": item_content,
        "time": time as f64,
        "channel": null,
    }))
}
