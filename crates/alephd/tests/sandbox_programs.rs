//! Linux-runtime PROGRAMs end to end: Aleph's own clients deploy a FastAPI app (`aleph program
//! upload`) and a static binary (aleph-sdk-python's `create_program`) on a live `alephd daemon`,
//! with the runtime image built by `alephd runtime build` and uploaded with `aleph file
//! upload`; both answer on `/vm/{hash}`. Then the node's own compute routes: host-name
//! routing, the executions log, an amended program serving its new version, a forgotten one
//! answering 410.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{path::Path, process::Command};

use alephd_testing::{
    DaemonBuilder, fixtures_dir, python, repo_root, sandbox_hello_binary, sandbox_runtime,
};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
/// The key (32 × 0x33) `sandbox_flow.py` signs its balances-update post with.
const ORACLE: &str = "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB";

fn runtime_image() -> std::path::PathBuf {
    sandbox_runtime(alephd_compute::sandbox::build::RECIPE_VERSION, |out| {
        let status = Command::new(BIN)
            .args(["runtime", "build", "--output"])
            .arg(out)
            .status()?;
        anyhow::ensure!(status.success(), "alephd runtime build failed: {status}");
        Ok(())
    })
    .unwrap()
}

fn daemon(work: &Path) -> alephd_testing::Daemon {
    DaemonBuilder::new(BIN)
        .env(
            "ALEPHD_PROCESSOR__BILLING__BALANCE_SENDERS",
            format!("[\"{ORACLE}\"]"),
        )
        .env("ALEPHD_PROCESSOR__BILLING__PRICING_OWNER", ORACLE)
        // The sandbox's uid must reach its files: the test's temp data dir (0700) is not.
        .env("ALEPHD_COMPUTE__WORK_DIR", work.display().to_string())
        .env("ALEPHD_COMPUTE__DOMAIN", "aleph.test")
        // `aleph file upload` sends the 55 MiB runtime image to `ipfs/add_file` before its
        // STORE message exists: above the default unauthenticated limit (25 MiB, as pyaleph).
        .env(
            "ALEPHD_STORAGE__MAX_UNAUTHENTICATED_UPLOAD",
            (100u64 << 20).to_string(),
        )
        // A loaded CI machine starts Python slowly; a hang still fails the flow.
        .env("ALEPHD_COMPUTE__SANDBOX__START_TIMEOUT_SECS", "90.0")
        .env("ALEPHD_COMPUTE__SANDBOX__REQUEST_TIMEOUT_SECS", "120.0")
        .start()
        .unwrap()
}

fn work_dir(name: &str) -> std::path::PathBuf {
    let dir = repo_root().join(format!(
        "target/alephd-runtime/daemon-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn aleph_clients_deploy_linux_programs() {
    let runtime = runtime_image();
    let hello = sandbox_hello_binary().unwrap();
    let compute_dir = work_dir("clients");
    let daemon = daemon(&compute_dir);
    let work = tempfile::tempdir().unwrap();
    let aleph = python().with_file_name("aleph");
    let output = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sandbox_flow.py"))
        .arg(daemon.api_url())
        .arg(aleph)
        .arg(work.path())
        .arg(&runtime)
        .arg(&hello)
        .arg(fixtures_dir().join("sandbox/asgi-app"))
        .arg(fixtures_dir().join("sandbox/pricing.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("SANDBOX FLOW OK"),
        "sandbox flow failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- daemon log\n{}",
        output.status,
        daemon.log()
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&compute_dir);
}
