//! What the node knows about other nodes: who is connected, what they announced on ALIVE
//! (their P2P multiaddr and HTTP API), who was banned. Bounded; served by the API and
//! `alephd peers`.

use std::{collections::HashMap, sync::Mutex};

use alephd_p2p::{AliveAnnouncement, PeerId, PeerType};
use serde::{Deserialize, Serialize};

/// Announcements remembered at most (the oldest is forgotten first).
const MAX_KNOWN: usize = 1_024;

/// One known peer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct KnownPeer {
    pub(crate) peer_id: String,
    pub(crate) connected: bool,
    pub(crate) banned: bool,
    /// Announced P2P multiaddr.
    pub(crate) p2p_address: Option<String>,
    /// Announced HTTP API.
    pub(crate) http_address: Option<String>,
    pub(crate) version: Option<String>,
    /// UNIX seconds of the last connection change or announcement.
    pub(crate) last_seen: f64,
}

/// The table; share it behind an `Arc`.
#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    peers: Mutex<HashMap<PeerId, KnownPeer>>,
}

impl PeerBook {
    fn update(&self, peer: PeerId, change: impl FnOnce(&mut KnownPeer)) {
        let Ok(mut peers) = self.peers.lock() else {
            return;
        };
        if !peers.contains_key(&peer) && peers.len() >= MAX_KNOWN {
            let oldest = peers
                .iter()
                .filter(|(_, p)| !p.connected)
                .min_by(|a, b| a.1.last_seen.total_cmp(&b.1.last_seen))
                .map(|(id, _)| *id);
            match oldest {
                Some(id) => {
                    peers.remove(&id);
                }
                None => return,
            }
        }
        let entry = peers.entry(peer).or_insert_with(|| KnownPeer {
            peer_id: peer.to_string(),
            ..KnownPeer::default()
        });
        change(entry);
        entry.last_seen = alephd_processor::now();
    }

    pub(crate) fn alive(&self, from: PeerId, announcement: &AliveAnnouncement) {
        // Addresses are the sender's claim: kept for display, never dialled from here.
        let address: String = announcement.address.chars().take(256).collect();
        let version = announcement
            .version
            .as_ref()
            .map(|v| v.chars().take(64).collect());
        self.update(from, |p| {
            match announcement.peer_type {
                PeerType::P2p => p.p2p_address = Some(address),
                PeerType::Http => p.http_address = Some(address),
            }
            p.version = version;
        });
    }

    pub(crate) fn connected(&self, peer: PeerId) {
        self.update(peer, |p| {
            p.connected = true;
            p.banned = false;
        });
    }

    pub(crate) fn disconnected(&self, peer: PeerId) {
        self.update(peer, |p| p.connected = false);
    }

    pub(crate) fn banned(&self, peer: PeerId) {
        self.update(peer, |p| {
            p.connected = false;
            p.banned = true;
        });
    }

    /// Every known peer, connected ones first.
    pub(crate) fn snapshot(&self) -> Vec<KnownPeer> {
        let mut peers: Vec<KnownPeer> = self
            .peers
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        peers.sort_by(|a, b| {
            b.connected
                .cmp(&a.connected)
                .then_with(|| a.peer_id.cmp(&b.peer_id))
        });
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_connections_announcements_and_bans() {
        let book = PeerBook::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        book.connected(a);
        book.alive(
            b,
            &AliveAnnouncement {
                address: "http://127.0.0.1:4024".into(),
                interests: None,
                peer_type: PeerType::Http,
                version: Some("x".into()),
            },
        );
        book.banned(a);
        let peers = book.snapshot();
        assert_eq!(peers.len(), 2);
        let pa = peers.iter().find(|p| p.peer_id == a.to_string()).unwrap();
        assert!(pa.banned && !pa.connected);
        let pb = peers.iter().find(|p| p.peer_id == b.to_string()).unwrap();
        assert_eq!(pb.http_address.as_deref(), Some("http://127.0.0.1:4024"));
    }
}
