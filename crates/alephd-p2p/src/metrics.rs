//! Counters the node exposes (`alephd peers`, the metrics endpoint). Lock-free, shared by the
//! actor and every handle.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one network service.
#[derive(Debug, Default)]
pub struct P2pMetrics {
    pub(crate) connected_peers: AtomicU64,
    pub(crate) gossip_in: AtomicU64,
    pub(crate) gossip_out: AtomicU64,
    pub(crate) gossip_rejected: AtomicU64,
    pub(crate) gossip_dropped: AtomicU64,
    pub(crate) gossip_send_dropped: AtomicU64,
    pub(crate) gossip_verdict_late: AtomicU64,
    pub(crate) fetches_ok: AtomicU64,
    pub(crate) fetches_failed: AtomicU64,
    pub(crate) fetches_bad_content: AtomicU64,
    pub(crate) sync_rounds: AtomicU64,
    pub(crate) sync_delivered: AtomicU64,
    pub(crate) peers_banned: AtomicU64,
}

/// A snapshot of [`P2pMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct P2pStats {
    pub connected_peers: u64,
    pub gossip_in: u64,
    pub gossip_out: u64,
    pub gossip_rejected: u64,
    pub gossip_dropped: u64,
    /// Messages gossipsub could not queue to a slow peer (send queues full or timed out).
    pub gossip_send_dropped: u64,
    /// Accepted messages whose verdict came too late to forward them (node lagging).
    pub gossip_verdict_late: u64,
    pub fetches_ok: u64,
    pub fetches_failed: u64,
    pub fetches_bad_content: u64,
    pub sync_rounds: u64,
    pub sync_delivered: u64,
    pub peers_banned: u64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl P2pMetrics {
    pub fn snapshot(&self) -> P2pStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        P2pStats {
            connected_peers: r(&self.connected_peers),
            gossip_in: r(&self.gossip_in),
            gossip_out: r(&self.gossip_out),
            gossip_rejected: r(&self.gossip_rejected),
            gossip_dropped: r(&self.gossip_dropped),
            gossip_send_dropped: r(&self.gossip_send_dropped),
            gossip_verdict_late: r(&self.gossip_verdict_late),
            fetches_ok: r(&self.fetches_ok),
            fetches_failed: r(&self.fetches_failed),
            fetches_bad_content: r(&self.fetches_bad_content),
            sync_rounds: r(&self.sync_rounds),
            sync_delivered: r(&self.sync_delivered),
            peers_banned: r(&self.peers_banned),
        }
    }
}
