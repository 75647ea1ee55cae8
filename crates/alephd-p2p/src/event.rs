//! What the network tells the node.

use bytes::Bytes;
use libp2p::{PeerId, gossipsub::MessageId};
use serde::{Deserialize, Serialize};

/// An event for the node; delivered on a bounded channel (gossip is dropped, and later
/// recovered by catch-up, when the node falls behind).
#[derive(Debug, Clone)]
pub enum P2pEvent {
    /// A message (wire JSON, possibly URL-quoted) to parse and enqueue like any ingress.
    Message {
        from: PeerId,
        data: Bytes,
        origin: MessageOrigin,
    },
    /// A peer announced itself on ALIVE.
    PeerAlive {
        from: PeerId,
        announcement: AliveAnnouncement,
    },
    /// A connection to a peer was opened (first one) or closed (last one).
    PeerConnected {
        peer: PeerId,
    },
    PeerDisconnected {
        peer: PeerId,
    },
    /// A peer reached the strike limit and was disconnected and banned.
    PeerBanned {
        peer: PeerId,
    },
}

/// Where a message came from, and how to answer for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOrigin {
    /// Gossip: the node must give a verdict with [`crate::P2pHandle::validate`]; only accepted
    /// messages are forwarded to other peers.
    Gossip(GossipToken),
    /// Catch-up from a peer: report garbage with [`crate::P2pHandle::report_invalid`].
    CatchUp,
}

/// Identifies a received gossip message for its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipToken {
    pub(crate) id: MessageId,
    pub(crate) source: PeerId,
}

/// The node's verdict on a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Invalid: never forward, strike the sender.
    Reject,
    /// Not judged (duplicate, queue full): do not forward, no strike.
    Ignore,
}

/// The ALIVE payload (`aleph-protocol.md` §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveAnnouncement {
    pub address: String,
    #[serde(default)]
    pub interests: Option<serde_json::Value>,
    pub peer_type: PeerType,
    #[serde(default)]
    pub version: Option<String>,
}

/// Kind of address an ALIVE announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerType {
    #[serde(rename = "P2P")]
    P2p,
    #[serde(rename = "HTTP")]
    Http,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_payload_round_trips_aleph_shape() {
        let raw = r#"{"address":"/ip4/1.2.3.4/tcp/4025/p2p/QmZkurbY2G2hWay59yiTgQNaQxHSNzKZFt2jbnwJhQcKgV","interests":null,"peer_type":"P2P","version":"0.5.1"}"#;
        let a: AliveAnnouncement = serde_json::from_str(raw).unwrap();
        assert_eq!(a.peer_type, PeerType::P2p);
        assert_eq!(serde_json::to_string(&a).unwrap(), raw);
    }
}
