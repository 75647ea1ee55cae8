//! The network's HTTP routes: `GET /api/v0/info/public.json` (Aleph's shape: the node's public
//! multiaddrs), `GET /api/v0/p2p/peers.json` (what `alephd peers` shows) and
//! `GET /api/v0/p2p/metrics.json` (counters).

use std::sync::Arc;

use alephd_p2p::{P2pHandle, P2pStats, PeerInfo};
use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde::{Deserialize, Serialize};

use super::{
    index::SyncIndex,
    peers::{KnownPeer, PeerBook},
};

/// What the handlers need.
#[derive(Debug, Clone)]
pub(crate) struct NetworkApi {
    pub(crate) p2p: P2pHandle,
    pub(crate) peers: Arc<PeerBook>,
    pub(crate) index: Arc<SyncIndex>,
}

/// `public.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PublicInfo {
    pub(crate) node_multi_addresses: Vec<String>,
    pub(crate) peer_id: String,
}

/// `peers.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PeersView {
    pub(crate) peer_id: String,
    pub(crate) connected: Vec<ConnectedPeer>,
    pub(crate) known: Vec<KnownPeer>,
}

/// A connected peer, as `peers.json` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ConnectedPeer {
    pub(crate) peer_id: String,
    pub(crate) addresses: Vec<String>,
    pub(crate) agent: Option<String>,
    pub(crate) strikes: u32,
}

/// `metrics.json`.
#[derive(Debug, Serialize)]
struct Metrics {
    #[serde(flatten)]
    stats: P2pStats,
    /// Messages the catch-up index covers.
    sync_index_messages: usize,
}

pub(crate) fn routes(api: NetworkApi) -> Router {
    Router::new()
        .route("/api/v0/info/public.json", get(public_info))
        .route("/api/v0/p2p/peers.json", get(peers))
        .route("/api/v0/p2p/metrics.json", get(metrics))
        .with_state(api)
}

async fn public_info(State(api): State<NetworkApi>) -> Result<Json<PublicInfo>, StatusCode> {
    let local = api.p2p.local_peer_id();
    let addrs = api
        .p2p
        .listen_addrs()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(PublicInfo {
        node_multi_addresses: addrs.iter().map(|a| format!("{a}/p2p/{local}")).collect(),
        peer_id: local.to_string(),
    }))
}

async fn peers(State(api): State<NetworkApi>) -> Result<Json<PeersView>, StatusCode> {
    let connected = api
        .p2p
        .peers()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(PeersView {
        peer_id: api.p2p.local_peer_id().to_string(),
        connected: connected.into_iter().map(ConnectedPeer::from).collect(),
        known: api.peers.snapshot(),
    }))
}

async fn metrics(State(api): State<NetworkApi>) -> Json<serde_json::Value> {
    let metrics = Metrics {
        stats: api.p2p.stats(),
        sync_index_messages: api.index.len().await,
    };
    Json(serde_json::to_value(metrics).unwrap_or_default())
}

impl From<PeerInfo> for ConnectedPeer {
    fn from(p: PeerInfo) -> Self {
        Self {
            peer_id: p.peer_id,
            addresses: p.addresses,
            agent: p.agent,
            strikes: p.strikes,
        }
    }
}
