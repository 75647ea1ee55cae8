//! The composed libp2p behaviour and how each part is configured.

use std::time::Duration;

use libp2p::{
    StreamProtocol, gossipsub, identify,
    identity::Keypair,
    kad,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::{
    P2pConfig,
    message_id::aleph_message_id,
    protocol::{ExchangeBehaviour, exchange_behaviour},
};

const IDENTIFY_PROTOCOL: &str = "/alephd/0.1.0";
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/alephd/kad/1.0.0");

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) exchange: ExchangeBehaviour,
}

/// Building the behaviour failed (a gossipsub setting was refused).
#[derive(Debug, thiserror::Error)]
#[error("gossipsub configuration: {0}")]
pub struct BehaviourError(String);

impl Behaviour {
    pub(crate) fn new(key: &Keypair, config: &P2pConfig) -> Result<Self, BehaviourError> {
        let peer_id = key.public().to_peer_id();
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config.set_query_timeout(Duration::from_secs(30));
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        // Loopback and LAN nodes have no confirmed external address; serve anyway.
        kad.set_mode(Some(kad::Mode::Server));
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(format!("alephd/{}", env!("CARGO_PKG_VERSION"))),
        );
        let max_response = u64::try_from(config.limits.max_content_size)
            .unwrap_or(u64::MAX)
            .saturating_add(64 * 1024);
        Ok(Self {
            gossipsub: gossipsub(key, config)?,
            identify,
            kad: Toggle::from(config.kademlia.then_some(kad)),
            exchange: exchange_behaviour(
                max_response,
                config.request_timeout(),
                config.limits.max_inbound_requests,
            ),
        })
    }
}

/// Aleph's settings (`aleph-protocol.md` §6): strict signed messages, 1 s heartbeat, 256 KiB
/// frames, 30 min duplicate cache, its message id; plus explicit validation by the node.
fn gossipsub(key: &Keypair, config: &P2pConfig) -> Result<gossipsub::Behaviour, BehaviourError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_secs(1))
        .max_transmit_size(config.limits.max_gossip_size)
        .duplicate_cache_time(Duration::from_secs(1800))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(aleph_message_id(&m.data))
        })
        .build()
        .map_err(|e| BehaviourError(e.to_string()))?;
    gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(|e| BehaviourError(e.to_owned()))
}
