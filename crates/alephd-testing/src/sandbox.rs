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

/// The `hello-http` Wasm component (`fixtures/wasm/hello-http`), built for `wasm32-wasip2` with
/// cargo into `target/wasm-guests` (once per change of its source; parallel tests wait on a
/// file lock). Needs `rustup target add wasm32-wasip2` (the test set-up does it).
pub fn wasm_hello_component() -> anyhow::Result<PathBuf> {
    let project = fixtures_dir().join("wasm/hello-http");
    let target_dir = repo_root().join("target/wasm-guests");
    std::fs::create_dir_all(&target_dir)?;
    let lock = File::create(target_dir.join("hello-http.lock"))?;
    lock.lock().context("locking the guest build")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Cargo decides what is stale; a no-op build takes a few milliseconds.
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(project.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The node's own build settings are not the guest's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .context("running cargo for the Wasm guest")?;
    if !output.status.success() {
        bail!(
            "building the Wasm guest failed ({}): {}\n(is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`)",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let component = target_dir.join("wasm32-wasip2/release/hello_http.wasm");
    anyhow::ensure!(component.exists(), "no {}", component.display());
    Ok(component)
}
