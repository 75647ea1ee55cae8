//! Where non-inline content comes from: the seam the storage engine implements.
//!
//! A fetcher returns the bytes stored under an item hash (`storage`: sha256 of the bytes;
//! `ipfs`: a CID). The processor re-checks sha256 items itself; for CIDs it relies on the
//! fetcher, which builds the DAG and so must verify the CID it serves.

use std::{collections::HashMap, sync::Arc};

use alephd_message::{ItemHash, ItemType};
use futures::future::BoxFuture;
use tokio::sync::RwLock;

/// Largest content a message may have (same as the inline limit's order, in bytes): content
/// beyond it is rejected before being parsed.
pub const MAX_FETCHED_CONTENT: usize = 4 * 1024 * 1024;

/// Fetching content failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Not available here or from peers now; worth retrying later.
    #[error("content {0} is not available")]
    Unavailable(String),
    /// The content exists but is larger than the node accepts.
    #[error("content {hash} is larger than {limit} bytes")]
    TooLarge { hash: String, limit: usize },
}

/// Reads message content by item hash (local store, then peers, then IPFS).
pub trait ContentFetcher: Send + Sync + std::fmt::Debug {
    /// The bytes stored under `hash`, at most `limit` of them.
    fn fetch<'a>(
        &'a self,
        item_type: ItemType,
        hash: &'a ItemHash,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>>;

    /// The local content store files are pinned in, when this fetcher reads one: STORE
    /// messages need their file there (else they wait, code 4).
    fn store(&self) -> Option<&alephd_storage::Store> {
        None
    }
}

/// A node without a content store yet: every non-inline message waits (code 3) and is
/// eventually rejected. The daemon replaces it with the storage engine's fetcher.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoContentStore;

impl ContentFetcher for NoContentStore {
    fn fetch<'a>(
        &'a self,
        _item_type: ItemType,
        hash: &'a ItemHash,
        _limit: usize,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        Box::pin(async move { Err(FetchError::Unavailable(hash.as_str().to_owned())) })
    }
}

/// Content held in memory, keyed by item hash: for tests and tools that pre-load content.
#[derive(Debug, Default, Clone)]
pub struct MemoryContent {
    items: Arc<RwLock<HashMap<String, Vec<u8>>>>,
}

impl MemoryContent {
    /// Stores `bytes` under the sha256 item hash of the bytes, and returns that hash.
    pub async fn insert_sha256(&self, bytes: Vec<u8>) -> ItemHash {
        let hash = ItemHash::sha256_of(&bytes);
        self.items
            .write()
            .await
            .insert(hash.as_str().to_owned(), bytes);
        hash
    }

    /// Stores `bytes` under an arbitrary hash (for CIDs computed elsewhere).
    pub async fn insert(&self, hash: &ItemHash, bytes: Vec<u8>) {
        self.items
            .write()
            .await
            .insert(hash.as_str().to_owned(), bytes);
    }
}

impl ContentFetcher for MemoryContent {
    fn fetch<'a>(
        &'a self,
        _item_type: ItemType,
        hash: &'a ItemHash,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        Box::pin(async move {
            let items = self.items.read().await;
            let bytes = items
                .get(hash.as_str())
                .ok_or_else(|| FetchError::Unavailable(hash.as_str().to_owned()))?;
            if bytes.len() > limit {
                return Err(FetchError::TooLarge {
                    hash: hash.as_str().to_owned(),
                    limit,
                });
            }
            Ok(bytes.clone())
        })
    }
}

/// The node's content store (`alephd-storage`): message content uploaded with
/// `storage/add_json`, `ipfs/add_json` or fetched from peers. The store addresses items by
/// their hash (sha256 or CID), so what it returns is what the hash names.
#[derive(Debug, Clone)]
pub struct StoreFetcher {
    store: alephd_storage::Store,
}

impl StoreFetcher {
    pub fn new(store: alephd_storage::Store) -> Self {
        Self { store }
    }

    async fn read(&self, hash: &ItemHash, limit: usize) -> Result<Vec<u8>, FetchError> {
        let unavailable = || FetchError::Unavailable(hash.as_str().to_owned());
        let target: alephd_storage::ContentRef =
            hash.as_str().parse().map_err(|_| unavailable())?;
        let stat = self
            .store
            .stat(&target)
            .await
            .map_err(|_| unavailable())?
            .ok_or_else(unavailable)?;
        if stat.size > limit as u64 {
            return Err(FetchError::TooLarge {
                hash: hash.as_str().to_owned(),
                limit,
            });
        }
        let mut stream = self
            .store
            .read(&target, 0..stat.size)
            .await
            .map_err(|_| unavailable())?;
        let mut bytes = Vec::with_capacity(stat.size as usize);
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            bytes.extend_from_slice(&chunk.map_err(|_| unavailable())?);
            if bytes.len() > limit {
                return Err(FetchError::TooLarge {
                    hash: hash.as_str().to_owned(),
                    limit,
                });
            }
        }
        Ok(bytes)
    }
}

impl ContentFetcher for StoreFetcher {
    fn fetch<'a>(
        &'a self,
        _item_type: ItemType,
        hash: &'a ItemHash,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        Box::pin(self.read(hash, limit))
    }

    fn store(&self) -> Option<&alephd_storage::Store> {
        Some(&self.store)
    }
}
