//! `[p2p]` configuration: where to listen, whom to dial, Aleph's topics and every limit.

use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

/// Aleph's message topic (the production topic keeps this historical name).
pub const DEFAULT_MESSAGE_TOPIC: &str = "ALEPH-TEST";
/// Aleph's peer announcement topic.
pub const DEFAULT_ALIVE_TOPIC: &str = "ALIVE";
/// Aleph's gossip frame limit (bytes).
pub const DEFAULT_MAX_GOSSIP_SIZE: usize = 262_144;

/// The peer-to-peer section of the node configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pConfig {
    /// Multiaddr to listen on (`/ip4/0.0.0.0/tcp/4025`; port 0 picks a free one).
    pub listen_addr: String,
    /// Peers dialled at start and re-dialled when disconnected: multiaddrs with or without
    /// `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// HTTP base URLs of Aleph nodes asked for content (`GET /api/v0/storage/{hash}`).
    pub http_peers: Vec<String>,
    /// Address announced on ALIVE for the HTTP API (`http://<ip>:4024`), if any.
    pub announce_http: Option<String>,
    /// Gossip topics.
    pub topics: TopicsConfig,
    /// Sizes, timeouts and counts.
    pub limits: LimitsConfig,
    /// How many bad frames or invalid messages a peer may send before it is disconnected
    /// and banned.
    pub strike_limit: u32,
    /// Seconds between ALIVE announcements (Aleph: 120).
    pub alive_interval_secs: u64,
    /// Seconds between catch-up rounds with a connected peer (also run on every new connection).
    pub sync_interval_secs: u64,
    /// Seconds between bootstrap re-dials and Kademlia walks.
    pub discovery_interval_secs: u64,
    /// Discover peers with Kademlia and dial them up to `limits.target_peers`. Off: only
    /// bootstrap peers and explicit dials are connected (closed groups, partition tests).
    pub kademlia: bool,
}

/// Gossip topic names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    pub messages: String,
    pub alive: String,
}

/// Every bound the network layer enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest gossip frame accepted or sent (bytes).
    pub max_gossip_size: usize,
    /// Largest content served or fetched over request-response (bytes).
    pub max_content_size: usize,
    /// Timeout of one request to one peer (milliseconds).
    pub request_timeout_ms: u64,
    /// Content fetches running at once.
    pub max_concurrent_fetches: usize,
    /// Peers asked, one after the other, before a fetch gives up.
    pub fetch_peer_attempts: usize,
    /// Inbound requests answered at once; beyond it peers are told to come back later.
    pub max_inbound_requests: usize,
    /// Gossip messages per peer per second before the excess is dropped and the peer struck.
    pub max_gossip_per_peer_per_sec: u32,
    /// Capacity of the command and event channels.
    pub channel_capacity: usize,
    /// Peers dialled from discovery until this many are connected.
    pub target_peers: usize,
    /// Seconds a banned peer stays banned.
    pub ban_secs: u64,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen_addr: "/ip4/0.0.0.0/tcp/4025".to_owned(),
            bootstrap: Vec::new(),
            http_peers: Vec::new(),
            announce_http: None,
            topics: TopicsConfig::default(),
            limits: LimitsConfig::default(),
            strike_limit: 5,
            alive_interval_secs: 120,
            sync_interval_secs: 30,
            discovery_interval_secs: 60,
            kademlia: true,
        }
    }
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            messages: DEFAULT_MESSAGE_TOPIC.to_owned(),
            alive: DEFAULT_ALIVE_TOPIC.to_owned(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_gossip_size: DEFAULT_MAX_GOSSIP_SIZE,
            max_content_size: 4 * 1024 * 1024,
            request_timeout_ms: 10_000,
            max_concurrent_fetches: 16,
            fetch_peer_attempts: 4,
            max_inbound_requests: 32,
            max_gossip_per_peer_per_sec: 5_000,
            channel_capacity: 1_024,
            target_peers: 16,
            ban_secs: 600,
        }
    }
}

/// A configuration value is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pConfigError {
    /// `listen_addr` or a bootstrap entry is not a multiaddr.
    #[error("{field}: {value:?} is not a multiaddr")]
    BadMultiaddr { field: &'static str, value: String },
    /// An HTTP peer is not an http(s) URL.
    #[error("http_peers: {0:?} is not an http(s) URL")]
    BadHttpPeer(String),
    /// A limit or interval is zero or empty where that makes no sense.
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// The two topics are the same or empty.
    #[error("topics must be two different non-empty names")]
    BadTopics,
}

