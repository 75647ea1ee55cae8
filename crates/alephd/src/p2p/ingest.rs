//! The node's two loops with the network.
//!
//! Inbound ([`run_inbound`]): messages from peers enter the processor's durable queue like any
//! other ingress; a gossip message's verdict waits for its processing result (applied: forward
//! it; malformed or badly signed: never forward, strike the sender; anything else: do not
//! forward). Garbage from catch-up is reported.
//!
//! Outbound ([`run_outbound`]): every applied message updates the catch-up index; those that
//! did not arrive by gossip (API, catch-up, chain) are published, so a group of nodes learns
//! what one of them caught up on. (STORE files come through the processor's fetcher.)

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alephd_db::MessageStatus;
use alephd_message::ErrorCode;
use alephd_p2p::{GossipToken, MessageOrigin, P2pEvent, P2pHandle, PublishError, Verdict};
use alephd_processor::{MessageEvent, Origin, ProcessorHandle, SubmitOutcome};
use bytes::Bytes;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{index::SyncIndex, peer_table::PeerTable, peers::PeerBook, wire};

/// Gossip verdicts older than this are given up (gossipsub forgets unvalidated messages
/// after a few heartbeats anyway).
const VERDICT_TIMEOUT: Duration = Duration::from_secs(8);
/// Messages from peers being queued at once (the processor group-commits them).
const MAX_SUBMITS_IN_FLIGHT: usize = 512;
/// Hashes remembered as received by gossip (not to be published again).
const GOSSIP_MEMORY: usize = 50_000;
/// Messages awaiting a verdict, and copies of one message (from different peers) awaiting it.
const MAX_WAITING: usize = 20_000;
const MAX_TOKENS_PER_HASH: usize = 32;
/// How often the catch-up index is rebuilt from the database (removals and other changes no
/// event announces).
const INDEX_RELOAD: Duration = Duration::from_secs(30 * 60);
/// Applied messages waiting to be published.
const PUBLISH_QUEUE: usize = 8_192;

/// Gossip messages waiting for their processing result, by item hash.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    waiting: Mutex<HashMap<String, Vec<(GossipToken, Instant)>>>,
}

impl Verdicts {
    /// Registers a token; false when too many verdicts are pending already.
    fn wait(&self, hash: &str, token: GossipToken) -> bool {
        let Ok(mut waiting) = self.waiting.lock() else {
            return false;
        };
        if waiting.len() >= MAX_WAITING && !waiting.contains_key(hash) {
            return false;
        }
        let tokens = waiting.entry(hash.to_owned()).or_default();
        if tokens.len() >= MAX_TOKENS_PER_HASH {
            return false;
        }
        tokens.push((token, Instant::now()));
        true
    }

    fn take(&self, hash: &str) -> Vec<GossipToken> {
        let Ok(mut waiting) = self.waiting.lock() else {
            return Vec::new();
        };
        waiting
            .remove(hash)
            .map(|v| v.into_iter().map(|(t, _)| t).collect())
            .unwrap_or_default()
    }

    fn expired(&self) -> Vec<GossipToken> {
        let Ok(mut waiting) = self.waiting.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        waiting.retain(|_, tokens| {
            tokens.retain(|(token, since)| {
                let old = since.elapsed() > VERDICT_TIMEOUT;
                if old {
                    out.push(token.clone());
                }
                !old
            });
            !tokens.is_empty()
        });
        out
    }
}

/// A bounded memory of hashes received by gossip.
#[derive(Debug, Default)]
pub(crate) struct GossipSeen {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl GossipSeen {
    fn insert(&self, hash: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let (set, order) = &mut *inner;
        if set.insert(hash.to_owned()) {
            order.push_back(hash.to_owned());
            if order.len() > GOSSIP_MEMORY
                && let Some(old) = order.pop_front()
            {
                set.remove(&old);
            }
        }
    }

    fn contains(&self, hash: &str) -> bool {
        self.inner
            .lock()
            .map(|inner| inner.0.contains(hash))
            .unwrap_or(false)
    }
}

/// What both loops share.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    pub(crate) p2p: P2pHandle,
    pub(crate) processor: ProcessorHandle,
    pub(crate) index: Arc<SyncIndex>,
    pub(crate) peers: Arc<PeerBook>,
    pub(crate) table: PeerTable,
    pub(crate) verdicts: Arc<Verdicts>,
    pub(crate) seen: Arc<GossipSeen>,
}

/// Consumes the network's events until they end or `cancel` fires.
pub(crate) async fn run_inbound(
    links: Links,
    mut events: mpsc::Receiver<P2pEvent>,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_SUBMITS_IN_FLIGHT));
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            _ = sweep.tick() => {
                for token in links.verdicts.expired() {
                    let _ = links.p2p.validate(token, Verdict::Ignore).await;
                }
                continue;
            }
            event = events.recv() => match event { Some(e) => e, None => break },
        };
        match event {
            P2pEvent::Message { from, data, origin } => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let links = links.clone();
                tokio::spawn(async move {
                    links.message_in(from, &data, origin).await;
                    drop(permit);
                });
            }
            P2pEvent::PeerAlive { from, announcement } => {
                links.peers.alive(from, &announcement);
                links.table.alive(from, &announcement);
            }
            P2pEvent::PeerConnected { peer } => links.peers.connected(peer),
            P2pEvent::PeerDisconnected { peer } => links.peers.disconnected(peer),
            P2pEvent::PeerBanned { peer } => {
                tracing::warn!(%peer, "peer banned for sending invalid data");
                links.peers.banned(peer);
            }
        }
    }
}

