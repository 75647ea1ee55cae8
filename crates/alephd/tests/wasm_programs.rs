//! Wasm PROGRAMs end to end on a live `alephd daemon`: the `hello-http` component (built for
//! wasm32-wasip2 from `fixtures/wasm/hello-http`) deployed by messages with `alephd program
//! deploy`, its PROGRAM checked against Aleph's own `aleph-message` models, served on
//! `/vm/{hash}` and on `<base32(hash)>.<domain>` with the program headers, its executions
//! logged with their output, an `on.message` subscription receiving only matching messages, a
//! new version serving on the next request, persistent data kept across a node restart, new
//! code in another language (a JavaScript component built by componentize-js) serving on the
//! next request after an update, and a forgotten program answering 410.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    time::Duration,
};

use alephd_testing::{
    DaemonBuilder, fixtures_dir, python, repo_root, wasm_hello_component, wasm_js_component,
    wasm_ticker_command,
};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
/// The key (32 × 0x33) that posts balances and pricing, as in the sandbox flow.
const ORACLE: &str = "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB";

fn daemon(data: &std::path::Path, work: &std::path::Path) -> alephd_testing::Daemon {
    DaemonBuilder::new(BIN)
        .data_dir(data)
        .env(
            "ALEPHD_PROCESSOR__BILLING__BALANCE_SENDERS",
            format!("[\"{ORACLE}\"]"),
        )
        .env("ALEPHD_PROCESSOR__BILLING__PRICING_OWNER", ORACLE)
        // Persistent programs paid by holding are refused since 2026-03-11 (Aleph's rule);
        // the CLI's Composer builds hold payments only (see the sandbox flow).
        .env("ALEPHD_PROCESSOR__BILLING__HOLD_STREAM_CUTOFF", "1e12")
        .env("ALEPHD_COMPUTE__WORK_DIR", work.display().to_string())
        .env("ALEPHD_COMPUTE__DOMAIN", "aleph.test")
        .start()
        .unwrap()
}

/// A raw HTTP/1.1 request: (status, headers lowercased, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nx-custom: abc\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, headers, body)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
    out
}

/// The program's DNS label: base32 (RFC 4648, lowercase, unpadded) of its hash bytes.
fn host_label(hash: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes: Vec<u8> = (0..hash.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hash[i..i + 2], 16).unwrap())
        .collect();
    let (mut out, mut buffer, mut bits) = (String::new(), 0u32, 0);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[test]
