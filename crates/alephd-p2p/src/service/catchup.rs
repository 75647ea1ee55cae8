//! The catch-up driver: one task that runs reconciliation rounds, one peer at a time, when a
//! peer connects and on the sync timer. Messages it pulls reach the node as
//! [`MessageOrigin::CatchUp`] events, with backpressure (it waits for the node).

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use libp2p::PeerId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    event::{MessageOrigin, P2pEvent},
    handle::{P2pHandle, RemotePeer},
    metrics::bump,
    reconcile::{ReconcileLimits, reconcile},
    sync::{SyncProvider, TimeRange},
};

/// Messages dated further in the future than this are not compared (clock skew allowance).
const FUTURE_ALLOWANCE: Duration = Duration::from_secs(600);
/// Pending round requests; beyond it new ones are dropped (the timer brings them back).
const TRIGGER_CAPACITY: usize = 16;

/// The range every round compares: all of history up to a little in the future.
pub fn catch_up_range() -> TimeRange {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + FUTURE_ALLOWANCE;
    TimeRange::until(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
}

pub(super) fn spawn_driver(
    handle: P2pHandle,
    local: Arc<dyn SyncProvider>,
    events: mpsc::Sender<P2pEvent>,
    cancel: CancellationToken,
) -> mpsc::Sender<PeerId> {
    let (tx, mut rx) = mpsc::channel::<PeerId>(TRIGGER_CAPACITY);
    tokio::spawn(async move {
        loop {
            let peer = tokio::select! {
                () = cancel.cancelled() => break,
                peer = rx.recv() => match peer { Some(p) => p, None => break },
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = round(&handle, local.as_ref(), &events, peer) => {}
            }
        }
    });
    tx
}

async fn round(
    handle: &P2pHandle,
    local: &dyn SyncProvider,
    events: &mpsc::Sender<P2pEvent>,
    peer: PeerId,
) {
    let remote = RemotePeer {
        handle: handle.clone(),
        peer,
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let run = async move {
        let result = reconcile(
            local,
            &remote,
            catch_up_range(),
            ReconcileLimits::default(),
            &tx,
        )
        .await;
        drop(tx);
        result
    };
    let forward = async {
        while let Some(data) = rx.recv().await {
            let event = P2pEvent::Message {
                from: peer,
                data,
                origin: MessageOrigin::CatchUp,
            };
            if events.send(event).await.is_err() {
                break;
            }
            bump(&handle.metrics.sync_delivered);
        }
    };
    let (result, ()) = tokio::join!(run, forward);
    bump(&handle.metrics.sync_rounds);
    match result {
        Ok(report) if report.delivered > 0 => {
            tracing::info!(%peer, delivered = report.delivered, requests = report.requests, "caught up");
        }
        Ok(_) => {}
        Err(crate::reconcile::ReconcileError::Protocol(why)) => {
            tracing::warn!(%peer, why, "peer broke the sync protocol");
            let _ = handle.report_invalid(peer).await;
        }
        Err(e) => tracing::debug!(%peer, error = %e, "catch-up round failed"),
    }
}
