//! The seams the node implements so the network can answer peers and check what it fetches.

use std::{fmt, sync::Arc};

use alephd_message::{ItemHash, ItemHashKind};
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::sync::SyncProvider;

/// Serves stored content (files, non-inline message content) to peers.
pub trait ContentProvider: Send + Sync {
    /// The bytes stored under `hash` if held locally and at most `limit` long.
    fn content<'a>(&'a self, hash: &'a ItemHash, limit: usize) -> BoxFuture<'a, Option<Bytes>>;
}

/// Decides whether fetched bytes really are the content of a hash. The node passes one that
/// also understands CIDs (the storage crate builds the DAG); [`Sha256Verifier`] checks
/// `storage` hashes only.
pub trait ContentVerifier: Send + Sync {
    fn verify(&self, hash: &ItemHash, bytes: &[u8]) -> bool;
}

/// Accepts bytes only under their sha256 hex hash; refuses every CID (it cannot check them).
#[derive(Debug, Default, Clone, Copy)]
pub struct Sha256Verifier;

impl ContentVerifier for Sha256Verifier {
    fn verify(&self, hash: &ItemHash, bytes: &[u8]) -> bool {
        hash.kind() == ItemHashKind::Sha256 && ItemHash::sha256_of(bytes) == *hash
    }
}

/// A node holding nothing: answers no content. For nodes that only relay gossip.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoContent;

impl ContentProvider for NoContent {
    fn content<'a>(&'a self, _: &'a ItemHash, _: usize) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async { None })
    }
}

/// Everything the network needs from the node.
#[derive(Clone)]
pub struct NodeBridge {
    pub content: Arc<dyn ContentProvider>,
    pub sync: Arc<dyn SyncProvider>,
    pub verifier: Arc<dyn ContentVerifier>,
}

impl fmt::Debug for NodeBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBridge").finish_non_exhaustive()
    }
}

/// Content in memory keyed by hash: for tests and tools.
#[derive(Debug, Default, Clone)]
pub struct MemoryContent {
    items: Arc<tokio::sync::RwLock<std::collections::HashMap<ItemHash, Bytes>>>,
}

impl MemoryContent {
    /// Stores `bytes` under their sha256 hash, returned.
    pub async fn insert_sha256(&self, bytes: Bytes) -> ItemHash {
        let hash = ItemHash::sha256_of(&bytes);
        self.insert(hash.clone(), bytes).await;
        hash
    }

    /// Stores `bytes` under any hash (also wrong ones, to test verification).
    pub async fn insert(&self, hash: ItemHash, bytes: Bytes) {
        self.items.write().await.insert(hash, bytes);
    }
}

impl ContentProvider for MemoryContent {
    fn content<'a>(&'a self, hash: &'a ItemHash, limit: usize) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let items = self.items.read().await;
            items.get(hash).filter(|b| b.len() <= limit).cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_verifier_checks_bytes_and_refuses_cids() {
        let hash = ItemHash::sha256_of(b"abc");
        assert!(Sha256Verifier.verify(&hash, b"abc"));
        assert!(!Sha256Verifier.verify(&hash, b"abd"));
        let cid = ItemHash::parse("QmZkurbY2G2hWay59yiTgQNaQxHSNzKZFt2jbnwJhQcKgV").unwrap();
        assert!(!Sha256Verifier.verify(&cid, b"abc"));
    }
}
