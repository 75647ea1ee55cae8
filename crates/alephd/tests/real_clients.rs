//! Aleph's own clients, unmodified, against a live `alephd daemon`: the `aleph` CLI,
//! aleph-sdk-python and @aleph-sdk/client. Installed by `scripts/test-env.sh`; a missing client
//! fails the test rather than skipping it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{path::Path, process::Command};

use alephd_testing::{DaemonBuilder, node_modules, python, repo_root};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
/// Address of the key (32 × 0x33) `lifecycle_flow.py` signs its balances-update posts with.
const ORACLE: &str = "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB";

fn clients_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn run_flow(mut command: Command, ok_line: &str, daemon_log: impl Fn() -> String) {
    let output = command.output().expect("client did not start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(ok_line),
        "client flow failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- daemon log\n{}",
        output.status,
        daemon_log()
    );
}

#[test]
fn python_sdk_flow() {
    let daemon = DaemonBuilder::new(BIN).start().unwrap();
    let mut command = Command::new(python());
    command
        .arg(clients_dir().join("sdk_flow.py"))
        .arg(daemon.api_url());
    run_flow(command, "SDK FLOW OK", || daemon.log());
}

/// Unpaid files: periods shortened to seconds through the daemon's environment config.
#[test]
fn python_sdk_unpaid_files_lifecycle() {
    let daemon = DaemonBuilder::new(BIN)
        .env(
            "ALEPHD_PROCESSOR__BILLING__BALANCE_SENDERS",
            format!("[\"{ORACLE}\"]"),
        )
        .env("ALEPHD_PROCESSOR__BILLING__FREE_STORE_MIB", "0.0")
        .env("ALEPHD_PROCESSOR__BILLING__CHECK_INTERVAL_SECS", "0.5")
        .env("ALEPHD_PROCESSOR__BILLING__REMOVAL_GRACE_SECS", "6.0")
        .start()
        .unwrap();
    let mut command = Command::new(python());
    command
        .arg(clients_dir().join("lifecycle_flow.py"))
        .arg(daemon.api_url());
    run_flow(command, "LIFECYCLE FLOW OK", || daemon.log());
}

/// PROGRAM and INSTANCE messages made with the SDK; the test's key is trusted for balances
/// and credits.
#[test]
fn python_sdk_programs_and_instances() {
    let daemon = DaemonBuilder::new(BIN)
        .env(
            "ALEPHD_PROCESSOR__BILLING__BALANCE_SENDERS",
            format!("[\"{ORACLE}\"]"),
        )
        .env(
            "ALEPHD_PROCESSOR__BILLING__CREDIT_SENDERS",
            format!("[\"{ORACLE}\"]"),
        )
        .start()
        .unwrap();
    let mut command = Command::new(python());
    command
        .arg(clients_dir().join("vm_flow.py"))
        .arg(daemon.api_url());
    run_flow(command, "VM FLOW OK", || daemon.log());
}

#[test]
fn aleph_cli_flow() {
    let daemon = DaemonBuilder::new(BIN).start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let aleph = python().with_file_name("aleph");
    let mut command = Command::new(python());
    command
        .arg(clients_dir().join("cli_flow.py"))
        .arg(daemon.api_url())
        .arg(aleph)
        .arg(work.path());
    run_flow(command, "CLI FLOW OK", || daemon.log());
}

#[test]
fn js_sdk_flow() {
    let daemon = DaemonBuilder::new(BIN).start().unwrap();
    let modules = node_modules();
    let mut command = Command::new("node");
    command
        .current_dir(modules.parent().unwrap_or(&repo_root()))
        .arg("sdk_flow.mjs")
        .arg(daemon.api_url());
    run_flow(command, "JS FLOW OK", || daemon.log());
}
