//! The Linux sandbox with the real parts: bubblewrap, setpriv, cgroups, seccomp, slirp4netns,
//! the Debian + Python runtime image built by `build_runtime` (cached in target/), a FastAPI
//! app and a static binary program. Needs root (cgroups, setpriv) and the tools that
//! `scripts/test-env.sh` installs; a missing tool fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::{
    collections::BTreeMap,
    io::Write,
    net::{TcpListener, UdpSocket},
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use alephd_compute::sandbox::{
    FileRef, SandboxConfig, SandboxError, SandboxProgram, SandboxRuntime, SandboxVolume,
    VolumeSource,
    build::{RECIPE_VERSION, RuntimeBuild, build_runtime},
};
use alephd_message::content::{Encoding, Interface};
use alephd_testing::{fixtures_dir, repo_root, sandbox_hello_binary, sandbox_runtime};
use axum::body::Body;
use http_body_util::BodyExt;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{nanos}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn runtime_image() -> FileRef {
    let path = sandbox_runtime(RECIPE_VERSION, |out| {
        build_runtime(&RuntimeBuild::new(out.to_owned()))?;
        Ok(())
    })
    .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let mtime = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let key = format!("rt{}x{}", meta.len(), mtime.as_secs());
    FileRef { path, key }
}

/// A runtime with its own uid (so leftover processes are attributable) and a shared cache.
fn sandbox(tweak: impl FnOnce(&mut SandboxConfig)) -> (SandboxRuntime, u32) {
    let uid = 61000 + NEXT.fetch_add(1, Ordering::Relaxed);
    let mut config = SandboxConfig {
        uid,
        gid: uid,
        ..SandboxConfig::default()
    };
    config.start_timeout_secs = 60.0; // a loaded CI machine; a hang still fails the test
    tweak(&mut config);
    let work = repo_root().join("target/alephd-runtime/work");
    (SandboxRuntime::new(config, work).unwrap(), uid)
}

fn write_file(bytes: &[u8]) -> FileRef {
    let dir = repo_root().join("target/alephd-runtime/files");
    std::fs::create_dir_all(&dir).unwrap();
    let key = unique("f");
    let path = dir.join(&key);
    std::fs::write(&path, bytes).unwrap();
    FileRef { path, key }
}

fn zip_dir(dir: &Path) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(entry.file_name().to_str().unwrap(), options)
            .unwrap();
        zip.write_all(&std::fs::read(entry.path()).unwrap())
            .unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

fn asgi_app() -> SandboxProgram {
    let code = write_file(&zip_dir(&fixtures_dir().join("sandbox/asgi-app")));
    program(code, Encoding::Zip, Interface::Asgi, "main:app")
}

fn binary_app() -> SandboxProgram {
    let code = write_file(&std::fs::read(sandbox_hello_binary().unwrap()).unwrap());
    program(code, Encoding::Plain, Interface::Binary, "hello_http")
}

fn program(code: FileRef, encoding: Encoding, interface: Interface, entry: &str) -> SandboxProgram {
    SandboxProgram {
        id: unique("p"),
        runtime: runtime_image(),
        code,
        encoding,
        interface,
        entrypoint: entry.into(),
        args: Vec::new(),
        variables: BTreeMap::new(),
        volumes: Vec::new(),
        internet: false,
        memory_mib: 256,
        vcpus: 1,
        persistent: false,
    }
}

