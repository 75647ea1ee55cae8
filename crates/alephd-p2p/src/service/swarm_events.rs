//! What the actor does with each swarm event: gossip in, request-response traffic, identify,
//! discovery and connection bookkeeping.

use libp2p::{
    gossipsub, identify, kad, request_response,
    swarm::{SwarmEvent, dial_opts::DialOpts},
};

use super::{Actor, behaviour::BehaviourEvent, commands::peer_of};
use crate::{
    event::{AliveAnnouncement, GossipToken, MessageOrigin, P2pEvent, Verdict},
    handle::RequestError,
    metrics::bump,
    protocol::Response,
};

impl Actor {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Exchange(e)) => self.on_exchange(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let remote = endpoint.get_remote_address().clone();
                let addrs = self.remote_addrs.entry(peer_id).or_default();
                if !addrs.contains(&remote) && addrs.len() < 8 {
                    addrs.push(remote);
                }
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address();
                    for (boot, known) in &mut self.bootstrap {
                        if peer_of(boot).is_none() && boot == addr {
                            *known = Some(peer_id);
                        }
                    }
                }
                if num_established.get() == 1 {
                    self.update_peer_count();
                    self.emit(P2pEvent::PeerConnected { peer: peer_id });
                    let _ = self.sync_tx.try_send(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.update_peer_count();
                self.flood.remove(&peer_id);
                self.remote_addrs.remove(&peer_id);
                self.emit(P2pEvent::PeerDisconnected { peer: peer_id });
            }
            SwarmEvent::NewListenAddr { address, .. } if !self.listen_addrs.contains(&address) => {
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address)
            }
            _ => {}
        }
    }

    fn update_peer_count(&self) {
        let n = u64::try_from(self.swarm.connected_peers().count()).unwrap_or(u64::MAX);
        self.metrics
            .connected_peers
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        if let gossipsub::Event::SlowPeer {
            peer_id,
            failed_messages,
        } = &event
        {
            let lost = failed_messages
                .priority
                .saturating_add(failed_messages.non_priority);
            let lost = u64::try_from(lost).unwrap_or(u64::MAX);
            self.metrics
                .gossip_send_dropped
                .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(peer = %peer_id, lost, "slow gossip peer");
        }
        let gossipsub::Event::Message {
            propagation_source: source,
            message_id: id,
            message,
        } = event
        else {
            return;
        };
        bump(&self.metrics.gossip_in);
        if !self.within_flood_limit(source) {
            bump(&self.metrics.gossip_dropped);
            self.apply_verdict(&id, &source, Verdict::Ignore);
            return;
        }
        let from = message.source.unwrap_or(source);
        if message.topic == self.messages_topic.hash() {
            if !plausible_message(&message.data) {
                self.apply_verdict(&id, &source, Verdict::Reject);
                return;
            }
            let token = GossipToken {
                id: id.clone(),
                source,
            };
            let data = bytes::Bytes::from(message.data);
            if !self.emit(P2pEvent::Message {
                from,
                data,
                origin: MessageOrigin::Gossip(token),
            }) {
                // The node is behind: drop it now, catch-up brings it back later.
                bump(&self.metrics.gossip_dropped);
                self.apply_verdict(&id, &source, Verdict::Ignore);
            }
        } else if message.topic == self.alive_topic.hash() {
            match serde_json::from_slice::<AliveAnnouncement>(&message.data) {
                Ok(announcement) => {
                    self.apply_verdict(&id, &source, Verdict::Accept);
                    self.emit(P2pEvent::PeerAlive { from, announcement });
                }
                Err(_) => self.apply_verdict(&id, &source, Verdict::Reject),
            }
        } else {
            self.apply_verdict(&id, &source, Verdict::Ignore);
        }
    }

    fn on_exchange(&mut self, event: request_response::Event<crate::protocol::Request, Response>) {
        use request_response::{Event, InboundFailure, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                self.answer(peer, request, channel);
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(RequestError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            // Undecodable or oversized frames on our protocol.
            Event::InboundFailure {
                peer,
                error: InboundFailure::Io(_),
                ..
            } => {
                self.strike(peer, "malformed request frame");
            }
            _ => {}
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            self.agents.insert(peer_id, info.agent_version);
            if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                for addr in info.listen_addrs {
                    kad.add_address(&peer_id, addr);
                }
            }
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::RoutingUpdated {
            peer, addresses, ..
        } = event
        else {
            return;
        };
        let connected = self.swarm.connected_peers().count();
        if connected >= self.config.limits.target_peers
            || self.swarm.is_connected(&peer)
            || self.is_banned(&peer)
            || peer == *self.swarm.local_peer_id()
        {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addresses.into_vec())
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "discovered peer not dialled");
        }
    }
}

/// Cheap shape check before bothering the node: a JSON object, or URL-quoted JSON (which Aleph
/// tolerates). Anything else is garbage from the sender.
pub(crate) fn plausible_message(data: &[u8]) -> bool {
    let trimmed = data.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    }
    trimmed.len() > 3
        && trimmed[..3].eq_ignore_ascii_case(b"%7b")
        && std::str::from_utf8(trimmed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::plausible_message;

    #[test]
    fn shape_check() {
        assert!(plausible_message(br#"{"item_hash":"x"}"#));
        assert!(plausible_message(b"%7B%22item_hash%22%3A1%7D"));
        assert!(!plausible_message(b"{not json"));
        assert!(!plausible_message(b"\x00\x01garbage"));
        assert!(!plausible_message(b"[1,2]"));
        assert!(!plausible_message(b""));
    }
}
