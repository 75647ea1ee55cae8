//! [`Store`]: the cheap-clone handle over the blockstore and its index.
//!
//! Every change to the index (commits, pins, GC) runs under one writer lock together with the
//! file renames/unlinks it implies, so a GC can never delete a block an upload is committing.
//! Filesystem work and hashing run on blocking threads, never on the async runtime.

use std::{
    collections::HashSet,
    ops::Range,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::Stream;
use sqlx::SqlitePool;
use thiserror::Error;
use tokio::sync::{Mutex, mpsc};

use crate::{
    blockstore::{BlockError, Blockstore, StagingSink},
    config::{StorageConfig, StorageConfigError},
    content_ref::{BlockDigest, Cid, ContentRef},
    index,
    reader::{self, DirEntry, EntryKind, ReadError},
};

/// Blocks in flight between a reading thread and the consumer.
const READ_BUFFER_BLOCKS: usize = 4;
/// Roots collected per GC transaction.
const GC_BATCH: i64 = 2_000;

/// A stream of file bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ReadError>> + Send>>;

/// The store could not open.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] StorageConfigError),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the storage index: {0}")]
    Db(#[from] sqlx::Error),
    #[error("cannot migrate the storage index: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A read, stat, pin or GC failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} is not in the store")]
    NotFound(ContentRef),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("storage index error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("filesystem error: {0}")]
    Io(#[from] std::io::Error),
    #[error("a storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<BlockError> for StoreError {
    fn from(err: BlockError) -> Self {
        StoreError::Read(ReadError::Block(err))
    }
}

/// Who keeps a root alive: the item hash of a message (STORE, PROGRAM volume, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PinOwner(String);

/// A pin owner that is empty, too long or reserved.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid pin owner `{0}`")]
pub struct InvalidPinOwner(pub String);

impl PinOwner {
    pub fn new(owner: impl Into<String>) -> Result<Self, InvalidPinOwner> {
        let owner = owner.into();
        let ok = !owner.is_empty() && owner.len() <= 128 && !owner.starts_with('@');
        if ok {
            Ok(PinOwner(owner))
        } else {
            Err(InvalidPinOwner(owner))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a stored item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Root of its DAG (a `storage` item's DAG uses CIDv1 raw leaves).
    pub cid: Cid,
    pub kind: EntryKind,
    /// File bytes (0 for directories).
    pub size: u64,
    /// Pins on the root, the grace pin included.
    pub pins: u64,
}

/// What one GC run removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub expired_grace_pins: u64,
    pub roots: u64,
    pub blocks: u64,
    pub bytes: u64,
}

/// Repository totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreTotals {
    pub blocks: u64,
    pub bytes: u64,
    pub roots: u64,
    pub pins: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: StorageConfig,
    pub(crate) blocks: Blockstore,
    pub(crate) db: SqlitePool,
    pub(crate) writer: Mutex<()>,
}

/// The storage engine handle; clones share one store.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// How the staged blocks of an upload become stored content.
pub(crate) struct CommitPlan {
    pub(crate) roots: Vec<BlockDigest>,
    pub(crate) pin: Option<(String, Option<i64>)>,
    pub(crate) storage_item: Option<([u8; 32], BlockDigest, u64, u64)>,
}

/// A commit that found a link to a block it does not have.
#[derive(Debug, Error)]
pub enum CommitError {
    #[error("block {0:?} is referenced but neither uploaded nor stored")]
    MissingBlock(BlockDigest),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Opens the store in `data_dir` (`blocks/`, `staging/`, `storage.db`).
    pub async fn open(
        data_dir: impl AsRef<Path>,
        config: StorageConfig,
    ) -> Result<Store, OpenError> {
        config.validate()?;
        let data_dir = data_dir.as_ref().to_owned();
        let dir = data_dir.clone();
        let blocks = tokio::task::spawn_blocking(move || Blockstore::open(&dir))
            .await
            .map_err(|e| OpenError::Io {
                path: data_dir.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| OpenError::Io {
                path: data_dir.clone(),
                source,
            })?;
        let db = index::open(&data_dir.join("storage.db")).await?;
        Ok(Store {
            inner: Arc::new(Inner {
                config,
                blocks,
                db,
                writer: Mutex::new(()),
            }),
        })
    }

    pub fn config(&self) -> &StorageConfig {
        &self.inner.config
    }

    /// The root CID of an item, if stored.
    pub async fn root_of(&self, target: &ContentRef) -> Result<Option<Cid>, StoreError> {
        let mut conn = self.inner.db.acquire().await?;
        match target {
            ContentRef::Storage(sha) => Ok(index::storage_item(&mut conn, &sha.0)
                .await?
                .map(|(root, codec, _)| root.cid(codec, false))),
            ContentRef::Ipfs(cid) => {
                let Some(digest) = BlockDigest::of_cid(cid) else {
                    return Ok(None);
                };
                Ok(index::block_size(&mut conn, &digest).await?.map(|_| *cid))
            }
        }
    }

    async fn require_root(&self, target: &ContentRef) -> Result<Cid, StoreError> {
        self.root_of(target)
            .await?
            .ok_or(StoreError::NotFound(*target))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Blockstore) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        Ok(tokio::task::spawn_blocking(move || f(&inner.blocks)).await??)
    }

    /// Kind, size and pin count of a stored item; `None` when absent.
    pub async fn stat(&self, target: &ContentRef) -> Result<Option<Stat>, StoreError> {
        let Some(cid) = self.root_of(target).await? else {
            return Ok(None);
        };
        let (kind, size) = self.blocking(move |b| reader::stat(b, &cid)).await?;
        let digest = BlockDigest::of_cid(&cid).ok_or(StoreError::NotFound(*target))?;
        let pins = index::pin_count(&mut *self.inner.db.acquire().await?, &digest).await?;
        Ok(Some(Stat {
            cid,
            kind,
            size,
            pins,
        }))
    }

    /// Streams bytes `range` (clamped to the file) of a stored file.
    pub async fn read(
        &self,
        target: &ContentRef,
        range: Range<u64>,
    ) -> Result<ByteStream, StoreError> {
        let cid = self.require_root(target).await?;
        Ok(self.read_cid(cid, range))
    }

    /// Streams bytes `range` of the file rooted at `cid`; errors arrive in the stream.
    pub fn read_cid(&self, cid: Cid, range: Range<u64>) -> ByteStream {
        let (tx, rx) = mpsc::channel(READ_BUFFER_BLOCKS);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || reader::send_range(&inner.blocks, &cid, range, &tx));
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }

    /// The entries of a stored directory.
    pub async fn list(&self, cid: Cid) -> Result<Vec<DirEntry>, StoreError> {
        self.blocking(move |b| reader::list(b, &cid)).await
    }

    /// Follows a `/`-separated path of names below `root`.
    pub async fn resolve_path(&self, root: Cid, path: &str) -> Result<Option<Cid>, StoreError> {
        let path = path.to_owned();
        self.blocking(move |b| reader::resolve(b, &root, &path))
            .await
    }

    /// Pins a stored item for `owner` (idempotent).
    pub async fn pin(&self, target: &ContentRef, owner: &PinOwner) -> Result<(), StoreError> {
        self.pin_as(target, owner.as_str(), None).await
    }

    /// Keeps a stored item for the configured grace period from now (or longer if already so).
    pub async fn grace_pin(&self, target: &ContentRef) -> Result<(), StoreError> {
        self.pin_as(target, index::GRACE_OWNER, Some(self.grace_expiry()))
            .await
    }

    async fn pin_as(
        &self,
        target: &ContentRef,
        owner: &str,
        expires: Option<i64>,
    ) -> Result<(), StoreError> {
        let _writer = self.inner.writer.lock().await;
        let cid = self.require_root(target).await?;
        let digest = BlockDigest::of_cid(&cid).ok_or(StoreError::NotFound(*target))?;
        let mut tx = self.inner.db.begin().await?;
        index::ensure_root(&mut tx, &digest, unix_now()).await?;
        index::upsert_pin(&mut tx, &digest, owner, expires).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `owner`'s pin; returns whether there was one. Unpinned content waits for GC.
    pub async fn unpin(&self, target: &ContentRef, owner: &PinOwner) -> Result<bool, StoreError> {
        let _writer = self.inner.writer.lock().await;
        let Some(cid) = self.root_of(target).await? else {
            return Ok(false);
        };
        let Some(digest) = BlockDigest::of_cid(&cid) else {
            return Ok(false);
        };
        let mut tx = self.inner.db.begin().await?;
        let removed = index::remove_pin(&mut tx, &digest, owner.as_str()).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Expires grace pins, then deletes every root left without pins and the blocks nothing
    /// else references. Work is proportional to what is deleted.
    pub async fn gc(&self) -> Result<GcReport, StoreError> {
        self.gc_at(unix_now()).await
    }

    /// [`Store::gc`] as if the time were `now` (seconds since the epoch).
    pub async fn gc_at(&self, now: i64) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        let _writer = self.inner.writer.lock().await;
        let mut tx = self.inner.db.begin().await?;
        report.expired_grace_pins = index::expire_grace(&mut tx, now).await?;
        tx.commit().await?;
        loop {
            let mut tx = self.inner.db.begin().await?;
            let Some(collected) = index::collect(&mut tx, GC_BATCH).await? else {
                break;
            };
            tx.commit().await?;
            report.roots += collected.roots;
            report.blocks += collected.blocks.len() as u64;
            report.bytes += collected.bytes;
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || {
                collected
                    .blocks
                    .iter()
                    .try_for_each(|d| inner.blocks.remove(d))
            })
            .await??;
        }
        Ok(report)
    }

    pub async fn totals(&self) -> Result<StoreTotals, StoreError> {
        let (blocks, bytes, roots, pins) =
            index::totals(&mut *self.inner.db.acquire().await?).await?;
        Ok(StoreTotals {
            blocks,
            bytes,
            roots,
            pins,
        })
    }

    /// Moves staged blocks into the store and records roots, pins and the storage item, in
    /// one transaction. Fails without storing anything if a link dangles.
    pub(crate) async fn commit(
        &self,
        sink: StagingSink,
        plan: CommitPlan,
    ) -> Result<(), CommitError> {
        let _writer = self.inner.writer.lock().await;
        let mut tx = self.inner.db.begin().await.map_err(StoreError::from)?;
        let new: Vec<_> = index::missing(&mut tx, &sink.records)
            .await
            .map_err(StoreError::from)?;
        let new_set: HashSet<BlockDigest> = sink.records.iter().map(|r| r.digest).collect();
        for record in &new {
            for child in &record.links {
                if !new_set.contains(child)
                    && index::block_size(&mut tx, child)
                        .await
                        .map_err(StoreError::from)?
                        .is_none()
                {
                    return Err(CommitError::MissingBlock(*child));
                }
            }
        }
        for root in &plan.roots {
            if !new_set.contains(root)
                && index::block_size(&mut tx, root)
                    .await
                    .map_err(StoreError::from)?
                    .is_none()
            {
                return Err(CommitError::MissingBlock(*root));
            }
        }
        let to_move: Vec<BlockDigest> = new.iter().map(|r| r.digest).collect();
        let inner = self.inner.clone();
        let sink = tokio::task::spawn_blocking(move || {
            to_move
                .iter()
                .try_for_each(|d| inner.blocks.promote(&sink, d))
                .map(|()| sink)
        })
        .await
        .map_err(StoreError::from)?
        .map_err(StoreError::from)?;
        if let Err(child) = index::commit_blocks(&mut tx, &new)
            .await
            .map_err(StoreError::from)?
        {
            return Err(CommitError::MissingBlock(child));
        }
        self.record_roots(&mut tx, &plan)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        drop(sink);
        Ok(())
    }

    async fn record_roots(
        &self,
        tx: &mut sqlx::SqliteConnection,
        plan: &CommitPlan,
    ) -> Result<(), sqlx::Error> {
        let now = unix_now();
        for root in &plan.roots {
            index::ensure_root(tx, root, now).await?;
            if let Some((owner, expires)) = &plan.pin {
                index::upsert_pin(tx, root, owner, *expires).await?;
            }
            index::queue_if_unpinned(tx, root).await?;
        }
        if let Some((sha, root, codec, size)) = &plan.storage_item {
            index::insert_storage_item(tx, sha, root, *codec, *size).await?;
        }
        Ok(())
    }

    pub(crate) fn grace_expiry(&self) -> i64 {
        unix_now() + self.inner.config.grace_period_secs as i64
    }
}
