//! The catch-up view of the node's messages: every applied message as an [`ItemKey`]
//! (`content.time` in ms, item hash), kept in memory so fingerprints of time ranges are cheap.
//!
//! Loaded from the database at start, then kept current from the processor's events (applied
//! messages are added, the targets of an applied FORGET removed). Until loaded it answers
//! nothing, so a peer never sees a half-empty node. It only mirrors the database: the
//! messages themselves are read from there when a peer asks for them.

use std::collections::{BTreeMap, HashMap};

use alephd_db::{Cursor, Db, MessageFilter, MessageRecord, SortOrder, ops};
use alephd_message::ItemHash;
use alephd_p2p::{Fingerprint, ItemKey, ProviderError, SyncProvider, TimeRange};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::wire::wire_json;

/// Rows read per query while loading.
const LOAD_PAGE: i64 = 2_000;

/// The index; share it behind an `Arc`.
#[derive(Debug)]
pub(crate) struct SyncIndex {
    db: Db,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    ready: bool,
    /// Each key with its fingerprint digest, computed once.
    keys: BTreeMap<ItemKey, [u8; 32]>,
    by_hash: HashMap<ItemHash, u64>,
}

impl State {
    fn insert(&mut self, key: ItemKey) {
        if let Some(old) = self.by_hash.insert(key.hash.clone(), key.time_ms) {
            self.keys.remove(&ItemKey {
                time_ms: old,
                hash: key.hash.clone(),
            });
        }
        let digest = key.digest();
        self.keys.insert(key, digest);
    }

    fn remove(&mut self, hash: &ItemHash) {
        if let Some(time_ms) = self.by_hash.remove(hash) {
            self.keys.remove(&ItemKey {
                time_ms,
                hash: hash.clone(),
            });
        }
    }

    /// Keys with `range.start_ms <= time < range.end_ms`, in order. Hashes of different
    /// shapes (hex, `Qm…`, `bafy…`) sort differently, so start one millisecond early and
    /// filter on time rather than trusting a hash lower bound.
    fn in_range(&self, range: TimeRange) -> impl Iterator<Item = (&ItemKey, &[u8; 32])> {
        let start = ItemKey {
            time_ms: range.start_ms.saturating_sub(1),
            hash: ItemHash::from_sha256_digest([0; 32]),
        };
        self.keys
            .range(start..)
            .take_while(move |(k, _)| k.time_ms < range.end_ms)
            .filter(move |(k, _)| k.time_ms >= range.start_ms)
    }

    fn fingerprint(&self, range: TimeRange) -> Fingerprint {
        let mut fp = Fingerprint::default();
        self.in_range(range).for_each(|(_, d)| fp.add_digest(d));
        fp
    }
}

/// The part of a message's content the key needs.
#[derive(Deserialize)]
struct ContentTime {
    time: Option<f64>,
}

/// A FORGET's targets.
#[derive(Deserialize)]
struct ForgetTargets {
    #[serde(default)]
    hashes: Vec<String>,
}

/// The catch-up key of an applied message: `content.time` (covered by the item hash, so every
/// node derives the same key), or the envelope time when the content has none.
pub(crate) fn key_of(record: &MessageRecord) -> Option<ItemKey> {
    let hash = ItemHash::parse(&record.item_hash).ok()?;
    let time = serde_json::from_str::<ContentTime>(&record.content)
        .ok()
        .and_then(|c| c.time)
        .unwrap_or(record.time);
    Some(ItemKey::from_secs(time, hash))
}