impl Links {
    async fn message_in(&self, from: alephd_p2p::PeerId, data: &[u8], origin: MessageOrigin) {
        let message = match wire::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(peer = %from, error = %e, "undecodable message from a peer");
                let _ = match origin {
                    MessageOrigin::Gossip(token) => self.p2p.validate(token, Verdict::Reject).await,
                    MessageOrigin::CatchUp => self.p2p.report_invalid(from).await,
                };
                return;
            }
        };
        let hash = message.item_hash().as_str().to_owned();
        let token = match origin {
            MessageOrigin::Gossip(token) => {
                self.seen.insert(&hash);
                // Registered before submitting: the result may come before `submit` returns.
                if self.verdicts.wait(&hash, token.clone()) {
                    Some(token)
                } else {
                    // Too many verdicts pending: still queued, just not forwarded.
                    let _ = self.p2p.validate(token, Verdict::Ignore).await;
                    None
                }
            }
            MessageOrigin::CatchUp => None,
        };
        let verdict = match self.processor.submit(message, Origin::P2p).await {
            Ok(SubmitOutcome::Queued) => return,
            Ok(SubmitOutcome::Known(_)) => Verdict::Ignore,
            Err(e) => {
                tracing::warn!(error = %e, "cannot queue a message from a peer");
                Verdict::Ignore
            }
        };
        if token.is_some() {
            for token in self.verdicts.take(&hash) {
                let _ = self.p2p.validate(token, verdict).await;
            }
        }
    }

    async fn resolve(&self, event: &MessageEvent) {
        let verdict = match event.status {
            MessageStatus::Processed | MessageStatus::Forgotten => Verdict::Accept,
            MessageStatus::Rejected if proves_sender_wrong(event.error_code) => Verdict::Reject,
            _ => Verdict::Ignore,
        };
        for token in self.verdicts.take(&event.item_hash) {
            let _ = self.p2p.validate(token, verdict).await;
        }
    }
}

/// Whether a rejection proves the forwarding peer wrong whatever its view of the state: a
/// malformed message or a bad signature. Other rejections (permissions, balances, dependencies)
/// depend on what this node knows, and an honest peer may know more; those are not forwarded
/// but cost the peer nothing.
fn proves_sender_wrong(code: Option<i32>) -> bool {
    let provable = [ErrorCode::InvalidFormat, ErrorCode::InvalidSignature];
    code.is_some_and(|c| provable.iter().any(|p| p.code() == c))
}

/// Follows the processor's results until it stops or `cancel` fires.
pub(crate) async fn run_outbound(
    links: Links,
    mut results: broadcast::Receiver<MessageEvent>,
    cancel: CancellationToken,
) {
    let (publish_tx, publish_rx) = mpsc::channel::<Bytes>(PUBLISH_QUEUE);
    tokio::spawn(publisher(links.p2p.clone(), publish_rx, cancel.clone()));
    let mut reload = tokio::time::interval(INDEX_RELOAD);
    reload.reset(); // the index was just loaded
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            _ = reload.tick() => {
                if let Err(e) = links.index.load().await {
                    tracing::warn!(error = %e, "reloading the catch-up index failed");
                }
                continue;
            }
            event = results.recv() => event,
        };
        match event {
            Ok(event) => {
                links.resolve(&event).await;
                if let Some(record) = &event.message {
                    links.index.applied(record).await;
                    if !links.seen.contains(&record.item_hash)
                        && publish_tx.try_send(wire::wire_json(record)).is_err()
                    {
                        tracing::debug!("publish queue full; catch-up will carry the message");
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Missed results: the database has them; rebuild the index from it.
                tracing::info!(missed, "p2p fell behind the processor; reloading the index");
                if let Err(e) = links.index.load().await {
                    tracing::warn!(error = %e, "reloading the catch-up index failed");
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

async fn publisher(p2p: P2pHandle, mut queue: mpsc::Receiver<Bytes>, cancel: CancellationToken) {
    loop {
        let data = tokio::select! {
            () = cancel.cancelled() => break,
            data = queue.recv() => match data { Some(d) => d, None => break },
        };
        for attempt in 0..3u64 {
            match p2p.publish_message(data.clone()).await {
                Err(PublishError::Busy) => {
                    tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
                }
                Err(PublishError::Stopped(_)) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "message not published");
                    break;
                }
                Ok(()) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_message_level_faults_strike_the_sender() {
        assert!(proves_sender_wrong(Some(0)));
        assert!(proves_sender_wrong(Some(1)));
        for code in [None, Some(-1), Some(2), Some(5), Some(101), Some(504)] {
            assert!(!proves_sender_wrong(code), "{code:?}");
        }
    }

    #[test]
    fn gossip_memory_is_bounded() {
        let seen = GossipSeen::default();
        for i in 0..GOSSIP_MEMORY + 10 {
            seen.insert(&i.to_string());
        }
        assert!(!seen.contains("0"), "the oldest is forgotten");
        assert!(seen.contains(&(GOSSIP_MEMORY + 9).to_string()));
    }
}
