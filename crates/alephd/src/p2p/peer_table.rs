//! The peer table in the database: ALIVE announcements are kept (bounded), and at start the
//! node dials the P2P addresses seen in the last day, so a restart without `--bootstrap`
//! finds its network again (Aleph re-dials peers seen in the last 24 h).
//!
//! Only a peer's announcement of itself is kept: a P2P address must end in the announcing
//! peer's own id, so nobody can make this node dial a third party under their name (and the
//! Noise handshake fails anyway if the id does not match the host).

use alephd_db::{Db, PeerRecord, ops};
use alephd_p2p::{AliveAnnouncement, Multiaddr, P2pHandle, PeerId, PeerType};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Announcements waiting to be written; beyond it they are dropped (the next ALIVE comes).
const WRITE_QUEUE: usize = 256;
/// Rows kept.
const MAX_ROWS: i64 = 1_024;
/// P2P peers dialled at start, and how far back they may have been seen.
const RESTORE_DIALS: i64 = 64;
const RESTORE_WINDOW_SECS: f64 = 24.0 * 3600.0;
/// Longest address stored.
const MAX_ADDRESS: usize = 256;

/// Writes announcements to the table from its own task.
#[derive(Debug, Clone)]
pub(crate) struct PeerTable {
    writes: mpsc::Sender<PeerRecord>,
}

impl PeerTable {
    pub(crate) fn spawn(db: Db, cancel: CancellationToken) -> Self {
        let (writes, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(write_loop(db, rx, cancel));
        Self { writes }
    }

    /// Records an announcement if it is about its sender.
    pub(crate) fn alive(&self, from: PeerId, announcement: &AliveAnnouncement) {
        let Some(record) = record_of(from, announcement) else {
            return;
        };
        let _ = self.writes.try_send(record);
    }
}

fn record_of(from: PeerId, announcement: &AliveAnnouncement) -> Option<PeerRecord> {
    let address = &announcement.address;
    if address.len() > MAX_ADDRESS {
        return None;
    }
    let peer_type = match announcement.peer_type {
        PeerType::P2p => {
            address.parse::<Multiaddr>().ok()?;
            if !address.ends_with(&format!("/p2p/{from}")) {
                return None;
            }
            "P2P"
        }
        PeerType::Http => {
            if !(address.starts_with("http://") || address.starts_with("https://")) {
                return None;
            }
            "HTTP"
        }
    };
    Some(PeerRecord {
        peer_id: from.to_string(),
        peer_type: peer_type.to_owned(),
        address: address.clone(),
        last_seen: alephd_processor::now(),
    })
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<PeerRecord>, cancel: CancellationToken) {
    let mut written = 0u64;
    loop {
        let record = tokio::select! {
            () = cancel.cancelled() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        written += 1;
        let prune = written.is_multiple_of(64);
        if let Err(e) = write(&db, &record, prune).await {
            tracing::warn!(error = %e, "cannot record a peer");
        }
    }
}

async fn write(db: &Db, record: &PeerRecord, prune: bool) -> Result<(), alephd_db::DbError> {
    let mut tx = db.begin().await?;
    ops::upsert_peer(&mut tx, record).await?;
    if prune {
        ops::prune_peers(&mut tx, MAX_ROWS).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Dials the P2P peers seen recently; returns how many dials started.
pub(crate) async fn redial_known(db: &Db, p2p: &P2pHandle) -> usize {
    let since = alephd_processor::now() - RESTORE_WINDOW_SECS;
    let known = match db.read().await {
        Ok(mut conn) => ops::peers_seen_since(&mut conn, "P2P", since, RESTORE_DIALS).await,
        Err(e) => Err(e),
    };
    let known = match known {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the peer table");
            return 0;
        }
    };
    let local = p2p.local_peer_id().to_string();
    let mut dialled = 0;
    for peer in known.iter().filter(|p| p.peer_id != local) {
        if let Ok(addr) = peer.address.parse::<Multiaddr>()
            && p2p.dial(addr).await.is_ok()
        {
            dialled += 1;
        }
    }
    dialled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(address: String, peer_type: PeerType) -> AliveAnnouncement {
        AliveAnnouncement {
            address,
            interests: None,
            peer_type,
            version: None,
        }
    }

    #[test]
    fn only_self_announcements_are_kept() {
        let (me, other) = (PeerId::random(), PeerId::random());
        let own = alive(format!("/ip4/10.0.0.1/tcp/4025/p2p/{me}"), PeerType::P2p);
        assert_eq!(record_of(me, &own).unwrap().peer_type, "P2P");
        let theirs = alive(format!("/ip4/10.0.0.1/tcp/4025/p2p/{other}"), PeerType::P2p);
        assert!(record_of(me, &theirs).is_none());
        let bare = alive("/ip4/10.0.0.1/tcp/4025".to_owned(), PeerType::P2p);
        assert!(record_of(me, &bare).is_none());
        let http = alive("http://10.0.0.1:4024".to_owned(), PeerType::Http);
        assert_eq!(record_of(me, &http).unwrap().peer_type, "HTTP");
        let junk = alive("file:///etc/passwd".to_owned(), PeerType::Http);
        assert!(record_of(me, &junk).is_none());
        let long = alive(format!("http://{}", "a".repeat(300)), PeerType::Http);
        assert!(record_of(me, &long).is_none());
    }
}
