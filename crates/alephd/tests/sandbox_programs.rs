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
        // Persistent programs paid by holding tokens are refused since 2026-03-11 (Aleph's
        // rule); the flow's persistent program holds, as the SDK's `create_program` does.
        .env("ALEPHD_PROCESSOR__BILLING__HOLD_STREAM_CUTOFF", "1e12")
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

/// The node's own client does the same with no Python involved: `alephd key import` (the
/// balances oracle), `alephd file add` (the runtime), `alephd program deploy` of the app's
/// directory, then `program call`, `program logs`, `program update`, `program list`, and a
/// forget.
#[test]
fn alephd_cli_deploys_calls_and_reads_logs() {
    let runtime = runtime_image();
    let compute_dir = work_dir("cli");
    let daemon = daemon(&compute_dir);
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| -> serde_json::Value {
        let output = Command::new(BIN)
            .args(args)
            .arg("--json")
            .env("ALEPHD_API", daemon.api_url())
            .env("ALEPHD_DATA_DIR", home.path())
            .env_remove("ALEPHD_KEY")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "alephd {} failed ({}):\n{stdout}\n{}\n--- daemon log\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr),
            daemon.log()
        );
        serde_json::from_str(&stdout).unwrap()
    };
    let oracle_key = home.path().join("oracle.key");
    std::fs::write(&oracle_key, "33".repeat(32)).unwrap();
    let oracle = cli(&[
        "key",
        "import",
        oracle_key.to_str().unwrap(),
        "--name",
        "oracle",
    ]);
    assert_eq!(oracle["address"], ORACLE);
    let alice = cli(&["key", "new"]);
    let alice = alice["address"].as_str().unwrap();
    let balances =
        serde_json::json!({"chain": "ETH", "main_height": 1, "balances": {alice: 1_000_000}});
    let posted = cli(&[
        "post",
        "create",
        "--key",
        "oracle",
        "--type",
        "balances-update",
        "--content",
        &balances.to_string(),
    ]);
    assert_eq!(posted["status"], "processed", "{posted}");
    let pricing = fixtures_dir().join("sandbox/pricing.json");
    cli(&[
        "aggregate",
        "set",
        "pricing",
        "--key",
        "oracle",
        "--content-file",
        pricing.to_str().unwrap(),
    ]);

    let runtime = cli(&["file", "add", runtime.to_str().unwrap(), "--engine", "ipfs"]);
    assert_eq!(runtime["status"], "processed", "{runtime}");
    let runtime = runtime["item_hash"].as_str().unwrap().to_owned();
    let app_dir = fixtures_dir().join("sandbox/asgi-app");
    let deployed = cli(&[
        "program",
        "deploy",
        app_dir.to_str().unwrap(),
        "--entrypoint",
        "main:app",
        "--runtime",
        &runtime,
        "--var",
        "GREETING=salut",
        "--name",
        "cli-app",
        "--on-message",
        r#"{"channel":"CLI-TRIGGERS","content":{"type":"ping"}}"#,
    ]);
    assert_eq!(deployed["status"], "processed", "{deployed}");
    let program = deployed["item_hash"].as_str().unwrap().to_owned();

    let called = cli(&["program", "call", &program, "/env/GREETING"]);
    assert_eq!(called["status"], 200, "{called}");
    let body: serde_json::Value = serde_json::from_str(called["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["value"], "salut", "{called}");
    let called = cli(&["program", "call", &program, "/"]);
    assert!(
        called["body"].as_str().unwrap().contains("aleph"),
        "{called}"
    );

    let logs = cli(&["program", "logs", &program]);
    let runs = logs["executions"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{logs}");
    let first = &runs[runs.len() - 1];
    assert_eq!(first["http_status"], 200, "{logs}");
    assert_eq!(first["cold"], true, "{logs}");
    assert!(
        first["stdout"]
            .as_str()
            .unwrap()
            .contains("variable GREETING read"),
        "the program's own output is in its logs: {logs}"
    );

    // Its subscription: a matching post runs it (Aleph's `aleph.message` scope), others do not.
    let post = |post_type: &str| {
        let posted = cli(&[
            "post",
            "create",
            "--type",
            post_type,
            "--channel",
            "CLI-TRIGGERS",
            "--content",
            "{}",
        ]);
        posted["item_hash"].as_str().unwrap().to_owned()
    };
    let pong = post("pong");
    let ping = post("ping");
    let mut received = serde_json::Value::Null;
    for _ in 0..300 {
        let called = cli(&["program", "call", &program, "/received"]);
        received = serde_json::from_str(called["body"].as_str().unwrap()).unwrap();
        if received["received"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == &ping)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        received["received"],
        serde_json::json!([ping]),
        "not {pong}"
    );
    // The app saw the message before its trigger's execution is recorded: wait for it.
    let mut logs = serde_json::Value::Null;
    for _ in 0..50 {
        logs = cli(&["program", "logs", &program]);
        let recorded = logs["executions"].as_array().unwrap().iter();
        if recorded.filter(|e| e["trigger"] == "message").count() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let triggered: Vec<_> = logs["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["trigger"] == "message")
        .collect();
    assert_eq!(triggered.len(), 1, "{logs}");
    assert!(
        triggered[0]["stdout"]
            .as_str()
            .unwrap()
            .contains(&format!("message {ping} received")),
        "{logs}"
    );

    let updated = cli(&["program", "update", &program, "--var", "GREETING=hola"]);
    assert_eq!(updated["status"], "processed", "{updated}");
    let called = cli(&["program", "call", &program, "/env/GREETING"]);
    let body: serde_json::Value = serde_json::from_str(called["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["value"], "hola", "the update serves: {called}");

    let listed = cli(&["program", "list"]);
    let hashes: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["item_hash"].as_str())
        .collect();
    assert!(hashes.contains(&program.as_str()), "{listed}");

    let forgot = cli(&["message", "forget", &program]);
    assert_eq!(forgot["status"], "processed", "{forgot}");
    let called = cli(&["program", "call", &program, "/"]);
    assert_eq!(called["status"], 410, "a forgotten program: {called}");

    drop(daemon);
    let _ = std::fs::remove_dir_all(&compute_dir);
}
