//! The data directory and its lock: one node per directory.
//!
//! The lock is an OS file lock on `<data-dir>/alephd.lock`, held for the life of the process
//! and released by the kernel when it exits, even on kill -9, so a crash never leaves a stale
//! lock behind. The file also records the holder's pid for the error message.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

const LOCK_FILE: &str = "alephd.lock";

/// An open, locked data directory. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DataDir {
    root: PathBuf,
    // Held only for its lock.
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock, or explains who holds it.
    pub(crate) fn open(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create data dir {}", root.display()))?;
        restrict_permissions(root)?;
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                bail!(
                    "data dir {} is already in use by another alephd{who}; \
                     stop it or choose another --data-dir",
                    root.display()
                );
            }
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(Self {
            root: root.to_owned(),
            _lock: file,
        })
    }

    /// The directory itself.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(unix)]
fn restrict_permissions(root: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Keys live here: nobody else on the host may read the directory.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions of {}", root.display()))
}

#[cfg(not(unix))]
fn restrict_permissions(_root: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let err = DataDir::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already in use"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }

    #[test]
    fn creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        let data = DataDir::open(&nested).unwrap();
        assert!(data.root().join(LOCK_FILE).exists());
    }
}
