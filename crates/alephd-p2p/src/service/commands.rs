//! The actor's answers to handle commands, and its timers (ALIVE, discovery).

use libp2p::{Multiaddr, PeerId, gossipsub, multiaddr::Protocol, swarm::dial_opts::DialOpts};

use super::Actor;
use crate::{
    event::{AliveAnnouncement, PeerType, Verdict},
    handle::{Command, DialError, PeerInfo, PublishError, RequestError},
    metrics::bump,
};

/// The peer id at the end of a multiaddr, if any.
pub(crate) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

impl Actor {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { data, reply } => {
                let _ = reply.send(self.publish(data));
            }
            Command::Validate { token, verdict } => {
                self.apply_verdict(&token.id, &token.source, verdict)
            }
            Command::ReportInvalid { peer } => self.strike(peer, "reported by the node"),
            Command::Request {
                peer,
                request,
                reply,
            } => {
                if self.swarm.is_connected(&peer) {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .exchange
                        .send_request(&peer, request);
                    self.pending.insert(id, reply);
                } else {
                    let _ = reply.send(Err(RequestError::Failed {
                        peer,
                        reason: "not connected".to_owned(),
                    }));
                }
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.dial(addr));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::SyncNow { peer } => {
                let _ = self.sync_tx.try_send(peer);
            }
        }
    }

    fn publish(&mut self, data: bytes::Bytes) -> Result<(), PublishError> {
        let limit = self.config.limits.max_gossip_size;
        if data.len() > limit {
            return Err(PublishError::TooLarge {
                size: data.len(),
                limit,
            });
        }
        let topic = self.messages_topic.clone();
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(_) => {
                bump(&self.metrics.gossip_out);
                Ok(())
            }
            // Already seen: it went (or goes) out when it was accepted.
            Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Err(PublishError::NoPeers),
            Err(gossipsub::PublishError::AllQueuesFull(_)) => Err(PublishError::Busy),
            Err(e) => Err(PublishError::Refused(e.to_string())),
        }
    }

    pub(super) fn apply_verdict(
        &mut self,
        id: &gossipsub::MessageId,
        source: &PeerId,
        verdict: Verdict,
    ) {
        let acceptance = match verdict {
            Verdict::Accept => gossipsub::MessageAcceptance::Accept,
            Verdict::Reject => gossipsub::MessageAcceptance::Reject,
            Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
        };
        let in_cache = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
        if !in_cache && verdict == Verdict::Accept {
            // The verdict came after gossipsub forgot the message (5 heartbeats): not forwarded.
            bump(&self.metrics.gossip_verdict_late);
        }
        if verdict == Verdict::Reject {
            bump(&self.metrics.gossip_rejected);
            self.strike(*source, "invalid gossip");
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.swarm
            .connected_peers()
            .map(|peer| PeerInfo {
                peer_id: peer.to_string(),
                addresses: self
                    .remote_addrs
                    .get(peer)
                    .map(|a| a.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                agent: self.agents.get(peer).cloned(),
                strikes: self.strikes.get(peer).map_or(0, |(n, _)| *n),
            })
            .collect()
    }

    fn dial(&mut self, addr: Multiaddr) -> Result<(), DialError> {
        let refused = |reason: &str| DialError::Refused {
            addr: addr.to_string(),
            reason: reason.to_owned(),
        };
        let opts = match peer_of(&addr) {
            Some(peer) if self.is_banned(&peer) => return Err(refused("peer is banned")),
            Some(peer) if peer == *self.swarm.local_peer_id() => return Err(refused("that is us")),
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .build(),
            None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        self.swarm.dial(opts).map_err(|e| refused(&e.to_string()))
    }

    pub(super) fn dial_bootstrap(&mut self) {
        let wanted: Vec<Multiaddr> = self
            .bootstrap
            .iter()
            .filter(|(addr, known)| {
                let peer = known.or_else(|| peer_of(addr));
                peer.is_none_or(|p| !self.swarm.is_connected(&p))
            })
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in wanted {
            if let Err(e) = self.dial(addr) {
                tracing::debug!(error = %e, "bootstrap dial");
            }
        }
    }

    pub(super) fn discover(&mut self) {
        self.expire_bans();
        self.dial_bootstrap();
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.get_closest_peers(PeerId::random());
        }
    }

    pub(super) fn announce_alive(&mut self) {
        let local = *self.swarm.local_peer_id();
        let mut payloads = Vec::new();
        let best = self
            .listen_addrs
            .iter()
            .find(|a| {
                !a.iter()
                    .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
            })
            .or(self.listen_addrs.first());
        if let Some(addr) = best {
            payloads.push(announcement(format!("{addr}/p2p/{local}"), PeerType::P2p));
        }
        if let Some(http) = &self.config.announce_http {
            payloads.push(announcement(http.clone(), PeerType::Http));
        }
        for payload in payloads {
            let Ok(bytes) = serde_json::to_vec(&payload) else {
                continue;
            };
            let topic = self.alive_topic.clone();
            if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                tracing::debug!(error = %e, "ALIVE not published");
            }
        }
    }
}

fn announcement(address: String, peer_type: PeerType) -> AliveAnnouncement {
    AliveAnnouncement {
        address,
        interests: None,
        peer_type,
        version: Some(format!("alephd-{}", env!("CARGO_PKG_VERSION"))),
    }
}
