//! [`P2pService`]: the task that owns the libp2p swarm. Everything else talks to it through a
//! [`P2pHandle`] (bounded commands with reply channels) and hears from it through bounded
//! [`P2pEvent`]s. It never blocks on the node: answers to peers run in their own tasks.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    gossipsub::IdentTopic,
    identity::Keypair,
    noise,
    request_response::{OutboundRequestId, ResponseChannel},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tokio::{
    sync::{Semaphore, mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    P2pConfig,
    bridge::NodeBridge,
    event::P2pEvent,
    handle::{Command, P2pHandle, RequestError},
    metrics::P2pMetrics,
    protocol::Response,
};

mod behaviour;
mod catchup;
mod commands;
mod inbound;
mod peers;
mod swarm_events;

use behaviour::Behaviour;
pub use behaviour::BehaviourError;
pub use catchup::catch_up_range;

/// Starting the network failed.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error(transparent)]
    Config(#[from] crate::P2pConfigError),
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    #[error("transport setup: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

/// The running network service; see [`P2pService::spawn`].
#[derive(Debug)]
pub struct P2pService {
    pub handle: P2pHandle,
    pub events: mpsc::Receiver<P2pEvent>,
    pub task: JoinHandle<()>,
}

impl P2pService {
    /// Builds the swarm, binds the listen address (waiting for the bind) and starts the actor,
    /// which stops when `cancel` fires.
    pub async fn spawn(
        config: P2pConfig,
        keypair: Keypair,
        node: NodeBridge,
        cancel: CancellationToken,
    ) -> Result<Self, P2pError> {
        config.validate()?;
        let listen = config.listen_multiaddr()?;
        let mut swarm = build_swarm(keypair, &config)?;
        swarm
            .listen_on(listen.clone())
            .map_err(|e| P2pError::Listen {
                addr: listen.to_string(),
                reason: e.to_string(),
            })?;
        let listen_addrs = wait_for_listen(&mut swarm, &listen).await?;

        let capacity = config.limits.channel_capacity;
        let (commands_tx, commands_rx) = mpsc::channel(capacity);
        let (events_tx, events_rx) = mpsc::channel(capacity);
        let metrics = Arc::new(P2pMetrics::default());
        let handle = P2pHandle::new(
            commands_tx,
            *swarm.local_peer_id(),
            metrics.clone(),
            node.verifier.clone(),
            &config,
        );
        let sync_tx = catchup::spawn_driver(
            handle.clone(),
            node.sync.clone(),
            events_tx.clone(),
            cancel.clone(),
        );
        let (responses_tx, responses_rx) = mpsc::channel(config.limits.max_inbound_requests);
        let mut actor = Actor {
            messages_topic: IdentTopic::new(config.topics.messages.clone()),
            alive_topic: IdentTopic::new(config.topics.alive.clone()),
            bootstrap: config
                .bootstrap_multiaddrs()?
                .into_iter()
                .map(|a| (a, None))
                .collect(),
            inbound_permits: Arc::new(Semaphore::new(config.limits.max_inbound_requests)),
            swarm,
            config,
            node,
            events: events_tx,
            metrics,
            pending: HashMap::new(),
            strikes: HashMap::new(),
            banned: HashMap::new(),
            flood: HashMap::new(),
            agents: HashMap::new(),
            remote_addrs: HashMap::new(),
            listen_addrs,
            responses_tx,
            sync_tx,
            sync_cursor: 0,
        };
        actor.subscribe()?;
        actor.dial_bootstrap();
        let task = tokio::spawn(actor.run(commands_rx, responses_rx, cancel));
        Ok(Self {
            handle,
            events: events_rx,
            task,
        })
    }
}

fn build_swarm(keypair: Keypair, config: &P2pConfig) -> Result<Swarm<Behaviour>, P2pError> {
    let transport = |e: &dyn std::fmt::Display| P2pError::Transport(e.to_string());
    let behaviour = Behaviour::new(&keypair, config)?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport(&e))?
        .with_dns()
        .map_err(|e| transport(&e))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok(swarm)
}

/// Polls the swarm until the listener is bound, so a taken port fails `spawn`.
async fn wait_for_listen(
    swarm: &mut Swarm<Behaviour>,
    listen: &Multiaddr,
) -> Result<Vec<Multiaddr>, P2pError> {
    let fail = |reason: String| P2pError::Listen {
        addr: listen.to_string(),
        reason,
    };
    let wait = async {
        loop {
            match swarm.next().await {
                Some(SwarmEvent::NewListenAddr { address, .. }) => return Ok(vec![address]),
                Some(SwarmEvent::ListenerError { error, .. }) => {
                    return Err(fail(error.to_string()));
                }
                Some(SwarmEvent::ListenerClosed {
                    reason: Err(error), ..
                }) => return Err(fail(error.to_string())),
                Some(_) => continue,
                None => return Err(fail("swarm ended".to_owned())),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| fail("timed out".to_owned()))?
}

pub(crate) struct Actor {
    swarm: Swarm<Behaviour>,
    config: P2pConfig,
    node: NodeBridge,
    events: mpsc::Sender<P2pEvent>,
    metrics: Arc<P2pMetrics>,
    messages_topic: IdentTopic,
    alive_topic: IdentTopic,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, RequestError>>>,
    /// Strikes per peer and when the last one came; forgotten after a quiet period.
    strikes: HashMap<PeerId, (u32, Instant)>,
    banned: HashMap<PeerId, Instant>,
    /// Gossip count per peer in the current second: (second, count).
    flood: HashMap<PeerId, (u64, u32)>,
    agents: HashMap<PeerId, String>,
    /// Where each connected peer is reached (one address per open connection).
    remote_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Bootstrap addresses and the peer found behind each, once known.
    bootstrap: Vec<(Multiaddr, Option<PeerId>)>,
    listen_addrs: Vec<Multiaddr>,
    inbound_permits: Arc<Semaphore>,
    responses_tx: mpsc::Sender<(ResponseChannel<Response>, Response)>,
    sync_tx: mpsc::Sender<PeerId>,
    sync_cursor: usize,
}

impl Actor {
    fn subscribe(&mut self) -> Result<(), P2pError> {
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        for topic in [&self.messages_topic, &self.alive_topic] {
            gossip
                .subscribe(topic)
                .map_err(|e| P2pError::Transport(e.to_string()))?;
        }
        Ok(())
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut responses: mpsc::Receiver<(ResponseChannel<Response>, Response)>,
        cancel: CancellationToken,
    ) {
        let secs = Duration::from_secs;
        let mut alive = tokio::time::interval(secs(self.config.alive_interval_secs));
        let mut discovery = tokio::time::interval(secs(self.config.discovery_interval_secs));
        let mut sync = tokio::time::interval(secs(self.config.sync_interval_secs));
        let mut scores = tokio::time::interval(secs(1));
        for timer in [&mut alive, &mut discovery, &mut sync, &mut scores] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer.reset(); // the first tick after one period, not at once
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(command) = commands.recv() => self.on_command(command),
                Some((channel, response)) = responses.recv() => {
                    // The peer may have gone; nothing to do then.
                    let _ = self.swarm.behaviour_mut().exchange.send_response(channel, response);
                }
                _ = alive.tick() => self.announce_alive(),
                _ = discovery.tick() => self.discover(),
                _ = sync.tick() => self.sync_next_peer(),
                _ = scores.tick() => self.check_scores(),
            }
        }
        tracing::debug!(peer = %self.swarm.local_peer_id(), "p2p service stopped");
    }

    fn sync_next_peer(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if peers.is_empty() {
            return;
        }
        self.sync_cursor = self.sync_cursor.wrapping_add(1);
        let _ = self.sync_tx.try_send(peers[self.sync_cursor % peers.len()]);
    }

    fn emit(&self, event: P2pEvent) -> bool {
        self.events.try_send(event).is_ok()
    }
}