impl SyncIndex {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            state: RwLock::new(State::default()),
        }
    }

    /// Reads every applied message from the database (again, if already loaded: the index
    /// then matches the database exactly) and starts answering peers.
    pub(crate) async fn load(&self) -> Result<usize, alephd_db::DbError> {
        let filter = MessageFilter {
            sort_order: SortOrder::Ascending,
            ..MessageFilter::default()
        };
        let mut keys = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = {
                let mut conn = self.db.read().await?;
                ops::find_messages(&mut conn, &filter, LOAD_PAGE, 1, cursor.as_ref()).await?
            };
            let Some(last) = page.last() else { break };
            cursor = Some(Cursor {
                time: last.time,
                item_hash: last.item_hash.clone(),
            });
            keys.extend(page.iter().filter_map(key_of));
            if page.len() < LOAD_PAGE as usize {
                break;
            }
        }
        // A fresh state replaces the old one, so messages the database no longer holds
        // (removed, forgotten by paths the events do not show) leave the index too. Results
        // committed after the scan passed them are still queued for `applied`.
        let mut fresh = State {
            ready: true,
            ..State::default()
        };
        keys.into_iter().for_each(|k| fresh.insert(k));
        let count = fresh.keys.len();
        *self.state.write().await = fresh;
        Ok(count)
    }

    /// An applied message (a processed event).
    pub(crate) async fn applied(&self, record: &MessageRecord) {
        let Some(key) = key_of(record) else { return };
        let mut state = self.state.write().await;
        state.insert(key);
        if record.message_type == "FORGET"
            && let Ok(forget) = serde_json::from_str::<ForgetTargets>(&record.content)
        {
            for target in forget.hashes.iter().filter_map(|h| ItemHash::parse(h).ok()) {
                state.remove(&target);
            }
        }
    }

    /// How many messages the index holds.
    pub(crate) async fn len(&self) -> usize {
        self.state.read().await.keys.len()
    }

    async fn ready(&self) -> Result<tokio::sync::RwLockReadGuard<'_, State>, ProviderError> {
        let state = self.state.read().await;
        if state.ready {
            Ok(state)
        } else {
            Err(ProviderError(
                "the node is still loading its messages".to_owned(),
            ))
        }
    }
}

