//! The seams the node implements, with small durable implementations for standalone use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Content id of an archive: lowercase sha256 hex of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArchiveId(String);

impl ArchiveId {
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    /// Accepts exactly 64 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ArchiveId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {0} not found")]
    NotFound(ArchiveId),
    #[error("archive {id} content hashes to {actual}")]
    Mismatch { id: ArchiveId, actual: ArchiveId },
    #[error("archive store io: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SeamError(pub String);

/// Where archives live (the node: storage engine, peers, IPFS).
#[async_trait]
pub trait ArchiveStore: Send + Sync {
    async fn put(&self, bytes: Vec<u8>) -> Result<ArchiveId, ArchiveError>;
    /// Returns bytes whose hash has been checked against `id`.
    async fn get(&self, id: &ArchiveId) -> Result<Vec<u8>, ArchiveError>;
}

/// Confirmation of a message by a chain transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub chain: String,
    pub height: u64,
    pub tx_hash: String,
    /// Block time, seconds since the epoch.
    pub time: u64,
}

/// The pipeline's ingress for replayed messages.
#[async_trait]
pub trait MessageSink: Send + Sync {
    async fn deliver(&self, message: Value, confirmation: Confirmation) -> Result<(), SeamError>;
}

/// The writer's view of the node's unconfirmed messages.
#[async_trait]
pub trait UnconfirmedSource: Send + Sync {
    /// Up to `limit` unconfirmed wire messages (each has `item_hash`).
    async fn unconfirmed(&self, limit: usize) -> Result<Vec<Value>, SeamError>;
    /// The batch with these item hashes is anchored in `tx_hash`.
    async fn mark_sent(&self, item_hashes: &[String], tx_hash: &str) -> Result<(), SeamError>;
}

/// Key of a checkpoint: chain name and contract address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckpointKey {
    pub chain: String,
    pub contract: String,
}

impl CheckpointKey {
    fn as_string(&self) -> String {
        format!("{}:{}", self.chain, self.contract.to_ascii_lowercase())
    }
}

/// Last fully processed block per (chain, contract).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    async fn load(&self, key: &CheckpointKey) -> Result<Option<u64>, SeamError>;
    async fn save(&self, key: &CheckpointKey, height: u64) -> Result<(), SeamError>;
}

/// Archives as files named by their sha256 in one directory.
#[derive(Debug)]
pub struct DirArchiveStore {
    dir: PathBuf,
}

impl DirArchiveStore {
    pub fn open(dir: &Path) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }
}

#[async_trait]
impl ArchiveStore for DirArchiveStore {
    async fn put(&self, bytes: Vec<u8>) -> Result<ArchiveId, ArchiveError> {
        let id = ArchiveId::of(&bytes);
        let tmp = self.dir.join(format!("{id}.tmp"));
        tokio::fs::write(&tmp, &bytes).await?;
        tokio::fs::rename(&tmp, self.dir.join(id.as_str())).await?;
        Ok(id)
    }

    async fn get(&self, id: &ArchiveId) -> Result<Vec<u8>, ArchiveError> {
        let bytes = match tokio::fs::read(self.dir.join(id.as_str())).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArchiveError::NotFound(id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let actual = ArchiveId::of(&bytes);
        if &actual != id {
            return Err(ArchiveError::Mismatch {
                id: id.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

/// Checkpoints in one JSON file, rewritten through a temp file and a rename.
#[derive(Debug)]
pub struct FileCheckpointStore {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileCheckpointStore {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    async fn read_all(&self) -> Result<HashMap<String, u64>, SeamError> {
        match tokio::fs::read(&self.path).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                SeamError(format!(
                    "checkpoint file {} corrupt: {e}",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(SeamError(format!("reading {}: {e}", self.path.display()))),
        }
    }
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn load(&self, key: &CheckpointKey) -> Result<Option<u64>, SeamError> {
        let _g = self.lock.lock().await;
        Ok(self.read_all().await?.get(&key.as_string()).copied())
    }

    async fn save(&self, key: &CheckpointKey, height: u64) -> Result<(), SeamError> {
        let _g = self.lock.lock().await;
        let mut all = self.read_all().await?;
        all.insert(key.as_string(), height);
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| SeamError(e.to_string()))?;
        let tmp = self.path.with_extension("tmp");
        let io = |e: std::io::Error| SeamError(format!("writing {}: {e}", self.path.display()));
        let mut f = tokio::fs::File::create(&tmp).await.map_err(io)?;
        tokio::io::AsyncWriteExt::write_all(&mut f, &bytes)
            .await
            .map_err(io)?;
        f.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, &self.path).await.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn archive_store_verifies_hash() {
        let dir = tempfile::tempdir().unwrap();
        let s = DirArchiveStore::open(dir.path()).unwrap();
        let id = s.put(b"hello".to_vec()).await.unwrap();
        assert_eq!(s.get(&id).await.unwrap(), b"hello");
        std::fs::write(dir.path().join(id.as_str()), b"tampered").unwrap();
        assert!(matches!(
            s.get(&id).await,
            Err(ArchiveError::Mismatch { .. })
        ));
        let missing = ArchiveId::of(b"other");
        assert!(matches!(
            s.get(&missing).await,
            Err(ArchiveError::NotFound(_))
        ));
        assert!(ArchiveId::parse("../etc/passwd").is_none());
    }

    #[tokio::test]
    async fn checkpoint_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp.json");
        let key = CheckpointKey {
            chain: "ETH".into(),
            contract: "0xAb".into(),
        };
        FileCheckpointStore::new(&p).save(&key, 42).await.unwrap();
        assert_eq!(
            FileCheckpointStore::new(&p).load(&key).await.unwrap(),
            Some(42)
        );
    }
}
