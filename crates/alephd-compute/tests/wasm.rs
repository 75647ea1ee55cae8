//! The Wasm runtime with real parts: wasmtime, the `hello-http` component built from
//! `fixtures/wasm/hello-http` for wasm32-wasip2 by cargo, a real loopback HTTP server for
//! outbound requests, real squashfs images (mksquashfs) for immutable volumes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpListener,
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};

use alephd_compute::{
    sandbox::FileRef,
    wasm::{
        CommandStatus, WasmConfig, WasmError, WasmOutput, WasmProgram, WasmRuntime, WasmVolume,
        WasmVolumeSource,
    },
};
use alephd_testing::{repo_root, wasm_hello_component, wasm_js_component, wasm_ticker_command};
use axum::{body::Body, http};
use http_body_util::BodyExt;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{nanos}x{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn work_dir() -> std::path::PathBuf {
    let dir = repo_root().join("target/wasm-tests").join(unique("w"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn runtime(work: &Path) -> WasmRuntime {
    runtime_with(work, WasmConfig::default())
}

fn runtime_with(work: &Path, config: WasmConfig) -> WasmRuntime {
    WasmRuntime::new(config, work, "unsquashfs".into()).unwrap()
}

/// The component under a content-hash-like key of its own.
fn component() -> FileRef {
    let path = wasm_hello_component().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let key = format!("hello{}x{}", bytes.len(), crc(&bytes));
    FileRef { path, key }
}

/// The JavaScript component (componentize-js), keyed the same way.
fn js_component() -> FileRef {
    let path = wasm_js_component().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let key = format!("hellojs{}x{}", bytes.len(), crc(&bytes));
    FileRef { path, key }
}

fn crc(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

fn program(code: FileRef) -> WasmProgram {
    WasmProgram {
        id: unique("p"),
        code,
        variables: BTreeMap::from([("GREETING".to_owned(), "salut".to_owned())]),
        volumes: Vec::new(),
        internet: false,
        aleph_api: false,
        memory_mib: 128,
        seconds: 5,
        persistent: false,
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
    output: WasmOutput,
}

async fn call(
    runtime: &WasmRuntime,
    program: &WasmProgram,
    request: http::Request<Body>,
) -> Result<Answer, (WasmError, WasmOutput)> {
    let (result, output) = runtime.handle(program, request).await;
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Ok(Answer {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                output,
            })
        }
        Err(e) => Err((e, output)),
    }
}

async fn get(runtime: &WasmRuntime, program: &WasmProgram, uri: &str) -> Answer {
    let request = http::Request::get(uri).body(Body::empty()).unwrap();
    match call(runtime, program, request).await {
        Ok(answer) => answer,
        Err((e, out)) => panic!("GET {uri}: {e}\n{out:?}"),
    }
}

#[tokio::test]
async fn a_component_round_trips_method_query_headers_body_and_status() {
    let work = work_dir();
    let runtime = runtime(&work);
    let program = program(component());
    let request = http::Request::post("/echo?status=201&x=%C3%A9")
        .header("x-test", "yes it is")
        .header("host", "abc.example.org")
        .body(Body::from("the body"))
        .unwrap();
    let answer = call(&runtime, &program, request).await.unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.headers["x-echo"], "yes");
    let echo: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo?status=201&x=%C3%A9");
    assert_eq!(echo["headers"]["x-test"], "yes it is");
    assert_eq!(echo["body"], "the body");
    assert_eq!(echo["greeting"], "salut", "variables are the environment");
    assert!(answer.output.cold, "the first request loads the program");
    assert!(
        answer.output.stdout.contains("request /echo?status=201"),
        "stdout is captured: {:?}",
        answer.output
    );
    assert!(answer.output.stderr.contains("stderr line for /echo"));

    let again = get(&runtime, &program, "/").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, "hello from wasm");
    assert!(!again.output.cold, "the second request is warm");
    assert!(runtime.is_loaded(&program.id));

    // The machine code is cached on disk: a restarted runtime loads it without compiling.
    let compiled: Vec<_> = std::fs::read_dir(work.join("wasm/compiled"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .collect();
    assert_eq!(compiled.len(), 1, "one compiled artifact");
    drop(runtime);
    let restarted = self::runtime(&work);
    assert_eq!(get(&restarted, &program, "/").await.body, "hello from wasm");
}

#[tokio::test]
async fn a_spinning_guest_gets_504_and_nothing_else_is_affected() {
    let work = work_dir();
    let runtime = runtime(&work);
    let code = component();
    let mut spinner = program(code.clone());
    spinner.seconds = 1;
    let other = program(code);
    get(&runtime, &other, "/").await;

    let began = std::time::Instant::now();
    let spin = {
        let runtime = runtime.clone();
        let spinner = spinner.clone();
        tokio::spawn(async move {
            let request = http::Request::get("/spin").body(Body::empty()).unwrap();
            call(&runtime, &spinner, request).await.err()
        })
    };
    // While it spins, another program answers.
    let answer = get(&runtime, &other, "/echo").await;
    assert_eq!(answer.status, 200);
    let (err, _) = spin.await.unwrap().expect("the spinner must fail");
    assert!(matches!(err, WasmError::Timeout(1)), "{err}");
    assert_eq!(err.http_status(), 504);
    assert!(
        began.elapsed().as_secs() < 30,
        "it was stopped, not waited out"
    );
    // And the spinner's next request is served by a fresh instance.
    assert_eq!(get(&runtime, &spinner, "/").await.status, 200);
}

#[tokio::test]
async fn memory_past_the_limit_fails_that_request_alone() {
    let work = work_dir();
    let runtime = runtime(&work);
    let mut small = program(component());
    small.memory_mib = 32;
    let request = http::Request::get("/alloc?mib=64")
        .body(Body::empty())
        .unwrap();
    let (err, _) = call(&runtime, &small, request).await.err().unwrap();
    assert_eq!(err.http_status(), 502, "{err}");
    let fine = get(&runtime, &small, "/alloc?mib=8").await;
    assert_eq!((fine.status, fine.body.as_str()), (200, "allocated 8 MiB"));

    let mut greedy = program(component());
    greedy.memory_mib = 1 << 20;
    let request = http::Request::get("/").body(Body::empty()).unwrap();
    let (err, _) = call(&runtime, &greedy, request).await.err().unwrap();
    assert!(matches!(err, WasmError::TooMuchMemory { .. }), "{err}");
}

/// A loopback HTTP server answering 204 to every request.
fn http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    addr
}

#[tokio::test]
async fn host_files_and_the_network_are_closed_unless_granted() {
    let work = work_dir();
    let runtime = runtime(&work);
    let server = http_server();
    let closed = program(component());
    let read = get(&runtime, &closed, "/read?path=/etc/passwd").await;
    assert_eq!(read.status, 403, "no preopen, no host files: {}", read.body);
    let fetch = get(&runtime, &closed, &format!("/fetch?url=http://{server}/")).await;
    assert_eq!(fetch.status, 502, "{}", fetch.body);
    assert!(fetch.body.contains("HttpRequestDenied"), "{}", fetch.body);

    // `aleph_api`: the node's own API only.
    runtime.set_api_authority(server.clone());
    let mut api = program(component());
    api.aleph_api = true;
    let fetch = get(&runtime, &api, &format!("/fetch?url=http://{server}/")).await;
    assert_eq!(fetch.body, "fetched: 204");
    let other = http_server();
    let fetch = get(&runtime, &api, &format!("/fetch?url=http://{other}/")).await;
    assert!(fetch.body.contains("HttpRequestDenied"), "{}", fetch.body);

    let mut open = program(component());
    open.internet = true;
    let fetch = get(&runtime, &open, &format!("/fetch?url=http://{other}/")).await;
    assert_eq!(fetch.body, "fetched: 204");
}

#[tokio::test]
async fn volumes_persistent_survive_restarts_ephemeral_do_not_immutable_are_read_only() {
    let work = work_dir();
    let image_src = work.join("image-src");
    std::fs::create_dir_all(&image_src).unwrap();
    std::fs::write(image_src.join("hello.txt"), "from the image").unwrap();
    let image = work.join("image.squashfs");
    let status = std::process::Command::new("mksquashfs")
        .arg(&image_src)
        .arg(&image)
        .args(["-quiet", "-no-progress", "-noappend"])
        .status()
        .expect("mksquashfs (squashfs-tools) must be installed");
    assert!(status.success());
    let mut p = program(component());
    p.volumes = vec![
        WasmVolume {
            mount: "/data".into(),
            source: WasmVolumeSource::Persistent {
                name: "data".into(),
                size_mib: 16,
            },
        },
        WasmVolume {
            mount: "/scratch".into(),
            source: WasmVolumeSource::Ephemeral { size_mib: 16 },
        },
        WasmVolume {
            mount: "/opt/image".into(),
            source: WasmVolumeSource::Immutable(FileRef {
                path: image,
                key: unique("img"),
            }),
        },
    ];
    let runtime = runtime(&work);
    let w = get(&runtime, &p, "/write?path=/data/kept&value=still+here").await;
    assert_eq!(w.body, "written");
    let w = get(&runtime, &p, "/write?path=/scratch/gone&value=x").await;
    assert_eq!(w.body, "written");
    let r = get(&runtime, &p, "/read?path=/scratch/gone").await;
    assert_eq!(
        r.status, 403,
        "each instance gets a fresh scratch dir: {}",
        r.body
    );
    let r = get(&runtime, &p, "/read?path=/opt/image/hello.txt").await;
    assert_eq!(r.body, "from the image");
    let w = get(&runtime, &p, "/write?path=/opt/image/hello.txt&value=no").await;
    assert_eq!(w.status, 403, "immutable volumes are read-only: {}", w.body);
    let r = get(&runtime, &p, "/read?path=/data/../../etc/passwd").await;
    assert_eq!(r.status, 403, "no escape from a preopen: {}", r.body);

    drop(runtime);
    let restarted = self::runtime(&work);
    let r = get(&restarted, &p, "/read?path=/data/kept").await;
    assert_eq!(r.body, "still here", "persistent data survives a restart");
    let scratch: Vec<_> = std::fs::read_dir(work.join("wasm/scratch"))
        .unwrap()
        .collect();
    assert!(
        scratch.is_empty(),
        "ephemeral dirs are removed: {scratch:?}"
    );
}

#[tokio::test]
async fn code_that_is_not_a_component_is_refused_with_why() {
    let work = work_dir();
    let runtime = runtime(&work);
    for (name, bytes) in [
        ("core", b"\0asm\x01\x00\x00\x00".to_vec()),
        ("zip", b"PK\x03\x04garbage".to_vec()),
        ("broken", b"\0asm\x0d\x00\x01\x00\xff\xff\xff".to_vec()),
    ] {
        let path = work.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let p = program(FileRef {
            path,
            key: unique(name),
        });
        let request = http::Request::get("/").body(Body::empty()).unwrap();
        let (err, _) = call(&runtime, &p, request).await.err().unwrap();
        assert!(matches!(err, WasmError::BadCode(_)), "{name}: {err}");
        assert_eq!(err.http_status(), 400);
    }
}

/// The same contract, kept by a guest in another language: JavaScript compiled into a
/// component by componentize-js (a 13 MB component embedding the StarlingMonkey engine).
#[tokio::test]
async fn a_javascript_component_round_trips_and_keeps_to_its_limits() {
    let work = work_dir();
    let runtime = runtime(&work);
    let server = http_server();
    let mut program = program(js_component());
    let request = http::Request::put("/echo?status=202&x=%C3%A9")
        .header("x-test", "from js")
        .body(Body::from("the js body"))
        .unwrap();
    let answer = call(&runtime, &program, request).await.unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.headers["x-echo"], "yes");
    let echo: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/echo?status=202&x=%C3%A9");
    assert_eq!(echo["headers"]["x-test"], "from js");
    assert_eq!(echo["body"], "the js body");
    assert!(answer.output.cold);
    assert!(
        answer.output.stdout.contains("request /echo?status=202"),
        "console.log is captured: {:?}",
        answer.output
    );
    assert!(answer.output.stderr.contains("stderr line for /echo"));
    let warm = get(&runtime, &program, "/").await;
    assert_eq!((warm.status, warm.body.as_str()), (200, "hello from js"));
    assert!(!warm.output.cold);

    let fetch = get(&runtime, &program, &format!("/fetch?url=http://{server}/")).await;
    assert_eq!(fetch.status, 502, "no internet, no fetch: {}", fetch.body);

    program.seconds = 1;
    let request = http::Request::get("/spin").body(Body::empty()).unwrap();
    let (err, _) = call(&runtime, &program, request).await.err().unwrap();
    assert!(matches!(err, WasmError::Timeout(1)), "{err}");

    let request = http::Request::get("/alloc?mib=512")
        .body(Body::empty())
        .unwrap();
    // The JS engine sees its heap refused at `resources.memory` and fails the request itself
    // (a Rust guest traps instead, see above); either way the next request is served.
    let answer = call(&runtime, &program, request).await.unwrap();
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(
        answer.output.stderr.contains("out of memory"),
        "{:?}",
        answer.output
    );
    let fine = get(&runtime, &program, "/alloc?mib=8").await;
    assert_eq!((fine.status, fine.body.as_str()), (200, "allocated 8 MiB"));

    program.internet = true;
    let fetch = get(&runtime, &program, &format!("/fetch?url=http://{server}/")).await;
    assert_eq!(fetch.body, "fetched: 204");
}

/// Bytes of the files under `dir`.
fn usage(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[tokio::test]
async fn a_guest_filling_a_volume_past_its_size_is_stopped_and_keeps_serving() {
    let work = work_dir();
    let runtime = runtime(&work);
    let mut p = program(component());
    p.volumes = vec![
        WasmVolume {
            mount: "/data".into(),
            source: WasmVolumeSource::Persistent {
                name: "data".into(),
                size_mib: 2,
            },
        },
        WasmVolume {
            mount: "/scratch".into(),
            source: WasmVolumeSource::Ephemeral { size_mib: 1 },
        },
    ];
    for mount in ["/scratch", "/data"] {
        let request = http::Request::get(format!("/fill?path={mount}/big"))
            .body(Body::empty())
            .unwrap();
        let (err, _) = call(&runtime, &p, request)
            .await
            .err()
            .expect("an endless writer must be stopped");
        match &err {
            WasmError::VolumeFull { mount: m, size_mib } => {
                assert_eq!(m, mount);
                assert_eq!(*size_mib, if mount == "/data" { 2 } else { 1 });
            }
            other => panic!("{mount}: {other}"),
        }
        assert_eq!(err.http_status(), 507);
    }
    let volume = work.join("wasm/volumes").join(&p.id).join("data");
    let used = usage(&volume);
    assert!(used > 2 << 20, "it did write past the size: {used}");
    eprintln!("a 2 MiB persistent volume held {used} bytes when its writer was stopped");
    // The volume stays readable and its data deletable; writing within it works again.
    let small = get(&runtime, &p, "/write?path=/data/big&value=small").await;
    assert_eq!(small.body, "written");
    assert_eq!(usage(&volume), 5);
    let r = get(&runtime, &p, "/read?path=/data/big").await;
    assert_eq!(r.body, "small");
}

#[tokio::test]
async fn fuel_is_a_cpu_budget_when_configured() {
    let work = work_dir();
    let config = WasmConfig {
        fuel_per_second: 50_000_000,
        ..WasmConfig::default()
    };
    let runtime = runtime_with(&work, config);
    let mut p = program(component());
    p.seconds = 30;
    assert_eq!(get(&runtime, &p, "/").await.body, "hello from wasm");
    let began = std::time::Instant::now();
    let request = http::Request::get("/spin").body(Body::empty()).unwrap();
    let (err, _) = call(&runtime, &p, request).await.err().unwrap();
    assert!(
        matches!(err, WasmError::OutOfFuel(1_500_000_000)),
        "1.5 G units for 30 s: {err}"
    );
    assert_eq!(err.http_status(), 504);
    assert!(
        began.elapsed() < std::time::Duration::from_secs(30),
        "fuel ran out before the clock did"
    );
    assert_eq!(get(&runtime, &p, "/").await.status, 200);
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Waits up to 20 s for `check`.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_persistent_command_runs_until_stopped_and_reports_its_failures() {
    let work = work_dir();
    let runtime = runtime(&work);
    let path = wasm_ticker_command().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let code = FileRef {
        path,
        key: format!("ticker{}x{}", bytes.len(), crc(&bytes)),
    };
    let mut p = program(code);
    p.persistent = true;
    p.seconds = 1; // a request limit: a command is not held to it
    p.volumes = vec![WasmVolume {
        mount: "/data".into(),
        source: WasmVolumeSource::Persistent {
            name: "data".into(),
            size_mib: 4,
        },
    }];
    let data = work.join("wasm/volumes").join(&p.id).join("data");
    let (status, _) = runtime.keep(&p).await;
    assert_eq!(status.unwrap(), CommandStatus::Started);
    assert!(runtime.command_running(&p.id));
    let (status, _) = runtime.keep(&p).await;
    assert_eq!(
        status.unwrap(),
        CommandStatus::Running,
        "kept, not restarted"
    );
    // It runs past `resources.seconds`: that limit is per request.
    eventually("30 ticks (1.5 s)", || lines(&data.join("ticks")) >= 30).await;
    assert!(runtime.command_running(&p.id));
    let out = runtime.command_output(&p.id).unwrap();
    assert!(out.stdout.contains("tick 1\n"), "{out:?}");
    // It serves no HTTP.
    let request = http::Request::get("/").body(Body::empty()).unwrap();
    let (err, _) = call(&runtime, &p, request).await.err().unwrap();
    assert!(matches!(err, WasmError::BadCode(_)), "{err}");

    // A new version replaces it; one that fails is reported once, then started again.
    p.variables.insert("FAIL_AFTER".into(), "3".into());
    let (status, _) = runtime.keep(&p).await;
    assert_eq!(status.unwrap(), CommandStatus::Started);
    eventually("the failing version to end", || {
        !runtime.command_running(&p.id)
    })
    .await;
    let (status, output) = runtime.keep(&p).await;
    let err = status.unwrap_err();
    assert!(
        err.to_string().contains("exited with a failure status"),
        "{err}"
    );
    assert!(
        output.stderr.contains("failing on purpose after 3 ticks"),
        "{output:?}"
    );
    assert!(
        !runtime.command_running(&p.id),
        "left stopped for the caller to back off"
    );
    let (status, _) = runtime.keep(&p).await;
    assert_eq!(status.unwrap(), CommandStatus::Started);
    eventually("the third start", || lines(&data.join("starts")) == 3).await;

    // Stopped: it writes no more.
    p.variables.remove("FAIL_AFTER");
    runtime.keep(&p).await.0.unwrap();
    eventually("ticks of the last version", || {
        runtime
            .command_output(&p.id)
            .is_some_and(|o| o.stdout.contains("tick 5"))
    })
    .await;
    runtime.stop_command(&p.id);
    let stopped_at = lines(&data.join("ticks"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        lines(&data.join("ticks")) <= stopped_at + 1,
        "no ticks after the stop"
    );
    assert!(!runtime.command_running(&p.id));
}
