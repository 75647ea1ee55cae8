//! The filesystem blockstore: `<data-dir>/blocks/<2 hex>/<64 hex>`, one file per block.
//!
//! Blocks are written only into a per-upload staging directory and renamed into place when the
//! upload commits, so a killed or truncated upload never leaves a half block in `blocks/`;
//! staging is wiped when the store opens. Reads re-hash every block: disk corruption is an
//! error, never bad bytes served.

use std::{
    collections::HashSet,
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::{builder::BlockSink, content_ref::BlockDigest};

/// A block that could not be read.
#[derive(Debug, Error)]
pub enum BlockError {
    #[error("block {0:?} is not in the store")]
    Missing(BlockDigest),
    #[error("block {0:?} is corrupt on disk (hash mismatch)")]
    Corrupt(BlockDigest),
    #[error("cannot read block {digest:?}: {source}")]
    Io {
        digest: BlockDigest,
        source: io::Error,
    },
}

#[derive(Debug)]
pub(crate) struct Blockstore {
    blocks: PathBuf,
    staging: PathBuf,
    next_staging: AtomicU64,
}

impl Blockstore {
    /// Opens (creating) `blocks/` and `staging/` under `data_dir`; wipes leftover staging.
    pub(crate) fn open(data_dir: &Path) -> io::Result<Self> {
        let blocks = data_dir.join("blocks");
        let staging = data_dir.join("staging");
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)?;
        for prefix in 0..=255u8 {
            fs::create_dir_all(blocks.join(hex::encode([prefix])))?;
        }
        Ok(Blockstore {
            blocks,
            staging,
            next_staging: AtomicU64::new(0),
        })
    }

    pub(crate) fn path(&self, digest: &BlockDigest) -> PathBuf {
        let hex = digest.to_hex();
        self.blocks.join(&hex[..2]).join(hex)
    }

    /// Reads a block and checks its hash.
    pub(crate) fn read(&self, digest: &BlockDigest) -> Result<Vec<u8>, BlockError> {
        let bytes = fs::read(self.path(digest)).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => BlockError::Missing(*digest),
            _ => BlockError::Io {
                digest: *digest,
                source,
            },
        })?;
        if Sha256::digest(&bytes)[..] != digest.0[..] {
            return Err(BlockError::Corrupt(*digest));
        }
        Ok(bytes)
    }

    /// Removes a block file (GC); a missing file is not an error.
    pub(crate) fn remove(&self, digest: &BlockDigest) -> io::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// A fresh staging area for one upload.
    pub(crate) fn stage(&self) -> io::Result<StagingSink> {
        let n = self.next_staging.fetch_add(1, Ordering::Relaxed);
        let dir = self.staging.join(format!("{}-{n}", std::process::id()));
        fs::create_dir_all(&dir)?;
        Ok(StagingSink {
            dir: StagingDir(dir),
            records: Vec::new(),
            seen: HashSet::new(),
        })
    }

    /// Moves a staged block into place (atomic rename within one filesystem).
    pub(crate) fn promote(&self, staging: &StagingSink, digest: &BlockDigest) -> io::Result<()> {
        fs::rename(staging.dir.0.join(digest.to_hex()), self.path(digest))
    }
}

/// One staged block and its children, as the index records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockRecord {
    pub(crate) digest: BlockDigest,
    pub(crate) size: u64,
    pub(crate) links: Vec<BlockDigest>,
}

/// Removes its directory when dropped, committed or not.
#[derive(Debug)]
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.0);
        let remove = move || {
            if let Err(err) = fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), %err, "cannot remove a staging directory");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Writes an upload's blocks into its staging directory and remembers them for the commit.
#[derive(Debug)]
pub(crate) struct StagingSink {
    dir: StagingDir,
    pub(crate) records: Vec<BlockRecord>,
    seen: HashSet<BlockDigest>,
}

impl StagingSink {
    /// Stages a block received whole (CAR import), already verified by the caller.
    pub(crate) fn put_verified(
        &mut self,
        digest: BlockDigest,
        data: &[u8],
        links: Vec<BlockDigest>,
    ) -> io::Result<()> {
        if !self.seen.insert(digest) {
            return Ok(());
        }
        fs::write(self.dir.0.join(digest.to_hex()), data)?;
        self.records.push(BlockRecord {
            digest,
            size: data.len() as u64,
            links,
        });
        Ok(())
    }
}

impl BlockSink for StagingSink {
    fn put(
        &mut self,
        digest: BlockDigest,
        parts: &[&[u8]],
        links: &[BlockDigest],
    ) -> io::Result<()> {
        if !self.seen.insert(digest) {
            return Ok(());
        }
        let mut file = fs::File::create(self.dir.0.join(digest.to_hex()))?;
        let mut size = 0;
        for part in parts {
            file.write_all(part)?;
            size += part.len() as u64;
        }
        self.records.push(BlockRecord {
            digest,
            size,
            links: links.to_vec(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_blocks_are_promoted_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = Blockstore::open(dir.path()).unwrap();
        let data = b"some block";
        let digest = BlockDigest(Sha256::digest(data).into());
        let mut sink = store.stage().unwrap();
        sink.put(digest, &[&data[..4], &data[4..]], &[]).unwrap();
        sink.put(digest, &[data], &[]).unwrap();
        assert_eq!(sink.records.len(), 1);
        assert!(matches!(store.read(&digest), Err(BlockError::Missing(_))));
        store.promote(&sink, &digest).unwrap();
        assert_eq!(store.read(&digest).unwrap(), data);

        fs::write(store.path(&digest), b"tampered").unwrap();
        assert!(matches!(store.read(&digest), Err(BlockError::Corrupt(_))));
    }

    #[test]
    fn leftover_staging_is_wiped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Blockstore::open(dir.path()).unwrap();
        let sink = store.stage().unwrap();
        let staged = sink.dir.0.clone();
        std::mem::forget(sink);
        assert!(staged.exists());
        drop(Blockstore::open(dir.path()).unwrap());
        assert!(!staged.exists());
    }
}
