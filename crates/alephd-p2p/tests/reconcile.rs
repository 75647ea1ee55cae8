//! Range-based reconciliation between two in-memory stores converges to the union, with
//! bounded rounds, whatever the two sets are; a lying remote is caught.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeSet;

use alephd_message::ItemHash;
use alephd_p2p::{
    Fingerprint, ItemKey, MemorySyncStore, ProviderError, ReconcileError, ReconcileLimits,
    SyncProvider, TimeRange, reconcile,
};
use bytes::Bytes;
use futures::future::BoxFuture;
use proptest::prelude::*;
use tokio::sync::mpsc;

fn key(time_ms: u64, n: u32) -> ItemKey {
    ItemKey {
        time_ms,
        hash: ItemHash::sha256_of(n.to_be_bytes()),
    }
}

/// The wire form carries the key so the receiving side can store it.
fn wire(k: &ItemKey) -> Bytes {
    Bytes::from(format!("{} {}", k.time_ms, k.hash.as_str()))
}

fn unwire(b: &[u8]) -> ItemKey {
    let s = std::str::from_utf8(b).unwrap();
    let (t, h) = s.split_once(' ').unwrap();
    ItemKey {
        time_ms: t.parse().unwrap(),
        hash: ItemHash::parse(h).unwrap(),
    }
}

async fn store_of(keys: &BTreeSet<ItemKey>) -> MemorySyncStore {
    let store = MemorySyncStore::default();
    for k in keys {
        store.insert(k.clone(), wire(k)).await;
    }
    store
}

/// Pulls from `remote` into `local` until a round finds nothing; returns the rounds run.
async fn pull(
    local: &MemorySyncStore,
    remote: &dyn SyncProvider,
    limits: ReconcileLimits,
) -> usize {
    for round in 1..=20 {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let sink = local.clone();
        let consumer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                sink.insert(unwire(&b), b).await;
            }
        });
        let report = reconcile(local, remote, TimeRange::until(1 << 40), limits, &tx)
            .await
            .unwrap();
        drop(tx);
        consumer.await.unwrap();
        if report.missing == 0 {
            return round;
        }
    }
    panic!("no convergence in 20 rounds");
}

fn small_limits() -> ReconcileLimits {
    ReconcileLimits {
        fanout: 4,
        leaf_size: 3,
        page_size: 2,
        fetch_batch: 2,
        max_fetch_per_round: 1_000,
    }
}

/// Message ids drawn from a shared universe; a message's time is a function of its id (one
/// hash, one message), clustered on a few milliseconds for a third of them so equal-time
/// buckets (unsplittable, paged) occur.
fn key_set() -> impl Strategy<Value = BTreeSet<u32>> {
    proptest::collection::btree_set(0u32..400, 0..150)
}

fn keyed(n: u32) -> ItemKey {
    let time = if n.is_multiple_of(3) {
        u64::from(n % 8)
    } else {
        u64::from(n).wrapping_mul(2_654_435_761) % 1_000_000
    };
    key(time, n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn both_sides_converge_to_the_union(a in key_set(), b in key_set(), small in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let a: BTreeSet<ItemKey> = a.into_iter().map(keyed).collect();
            let b: BTreeSet<ItemKey> = b.into_iter().map(keyed).collect();
            let limits = if small { small_limits() } else { ReconcileLimits::default() };
            let (sa, sb) = (store_of(&a).await, store_of(&b).await);
            pull(&sa, &sb, limits).await;
            pull(&sb, &sa, limits).await;
            let union: Vec<ItemKey> = a.union(&b).cloned().collect();
            prop_assert_eq!(sa.keys_all().await, union.clone());
            prop_assert_eq!(sb.keys_all().await, union);
            prop_assert_eq!(sa.root().await, sb.root().await);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn equal_sets_cost_one_request_and_a_cap_resumes_next_round() {
    let keys: BTreeSet<ItemKey> = (0..5_000).map(|i| key(u64::from(i) * 37, i)).collect();
    let full = store_of(&keys).await;
    let copy = store_of(&keys).await;
    let (tx, _rx) = mpsc::channel(1);
    let report = reconcile(
        &copy,
        &full,
        TimeRange::until(1 << 40),
        ReconcileLimits::default(),
        &tx,
    )
    .await
    .unwrap();
    assert_eq!((report.requests, report.missing), (1, 0));

    let empty = MemorySyncStore::default();
    let limits = ReconcileLimits {
        max_fetch_per_round: 1_000,
        ..ReconcileLimits::default()
    };
    let rounds = pull(&empty, &full, limits).await;
    assert_eq!(empty.root().await, full.root().await);
    assert!(
        rounds >= 5,
        "the cap splits the work over rounds ({rounds})"
    );
}

/// A remote that answers keys out of order.
struct Liar(MemorySyncStore);

impl SyncProvider for Liar {
    fn fingerprints<'a>(
        &'a self,
        r: &'a [TimeRange],
    ) -> BoxFuture<'a, Result<Vec<Fingerprint>, ProviderError>> {
        self.0.fingerprints(r)
    }
    fn keys<'a>(
        &'a self,
        range: TimeRange,
        after: Option<&'a ItemKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ItemKey>, ProviderError>> {
        Box::pin(async move {
            let mut keys = self.0.keys(range, after, limit).await?;
            keys.reverse();
            Ok(keys)
        })
    }
    fn messages<'a>(
        &'a self,
        h: &'a [ItemHash],
    ) -> BoxFuture<'a, Result<Vec<Bytes>, ProviderError>> {
        self.0.messages(h)
    }
}

#[tokio::test]
async fn a_remote_breaking_the_protocol_is_detected() {
    let keys: BTreeSet<ItemKey> = (0..10).map(|i| key(5, i)).collect();
    let liar = Liar(store_of(&keys).await);
    let (tx, _rx) = mpsc::channel(100);
    let result = reconcile(
        &MemorySyncStore::default(),
        &liar,
        TimeRange::until(100),
        small_limits(),
        &tx,
    )
    .await;
    assert!(
        matches!(result, Err(ReconcileError::Protocol(_))),
        "{result:?}"
    );
}
