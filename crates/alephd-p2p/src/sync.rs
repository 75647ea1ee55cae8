//! What catch-up compares: messages keyed by (time, item hash), fingerprints of time ranges,
//! and the seam the node implements to answer peers ([`SyncProvider`]).
//!
//! A fingerprint is the count and the XOR of sha256(key) over a range: two ranges with the same
//! set have the same fingerprint whatever the order, and it can be updated incrementally.

use std::{collections::BTreeMap, ops::Bound, sync::Arc};

use alephd_message::ItemHash;
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

/// A message's place in catch-up: its `time` in milliseconds, then its item hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    pub time_ms: u64,
    pub hash: ItemHash,
}

impl ItemKey {
    /// The key of a message whose `time` is `time_secs` (Aleph's float seconds).
    pub fn from_secs(time_secs: f64, hash: ItemHash) -> Self {
        // Negative, NaN or absurd times clamp into range: they still sort deterministically.
        let ms = (time_secs * 1000.0).clamp(0.0, u64::MAX as f64);
        Self {
            time_ms: ms as u64,
            hash,
        }
    }

    /// What a fingerprint XORs for this key; a node may cache it instead of hashing again.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.time_ms.to_be_bytes());
        h.update(self.hash.as_str().as_bytes());
        h.finalize().into()
    }
}

/// Half-open time range `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl TimeRange {
    /// Everything up to `end_ms`.
    pub const fn until(end_ms: u64) -> Self {
        Self {
            start_ms: 0,
            end_ms,
        }
    }

    pub const fn width(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }

    pub const fn contains(&self, time_ms: u64) -> bool {
        self.start_ms <= time_ms && time_ms < self.end_ms
    }

    /// Splits into at most `parts` contiguous, non-empty ranges covering this one.
    pub fn split(&self, parts: u64) -> Vec<TimeRange> {
        let parts = parts.clamp(1, self.width().max(1));
        let step = self.width().div_ceil(parts).max(1);
        let mut out = Vec::new();
        let mut start = self.start_ms;
        while start < self.end_ms {
            let end = start.saturating_add(step).min(self.end_ms);
            out.push(TimeRange {
                start_ms: start,
                end_ms: end,
            });
            start = end;
        }
        out
    }
}

/// Order-independent summary of the keys in a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub count: u64,
    pub xor: [u8; 32],
}

impl Fingerprint {
    pub fn add(&mut self, key: &ItemKey) {
        self.add_digest(&key.digest());
    }

    /// Adds a key by its (cached) [`ItemKey::digest`].
    pub fn add_digest(&mut self, digest: &[u8; 32]) {
        self.count = self.count.saturating_add(1);
        for (a, b) in self.xor.iter_mut().zip(digest) {
            *a ^= b;
        }
    }

    /// The fingerprint of a set of keys.
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a ItemKey>) -> Self {
        let mut fp = Self::default();
        keys.into_iter().for_each(|k| fp.add(k));
        fp
    }
}

/// A provider could not answer (database error, shutting down).
#[derive(Debug, thiserror::Error)]
#[error("sync provider: {0}")]
pub struct ProviderError(pub String);

/// What the node exposes of its processed messages so peers can catch up from it, and so it
/// can compare itself with peers. Implemented by the node over its database.
///
/// Every node must derive the same key for the same message, or ranges never match: use a
/// time covered by the item hash (the `time` inside `item_content`), not the envelope `time`,
/// which a relay could change without changing the hash.
pub trait SyncProvider: Send + Sync {
    /// One fingerprint per range, in order.
    fn fingerprints<'a>(
        &'a self,
        ranges: &'a [TimeRange],
    ) -> BoxFuture<'a, Result<Vec<Fingerprint>, ProviderError>>;

    /// Keys in `range` strictly after `after` (if any), in order, at most `limit`.
    fn keys<'a>(
        &'a self,
        range: TimeRange,
        after: Option<&'a ItemKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ItemKey>, ProviderError>>;

    /// Wire JSON of the messages this node has among `hashes` (absent ones are skipped).
    fn messages<'a>(
        &'a self,
        hashes: &'a [ItemHash],
    ) -> BoxFuture<'a, Result<Vec<Bytes>, ProviderError>>;
}

/// A [`SyncProvider`] over a map in memory: for tests, tools and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct MemorySyncStore {
    inner: Arc<RwLock<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    by_key: BTreeMap<ItemKey, Bytes>,
    by_hash: BTreeMap<ItemHash, ItemKey>,
}

impl MemorySyncStore {
    /// Adds a message; returns false if its hash was already there.
    pub async fn insert(&self, key: ItemKey, wire: Bytes) -> bool {
        let mut inner = self.inner.write().await;
        if inner.by_hash.contains_key(&key.hash) {
            return false;
        }
        inner.by_hash.insert(key.hash.clone(), key.clone());
        inner.by_key.insert(key, wire);
        true
    }

