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

/// Score below which a peer gets a strike on every score check: one invalid message.
pub(crate) const STRIKE_SCORE: f64 = -80.0;
/// Score below which a peer is banned at once: four invalid messages in a short time.
pub(crate) const BAN_SCORE: f64 = -1_000.0;

/// Aleph's settings (`aleph-protocol.md` §6): strict signed messages, 1 s heartbeat, 256 KiB
/// messages, 30 min duplicate cache, its message id; plus explicit validation by the node.
///
/// Frames may be twice the message limit so that oversized messages are still decoded and
/// counted against their sender (per-topic limit) rather than only breaking the stream.
fn gossipsub(key: &Keypair, config: &P2pConfig) -> Result<gossipsub::Behaviour, BehaviourError> {
    let limit = config.limits.max_gossip_size;
    let topics = [
        gossipsub::IdentTopic::new(config.topics.messages.clone()).hash(),
        gossipsub::IdentTopic::new(config.topics.alive.clone()).hash(),
    ];
    let mut builder = gossipsub::ConfigBuilder::default();
    for topic in &topics {
        builder.max_transmit_size_for_topic(limit, topic.clone());
    }
    let gossip_config = builder
        .heartbeat_interval(Duration::from_secs(1))
        .max_transmit_size(limit.saturating_mul(2).saturating_add(64 * 1024))
        .duplicate_cache_time(Duration::from_secs(1800))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(aleph_message_id(&m.data))
        })
        .build()
        .map_err(|e| BehaviourError(e.to_string()))?;
    let mut behaviour = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(|e| BehaviourError(e.to_owned()))?;
    behaviour
        .with_peer_score(score_params(&topics), score_thresholds())
        .map_err(BehaviourError)?;
    Ok(behaviour)
}

/// Graylisting (ignoring a peer's RPCs) comes only well below the ban score, so that invalid
/// messages keep being counted until the peer is banned.
fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        graylist_threshold: 10.0 * BAN_SCORE,
        ..Default::default()
    }
}

/// Scoring that only punishes: invalid messages (bad signature, oversized, rejected by the
/// node) weigh quadratically (one is enough to reach the graylist) and decay by 10% a second; delivery-rate and IP-colocation terms are off, as they
/// penalise honest peers on a loaded or single-host network.
fn score_params(topics: &[gossipsub::TopicHash]) -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        slow_peer_weight: 0.0,
        ..Default::default()
    };
    for topic in topics {
        let topic_params = gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: -100.0,
            invalid_message_deliveries_decay: 0.9,
            ..Default::default()
        };
        params.topics.insert(topic.clone(), topic_params);
    }
    params
}
