//! The read-only cache of extracted files: runtime images and immutable volumes (squashfs,
//! extracted once with `unsquashfs`) and program code (zip, squashfs or plain), each under a
//! directory named by its content hash. Extraction goes to a temporary directory that is
//! sanitised (no device nodes, FIFOs or sockets, no setuid/setgid bits: these trees are
//! attacker-made) and renamed into place, so a cache entry is complete or absent.
//! Instances never write here: the sandbox mounts these trees read-only.

use std::{
    fs,
    io::{self, Read},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use alephd_message::content::{Encoding, Interface};

use super::{FileRef, SandboxError};

const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
const ZIP_MAGICS: [&[u8; 4]; 2] = [b"PK\x03\x04", b"PK\x05\x06"];
/// Entries of a code archive, at most.
const MAX_ZIP_ENTRIES: usize = 100_000;

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The extracted-files cache under one directory.
#[derive(Debug)]
pub(crate) struct ImageCache {
    root: PathBuf,
    unsquashfs: PathBuf,
    max_code_bytes: u64,
    /// One extraction at a time: they are rare (once per hash) and I/O bound.
    lock: tokio::sync::Mutex<()>,
}

impl ImageCache {
    pub(crate) fn new(root: PathBuf, unsquashfs: PathBuf, max_code_bytes: u64) -> Self {
        Self {
            root,
            unsquashfs,
            max_code_bytes,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The extracted root of a squashfs image (a runtime or an immutable volume).
    pub(crate) async fn squashfs(&self, file: &FileRef) -> Result<PathBuf, SandboxError> {
        let dest = self.root.join("images").join(safe_key(&file.key)?);
        let bin = self.unsquashfs.clone();
        self.extract_once(&dest, file, move |src, tmp| unsquash(&bin, src, tmp))
            .await
    }

    /// The extracted code of a program: the directory mounted at `/opt/code`.
    pub(crate) async fn code(
        &self,
        file: &FileRef,
        encoding: Encoding,
        interface: Interface,
        entrypoint: &str,
    ) -> Result<PathBuf, SandboxError> {
        let name = format!("{}-{encoding:?}-{interface:?}", safe_key(&file.key)?).to_lowercase();
        let dest = self.root.join("code").join(name);
        let max = self.max_code_bytes;
        let bin = self.unsquashfs.clone();
        let entrypoint = entrypoint.to_owned();
        self.extract_once(&dest, file, move |src, tmp| match encoding {
            Encoding::Squashfs => unsquash(&bin, src, tmp),
            Encoding::Zip => unzip(src, tmp, max),
            Encoding::Plain => plain(src, tmp, interface, &entrypoint),
        })
        .await
    }

    async fn extract_once(
        &self,
        dest: &Path,
        file: &FileRef,
        extract: impl FnOnce(&Path, &Path) -> Result<(), SandboxError> + Send + 'static,
    ) -> Result<PathBuf, SandboxError> {
        if dest.is_dir() {
            return Ok(dest.to_owned());
        }
        let _guard = self.lock.lock().await;
        if dest.is_dir() {
            return Ok(dest.to_owned());
        }
        let parent = dest.parent().expect("cache entries have a parent");
        fs::create_dir_all(parent).map_err(|e| SandboxError::io("creating the cache", e))?;
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(".tmp-{}-{seq}", std::process::id()));
        let (src, dest) = (file.path.clone(), dest.to_owned());
        tokio::task::spawn_blocking(move || {
            let _ = fs::remove_dir_all(&tmp);
            let outcome = extract(&src, &tmp)
                .and_then(|()| sanitise(&tmp))
                .and_then(|()| {
                    match fs::rename(&tmp, &dest) {
                        // Another runtime sharing this cache finished first: the same content.
                        Err(_) if dest.is_dir() => Ok(()),
                        other => other.map_err(|e| SandboxError::io("caching", e)),
                    }
                });
            let _ = fs::remove_dir_all(&tmp);
            outcome.map(|()| dest)
        })
        .await
        .map_err(|e| SandboxError::io("extracting", io::Error::other(e)))?
    }
}

fn unsquash(bin: &Path, src: &Path, dest: &Path) -> Result<(), SandboxError> {
    expect_magic(src, "squashfs", &[SQUASHFS_MAGIC])?;
    let output = std::process::Command::new(bin)
        .args(["-no-xattrs", "-quiet", "-no-progress", "-d"])
        .arg(dest)
        .arg(src)
        .output()
        .map_err(|e| SandboxError::io(format!("running {}", bin.display()), e))?;
    if !output.status.success() {
        return Err(SandboxError::BadCode(format!(
            "unsquashfs failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Cache keys become directory names: content hashes only.
fn safe_key(key: &str) -> Result<&str, SandboxError> {
    match !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(key),
        false => Err(SandboxError::BadCode(format!(
            "not a content hash: {key:?}"
        ))),
    }
}

fn expect_magic(src: &Path, what: &str, magics: &[&[u8; 4]]) -> Result<(), SandboxError> {
    let mut head = [0u8; 4];
    let read = fs::File::open(src)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|()| magics.contains(&&head));
    match read {
        Ok(true) => Ok(()),
        _ => Err(SandboxError::BadCode(format!(
            "the code is not a {what} archive (wrong `encoding`?)"
        ))),
    }
}

/// Extracts a zip with its entries confined to `dest` and its total size bounded.
fn unzip(src: &Path, dest: &Path, max_bytes: u64) -> Result<(), SandboxError> {
    expect_magic(src, "zip", &ZIP_MAGICS)?;
    let bad = |e: zip::result::ZipError| SandboxError::BadCode(format!("bad zip archive: {e}"));
    let file = fs::File::open(src).map_err(|e| SandboxError::io("opening the code", e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(SandboxError::BadCode(
            "too many entries in the zip archive".into(),
        ));
    }
    let io = |e| SandboxError::io("extracting the code", e);
    fs::create_dir_all(dest).map_err(io)?;
    let mut budget = max_bytes;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(bad)?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(SandboxError::BadCode(format!(
                "zip entry escapes its root: {}",
                entry.name()
            )));
        };
        let path = dest.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io)?;
            continue;
        }
        if entry.is_symlink() {
            continue; // links could point anywhere in the sandbox; code does not need them
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let mut out = fs::File::create(&path).map_err(io)?;
        let copied = io::copy(&mut (&mut entry).take(budget + 1), &mut out).map_err(io)?;
        budget = budget.checked_sub(copied).ok_or_else(|| {
            SandboxError::BadCode(format!(
                "code larger than {} MiB uncompressed",
                max_bytes >> 20
            ))
        })?;
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    Ok(())
}

/// A single file: Python source for ASGI (saved as the entrypoint's module), else the
/// executable itself.
fn plain(
    src: &Path,
    dest: &Path,
    interface: Interface,
    entrypoint: &str,
) -> Result<(), SandboxError> {
    let io = |e| SandboxError::io("writing the code", e);
    fs::create_dir_all(dest).map_err(io)?;
    let (name, mode) = match interface {
        Interface::Asgi => (format!("{}.py", asgi_module(entrypoint)?.0), 0o644),
        Interface::Binary => (entrypoint.trim_start_matches("./").to_owned(), 0o755),
    };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(SandboxError::BadEntrypoint(format!(
            "{entrypoint:?}: a plain program's entrypoint names one file"
        )));
    }
    let target = dest.join(name);
    fs::copy(src, &target).map_err(io)?;
    fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io)
}

/// `module:app` → (`module`, `app`); a bare name means `main:<name>` (Aleph's plain programs).
pub(crate) fn asgi_module(entrypoint: &str) -> Result<(String, String), SandboxError> {
    let (module, app) = entrypoint.split_once(':').unwrap_or(("main", entrypoint));
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| {
                p.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
    };
    match ident(module) && ident(app) {
        true => Ok((module.to_owned(), app.to_owned())),
        false => Err(SandboxError::BadEntrypoint(format!(
            "{entrypoint:?} is not `module:app`"
        ))),
    }
}

/// Removes what an attacker-made tree must not bring onto the host. Iterative: no recursion
/// over untrusted depth.
fn sanitise(root: &Path) -> Result<(), SandboxError> {
    let io = |e| SandboxError::io(format!("sanitising {}", root.display()), e);
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let meta = entry.path().symlink_metadata().map_err(io)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if !(kind.is_file() || kind.is_symlink()) {
                fs::remove_file(entry.path()).map_err(io)?;
                continue;
            }
            let mode = meta.permissions().mode();
            if !kind.is_symlink() && mode & 0o6000 != 0 {
                fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode & 0o1777))
                    .map_err(io)?;
            }
        }
    }
    // Readable by the sandbox's unprivileged uid.
    let mode = fs::metadata(root).map_err(io)?.permissions().mode();
    fs::set_permissions(root, fs::Permissions::from_mode(mode | 0o755)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entrypoints() {
        assert_eq!(
            asgi_module("main:app").unwrap(),
            ("main".into(), "app".into())
        );
        assert_eq!(asgi_module("app").unwrap(), ("main".into(), "app".into()));
        assert_eq!(asgi_module("pkg.mod:api").unwrap().0, "pkg.mod");
        for bad in ["", ":app", "main:", "../x:app", "a b:app", "main:app:x"] {
            assert!(asgi_module(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_content_hashes() {
        assert!(safe_key("ab12").is_ok());
        for bad in ["", "../x", "a/b", "a.b"] {
            assert!(safe_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_zip_cannot_write_outside_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("code.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("main.py", options).unwrap();
        io::Write::write_all(&mut writer, b"app = 1\n").unwrap();
        writer.start_file("../evil.py", options).unwrap();
        writer.finish().unwrap();
        let out = dir.path().join("out");
        let err = unzip(&zip_path, &out, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("escapes"), "{err}");
        assert!(!dir.path().join("evil.py").exists());
    }

    #[test]
    fn a_zip_bomb_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("code.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("big", options).unwrap();
        io::Write::write_all(&mut writer, &vec![0u8; 3 << 20]).unwrap();
        writer.finish().unwrap();
        let err = unzip(&zip_path, &dir.path().join("out"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn wrong_encoding_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("code");
        fs::write(&src, b"print('not a zip')").unwrap();
        let err = unzip(&src, &dir.path().join("out"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("wrong `encoding`"), "{err}");
    }
}
