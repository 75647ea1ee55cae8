//! Strikes and bans: a peer that sends garbage loses standing and, at the strike limit, is
//! disconnected, blacklisted in gossipsub and refused for `limits.ban_secs`.

use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::{
    Actor,
    behaviour::{BAN_SCORE, STRIKE_SCORE},
};
use crate::{event::P2pEvent, metrics::bump};

/// How long a strike is remembered after the peer's last one.
const STRIKE_MEMORY: Duration = Duration::from_secs(600);

impl Actor {
    pub(super) fn strike(&mut self, peer: PeerId, why: &'static str) {
        if peer == *self.swarm.local_peer_id() || self.is_banned(&peer) {
            return;
        }
        let now = Instant::now();
        let (strikes, last) = self.strikes.entry(peer).or_insert((0, now));
        // An honest peer's rare mistakes must not add up over days.
        if now.duration_since(*last) > STRIKE_MEMORY {
            *strikes = 0;
        }
        *strikes = strikes.saturating_add(1);
        *last = now;
        tracing::debug!(%peer, strikes = *strikes, why, "strike");
        if *strikes >= self.config.strike_limit {
            self.ban(peer);
        }
    }

    fn ban(&mut self, peer: PeerId) {
        tracing::warn!(%peer, "peer banned after too many strikes");
        let until = Instant::now() + Duration::from_secs(self.config.limits.ban_secs);
        self.banned.insert(peer, until);
        self.strikes.remove(&peer);
        self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.remove_peer(&peer);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
        bump(&self.metrics.peers_banned);
        self.emit(P2pEvent::PeerBanned { peer });
    }

    /// Strikes peers whose gossipsub score shows invalid messages (bad signature, oversized,
    /// rejected by the node; broken protocol promises), and bans those far below.
    pub(super) fn check_scores(&mut self) {
        let gossip = &self.swarm.behaviour().gossipsub;
        let low: Vec<(PeerId, f64)> = self
            .swarm
            .connected_peers()
            .filter_map(|p| gossip.peer_score(p).map(|s| (*p, s)))
            .filter(|(_, s)| *s < STRIKE_SCORE)
            .collect();
        for (peer, score) in low {
            if score < BAN_SCORE {
                if !self.is_banned(&peer) {
                    self.ban(peer);
                }
            } else {
                self.strike(peer, "invalid gossip (score)");
            }
        }
    }

    pub(super) fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned
            .get(peer)
            .is_some_and(|until| Instant::now() < *until)
    }

    pub(super) fn expire_bans(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, u)| **u <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.swarm
                .behaviour_mut()
                .gossipsub
                .remove_blacklisted_peer(&peer);
        }
    }

    /// Counts a gossip message from `peer`; false once it exceeds the per-second limit.
    pub(super) fn within_flood_limit(&mut self, peer: PeerId) -> bool {
        let second = Instant::now().duration_since(self.started()).as_secs();
        let limit = self.config.limits.max_gossip_per_peer_per_sec;
        let count = {
            let entry = self.flood.entry(peer).or_insert((second, 0));
            if entry.0 != second {
                *entry = (second, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            entry.1
        };
        if count == limit.saturating_add(1) {
            self.strike(peer, "gossip flood");
        }
        count <= limit
    }

    fn started(&self) -> Instant {
        // A fixed origin for the per-second windows.
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }
}
