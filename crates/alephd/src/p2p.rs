//! The node's side of the peer-to-peer network (`alephd-p2p`): its identity, the bridge the
//! network reads the node through (store content, the catch-up index over the database, hash
//! checks), the loops that move messages between the network and the processor, and the
//! network's HTTP routes.
//!
//! Start-up is in two steps because the processor needs the network (its content fetcher asks
//! peers) and the network's loops need the processor: [`Network::start`] opens the swarm,
//! then [`Network::attach`] connects it to the running processor. Nothing a peer sends is
//! applied without going through the processor's queue and checks.

mod content;
mod index;
mod ingest;
mod peer_table;
mod peers;
mod routes;
mod wire;

pub(crate) use routes::{PeersView, PublicInfo};

use std::{path::Path, sync::Arc};

use alephd_db::Db;
use alephd_p2p::{NodeBridge, P2pConfig, P2pEvent, P2pHandle, P2pService};
use alephd_processor::{ContentFetcher, ProcessorHandle};
use alephd_storage::Store;
use anyhow::Context;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use self::{
    content::{ContentCheck, NetworkFetcher, StoreContent},
    index::SyncIndex,
    ingest::Links,
    peer_table::PeerTable,
    peers::PeerBook,
};

/// Where the node key lives inside the data dir.
const KEYS_DIR: &str = "keys";

/// The started network, not yet attached to the processor.
#[derive(Debug)]
pub(crate) struct Network {
    p2p: P2pHandle,
    events: mpsc::Receiver<P2pEvent>,
    task: JoinHandle<()>,
    index: Arc<SyncIndex>,
    fetcher: NetworkFetcher,
    db: Db,
}

impl Network {
    /// Loads (or creates) the node key, binds the listen address and starts the swarm.
    pub(crate) async fn start(
        config: &P2pConfig,
        data_dir: &Path,
        db: &Db,
        store: &Store,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        let keys = data_dir.join(KEYS_DIR);
        let keypair =
            alephd_p2p::load_or_create_keypair(&keys).context("cannot load the node key")?;
        let index = Arc::new(SyncIndex::new(db.clone()));
        let bridge = NodeBridge {
            content: Arc::new(StoreContent::new(store.clone())),
            sync: index.clone(),
            verifier: Arc::new(ContentCheck),
        };
        let service = P2pService::spawn(config.clone(), keypair, bridge, cancel)
            .await
            .context("cannot start the p2p network")?;
        let ipfs = store
            .config()
            .ipfs_rpc()
            .context("cannot set up storage.ipfs_rpc_url")?;
        let fetcher = NetworkFetcher::new(store.clone(), service.handle.clone(), ipfs);
        Ok(Self {
            p2p: service.handle,
            events: service.events,
            task: service.task,
            index,
            fetcher,
            db: db.clone(),
        })
    }

    /// The processor's content fetcher: local store, then peers, then the IPFS RPC if set.
    pub(crate) fn fetcher(&self) -> Arc<dyn ContentFetcher> {
        Arc::new(self.fetcher.clone())
    }

    /// Connects the network to the running processor: loads the catch-up index, starts the
    /// inbound and outbound loops and returns the network's HTTP routes and its task. The task
    /// ends on `cancel`; if the swarm stops before, it stops the node and returns the error.
    pub(crate) async fn attach(
        self,
        processor: ProcessorHandle,
        cancel: CancellationToken,
    ) -> anyhow::Result<(axum::Router, JoinHandle<anyhow::Result<()>>)> {
        // Subscribe before loading, so nothing applied in between is missed.
        let results = processor.subscribe();
        let loaded = self
            .index
            .load()
            .await
            .context("cannot load messages for catch-up")?;
        let peers = Arc::new(PeerBook::default());
        let links = Links {
            p2p: self.p2p.clone(),
            processor,
            index: self.index.clone(),
            peers: peers.clone(),
            table: PeerTable::spawn(self.db.clone(), cancel.clone()),
            verdicts: Arc::default(),
            seen: Arc::default(),
        };
        tokio::spawn(ingest::run_outbound(links.clone(), results, cancel.clone()));
        tokio::spawn(ingest::run_inbound(links, self.events, cancel.clone()));
        let redialled = peer_table::redial_known(&self.db, &self.p2p).await;
        // Peers that connected while the index was loading were refused: compare now.
        for peer in self.p2p.peers().await.unwrap_or_default() {
            if let Ok(peer) = peer.peer_id.parse() {
                let _ = self.p2p.sync_now(peer).await;
            }
        }
        tracing::info!(
            peer_id = %self.p2p.local_peer_id(),
            listen = ?self.p2p.listen_addrs().await.unwrap_or_default(),
            messages = loaded,
            known_peers_dialled = redialled,
            "p2p network started"
        );
        let routes = routes::routes(routes::NetworkApi {
            p2p: self.p2p,
            peers,
            index: self.index,
        });
        Ok((routes, tokio::spawn(watch(self.task, cancel))))
    }
}

/// The swarm is critical: if it ends on its own (a panic in the actor), the node stops too.
async fn watch(task: JoinHandle<()>, cancel: CancellationToken) -> anyhow::Result<()> {
    let ended = task.await;
    if cancel.is_cancelled() {
        return Ok(());
    }
    tracing::error!(?ended, "the p2p network stopped; shutting the node down");
    cancel.cancel();
    anyhow::bail!("the p2p network stopped")
}
