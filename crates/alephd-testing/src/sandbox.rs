//! What the Linux-sandbox tests run: the Debian + Python runtime image (built once with
//! `alephd runtime build` or the library's builder, cached in `target/alephd-runtime/` between
//! runs, guarded by a file lock so parallel tests build it once), and the static `hello_http`
//! binary program compiled from `fixtures/sandbox/hello_http.rs` with the toolchain's rustc.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::{fixtures_dir, repo_root};

fn cache_dir() -> PathBuf {
    repo_root().join("target/alephd-runtime")
}

/// The runtime image for recipe `version`, built by `build(output)` when not cached yet.
/// `ALEPHD_TEST_RUNTIME` names a prebuilt image instead.
pub fn sandbox_runtime(
    version: &str,
    build: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ALEPHD_TEST_RUNTIME") {
        return Ok(PathBuf::from(path));
    }
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)?;
    let image = dir.join(format!("{version}.squashfs"));
    let lock = File::create(dir.join(format!("{version}.lock")))?;
    lock.lock().context("locking the runtime cache")?;
    if !image.exists() {
        eprintln!(
            "building the sandbox runtime image {} (once; ~1-2 min)",
            image.display()
        );
        build(&image).context("building the sandbox runtime image")?;
        if !image.exists() {
            bail!("the runtime build produced no {}", image.display());
        }
    }
    Ok(image)
}

/// The `hello_http` binary program (static, so it runs on any runtime image).
pub fn sandbox_hello_binary() -> anyhow::Result<PathBuf> {
    let source = fixtures_dir().join("sandbox/hello_http.rs");
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)?;
    let binary = dir.join("hello_http");
    let lock = File::create(dir.join("hello_http.lock"))?;
    lock.lock()?;
    let stale = match (binary.metadata(), source.metadata()) {
        (Ok(b), Ok(s)) => b.modified()? < s.modified()?,
        _ => true,
    };
    if stale {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let status = Command::new(rustc)
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                "-o",
            ])
            .arg(&binary)
            .arg(&source)
            .status()
            .context("running rustc")?;
        if !status.success() {
            bail!("rustc {} failed: {status}", source.display());
        }
    }
    Ok(binary)
}
