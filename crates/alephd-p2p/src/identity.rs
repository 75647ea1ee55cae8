//! The node's stable libp2p identity: an ed25519 key kept in the data directory.
//!
//! The file holds the 32-byte secret, readable by the owner only. A corrupt file is an error,
//! never silently replaced: the peer id is how other nodes know this one.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use libp2p::identity::{Keypair, ed25519};

/// File name of the secret inside the key directory.
pub const NODE_KEY_FILE: &str = "node-secret.key";

/// Loading or creating the node key failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file or its directory could not be read or written.
    #[error("node key {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a 32-byte ed25519 secret.
    #[error("node key {path} is not a 32-byte ed25519 secret")]
    Malformed { path: PathBuf },
}

/// Loads `<dir>/node-secret.key`, creating it (mode 0600) with a fresh key if absent.
pub fn load_or_create_keypair(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join(NODE_KEY_FILE);
    let io = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(mut bytes) => {
            let secret = ed25519::SecretKey::try_from_bytes(&mut bytes)
                .map_err(|_| IdentityError::Malformed { path: path.clone() })?;
            Ok(Keypair::from(ed25519::Keypair::from(secret)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let keypair = ed25519::Keypair::generate();
            write_private(&path, keypair.secret().as_ref()).map_err(io)?;
            Ok(Keypair::from(keypair))
        }
        Err(e) => Err(io(e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reloads_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = load_or_create_keypair(&keys).unwrap();
        let second = load_or_create_keypair(&keys).unwrap();
        assert_eq!(first.public().to_peer_id(), second.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(keys.join(NODE_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_a_corrupt_key_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_KEY_FILE), b"short").unwrap();
        assert!(matches!(
            load_or_create_keypair(dir.path()),
            Err(IdentityError::Malformed { .. })
        ));
    }
}
