//! The user's signing keys in `<data-dir>/keys/`: `<name>.eth.key` / `<name>.sol.key`, each the
//! raw 32-byte secret (the `aleph` CLI's format), mode 0600 in a 0700 directory. The node's own
//! libp2p key (`node.key`) lives in the same directory and is never touched here.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use alephd_message::signature::Signer;
use alephd_sdk::{Account, KeyKind};
use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{ClientError, Output, args::KeyCommand};

const KINDS: [KeyKind; 2] = [KeyKind::Eth, KeyKind::Sol];

/// The key directory of a data dir.
#[derive(Debug)]
pub(crate) struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("keys"),
        }
    }

    fn path(&self, name: &str, kind: KeyKind) -> PathBuf {
        self.dir.join(format!("{name}.{}.key", kind.as_str()))
    }

    /// The key `name`, or a [`ClientError::KeyMissing`] that says how to make one.
    pub(crate) fn load(&self, name: &str) -> anyhow::Result<Account> {
        check_name(name)?;
        let mut found = Vec::new();
        for kind in KINDS {
            let path = self.path(name, kind);
            match fs::read(&path) {
                Ok(bytes) => found.push((kind, path, bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        }
        match found.as_slice() {
            [] => Err(ClientError::KeyMissing {
                name: name.to_owned(),
                dir: self.dir.clone(),
            }
            .into()),
            [(kind, path, bytes)] => Account::from_secret(*kind, bytes)
                .with_context(|| format!("{} is not a valid key", path.display())),
            _ => bail!(
                "both {name}.eth.key and {name}.sol.key exist in {}: rename one",
                self.dir.display()
            ),
        }
    }

    /// Stores `account` as `name`; refuses to overwrite.
    pub(crate) fn save(&self, name: &str, account: &Account) -> anyhow::Result<PathBuf> {
        check_name(name)?;
        if let Some(kind) = KINDS.into_iter().find(|k| self.path(name, *k).exists()) {
            bail!(
                "a key named {name:?} already exists ({}); choose another --name",
                self.path(name, kind).display()
            );
        }
        create_private_dir(&self.dir)?;
        let path = self.path(name, account.kind());
        let mut file = private_file(&path)?;
        file.write_all(&account.secret_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Every stored key: (name, account, path); unreadable files are reported, not fatal.
    pub(crate) fn list(&self) -> anyhow::Result<Vec<(String, anyhow::Result<Account>, PathBuf)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.dir.display())),
        };
        let mut keys = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some((name, kind)) = KINDS.into_iter().find_map(|k| {
                file_name
                    .strip_suffix(&format!(".{}.key", k.as_str()))
                    .map(|n| (n.to_owned(), k))
            }) else {
                continue;
            };
            let path = entry.path();
            let account = fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|b| Account::from_secret(kind, &b).map_err(Into::into));
            keys.push((name, account, path));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys)
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("invalid key name {name:?}: use 1-64 letters, digits, '-' or '_'");
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))
}

fn private_file(path: &Path) -> anyhow::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn describe(name: &str, account: &Account, path: &Path) -> Value {
    json!({
        "name": name,
        "kind": account.kind().as_str(),
        "chain": account.chain(),
        "address": account.address(),
        "path": path,
    })
}

pub(crate) fn run(store: &KeyStore, key: &str, command: KeyCommand) -> anyhow::Result<Output> {
    match command {
        KeyCommand::New { name, kind } => {
            let account = Account::generate(kind);
            let path = store.save(&name, &account)?;
            let value = describe(&name, &account, &path);
            Ok(Output::new(
                value,
                format!(
                    "created {} key {name}: {}\n",
                    kind.as_str(),
                    account.address()
                ),
            ))
        }
        KeyCommand::Import { file, name, kind } => {
            let bytes =
                fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let account = Account::from_key_file(kind, &bytes).with_context(|| {
                format!("{} is not a {} key file", file.display(), kind.as_str())
            })?;
            let path = store.save(&name, &account)?;
            let value = describe(&name, &account, &path);
            Ok(Output::new(
                value,
                format!(
                    "imported {} key {name}: {}\n",
                    kind.as_str(),
                    account.address()
                ),
            ))
        }
        KeyCommand::List => {
            let mut items = Vec::new();
            let mut text = String::new();
            for (name, account, path) in store.list()? {
                match account {
                    Ok(account) => {
                        text.push_str(&format!(
                            "{name}\t{}\t{}\n",
                            account.kind().as_str(),
                            account.address()
                        ));
                        items.push(describe(&name, &account, &path));
                    }
                    Err(e) => {
                        text.push_str(&format!("{name}\tunreadable: {e:#}\n"));
                        items.push(json!({"name": name, "path": path, "error": format!("{e:#}")}));
                    }
                }
            }
            if items.is_empty() {
                text = "no keys: create one with `alephd key new`\n".into();
            }
            Ok(Output::new(json!({ "keys": items }), text))
        }
        KeyCommand::Show { name } => {
            let name = name.as_deref().unwrap_or(key);
            let account = store.load(name)?;
            let value = describe(name, &account, &store.path(name, account.kind()));
            let text = format!(
                "name     {name}\nkind     {}\nchain    {}\naddress  {}\n",
                account.kind().as_str(),
                account.chain(),
                account.address()
            );
            Ok(Output::new(value, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_round_trip_private_and_refuse_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        assert!(matches!(
            store
                .load("default")
                .unwrap_err()
                .downcast_ref::<ClientError>(),
            Some(ClientError::KeyMissing { .. })
        ));
        let account = Account::generate(KeyKind::Sol);
        let path = store.save("default", &account).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(dir.path().join("keys"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(store.load("default").unwrap().address(), account.address());
        assert!(
            store
                .save("default", &Account::generate(KeyKind::Eth))
                .is_err()
        );
        assert!(store.load("../etc").is_err());
        assert_eq!(store.list().unwrap().len(), 1);
    }
}
