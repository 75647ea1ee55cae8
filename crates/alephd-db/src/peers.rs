//! The peer table: what other nodes announced about themselves (their P2P multiaddr and HTTP
//! API) and when. The network decides what to store and whom to dial; this only keeps it.

use crate::{Conn, DbError};

/// One announced address of one peer.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PeerRecord {
    pub peer_id: String,
    /// `P2P` or `HTTP` (Aleph's ALIVE `peer_type`).
    pub peer_type: String,
    pub address: String,
    /// UNIX seconds.
    pub last_seen: f64,
}

/// Records (or refreshes) an announced address.
pub async fn upsert_peer(conn: &mut Conn, p: &PeerRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO peers (peer_id, peer_type, address, last_seen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (peer_id, peer_type) DO UPDATE SET address = excluded.address, \
         last_seen = excluded.last_seen",
    )
    .bind(&p.peer_id)
    .bind(&p.peer_type)
    .bind(&p.address)
    .bind(p.last_seen)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Peers of `peer_type` seen at or after `since`, most recent first, at most `limit`.
pub async fn peers_seen_since(
    conn: &mut Conn,
    peer_type: &str,
    since: f64,
    limit: i64,
) -> Result<Vec<PeerRecord>, DbError> {
    Ok(sqlx::query_as::<_, PeerRecord>(
        "SELECT peer_id, peer_type, address, last_seen FROM peers \
         WHERE peer_type = $1 AND last_seen >= $2 ORDER BY last_seen DESC LIMIT $3",
    )
    .bind(peer_type)
    .bind(since)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Keeps only the `keep` most recently seen rows; returns how many were removed.
pub async fn prune_peers(conn: &mut Conn, keep: i64) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM peers WHERE rowid NOT IN \
         (SELECT rowid FROM peers ORDER BY last_seen DESC LIMIT $1)",
    )
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    fn peer(id: &str, last_seen: f64) -> PeerRecord {
        PeerRecord {
            peer_id: id.to_owned(),
            peer_type: "P2P".to_owned(),
            address: format!("/ip4/127.0.0.1/tcp/4025/p2p/{id}"),
            last_seen,
        }
    }

    #[tokio::test]
    async fn upsert_query_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        for (id, seen) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
            upsert_peer(&mut tx, &peer(id, seen)).await.unwrap();
        }
        upsert_peer(&mut tx, &peer("a", 4.0)).await.unwrap();
        let recent = peers_seen_since(&mut tx, "P2P", 2.0, 10).await.unwrap();
        let ids: Vec<&str> = recent.iter().map(|p| p.peer_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert!(
            peers_seen_since(&mut tx, "HTTP", 0.0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(prune_peers(&mut tx, 2).await.unwrap(), 1);
        let left = peers_seen_since(&mut tx, "P2P", 0.0, 10).await.unwrap();
        assert_eq!(left.len(), 2);
        tx.commit().await.unwrap();
    }
}
