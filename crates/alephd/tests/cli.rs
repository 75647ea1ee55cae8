//! The `alephd` client commands against a live `alephd daemon`: what a user does from a
//! terminal (keys, posts, aggregates, files on both engines, messages, forget), the `--json`
//! documents scripts read, the exit code of every kind of failure, and the progress bar that
//! appears on a terminal only. Cross-checks with the real ecosystem are in `cli_crosscheck.py`:
//! messages the CLI signs verify and parse in aleph-sdk-python, keys made by the `aleph` CLI
//! import.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use alephd_testing::{Daemon, DaemonBuilder, python};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
/// The documented exit codes (crates/alephd-sdk/README.md).
const EXIT_UNREACHABLE: i32 = 3;
const EXIT_REJECTED: i32 = 4;
const EXIT_NOT_FOUND: i32 = 5;
const EXIT_TOO_LARGE: i32 = 6;
const EXIT_KEY_MISSING: i32 = 7;

/// One user of the CLI: a node and a data directory for keys.
struct User {
    api: String,
    data_dir: PathBuf,
}

impl User {
    fn new(daemon: &Daemon, data_dir: &Path) -> Self {
        Self {
            api: daemon.api_url(),
            data_dir: data_dir.to_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALEPHD_API", &self.api)
            .env("ALEPHD_DATA_DIR", &self.data_dir)
            .env_remove("ALEPHD_KEY");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("alephd did not start")
    }

    /// Runs a command that must succeed and returns its `--json` document.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.run(&all);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "alephd {} failed ({}):\n{stdout}\n{}",
            all.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("alephd {}: not JSON ({e}):\n{stdout}", all.join(" ")))
    }

    /// Runs a command that must fail with `code`; returns its `--json` error document.
    fn failure(&self, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.run(&all);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "alephd {}: wrong exit code\n{stdout}\n{stderr}",
            all.join(" ")
        );
        assert!(
            stderr.starts_with("error: "),
            "a person reads the error on stderr: {stderr}"
        );
        let body: Value = serde_json::from_str(&stdout).expect("the --json error is JSON");
        assert_eq!(body["error"]["exit_code"], code, "{body}");
        body["error"].clone()
    }
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {value}"))
}

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    // A cheap deterministic generator is enough: the content only has to be unique per test.
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[test]
fn a_user_drives_a_node_from_the_terminal() {
    let daemon = DaemonBuilder::new(BIN)
        .env("ALEPHD_STORAGE__MAX_FILE_SIZE", (16u64 << 20).to_string())
        .env(
            "ALEPHD_STORAGE__MAX_UNAUTHENTICATED_UPLOAD",
            (4u64 << 20).to_string(),
        )
        .start()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let user = User::new(&daemon, home.path());

    // Keys: created once, stored 0600, listed and shown without their secret.
    let eth = user.json(&["key", "new"]);
    let address = str_of(&eth, "address").to_owned();
    assert!(address.starts_with("0x") && address.len() == 42, "{eth}");
    let key_path = PathBuf::from(str_of(&eth, "path"));
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode");
    let sol = user.json(&["key", "new", "--name", "sol", "--kind", "sol"]);
    assert_eq!(sol["chain"], "SOL", "{sol}");
    let listed = user.json(&["key", "list"]);
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| str_of(k, "name"))
        .collect();
    assert_eq!(names, ["default", "sol"], "{listed}");
    let shown = user.json(&["key", "show", "--key", "sol"]);
    assert_eq!(shown["address"], sol["address"]);
    let secret = std::fs::read(&key_path).unwrap();
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains(&hex::encode(&secret)),
        "key list must not print secrets"
    );
    user.failure(&["key", "new"], 1); // exists already: not overwritten

    // Posts: create, amend, list (amends merged under the original).
    let post = user.json(&[
        "post",
        "create",
        "--type",
        "cli-note",
        "--content",
        r#"{"body":"first"}"#,
    ]);
    assert_eq!(post["status"], "processed", "{post}");
    assert_eq!(post["type"], "POST");
    assert_eq!(post["sender"], address.as_str());
    let original = str_of(&post, "item_hash").to_owned();
    let amend = user.json(&[
        "post",
        "amend",
        &original,
        "--content",
        r#"{"body":"second"}"#,
    ]);
    assert_eq!(amend["status"], "processed", "{amend}");
    let posts = user.json(&["post", "list", "--type", "cli-note"]);
    let posts = posts["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["original_item_hash"], original.as_str());
    assert_eq!(posts[0]["content"]["body"], "second");
    // A SOL key signs too.
    let sol_post = user.json(&[
        "post",
        "create",
        "--key",
        "sol",
        "--type",
        "cli-note",
        "--content",
        r#"{"body":"from solana"}"#,
    ]);
    assert_eq!(sol_post["status"], "processed", "{sol_post}");
    assert_eq!(sol_post["chain"], "SOL");

    // Aggregates: two sets merge; get and list read them back.
    user.json(&[
        "aggregate",
        "set",
        "profile",
        "--content",
        r#"{"name":"alice","n":1}"#,
    ]);
    user.json(&["aggregate", "set", "profile", "--content", r#"{"n":2}"#]);
    let value = user.json(&["aggregate", "get", "profile"]);
    assert_eq!(
        value["value"],
        serde_json::json!({"name": "alice", "n": 2}),
        "{value}"
    );
    let all = user.json(&["aggregate", "list"]);
    assert_eq!(all["data"]["profile"]["n"], 2, "{all}");

    // Files: 10 MiB on both engines, read back byte-identical (to a file and to stdout).
    let file = home.path().join("ten-mib.bin");
    let bytes = random_file(&file, 10 << 20);
    for engine in ["storage", "ipfs"] {
        let added = user.json(&["file", "add", file.to_str().unwrap(), "--engine", engine]);
        assert_eq!(added["status"], "processed", "{added}");
        assert_eq!(added["size"], 10 << 20);
        let file_hash = str_of(&added, "file_hash").to_owned();
        if engine == "storage" {
            use sha2::Digest;
            assert_eq!(file_hash, hex::encode(sha2::Sha256::digest(&bytes)));
        } else {
            assert!(file_hash.starts_with("Qm"), "{file_hash}");
        }
        let out = home.path().join(format!("back-{engine}.bin"));
        user.json(&["file", "get", &file_hash, "-o", out.to_str().unwrap()]);
        assert!(
            std::fs::read(&out).unwrap() == bytes,
            "{engine}: -o differs"
        );
        let piped = user.run(&["file", "get", &file_hash]);
        assert!(piped.status.success());
        assert!(piped.stdout == bytes, "{engine}: stdout differs");
        // The STORE is the user's, and forgetting it is the user's to do.
        let store = str_of(&added, "item_hash").to_owned();
        let message = user.json(&["message", "get", &store]);
        assert_eq!(message["message"]["type"], "STORE", "{message}");
        if engine == "ipfs" {
            let forgot = user.json(&["file", "forget", &store]);
            assert_eq!(forgot["status"], "processed", "{forgot}");
            let message = user.json(&["message", "get", &store]);
            assert_eq!(message["status"], "forgotten", "{message}");
        }
    }
    // Over the node's limit: refused with the limit named, exit code TOO_LARGE.
    let big = home.path().join("big.bin");
    random_file(&big, 64 << 20); // far over: most of it is still unsent when the node refuses
    let error = user.failure(&["file", "add", big.to_str().unwrap()], EXIT_TOO_LARGE);
    assert_eq!(error["kind"], "too_large", "{error}");
    assert_eq!(error["limit"], 16u64 << 20, "{error}");

    // Watch: one JSON line per message. A channel of its own, and `--history 1` so that the
    // post is seen whether it lands before or after the subscription.
    let mut watch = user
        .command(&[
            "message",
            "watch",
            "--channel",
            "CLI-WATCH",
            "--history",
            "1",
            "--count",
            "1",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300)); // usually subscribed by now
    let watched = user.json(&[
        "post",
        "create",
        "--type",
        "cli-watched",
        "--channel",
        "CLI-WATCH",
        "--content",
        r#"{"body":"seen"}"#,
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while watch.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            watch.kill().unwrap();
            panic!("message watch never printed the post");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = watch.wait_with_output().unwrap();
    assert!(output.status.success(), "watch: {output:?}");
    let line: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(line["item_hash"], watched["item_hash"], "{line}");

    // Messages: list with filters, get, forget.
    let listed = user.json(&["message", "list", "--type", "POST", "--address", &address]);
    let hashes: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| str_of(m, "item_hash"))
        .collect();
    assert!(
        hashes.contains(&original.as_str()) && hashes.contains(&str_of(&amend, "item_hash")),
        "{hashes:?}"
    );
    assert!(
        !hashes.contains(&str_of(&sol_post, "item_hash")),
        "address filter"
    );
    let forgot = user.json(&["message", "forget", &original, "--reason", "done"]);
    assert_eq!(forgot["status"], "processed", "{forgot}");
    let gone = user.json(&["message", "get", &original]);
    assert_eq!(gone["status"], "forgotten", "{gone}");
    let posts = user.json(&["post", "list", "--type", "cli-note"]);
    assert_eq!(
        posts["posts"],
        serde_json::json!([]),
        "forgotten with its amend"
    );
    let sol_address = str_of(&sol, "address");
    let posts = user.json(&[
        "post",
        "list",
        "--type",
        "cli-note",
        "--address",
        sol_address,
    ]);
    assert_eq!(
        posts["posts"][0]["content"]["body"], "from solana",
        "{posts}"
    );

    // Failures: each its own exit code and a sentence on stderr.
    let unknown = "0".repeat(64);
    let error = user.failure(&["message", "get", &unknown], EXIT_NOT_FOUND);
    assert_eq!(error["kind"], "not_found");
    let error = user.failure(
        &["post", "create", "--key", "nobody", "--content", "{}"],
        EXIT_KEY_MISSING,
    );
    assert!(
        str_of(&error, "message").contains("alephd key new"),
        "says what to do: {error}"
    );
    let error = user.failure(
        &["post", "create", "--content", "{not json"],
        1, // a usage error of the content, before any node call
    );
    assert!(
        str_of(&error, "message").contains("not valid JSON"),
        "{error}"
    );
    // Another user amending alice's post: the node rejects it (permission), code and meaning.
    let mallory_home = tempfile::tempdir().unwrap();
    let mallory = User::new(&daemon, mallory_home.path());
    mallory.json(&["key", "new"]);
    let error = mallory.failure(
        &[
            "post",
            "amend",
            str_of(&sol_post, "item_hash"),
            "--content",
            "{}",
        ],
        EXIT_REJECTED,
    );
    assert_eq!(error["kind"], "rejected", "{error}");
    assert!(error["error_code"].is_number(), "{error}");
    assert!(!str_of(&error, "meaning").is_empty(), "{error}");
    let offline = User {
        api: "http://127.0.0.1:1".to_owned(),
        data_dir: home.path().to_owned(),
    };
    let error = offline.failure(&["node", "status"], EXIT_UNREACHABLE);
    assert!(
        str_of(&error, "message").contains("alephd daemon"),
        "{error}"
    );

    // Node status reads the node.
    let status = user.json(&["node", "status"]);
    assert!(
        str_of(&status, "version").starts_with("alephd/"),
        "{status}"
    );
}

/// The bar is drawn on a terminal (a pty from `script`, as a person would see it) and never
/// into a pipe.
#[test]
fn progress_appears_on_a_terminal_only() {
    let daemon = DaemonBuilder::new(BIN).start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let user = User::new(&daemon, home.path());
    user.json(&["key", "new"]);
    let file = home.path().join("eight-mib.bin");
    random_file(&file, 8 << 20);

    let piped = user.run(&["file", "add", file.to_str().unwrap()]);
    assert!(piped.status.success(), "{piped:?}");
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("MiB/s"),
        "no bar in a pipe: {stderr:?}"
    );

    random_file(&file, (8 << 20) + 1); // another file: not already stored
    let command = format!("{BIN} file add --engine ipfs {}", file.display());
    let on_tty = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("ALEPHD_API", &user.api)
        .env("ALEPHD_DATA_DIR", &user.data_dir)
        .env("TERM", "xterm")
        .output()
        .expect("script(1) from util-linux");
    let screen = String::from_utf8_lossy(&on_tty.stdout);
    assert!(on_tty.status.success(), "{screen}");
    assert!(
        screen.contains('\r') && screen.contains('%') && screen.contains("MiB/s"),
        "a progress bar with throughput on a terminal: {screen:?}"
    );
}

/// The real ecosystem accepts what the CLI makes: the Python SDK parses and verifies messages
/// signed by `alephd` (ETH and SOL), and keys created by the `aleph` CLI import.
#[test]
fn the_python_ecosystem_accepts_what_the_cli_makes() {
    let daemon = DaemonBuilder::new(BIN).start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let aleph = python().with_file_name("aleph");
    let output = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/cli_crosscheck.py"))
        .arg(daemon.api_url())
        .arg(BIN)
        .arg(aleph)
        .arg(home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("CLI CROSSCHECK OK"),
        "crosscheck failed ({})\n--- stdout\n{stdout}\n--- stderr\n{}\n--- daemon log\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        daemon.log()
    );
}
