//! `alephd bench wasm`: the Wasm runtime on this machine, for one `wasi:http` component.
//!
//! It measures, in order: compiling the component (Cranelift, nothing cached); the first
//! request after a node restart (machine code loaded from the on-disk cache, the program
//! resolved, one instance: "cold, once deployed"); warm requests through the runtime with no
//! HTTP (a fresh instance each, sequential: the runtime's own latency); and requests/s with
//! latency over loopback HTTP from concurrent connections, through an HTTP server that hands
//! each request to the runtime, the load generator sharing the machine. With `--wasmtime` the
//! same load runs against `wasmtime serve -Scli` serving the same component, in the same run.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use alephd_compute::{
    sandbox::FileRef,
    wasm::{WasmConfig, WasmProgram, WasmRuntime},
};
use anyhow::{Context, bail, ensure};
use axum::body::Body;
use clap::Args;
use http_body_util::BodyExt;

use crate::bench_sandbox::{load, summary};

#[derive(Debug, Args)]
pub(crate) struct WasmBenchArgs {
    /// The component (`wasi:http/proxy`), e.g. fixtures/wasm/hello-http built for wasm32-wasip2.
    #[arg(long, value_name = "FILE")]
    component: PathBuf,
    /// Path served (what the component answers quickly).
    #[arg(long, default_value = "/")]
    path: String,
    /// Sequential in-process requests for the warm latency.
    #[arg(long, default_value_t = 2000)]
    warm: usize,
    /// Cold starts (restarted runtime, machine code from disk).
    #[arg(long, default_value_t = 10)]
    cold: usize,
    /// HTTP requests in the throughput run.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Instances alive at once for the memory figure (each in `GET /sleep?ms=…`, a route both
    /// test guests have); 0 skips it.
    #[arg(long, default_value_t = 100)]
    instances: usize,
    /// A `wasmtime` CLI (48) to measure side by side with `wasmtime serve`.
    #[arg(long, value_name = "BIN")]
    wasmtime: Option<PathBuf>,
}

pub(crate) async fn run(args: WasmBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.warm > 0 && args.cold > 0 && args.requests > 0 && args.connections > 0,
        "counts must be at least 1"
    );
    let work = tempfile::tempdir()?;
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let code = FileRef {
        path: args.component.clone(),
        key: "benchcomponent".into(),
    };
    let program = WasmProgram {
        id: "benchprogram".into(),
        code,
        variables: BTreeMap::new(),
        volumes: Vec::new(),
        internet: false,
        aleph_api: false,
        memory_mib: 128,
        seconds: 30,
        persistent: false,
    };
    println!(
        "component {} ({} KiB), load average before: {}",
        args.component.display(),
        bytes.len() / 1024,
        load()
    );
    let config = WasmConfig {
        max_concurrency: args.instances.max(WasmConfig::default().max_concurrency),
        ..WasmConfig::default()
    };
    let new_runtime = || WasmRuntime::new(config.clone(), work.path(), "unsquashfs".into());

    let runtime = new_runtime()?;
    let began = Instant::now();
    runtime.prepare(&program).await?;
    println!(
        "compile (Cranelift, nothing cached): {:.1?}",
        began.elapsed()
    );
    drop(runtime);

    let mut cold = Vec::new();
    for _ in 0..args.cold {
        let runtime = new_runtime()?;
        let began = Instant::now();
        let response = request(&runtime, &program, &args.path).await?;
        cold.push(began.elapsed());
        ensure!(response == 200, "the component answered {response}");
    }
    println!(
        "cold first response (runtime restarted, machine code from disk): {}",
        summary(&mut cold)
    );

    let runtime = new_runtime()?;
    request(&runtime, &program, &args.path).await?;
    let mut warm = Vec::with_capacity(args.warm);
    for _ in 0..args.warm {
        let began = Instant::now();
        request(&runtime, &program, &args.path).await?;
        warm.push(began.elapsed());
    }
    println!(
        "warm, in process (fresh instance per request, no HTTP): {}",
        summary(&mut warm)
    );

    if args.instances > 0 {
        println!(
            "memory per live instance ({} at once): {}",
            args.instances,
            memory_per_instance(&runtime, &program, args.instances).await?
        );
    }

    let addr = serve(runtime.clone(), program.clone()).await?;
    let ours = load_test(addr, &args).await?;
    println!("alephd over HTTP: {ours}");

    if let Some(wasmtime) = &args.wasmtime {
        let port = alephd_free_port()?;
        let mut child = tokio::process::Command::new(wasmtime)
            .args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")])
            .arg(&args.component)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", wasmtime.display()))?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if Instant::now() > deadline {
                bail!("wasmtime serve did not listen within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let theirs = load_test(addr, &args).await?;
        println!("wasmtime serve over HTTP: {theirs}");
        let _ = child.kill().await;
    }
    println!("load average after: {}", load());
    Ok(())
}

