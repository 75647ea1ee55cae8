//! The peer-to-peer network of an alephd node.
//!
//! One task ([`P2pService`]) owns a rust-libp2p swarm (TCP + Noise + Yamux) with gossipsub on
//! Aleph's topics (`ALEPH-TEST` messages, `ALIVE` announcements; Aleph's settings and message
//! id), identify, Kademlia discovery and our own request-response protocol for content by hash
//! and for catch-up. The node talks to it through a clonable [`P2pHandle`] and hears from it
//! through bounded [`P2pEvent`]s; it answers peers by implementing [`ContentProvider`] and
//! [`SyncProvider`].
//!
//! Nothing a peer sends is trusted: frames are size-capped, gossip is forwarded only after the
//! node's verdict, fetched content is hash-verified, and peers that send garbage are struck and
//! banned at the strike limit.

mod bridge;
mod config;
mod event;
mod handle;
mod identity;
mod message_id;
mod metrics;
mod protocol;
mod reconcile;
mod service;
mod sync;

pub use bridge::{
    ContentProvider, ContentVerifier, MemoryContent, NoContent, NodeBridge, Sha256Verifier,
};
pub use config::{
    DEFAULT_ALIVE_TOPIC, DEFAULT_MAX_GOSSIP_SIZE, DEFAULT_MESSAGE_TOPIC, LimitsConfig, P2pConfig,
    P2pConfigError, TopicsConfig,
};
pub use event::{AliveAnnouncement, GossipToken, MessageOrigin, P2pEvent, PeerType, Verdict};
pub use handle::{
    DialError, FetchError, P2pHandle, PeerInfo, PublishError, RemotePeer, RequestError,
    ServiceStopped,
};
pub use identity::{IdentityError, NODE_KEY_FILE, load_or_create_keypair};
pub use message_id::aleph_message_id;
pub use metrics::{P2pMetrics, P2pStats};
pub use protocol::{RefusedReason, Request, Response};
pub use reconcile::{ReconcileError, ReconcileLimits, ReconcileReport, reconcile};
pub use service::{BehaviourError, P2pError, P2pService, catch_up_range};
pub use sync::{Fingerprint, ItemKey, MemorySyncStore, ProviderError, SyncProvider, TimeRange};

/// Re-exported so the node can name peers and addresses without its own libp2p dependency.
pub use libp2p::{Multiaddr, PeerId, identity::Keypair};
