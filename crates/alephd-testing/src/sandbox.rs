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
    hello_http_artifact("hello_http.wasm")
}

/// The `ticker` `wasi:cli` command of the same package (`src/bin/ticker.rs`), for persistent
/// programs.
pub fn wasm_ticker_command() -> anyhow::Result<PathBuf> {
    hello_http_artifact("ticker.wasm")
}

fn hello_http_artifact(name: &str) -> anyhow::Result<PathBuf> {
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
    let component = target_dir.join("wasm32-wasip2/release").join(name);
    anyhow::ensure!(component.exists(), "no {}", component.display());
    Ok(component)
}

/// The `hello-js` Wasm component (`fixtures/wasm/hello-js`): JavaScript built into a
/// `wasi:http/proxy` component by the real `@bytecodealliance/componentize-js` from
/// `tests-js/node_modules` (the test set-up installs it). The `wasi:*` WIT packages come from
/// the `@bytecodealliance/jco` package, retagged 0.2.10 (the WASI version componentize-js
/// 0.23 links against). Built into `target/wasm-guests/hello-js/` once per change of the
/// source or the tools (~15 s); parallel tests wait on a file lock.
pub fn wasm_js_component() -> anyhow::Result<PathBuf> {
    let source = fixtures_dir().join("wasm/hello-js");
    let modules = repo_root().join("tests-js/node_modules/@bytecodealliance");
    let componentize = modules.join("componentize-js");
    let builtin_wit = modules.join("jco/lib/wit/builtin/0.2.12");
    if !componentize.join("src/cli.js").exists() || !builtin_wit.exists() {
        bail!(
            "componentize-js or jco is missing under {} (run scripts/test-env.sh)",
            modules.display()
        );
    }
    let out_dir = repo_root().join("target/wasm-guests/hello-js");
    std::fs::create_dir_all(&out_dir)?;
    let lock = File::create(out_dir.join("build.lock"))?;
    lock.lock().context("locking the guest build")?;

    // The artifact is named after everything that goes into it.
    let app = std::fs::read(source.join("app.js"))?;
    let world = std::fs::read(source.join("wit/world.wit"))?;
    let tools = std::fs::read(componentize.join("package.json"))?;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in [&app[..], b"\0", &world, b"\0", &tools] {
        for byte in part {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let component = out_dir.join(format!("hello-js-{hash:016x}.wasm"));
    if component.exists() {
        return Ok(component);
    }

    let work = out_dir.join("build");
    let _ = std::fs::remove_dir_all(&work);
    let deps = work.join("wit/deps");
    std::fs::create_dir_all(&deps)?;
    std::fs::write(work.join("wit/world.wit"), &world)?;
    for package in std::fs::read_dir(&builtin_wit)? {
        let package = package?;
        let wit = package.path().join("package.wit");
        if !wit.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&wit)?.replace("@0.2.12", "@0.2.10");
        let dir = deps.join(package.file_name());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.wit"), text)?;
    }
    std::fs::write(work.join("app.js"), &app)?;
    let partial = out_dir.join("hello-js.wasm.partial");
    let output = Command::new("node")
        .arg(componentize.join("src/cli.js"))
        .args(["--wit", "wit", "--world-name", "hello", "-o"])
        .arg(&partial)
        .arg("app.js")
        .current_dir(&work)
        .output()
        .context("running node (componentize-js)")?;
    if !output.status.success() {
        bail!(
            "componentize-js failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&partial, &component)?;
    Ok(component)
}