impl SyncProvider for SyncIndex {
    fn fingerprints<'a>(
        &'a self,
        ranges: &'a [TimeRange],
    ) -> BoxFuture<'a, Result<Vec<Fingerprint>, ProviderError>> {
        Box::pin(async move {
            let state = self.ready().await?;
            Ok(ranges.iter().map(|r| state.fingerprint(*r)).collect())
        })
    }

    fn keys<'a>(
        &'a self,
        range: TimeRange,
        after: Option<&'a ItemKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ItemKey>, ProviderError>> {
        Box::pin(async move {
            let state = self.ready().await?;
            Ok(state
                .in_range(range)
                .map(|(k, _)| k)
                .filter(|k| after.is_none_or(|a| *k > a))
                .take(limit)
                .cloned()
                .collect())
        })
    }

    fn messages<'a>(
        &'a self,
        hashes: &'a [ItemHash],
    ) -> BoxFuture<'a, Result<Vec<Bytes>, ProviderError>> {
        Box::pin(async move {
            let failed = |e: alephd_db::DbError| ProviderError(e.to_string());
            let filter = MessageFilter {
                hashes: hashes.iter().map(|h| h.as_str().to_owned()).collect(),
                ..MessageFilter::default()
            };
            let mut conn = self.db.read().await.map_err(failed)?;
            let records = ops::find_messages(&mut conn, &filter, 0, 1, None)
                .await
                .map_err(failed)?;
            Ok(records.iter().map(wire_json).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use alephd_message::{
        Address, MessageType, UnsignedMessage,
        signature::{EthAccount, Signer},
    };
    use serde_json::json;

    use super::*;
    use crate::p2p::wire;

    /// An applied POST as the processor would store it, with `content.time` = `time`.
    fn applied(signer: &EthAccount, n: u32, time: f64) -> MessageRecord {
        let content =
            json!({"address": signer.address(), "time": time, "type": "t", "content": {"n": n}});
        let unsigned = UnsignedMessage::inline(
            signer.chain(),
            Address::new(signer.address()),
            MessageType::Post,
            &content,
            time + 1.0, // the envelope time differs: the key must not use it
        )
        .unwrap();
        let m = signer.sign_message(unsigned).unwrap();
        MessageRecord {
            item_hash: m.item_hash().as_str().to_owned(),
            sender: m.sender().as_str().to_owned(),
            chain: m.chain().as_str().to_owned(),
            signature: m.signature().map(str::to_owned),
            message_type: "POST".to_owned(),
            item_type: "inline".to_owned(),
            item_content: m.item_content().map(str::to_owned),
            content: content.to_string(),
            time: m.time(),
            channel: None,
            owner: signer.address().to_owned(),
            content_type: Some("t".to_owned()),
            content_key: None,
            content_ref: None,
            content_item_hash: None,
            payment_type: None,
            size: 10,
            reception_time: 0.0,
        }
    }

    #[tokio::test]
    async fn loads_from_the_database_and_serves_wire_messages() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let signer = EthAccount::generate();
        let records: Vec<_> = (0..3)
            .map(|n| applied(&signer, n, 100.0 + f64::from(n)))
            .collect();
        let mut tx = db.begin().await.unwrap();
        for r in &records {
            ops::insert_message(&mut tx, r, &[]).await.unwrap();
        }
        tx.commit().await.unwrap();

        let index = SyncIndex::new(db.clone());
        assert!(
            index
                .fingerprints(&[TimeRange::until(u64::MAX)])
                .await
                .is_err(),
            "not loaded"
        );
        assert_eq!(index.load().await.unwrap(), 3);
        let second = TimeRange {
            start_ms: 101_000,
            end_ms: 102_000,
        };
        let keys = index.keys(second, None, 10).await.unwrap();
        assert_eq!(keys.len(), 1, "keyed by content.time");
        assert_eq!(keys[0].hash.as_str(), records[1].item_hash);

        // What a peer gets back parses as the same message.
        let wire = index.messages(&[keys[0].hash.clone()]).await.unwrap();
        let parsed = wire::decode(&wire[0]).unwrap();
        assert_eq!(parsed.item_hash().as_str(), records[1].item_hash);
        assert_eq!(wire_json(&records[1]), wire[0], "same bytes on every node");

        // A reload follows the database, deletions included.
        let mut tx = db.begin().await.unwrap();
        ops::delete_message(&mut tx, &records[1].item_hash)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(index.load().await.unwrap(), 2);
        assert!(index.keys(second, None, 10).await.unwrap().is_empty());
    }

    fn key(time_ms: u64, n: u8) -> ItemKey {
        ItemKey {
            time_ms,
            hash: ItemHash::sha256_of([n]),
        }
    }

    #[test]
    fn ranges_are_half_open_and_removal_is_by_hash() {
        let mut state = State::default();
        for (t, n) in [(5, 1), (10, 2), (10, 3), (20, 4)] {
            state.insert(key(t, n));
        }
        let r = TimeRange {
            start_ms: 10,
            end_ms: 20,
        };
        assert_eq!(state.in_range(r).count(), 2);
        let cached = state.fingerprint(r);
        assert_eq!(cached, Fingerprint::of(state.in_range(r).map(|(k, _)| k)));
        assert_eq!(cached.count, 2);
        state.remove(&key(0, 2).hash);
        assert_eq!(state.in_range(r).count(), 1);
        // Re-inserting a hash under another time moves it.
        state.insert(key(30, 3));
        assert_eq!(state.in_range(r).count(), 0);
        assert_eq!(state.keys.len(), 3);
    }

    #[test]
    fn cid_hashes_are_found_at_range_edges() {
        let mut state = State::default();
        let cid = ItemHash::parse("QmZkurbY2G2hWay59yiTgQNaQxHSNzKZFt2jbnwJhQcKgV").unwrap();
        state.insert(ItemKey {
            time_ms: 10,
            hash: cid,
        });
        let r = TimeRange {
            start_ms: 10,
            end_ms: 11,
        };
        assert_eq!(state.in_range(r).count(), 1);
    }
}
