//! [`P2pHandle`]: the cheap clonable client of the network actor. Every command carries its
//! own reply channel; the command channel is bounded.

use std::sync::Arc;

use alephd_message::ItemHash;
use bytes::Bytes;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{
    bridge::ContentVerifier,
    event::{GossipToken, Verdict},
    metrics::{P2pMetrics, P2pStats},
    protocol::{Request, Response},
};

mod fetch;
mod remote;

pub use fetch::FetchError;
pub use remote::RemotePeer;

/// A request to the actor.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        data: Bytes,
        reply: oneshot::Sender<Result<(), PublishError>>,
    },
    Validate {
        token: GossipToken,
        verdict: Verdict,
    },
    ReportInvalid {
        peer: PeerId,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), DialError>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    SyncNow {
        peer: PeerId,
    },
}

/// A connected peer as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addresses: Vec<String>,
    pub agent: Option<String>,
    pub strikes: u32,
}

/// The network is gone (shut down or crashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the p2p service is not running")]
pub struct ServiceStopped;

/// Publishing a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Stopped(#[from] ServiceStopped),
    #[error("message of {size} bytes exceeds the gossip limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    /// No peer is subscribed to the topic yet; catch-up will carry the message later.
    #[error("no peer to publish to")]
    NoPeers,
    /// Every peer's send queue is full: the network is saturated; catch-up will carry the
    /// message later, or the caller may retry.
    #[error("gossip send queues are full")]
    Busy,
    #[error("gossipsub refused the message: {0}")]
    Refused(String),
}

/// A request to one peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Stopped(#[from] ServiceStopped),
    #[error("request to {peer} failed: {reason}")]
    Failed { peer: PeerId, reason: String },
}

/// Dialling failed at once (bad address, banned peer, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Stopped(#[from] ServiceStopped),
    #[error("cannot dial {addr}: {reason}")]
    Refused { addr: String, reason: String },
}

/// Clonable client of the network service.
#[derive(Clone)]
pub struct P2pHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local_peer_id: PeerId,
    pub(crate) metrics: Arc<P2pMetrics>,
    pub(crate) fetch: Arc<fetch::FetchContext>,
}

impl std::fmt::Debug for P2pHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pHandle")
            .field("peer_id", &self.local_peer_id)
            .finish()
    }
}

impl P2pHandle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        local_peer_id: PeerId,
        metrics: Arc<P2pMetrics>,
        verifier: Arc<dyn ContentVerifier>,
        config: &crate::P2pConfig,
    ) -> Self {
        let fetch = fetch::FetchContext {
            verifier,
            permits: Semaphore::new(config.limits.max_concurrent_fetches),
            attempts: config.limits.fetch_peer_attempts,
            max_size: config.limits.max_content_size,
            timeout: config.request_timeout(),
            http_peers: config.http_peers.clone(),
            http: reqwest::Client::new(),
        };
        Self {
            commands,
            local_peer_id,
            metrics,
            fetch: Arc::new(fetch),
        }
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Counters (peers, gossip in/out, fetches, catch-up).
    pub fn stats(&self) -> P2pStats {
        self.metrics.snapshot()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ServiceStopped> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ServiceStopped)?;
        rx.await.map_err(|_| ServiceStopped)
    }

    /// Gossips a message the node accepted (wire JSON) on the message topic.
    pub async fn publish_message(&self, data: Bytes) -> Result<(), PublishError> {
        self.call(|reply| Command::Publish { data, reply }).await?
    }

    /// The node's verdict on a gossip message: only accepted ones are forwarded.
    pub async fn validate(
        &self,
        token: GossipToken,
        verdict: Verdict,
    ) -> Result<(), ServiceStopped> {
        self.commands
            .send(Command::Validate { token, verdict })
            .await
            .map_err(|_| ServiceStopped)
    }

    /// The peer sent garbage outside gossip (catch-up, content): one strike.
    pub async fn report_invalid(&self, peer: PeerId) -> Result<(), ServiceStopped> {
        self.commands
            .send(Command::ReportInvalid { peer })
            .await
            .map_err(|_| ServiceStopped)
    }

    /// Sends one request to one peer and waits for its answer (bounded by the request timeout).
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, RequestError> {
        self.call(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await?
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, ServiceStopped> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// Dials a multiaddr, with or without `/p2p/<peer id>`; returns once the dial has started.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), DialError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, ServiceStopped> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Starts a catch-up round with `peer` now (otherwise rounds run on connection and on a timer).
    pub async fn sync_now(&self, peer: PeerId) -> Result<(), ServiceStopped> {
        self.commands
            .send(Command::SyncNow { peer })
            .await
            .map_err(|_| ServiceStopped)
    }

    /// Fetches content by hash from peers (our protocol first, then Aleph's HTTP API on the
    /// configured HTTP peers), verified; peers that send wrong bytes are struck.
    pub async fn fetch_content(&self, hash: &ItemHash) -> Result<Bytes, FetchError> {
        fetch::fetch_content(self, hash).await
    }
}
