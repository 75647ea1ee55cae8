//! Content between the node's store and its peers: what the node serves ([`StoreContent`]),
//! how fetched bytes are checked ([`ContentCheck`]), and the processor's fetcher with the
//! network behind the local store ([`NetworkFetcher`]: local store → peers → HTTP peers →
//! the IPFS RPC if configured, verified, then written to the local store so this node serves it in turn).

use alephd_message::{ItemHash, ItemHashKind, ItemType};
use alephd_p2p::{ContentProvider, ContentVerifier, P2pHandle};
use alephd_processor::{ContentFetcher, FetchError, StoreFetcher};
use alephd_storage::{
    AddOptions, ContentRef, Engine, KuboRpcSource, Layout, PinMode, Store, hash_bytes,
};
use bytes::Bytes;
use futures::future::BoxFuture;

/// The UnixFS layouts a CID is checked against: `ipfs add` defaults, `--cid-version=1`
/// (raw leaves), and CIDv1 with dag-pb leaves.
const CID_LAYOUTS: [Layout; 3] = [
    Layout::V0,
    Layout::V1,
    Layout {
        raw_leaves: false,
        ..Layout::V1
    },
];

/// Serves the local store to peers.
#[derive(Debug, Clone)]
pub(crate) struct StoreContent {
    local: StoreFetcher,
}

impl StoreContent {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            local: StoreFetcher::new(store),
        }
    }
}

impl ContentProvider for StoreContent {
    fn content<'a>(&'a self, hash: &'a ItemHash, limit: usize) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let item_type = hash.item_type();
            self.local
                .fetch(item_type, hash, limit)
                .await
                .ok()
                .map(Bytes::from)
        })
    }
}

/// Checks bytes against a `storage` hash (sha256) or an `ipfs` CID (rebuilding the DAG).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ContentCheck;

impl ContentCheck {
    /// How the store must address these bytes to find them under `hash`, if they match it.
    fn engine_for(hash: &ItemHash, bytes: &[u8]) -> Option<Engine> {
        match hash.kind() {
            ItemHashKind::Sha256 => {
                (ItemHash::sha256_of(bytes) == *hash).then_some(Engine::Storage)
            }
            _ => {
                let ContentRef::Ipfs(cid) = hash.as_str().parse().ok()? else {
                    return None;
                };
                CID_LAYOUTS
                    .into_iter()
                    .find(|layout| hash_bytes(bytes, *layout).cid == cid)
                    .map(Engine::Ipfs)
            }
        }
    }
}

impl ContentVerifier for ContentCheck {
    fn verify(&self, hash: &ItemHash, bytes: &[u8]) -> bool {
        Self::engine_for(hash, bytes).is_some()
    }
}

/// The processor's content source: local store first, then the network (peers, then the
/// configured Kubo-compatible RPC for `ipfs` items).
#[derive(Debug, Clone)]
pub(crate) struct NetworkFetcher {
    local: StoreFetcher,
    store: Store,
    p2p: P2pHandle,
    ipfs: Option<KuboRpcSource>,
}

impl NetworkFetcher {
    pub(crate) fn new(store: Store, p2p: P2pHandle, ipfs: Option<KuboRpcSource>) -> Self {
        Self {
            local: StoreFetcher::new(store.clone()),
            store,
            p2p,
            ipfs,
        }
    }

    /// Fetches an `ipfs` item into the local store from the IPFS RPC (streamed and verified
    /// against its CID), kept for the grace period unless a message pins it. Returns whether
    /// it is there now.
    async fn fetch_via_ipfs_rpc(&self, hash: &ItemHash) -> bool {
        let (Some(source), Ok(ContentRef::Ipfs(cid))) =
            (&self.ipfs, hash.as_str().parse::<ContentRef>())
        else {
            return false;
        };
        match source.fetch_into(&self.store, cid, PinMode::Grace).await {
            Ok(how) => {
                tracing::debug!(%hash, rpc = source.base(), ?how, "fetched from the IPFS RPC");
                true
            }
            Err(e) => {
                tracing::info!(%hash, rpc = source.base(), error = %e, "not fetched from the IPFS RPC");
                false
            }
        }
    }

    /// Writes verified bytes into the local store (kept for the grace period unless a
    /// message pins them).
    async fn save(&self, hash: &ItemHash, bytes: Bytes) -> bool {
        let Some(engine) = ContentCheck::engine_for(hash, &bytes) else {
            return false;
        };
        let Ok(expect) = hash.as_str().parse::<ContentRef>() else {
            return false;
        };
        let size = bytes.len() as u64;
        let options = AddOptions {
            expect: Some(expect),
            ..AddOptions::new(engine, size.max(1))
        };
        match self.store.add_bytes(bytes, options).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%hash, error = %e, "cannot store content fetched from peers");
                false
            }
        }
    }
}

impl ContentFetcher for NetworkFetcher {
    fn fetch<'a>(
        &'a self,
        item_type: ItemType,
        hash: &'a ItemHash,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        Box::pin(async move {
            match self.local.fetch(item_type, hash, limit).await {
                Err(FetchError::Unavailable(_)) => {}
                found => return found,
            }
            let bytes = match self.p2p.fetch_content(hash).await {
                Ok(bytes) => bytes,
                Err(_) if self.fetch_via_ipfs_rpc(hash).await => {
                    return self.local.fetch(item_type, hash, limit).await;
                }
                Err(_) => return Err(FetchError::Unavailable(hash.as_str().to_owned())),
            };
            if bytes.len() > limit {
                return Err(FetchError::TooLarge {
                    hash: hash.as_str().to_owned(),
                    limit,
                });
            }
            self.save(hash, bytes.clone()).await;
            Ok(bytes.to_vec())
        })
    }

    fn store(&self) -> Option<&Store> {
        Some(&self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_sha256_and_cids() {
        let bytes = b"hello\n";
        let sha = ItemHash::sha256_of(bytes);
        assert!(ContentCheck.verify(&sha, bytes));
        assert!(!ContentCheck.verify(&sha, b"hello"));
        let cid = ItemHash::parse("QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN").unwrap();
        assert!(ContentCheck.verify(&cid, bytes));
        assert!(!ContentCheck.verify(&cid, b"hello"));
        // Over one chunk, so the CIDv1 root is a dag-pb node (`bafy…`).
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let v1 = ItemHash::parse(&hash_bytes(&big, Layout::V1).cid.to_string()).unwrap();
        assert!(ContentCheck.verify(&v1, &big));
        assert!(!ContentCheck.verify(&v1, &big[1..]));
    }
}