fn wasm_programs_deploy_serve_update_trigger_and_forget() {
    let component = wasm_hello_component().unwrap();
    let base = repo_root().join(format!("target/wasm-tests/daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (data, work) = (base.join("data"), base.join("compute"));
    std::fs::create_dir_all(&work).unwrap();
    let mut node = daemon(&data, &work);
    let home = tempfile::tempdir().unwrap();
    let cli = |node: &alephd_testing::Daemon, args: &[&str]| -> serde_json::Value {
        let output = Command::new(BIN)
            .args(args)
            .arg("--json")
            .env("ALEPHD_API", node.api_url())
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
            node.log()
        );
        serde_json::from_str(&stdout).unwrap()
    };
    let oracle_key = home.path().join("oracle.key");
    std::fs::write(&oracle_key, "33".repeat(32)).unwrap();
    let oracle = cli(
        &node,
        &[
            "key",
            "import",
            oracle_key.to_str().unwrap(),
            "--name",
            "oracle",
        ],
    );
    assert_eq!(oracle["address"], ORACLE);
    let alice = cli(&node, &["key", "new"]);
    let alice = alice["address"].as_str().unwrap().to_owned();
    let balances =
        serde_json::json!({"chain": "ETH", "main_height": 1, "balances": {&alice: 1_000_000}});
    let posted = cli(
        &node,
        &[
            "post",
            "create",
            "--key",
            "oracle",
            "--type",
            "balances-update",
            "--content",
            &balances.to_string(),
        ],
    );
    assert_eq!(posted["status"], "processed", "{posted}");
    let pricing = fixtures_dir().join("sandbox/pricing.json");
    cli(
        &node,
        &[
            "aggregate",
            "set",
            "pricing",
            "--key",
            "oracle",
            "--content-file",
            pricing.to_str().unwrap(),
        ],
    );

    let deployed = cli(
        &node,
        &[
            "program",
            "deploy",
            component.to_str().unwrap(),
            "--var",
            "GREETING=salut",
            "--name",
            "wasm-app",
            "--persistent-volume",
            "data:/data:16",
            "--ephemeral-volume",
            "/scratch",
            "--on-message",
            r#"{"channel":"WASM-TRIGGERS","content":{"type":"ping"}}"#,
        ],
    );
    assert_eq!(deployed["status"], "processed", "{deployed}");
    let program = deployed["item_hash"].as_str().unwrap().to_owned();
    let code_ref = deployed["code_ref"].as_str().unwrap().to_owned();

    // The PROGRAM is valid for Aleph's own models, and names the Wasm runtime.
    let (_, message) =
        alephd_testing::http_get(node.api_addr(), &format!("/api/v0/messages/{program}")).unwrap();
    let check = Command::new(python())
        .args([
            "-c",
            "import json, sys\n\
             from aleph_message import parse_message\n\
             m = parse_message(json.loads(sys.stdin.read())['message'])\n\
             print(type(m).__name__, m.content.runtime.ref, m.content.code.encoding.value)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .as_ref()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "aleph-message refused the PROGRAM: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        format!(
            "ProgramMessage {} plain",
            alephd_compute::wasm::WASM_RUNTIME_REF
        )
    );

    // `/vm/{hash}`: method, query, headers, body and status round-trip; the program headers.
    let addr = node.api_addr();
    let (status, headers, body) = request(
        addr,
        "PUT",
        &format!("/vm/{program}/echo?status=202&q=1"),
        &addr.to_string(),
        "payload",
    );
    assert_eq!(status, 202, "{body}\n{}", node.log());
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/echo?status=202&q=1");
    assert_eq!(echo["headers"]["x-custom"], "abc");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["greeting"], "salut");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("aleph-program-itemhash"), program);
    assert_eq!(header("aleph-program-code-ref"), code_ref);
    assert_eq!(header("x-echo"), "yes");

    // The host route, path unchanged.
    let host = format!("{}.aleph.test", host_label(&program));
    let (status, _, body) = request(addr, "GET", "/", &host, "");
    assert_eq!((status, body.as_str()), (200, "hello from wasm"));

    // Persistent and ephemeral volumes.
    let (_, _, body) = request(
        addr,
        "GET",
        &format!("/vm/{program}/write?path=/data/kept&value=v1"),
        &addr.to_string(),
        "",
    );
    assert_eq!(body, "written");

    // The executions log has the program's output.
    let logs = cli(&node, &["program", "logs", &program]);
    let runs = logs["executions"].as_array().unwrap();
    assert!(runs.len() >= 3, "{logs}");
    assert!(
        runs.iter().any(|r| r["stdout"]
            .as_str()
            .unwrap()
            .contains("request /echo?status=202&q=1")),
        "{logs}"
    );
    let (_, list) = alephd_testing::http_get(addr, "/about/executions/list").unwrap();
    assert!(
        list.contains(&program) && list.contains("\"wasm\""),
        "{list}"
    );

    // A subscription: a matching post runs it, another does not.
    let post = |node: &alephd_testing::Daemon, post_type: &str| {
        let posted = cli(
            node,
            &[
                "post",
                "create",
                "--type",
                post_type,
                "--channel",
                "WASM-TRIGGERS",
                "--content",
                "{}",
            ],
        );
        posted["item_hash"].as_str().unwrap().to_owned()
    };
    let pong = post(&node, "pong");
    let ping = post(&node, "ping");
    let mut received = String::new();
    for _ in 0..150 {
        received = request(
            addr,
            "GET",
            &format!("/vm/{program}/received"),
            &addr.to_string(),
            "",
        )
        .2;
        if received.contains(&ping) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        received.trim(),
        ping,
        "only the matching message (not {pong})"
    );

    // A new version (other variables) serves on the next request.
    let updated = cli(
        &node,
        &["program", "update", &program, "--var", "GREETING=hola"],
    );
    assert_eq!(updated["status"], "processed", "{updated}");
    let (_, headers, body) = request(
        addr,
        "GET",
        &format!("/vm/{program}/echo"),
        &addr.to_string(),
        "",
    );
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["greeting"], "hola", "{body}");
    let version = headers
        .iter()
        .find(|(k, _)| k == "aleph-program-itemhash")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(version, updated["item_hash"].as_str().unwrap());

    // A persistent program: a wasi:cli command kept running, restarted when it fails.
    let ticker = wasm_ticker_command().unwrap();
    let kept = cli(
        &node,
        &[
            "program",
            "deploy",
            ticker.to_str().unwrap(),
            "--persistent",
            "--persistent-volume",
            "state:/data:4",
            "--var",
            "FAIL_AFTER=4",
        ],
    );
    assert_eq!(kept["status"], "processed", "{kept}");
    let kept = kept["item_hash"].as_str().unwrap().to_owned();
    let state = work.join("wasm/volumes").join(&kept).join("state");
    let count =
        |file: &str| std::fs::read_to_string(state.join(file)).map_or(0, |t| t.lines().count());
    for _ in 0..300 {
        if count("starts") >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        count("starts") >= 2,
        "started, failed, started again\n{}",
        node.log()
    );
    let logs = cli(&node, &["program", "logs", &kept]);
    let runs = logs["executions"].as_array().unwrap();
    assert!(
        runs.iter().any(|r| r["trigger"] == "persistent"
            && r["status"] == "error"
            && r["stderr"]
                .as_str()
                .unwrap()
                .contains("failing on purpose after 4 ticks")),
        "the failure is logged with its output: {logs}"
    );
    let forgot = cli(&node, &["message", "forget", &kept]);
    assert_eq!(forgot["status"], "processed", "{forgot}");
    std::thread::sleep(Duration::from_millis(1500));
    let after = count("ticks");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count("ticks"), after, "a forgotten program is stopped");

    // Persistent data survives a node restart (and the new version).
    node.terminate().unwrap();
    drop(node);
    let node = daemon(&data, &work);
    let addr = node.api_addr();
    let (_, _, body) = request(
        addr,
        "GET",
        &format!("/vm/{program}/read?path=/data/kept"),
        &addr.to_string(),
        "",
    );
    assert_eq!(body, "v1", "{}", node.log());

    // New code, in JavaScript: the next request runs it, on both routes.
    let js = wasm_js_component().unwrap();
    let updated = cli(
        &node,
        &[
            "program",
            "update",
            &program,
            "--code",
            js.to_str().unwrap(),
        ],
    );
    assert_eq!(updated["status"], "processed", "{updated}");
    let (status, headers, body) = request(
        addr,
        "POST",
        &format!("/vm/{program}/echo?status=201&lang=js"),
        &addr.to_string(),
        "to js",
    );
    assert_eq!(status, 201, "{body}\n{}", node.log());
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo?status=201&lang=js");
    assert_eq!(echo["headers"]["x-custom"], "abc");
    assert_eq!(echo["body"], "to js");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        header("aleph-program-itemhash"),
        updated["item_hash"].as_str().unwrap()
    );
    assert_eq!(header("x-echo"), "yes");
    let (status, _, body) = request(addr, "GET", "/", &host, "");
    assert_eq!((status, body.as_str()), (200, "hello from js"));

    let forgot = cli(&node, &["message", "forget", &program]);
    assert_eq!(forgot["status"], "processed", "{forgot}");
    let (status, _, _) = request(
        addr,
        "GET",
        &format!("/vm/{program}/"),
        &addr.to_string(),
        "",
    );
    assert_eq!(status, 410, "a forgotten program");
    drop(node);
    let _ = std::fs::remove_dir_all(&base);
}