impl P2pConfig {
    /// Checks every field; the service assumes a validated config.
    pub fn validate(&self) -> Result<(), P2pConfigError> {
        self.listen_multiaddr()?;
        self.bootstrap_multiaddrs()?;
        if let Some(bad) = self
            .http_peers
            .iter()
            .find(|p| !(p.starts_with("http://") || p.starts_with("https://")))
        {
            return Err(P2pConfigError::BadHttpPeer(bad.clone()));
        }
        let t = &self.topics;
        if t.messages.is_empty() || t.alive.is_empty() || t.messages == t.alive {
            return Err(P2pConfigError::BadTopics);
        }
        self.limits.validate()?;
        let positive = [
            ("strike_limit", u64::from(self.strike_limit)),
            ("alive_interval_secs", self.alive_interval_secs),
            ("sync_interval_secs", self.sync_interval_secs),
            ("discovery_interval_secs", self.discovery_interval_secs),
        ];
        check_positive(&positive)
    }

    /// The parsed listen address.
    pub fn listen_multiaddr(&self) -> Result<Multiaddr, P2pConfigError> {
        parse_multiaddr("listen_addr", &self.listen_addr)
    }

    /// The parsed bootstrap list.
    pub fn bootstrap_multiaddrs(&self) -> Result<Vec<Multiaddr>, P2pConfigError> {
        self.bootstrap
            .iter()
            .map(|b| parse_multiaddr("bootstrap", b))
            .collect()
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.request_timeout_ms)
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), P2pConfigError> {
        let as_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        check_positive(&[
            ("limits.max_gossip_size", as_u64(self.max_gossip_size)),
            ("limits.max_content_size", as_u64(self.max_content_size)),
            ("limits.request_timeout_ms", self.request_timeout_ms),
            (
                "limits.max_concurrent_fetches",
                as_u64(self.max_concurrent_fetches),
            ),
            (
                "limits.fetch_peer_attempts",
                as_u64(self.fetch_peer_attempts),
            ),
            (
                "limits.max_inbound_requests",
                as_u64(self.max_inbound_requests),
            ),
            (
                "limits.max_gossip_per_peer_per_sec",
                u64::from(self.max_gossip_per_peer_per_sec),
            ),
            ("limits.channel_capacity", as_u64(self.channel_capacity)),
        ])
    }
}

fn check_positive(values: &[(&'static str, u64)]) -> Result<(), P2pConfigError> {
    match values.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(P2pConfigError::NotPositive(name)),
        None => Ok(()),
    }
}

fn parse_multiaddr(field: &'static str, value: &str) -> Result<Multiaddr, P2pConfigError> {
    value.parse().map_err(|_| P2pConfigError::BadMultiaddr {
        field,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_listens_on_4025() {
        let config = P2pConfig::default();
        config.validate().unwrap();
        assert_eq!(config.listen_addr, "/ip4/0.0.0.0/tcp/4025");
        assert_eq!(config.limits.max_gossip_size, 262_144);
    }

    #[test]
    fn bootstrap_with_and_without_peer_id() {
        let config = P2pConfig {
            bootstrap: vec![
                "/ip4/127.0.0.1/tcp/4025".to_owned(),
                "/ip4/127.0.0.1/tcp/4026/p2p/12D3KooWGzh1ZNLAfsjw8eHBMdFGeq4d4s6SHiDGuTfPW8sEq9Dw"
                    .to_owned(),
            ],
            ..P2pConfig::default()
        };
        assert_eq!(config.bootstrap_multiaddrs().unwrap().len(), 2);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = P2pConfig {
            bootstrap: vec!["not a multiaddr".to_owned()],
            ..P2pConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(P2pConfigError::BadMultiaddr { .. })
        ));
        let mut zero = P2pConfig::default();
        zero.limits.channel_capacity = 0;
        assert_eq!(
            zero.validate(),
            Err(P2pConfigError::NotPositive("limits.channel_capacity"))
        );
        let same = P2pConfig {
            topics: TopicsConfig {
                messages: "A".into(),
                alive: "A".into(),
            },
            ..P2pConfig::default()
        };
        assert_eq!(same.validate(), Err(P2pConfigError::BadTopics));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<P2pConfig>(r#"{"listen":"x"}"#);
        assert!(err.is_err());
    }
}