async fn request(runtime: &WasmRuntime, program: &WasmProgram, path: &str) -> anyhow::Result<u16> {
    let request = axum::http::Request::get(path).body(Body::empty())?;
    let (response, _) = runtime.handle(program, request).await;
    let response = response?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the body: {e}"))?;
    Ok(status)
}

/// The node's resident memory growth while `n` instances are alive at once, per instance.
async fn memory_per_instance(
    runtime: &WasmRuntime,
    program: &WasmProgram,
    n: usize,
) -> anyhow::Result<String> {
    const SLEEP_MS: u64 = 2000;
    let before = rss_kib()?;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (runtime, program) = (runtime.clone(), program.clone());
        tasks.push(tokio::spawn(async move {
            request(&runtime, &program, &format!("/sleep?ms={SLEEP_MS}")).await
        }));
    }
    // All started (the runtime counts them), then measured while they sleep.
    let deadline = Instant::now() + Duration::from_millis(SLEEP_MS / 2);
    while runtime.running(&program.id) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alive = runtime.running(&program.id);
    let during = rss_kib()?;
    for task in tasks {
        let status = task.await??;
        ensure!(status == 200, "/sleep answered {status}");
    }
    ensure!(alive > 0, "no instance was alive at once");
    let per = during.saturating_sub(before) as f64 / alive as f64;
    Ok(format!(
        "{per:.0} KiB ({alive} alive, resident memory {before} → {during} KiB)"
    ))
}

/// This process's resident memory, KiB.
fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// An HTTP server on loopback handing every request to the runtime (the node's `/vm` path
/// without the database lookup).
async fn serve(runtime: WasmRuntime, program: WasmProgram) -> anyhow::Result<SocketAddr> {
    let program = Arc::new(program);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (runtime, program) = (runtime.clone(), Arc::clone(&program));
        async move {
            match runtime.handle(&program, request).await.0 {
                Ok(response) => response,
                Err(e) => axum::http::Response::builder()
                    .status(e.http_status())
                    .body(Body::from(e.to_string()))
                    .unwrap_or_default(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// `requests` GETs from `connections` keep-alive connections: requests/s and latency.
async fn load_test(addr: SocketAddr, args: &WasmBenchArgs) -> anyhow::Result<String> {
    let url = format!("http://{addr}{}", args.path);
    let per = args.requests.div_ceil(args.connections);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut samples = Vec::with_capacity(per);
            let mut failed = 0usize;
            for _ in 0..per {
                let t = Instant::now();
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await?;
                        samples.push(t.elapsed());
                    }
                    _ => failed += 1,
                }
            }
            anyhow::Ok((samples, failed))
        }));
    }
    let mut samples = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (s, f) = task.await??;
        samples.extend(s);
        failed += f;
    }
    let elapsed = began.elapsed();
    ensure!(!samples.is_empty(), "every request failed");
    let rate = samples.len() as f64 / elapsed.as_secs_f64();
    Ok(format!(
        "{rate:.0} req/s ({} connections, {failed} failed), latency {}",
        args.connections,
        summary(&mut samples)
    ))
}

fn alephd_free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
