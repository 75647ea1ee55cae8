//! The seams the node implements, with small durable implementations for standalone use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Content id of an archive: the sha256 hex of its bytes ([`DirArchiveStore`]) or an IPFS CID
/// (the node's store: `Qm…` CIDv0 as `ipfs add` makes, or a base32 CIDv1). Which one a store
/// accepts, and how it checks bytes against it, is the store's business; parsing here only
/// guarantees a short, path-safe token, since the id arrives from the chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArchiveId(String);

impl ArchiveId {
    /// The sha256 id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    /// Accepts a sha256 hex id (64 lowercase hex), a CIDv0 (`Qm` + 44 base58 characters) or a
    /// base32 CIDv1 (`b` + 50..=100 lowercase base32 characters).
    pub fn parse(s: &str) -> Option<Self> {
        let sha = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let v0 = s.len() == 46
            && s.starts_with("Qm")
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() && !b"0OIl".contains(&b));
        let v1 = (51..=101).contains(&s.len())
            && s.starts_with('b')
            && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
        (sha || v0 || v1).then(|| Self(s.to_owned()))
    }

    /// Whether this is a sha256 hex id (as opposed to a CID).
    pub fn is_sha256(&self) -> bool {
        self.0.len() == 64
            && self
                .0
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
    /// Not here nor at any source we asked: worth asking again later.
    #[error("archive {0} not found")]
    NotFound(ArchiveId),
    /// Bytes that do not hash to the id: never applied.
    #[error("archive {id} content hashes to {actual}")]
    Mismatch { id: ArchiveId, actual: String },
    /// An id this store cannot address (e.g. a CID given to a sha256 directory store).
    #[error("archive id {0} is not addressable by this store")]
    Unsupported(ArchiveId),
    #[error("archive store io: {0}")]
    Io(#[from] std::io::Error),
    /// Any other failure of the store or of a remote source (retried).
    #[error("archive store: {0}")]
    Backend(String),
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

/// How replayed messages reached the chain, which decides how they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// From an archive anchored by an authorized emitter: signed messages, verified as usual.
    Archive,
    /// Built from a `MessageEvent`: unsigned, authenticated by the transaction's sender.
    SmartContract,
}

/// The pipeline's ingress for replayed messages.
#[async_trait]
pub trait MessageSink: Send + Sync {
    /// Queues wire messages (JSON values from the chain: untrusted shapes) confirmed by
    /// `confirmation`. Must be idempotent: a pass interrupted by an error delivers again.
    async fn deliver(
        &self,
        messages: Vec<Value>,
        provenance: Provenance,
        confirmation: Confirmation,
    ) -> Result<(), SeamError>;
}

/// The writer's view of the node's unconfirmed messages.
#[async_trait]
pub trait UnconfirmedSource: Send + Sync {
    /// Up to `limit` unconfirmed wire messages (each has `item_hash`).
    async fn unconfirmed(&self, limit: usize) -> Result<Vec<Value>, SeamError>;
    /// The batch with these item hashes is anchored by a transaction buried under the
    /// configured confirmations: record the confirmation.
    async fn mark_confirmed(
        &self,
        item_hashes: &[String],
        confirmation: &Confirmation,
    ) -> Result<(), SeamError>;
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

/// An anchored archive that could not be fetched when its block was read: its messages
/// are delivered once it can be (state does not depend on the order messages arrive in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeferredArchive {
    pub archive: String,
    pub chain: String,
    pub height: u64,
    pub tx_hash: String,
    pub time: u64,
}

impl DeferredArchive {
    pub fn new(id: &ArchiveId, c: &Confirmation) -> Self {
        Self {
            archive: id.to_string(),
            chain: c.chain.clone(),
            height: c.height,
            tx_hash: c.tx_hash.clone(),
            time: c.time,
        }
    }

    pub fn confirmation(&self) -> Confirmation {
        Confirmation {
            chain: self.chain.clone(),
            height: self.height,
            tx_hash: self.tx_hash.clone(),
            time: self.time,
        }
    }
}

/// Where a reader is: the last fully processed block, and the archives still owed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub last_block: Option<u64>,
    #[serde(default)]
    pub deferred: Vec<DeferredArchive>,
}

/// A reader's [`Checkpoint`] per (chain, contract), saved atomically as a whole.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    async fn load(&self, key: &CheckpointKey) -> Result<Checkpoint, SeamError>;
    async fn save(&self, key: &CheckpointKey, checkpoint: &Checkpoint) -> Result<(), SeamError>;
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
        if !id.is_sha256() {
            return Err(ArchiveError::Unsupported(id.clone()));
        }
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
                actual: actual.to_string(),
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

    async fn read_all(&self) -> Result<HashMap<String, Checkpoint>, SeamError> {
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
    async fn load(&self, key: &CheckpointKey) -> Result<Checkpoint, SeamError> {
        let _g = self.lock.lock().await;
        Ok(self
            .read_all()
            .await?
            .remove(&key.as_string())
            .unwrap_or_default())
    }

    async fn save(&self, key: &CheckpointKey, checkpoint: &Checkpoint) -> Result<(), SeamError> {
        let _g = self.lock.lock().await;
        let mut all = self.read_all().await?;
        all.insert(key.as_string(), checkpoint.clone());
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
        let c = Checkpoint {
            last_block: Some(42),
            deferred: vec![DeferredArchive {
                archive: "a".repeat(64),
                chain: "ETH".into(),
                height: 40,
                tx_hash: "0x01".into(),
                time: 7,
            }],
        };
        FileCheckpointStore::new(&p).save(&key, &c).await.unwrap();
        assert_eq!(FileCheckpointStore::new(&p).load(&key).await.unwrap(), c);
        let other = CheckpointKey {
            chain: "ETH".into(),
            contract: "0xcd".into(),
        };
        assert_eq!(
            FileCheckpointStore::new(&p).load(&other).await.unwrap(),
            Checkpoint::default()
        );
    }
}
