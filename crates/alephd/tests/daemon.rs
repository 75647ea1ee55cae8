//! The daemon as a user meets it: start on an empty machine, refuse a shared data dir, stop
//! cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use alephd_testing::{DaemonBuilder, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");

#[test]
fn starts_on_an_empty_home_and_answers_version() {
    let daemon = DaemonBuilder::new(BIN).default_data_dir().start().unwrap();
    for path in ["/api/v0/version", "/version"] {
        let (status, body) = http_get(daemon.api_addr(), path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            json["version"].as_str().unwrap().starts_with("alephd/"),
            "{body}"
        );
    }
    assert!(daemon.data_dir().ends_with(".alephd"));
    assert!(
        daemon.data_dir().join("alephd.lock").exists(),
        "data dir not created in $HOME"
    );
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let first = DaemonBuilder::new(BIN).start().unwrap();
    let output = std::process::Command::new(BIN)
        .args([
            "daemon",
            "--api-addr",
            "127.0.0.1:0",
            "--p2p-addr",
            "/ip4/127.0.0.1/tcp/0",
        ])
        .arg("--data-dir")
        .arg(first.data_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already in use by another alephd"),
        "{stderr}"
    );
    assert!(stderr.contains(&first.pid().to_string()), "{stderr}");
    // The first one is unharmed.
    assert_eq!(
        http_get(first.api_addr(), "/api/v0/version").unwrap().0,
        200
    );
}

#[test]
fn sigterm_stops_gracefully_and_releases_the_lock() {
    let mut first = DaemonBuilder::new(BIN).start().unwrap();
    let data_dir = first.data_dir().to_owned();
    let status = first.terminate().unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        first.log()
    );
    assert!(first.log().contains("shutting down"), "{}", first.log());
    // The lock is free again: a new node starts on the same directory.
    let second = DaemonBuilder::new(BIN).data_dir(&data_dir).start().unwrap();
    assert_eq!(
        http_get(second.api_addr(), "/api/v0/version").unwrap().0,
        200
    );
}

#[test]
fn config_default_prints_a_file_the_daemon_accepts() {
    let output = std::process::Command::new(BIN)
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("[api]") && text.contains("127.0.0.1:4024"),
        "{text}"
    );
    assert!(text.contains("/tcp/4025"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &text).unwrap();
    let shown = std::process::Command::new(BIN)
        .args(["config", "show", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[api]\nport = 1\n").unwrap();
    let output = std::process::Command::new(BIN)
        .args(["daemon", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field") && stderr.contains("port"),
        "{stderr}"
    );
}