async fn get(
    rt: &SandboxRuntime,
    p: &SandboxProgram,
    path: &str,
) -> Result<(u16, String), SandboxError> {
    let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
    let response = rt.handle(p, request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn json(rt: &SandboxRuntime, p: &SandboxProgram, path: &str) -> serde_json::Value {
    let (status, body) = get(rt, p, path).await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Processes of `uid` still alive on the host.
fn processes_of(uid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let owner = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next());
        if owner == Some(uid.to_string().as_str()) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

async fn stop_and_check(rt: &SandboxRuntime, p: &SandboxProgram, uid: u32) {
    rt.stop(&p.id).await;
    assert!(!rt.is_running(&p.id));
    no_processes_left(uid).await;
}

/// Killed processes re-parented to the host's init vanish when it reaps them: allow a moment.
async fn no_processes_left(uid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_of(uid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        processes_of(uid),
        Vec::<String>::new(),
        "processes left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fastapi_app_answers_with_its_variables_and_is_reused() {
    let (rt, uid) = sandbox(|_| {});
    let mut app = asgi_app();
    app.variables.insert("GREETING".into(), "bonjour".into());
    assert_eq!(json(&rt, &app, "/").await["hello"], "aleph");
    assert!(rt.is_running(&app.id));
    assert_eq!(json(&rt, &app, "/env/GREETING").await["value"], "bonjour");
    assert_eq!(
        json(&rt, &app, "/env/PATH_TO_HOST").await["value"],
        serde_json::Value::Null
    );
    assert_eq!(
        rt.warm(&app).await.unwrap(),
        Duration::ZERO,
        "the instance is reused"
    );
    stop_and_check(&rt, &app, uid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_program_answers_on_8080_through_its_own_netns() {
    let (rt, uid) = sandbox(|_| {});
    let mut app = binary_app();
    app.args = vec!["--flag".into(), "value".into()];
    app.variables.insert("WHO".into(), "binary".into());
    assert_eq!(
        get(&rt, &app, "/").await.unwrap(),
        (200, "hello from a binary".into())
    );
    assert_eq!(get(&rt, &app, "/args").await.unwrap().1, "--flag value");
    assert_eq!(get(&rt, &app, "/env/WHO").await.unwrap().1, "binary");
    stop_and_check(&rt, &app, uid).await;
}

/// A non-loopback IPv4 address of this host, if it has one.
fn host_ip() -> Option<std::net::IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_attempts_fail() {
    let (rt, uid) = sandbox(|_| {});
    let app = asgi_app();
    let secret = tempfile::tempdir().unwrap();
    let secret_file = secret.path().join("host-secret");
    std::fs::write(&secret_file, "host only").unwrap();
    let loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = loopback.local_addr().unwrap().port();
    let probe = json(
        &rt,
        &app,
        &format!(
            "/probe?read={}&host=127.0.0.1&port={port}",
            secret_file.display()
        ),
    )
    .await;
    assert_eq!(probe["read_host_file"]["ok"], false, "{probe}");
    assert_eq!(probe["write_runtime"]["ok"], false, "{probe}");
    assert!(
        probe["write_runtime"]["error"]
            .as_str()
            .unwrap()
            .contains("Read-only"),
        "{probe}"
    );
    assert_eq!(probe["write_code"]["ok"], false, "{probe}");
    assert_eq!(probe["write_tmp"]["ok"], true, "{probe}");
    assert_eq!(
        probe["connect"]["ok"], false,
        "host loopback reached: {probe}"
    );
    assert_eq!(probe["uid"], uid, "{probe}");
    if cfg!(target_arch = "x86_64") {
        // The seccomp filter is in force (EPERM = 1), not just missing privileges.
        assert_eq!(probe["io_uring_errno"], 1, "{probe}");
        assert_eq!(probe["keyctl_errno"], 1, "{probe}");
    }
    // Only the sandbox's own processes: bwrap's init, uvicorn, the shell of `mount`.
    let cmdlines = probe["cmdlines"].as_array().unwrap();
    assert!(cmdlines.len() <= 4, "{probe}");
    assert!(
        cmdlines
            .iter()
            .all(|c| !c.as_str().unwrap().contains("cargo")),
        "{probe}"
    );
    if let Some(ip) = host_ip() {
        let outside = TcpListener::bind((ip, 0)).unwrap();
        let port = outside.local_addr().unwrap().port();
        let p = json(&rt, &app, &format!("/probe?host={ip}&port={port}")).await;
        assert_eq!(p["connect"]["ok"], false, "network without `internet`: {p}");
    } else {
        eprintln!("no non-loopback address: the outside-network probe is skipped");
    }
    stop_and_check(&rt, &app, uid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn internet_reaches_out_but_not_host_loopback() {
    let Some(ip) = host_ip() else {
        eprintln!("SKIPPED: this host has no non-loopback address to reach");
        return;
    };
    let (rt, uid) = sandbox(|_| {});
    let mut app = asgi_app();
    app.internet = true;
    let outside = TcpListener::bind((ip, 0)).unwrap();
    let port = outside.local_addr().unwrap().port();
    // slirp4netns comes up right after the namespace; retry briefly for its first seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = json(&rt, &app, &format!("/probe?host={ip}&port={port}")).await;
        if p["connect"]["ok"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no outbound network with `internet`: {p}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = loopback.local_addr().unwrap().port();
    let p = json(&rt, &app, &format!("/probe?host=10.0.2.2&port={lport}")).await;
    assert_eq!(
        p["connect"]["ok"], false,
        "host loopback through slirp: {p}"
    );
    stop_and_check(&rt, &app, uid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_and_memory_bomb_are_contained() {
    let (rt, uid) = sandbox(|c| c.pids_max = 64);
    let bystander = binary_app();
    assert_eq!(get(&rt, &bystander, "/").await.unwrap().0, 200);

    let bomb = asgi_app();
    assert_eq!(json(&rt, &bomb, "/forkbomb").await["forkbomb"], "started");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        get(&rt, &bystander, "/").await.unwrap().0,
        200,
        "other programs still answer"
    );
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success(),
        "the host can fork"
    );
    let bomb_pids = processes_of(uid).len();
    assert!(bomb_pids <= 64 + 8, "pids.max holds: {bomb_pids} processes");
    rt.stop(&bomb.id).await;

    let mut hog = asgi_app();
    hog.memory_mib = 128;
    let err = get(&rt, &hog, "/membomb").await.unwrap_err();
    assert!(matches!(err, SandboxError::Crashed { .. }), "{err}");
    assert!(err.to_string().contains("out of memory"), "{err}");
    // The program starts afresh on the next request.
    assert_eq!(json(&rt, &hog, "/").await["hello"], "aleph");
    assert_eq!(get(&rt, &bystander, "/").await.unwrap().0, 200);
    rt.stop(&hog.id).await;
    stop_and_check(&rt, &bystander, uid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_programs_fail_clearly() {
    let (rt, _) = sandbox(|_| {});
    let code = write_file(&zip_dir(&fixtures_dir().join("sandbox/asgi-app")));
    let missing = program(code.clone(), Encoding::Zip, Interface::Asgi, "nothere:app");
    let err = get(&rt, &missing, "/").await.unwrap_err();
    assert!(matches!(err, SandboxError::BadEntrypoint(_)), "{err}");
    assert!(err.to_string().contains("nothere"), "{err}");

    let crashing = program(
        write_file(b"raise RuntimeError('boom at import')\n"),
        Encoding::Plain,
        Interface::Asgi,
        "main:app",
    );
    let err = get(&rt, &crashing, "/").await.unwrap_err();
    assert!(matches!(err, SandboxError::StartFailed { .. }), "{err}");
    assert!(
        err.to_string().contains("boom at import"),
        "the program's stderr: {err}"
    );
    assert_eq!(err.http_status(), 502);

    let wrong = program(
        write_file(b"print('plain text')"),
        Encoding::Zip,
        Interface::Asgi,
        "main:app",
    );
    let err = get(&rt, &wrong, "/").await.unwrap_err();
    assert!(err.to_string().contains("wrong `encoding`"), "{err}");
    let wrong = program(code, Encoding::Squashfs, Interface::Asgi, "main:app");
    assert!(
        get(&rt, &wrong, "/")
            .await
            .unwrap_err()
            .to_string()
            .contains("wrong `encoding`")
    );

    let exits = program(
        write_file(b"#!/bin/sh\necho 'no port for me' >&2\nexit 3\n"),
        Encoding::Plain,
        Interface::Binary,
        "run.sh",
    );
    let err = get(&rt, &exits, "/").await.unwrap_err();
    assert!(
        err.to_string().contains("no port for me") && err.to_string().contains("exit code 3"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_and_idle_stop() {
    let (rt, uid) = sandbox(|c| c.idle_secs = 0.5);
    let _reaper = rt.spawn_reaper();
    let packages = tempfile::tempdir().unwrap();
    std::fs::write(packages.path().join("lib.txt"), "from a volume").unwrap();
    let image = packages.path().join("volume.squashfs");
    let status = std::process::Command::new("mksquashfs")
        .arg(packages.path().join("lib.txt"))
        .arg(&image)
        .args(["-quiet", "-no-progress", "-noappend"])
        .status()
        .unwrap();
    assert!(status.success());
    let volumes = vec![
        SandboxVolume {
            mount: "/opt/packages".into(),
            source: VolumeSource::Immutable(write_file(&std::fs::read(&image).unwrap())),
        },
        SandboxVolume {
            mount: "/data".into(),
            source: VolumeSource::Persistent {
                name: "state".into(),
            },
        },
        SandboxVolume {
            mount: "/scratch/tmp".into(),
            source: VolumeSource::Ephemeral { size_mib: 4 },
        },
    ];
    let mut asgi = asgi_app();
    asgi.volumes = volumes;
    let v = json(&rt, &asgi, "/volume/note?write=kept").await;
    assert_eq!(v["content"], "kept");
    let probe = json(&rt, &asgi, "/probe?read=/opt/packages/lib.txt").await;
    assert_eq!(
        probe["read_host_file"]["result"], "from a volume",
        "{probe}"
    );
    rt.stop(&asgi.id).await;
    assert_eq!(
        json(&rt, &asgi, "/volume/note").await["content"],
        "kept",
        "persistent across instances"
    );
    // Idle instances stop on their own.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt.is_running(&asgi.id) {
        assert!(
            Instant::now() < deadline,
            "the idle instance was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    no_processes_left(uid).await;
}