    pub async fn len(&self) -> usize {
        self.inner.read().await.by_key.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    pub async fn contains(&self, hash: &ItemHash) -> bool {
        self.inner.read().await.by_hash.contains_key(hash)
    }

    /// Every key, in order.
    pub async fn keys_all(&self) -> Vec<ItemKey> {
        self.inner.read().await.by_key.keys().cloned().collect()
    }

    /// Fingerprint of everything (a cheap "state root" for tests).
    pub async fn root(&self) -> Fingerprint {
        Fingerprint::of(self.inner.read().await.by_key.keys())
    }
}

fn range_bounds(range: TimeRange) -> (Bound<ItemKey>, Bound<ItemKey>) {
    // The smallest well-shaped hash sorts first; keys are compared by time first anyway.
    let lowest = ItemHash::from_sha256_digest([0; 32]);
    (
        Bound::Included(ItemKey {
            time_ms: range.start_ms,
            hash: lowest.clone(),
        }),
        Bound::Excluded(ItemKey {
            time_ms: range.end_ms,
            hash: lowest,
        }),
    )
}

impl MemoryInner {
    fn in_range(&self, range: TimeRange) -> impl Iterator<Item = &ItemKey> {
        // CIDs ("Qm…", "bafy…") sort before hex only if their first char is smaller; filter
        // on time to stay exact whatever the hash shape.
        let start = range.start_ms.saturating_sub(1);
        self.by_key
            .range(range_bounds(TimeRange {
                start_ms: start,
                end_ms: range.end_ms.saturating_add(1),
            }))
            .map(|(k, _)| k)
            .filter(move |k| range.contains(k.time_ms))
    }
}

impl SyncProvider for MemorySyncStore {
    fn fingerprints<'a>(
        &'a self,
        ranges: &'a [TimeRange],
    ) -> BoxFuture<'a, Result<Vec<Fingerprint>, ProviderError>> {
        Box::pin(async move {
            let inner = self.inner.read().await;
            Ok(ranges
                .iter()
                .map(|r| Fingerprint::of(inner.in_range(*r)))
                .collect())
        })
    }

    fn keys<'a>(
        &'a self,
        range: TimeRange,
        after: Option<&'a ItemKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ItemKey>, ProviderError>> {
        Box::pin(async move {
            let inner = self.inner.read().await;
            Ok(inner
                .in_range(range)
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
            let inner = self.inner.read().await;
            Ok(hashes
                .iter()
                .filter_map(|h| inner.by_hash.get(h))
                .filter_map(|k| inner.by_key.get(k).cloned())
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: u64, n: u8) -> ItemKey {
        ItemKey {
            time_ms: t,
            hash: ItemHash::sha256_of([n]),
        }
    }

    #[test]
    fn split_covers_the_range_without_overlap() {
        let r = TimeRange {
            start_ms: 10,
            end_ms: 1_000,
        };
        let parts = r.split(16);
        assert!(parts.len() <= 16);
        assert_eq!(parts[0].start_ms, 10);
        assert_eq!(parts.last().unwrap().end_ms, 1_000);
        assert!(parts.windows(2).all(|w| w[0].end_ms == w[1].start_ms));
        assert_eq!(
            TimeRange {
                start_ms: 5,
                end_ms: 7
            }
            .split(16)
            .len(),
            2
        );
    }

    #[test]
    fn fingerprint_ignores_order_and_sees_differences() {
        let (a, b, c) = (key(1, 1), key(2, 2), key(3, 3));
        assert_eq!(Fingerprint::of([&a, &b]), Fingerprint::of([&b, &a]));
        assert_ne!(Fingerprint::of([&a, &b]), Fingerprint::of([&a, &c]));
    }

    #[tokio::test]
    async fn memory_store_answers_by_range() {
        let store = MemorySyncStore::default();
        for (t, n) in [(5, 1), (10, 2), (10, 3), (20, 4)] {
            store.insert(key(t, n), Bytes::from(vec![n])).await;
        }
        assert!(
            !store.insert(key(99, 1), Bytes::new()).await,
            "same hash twice"
        );
        let r = TimeRange {
            start_ms: 10,
            end_ms: 20,
        };
        let fps = store.fingerprints(&[r]).await.unwrap();
        assert_eq!(fps[0].count, 2);
        let first = store.keys(r, None, 1).await.unwrap();
        let rest = store.keys(r, first.first(), 10).await.unwrap();
        assert_eq!(first.len() + rest.len(), 2);
        assert_ne!(first[0], rest[0]);
        let msgs = store
            .messages(&[key(20, 4).hash, key(0, 9).hash])
            .await
            .unwrap();
        assert_eq!(msgs, vec![Bytes::from(vec![4])]);
    }
}
