//! `alephd bench sandbox`: the Linux sandbox runtime on this machine. With the runtime image
//! already extracted ("runtime cached") it measures, for a FastAPI ASGI app and (with
//! `--binary`) a binary program: cold start to the first byte of the answer (instance not
//! running), warm request latency through the runtime (an upper bound of its overhead: it
//! includes the program's own work), and memory per instance from its cgroup (instances/GiB).
//! Needs root, bwrap and a runtime image from `alephd runtime build`.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use alephd_compute::sandbox::{FileRef, SandboxConfig, SandboxProgram, SandboxRuntime};
use alephd_message::content::{Encoding, Interface};
use anyhow::{Context, ensure};
use axum::body::Body;
use clap::Args;
use http_body_util::BodyExt;

/// The ASGI app measured (plain encoding: one Python file).
const FASTAPI_APP: &str = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"hello\": \"aleph\"}\n";

#[derive(Debug, Args)]
pub(crate) struct SandboxBenchArgs {
    /// The runtime squashfs (`alephd runtime build`).
    #[arg(long, value_name = "FILE")]
    runtime: PathBuf,
    /// A binary program serving HTTP on :8080 (e.g. `rustc -O -C target-feature=+crt-static
    /// fixtures/sandbox/hello_http.rs`); without it only the ASGI app is measured.
    #[arg(long, value_name = "FILE")]
    binary: Option<PathBuf>,
    /// Cold starts per program.
    #[arg(long, default_value_t = 10)]
    cold: usize,
    /// Warm requests per program.
    #[arg(long, default_value_t = 2000)]
    warm: usize,
    /// Instances started at once to measure memory per instance.
    #[arg(long, default_value_t = 8)]
    density: usize,
}

pub(crate) async fn run(args: SandboxBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.cold > 0 && args.warm > 0,
        "--cold and --warm must be at least 1"
    );
    let work = tempfile::tempdir()?;
    let config = SandboxConfig {
        start_timeout_secs: 60.0,
        max_instances: args.density + 2,
        ..SandboxConfig::default()
    };
    let runtime = SandboxRuntime::new(config, work.path().to_owned())?;
    println!("load average before: {}", load());
    let image = FileRef {
        path: args.runtime.clone(),
        key: "benchruntime".into(),
    };
    let asgi_code = work.path().join("main.py");
    std::fs::write(&asgi_code, FASTAPI_APP)?;
    let asgi = program(
        &image,
        FileRef {
            path: asgi_code,
            key: "benchasgi".into(),
        },
        Interface::Asgi,
        "main:app",
    );
    measure(&runtime, "asgi (FastAPI, uvicorn)", &asgi, &args).await?;
    if let Some(binary) = &args.binary {
        let code = FileRef {
            path: binary.clone(),
            key: "benchbinary".into(),
        };
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .context("binary file name")?;
        let bin = program(&image, code, Interface::Binary, name);
        measure(&runtime, "binary", &bin, &args).await?;
    }
    println!("load average after: {}", load());
    runtime.stop_all().await;
    Ok(())
}

fn program(image: &FileRef, code: FileRef, interface: Interface, entry: &str) -> SandboxProgram {
    SandboxProgram {
        id: format!("bench{interface:?}").to_lowercase(),
        runtime: image.clone(),
        code,
        encoding: Encoding::Plain,
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

async fn first_byte(
    runtime: &SandboxRuntime,
    program: &SandboxProgram,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let request = axum::http::Request::get("/")
        .header("host", "bench")
        .body(Body::empty())?;
    let response = runtime.handle(program, request).await?;
    let elapsed = started.elapsed();
    ensure!(
        response.status() == 200,
        "the program answered {}",
        response.status()
    );
    response.into_body().collect().await?;
    Ok(elapsed)
}

async fn measure(
    runtime: &SandboxRuntime,
    label: &str,
    program: &SandboxProgram,
    args: &SandboxBenchArgs,
) -> anyhow::Result<()> {
    // Extract the runtime and code, and warm the page cache: "runtime cached".
    first_byte(runtime, program).await?;
    let mut cold = Vec::new();
    for _ in 0..args.cold {
        runtime.stop(&program.id).await;
        cold.push(first_byte(runtime, program).await?);
    }
    let mut warm = Vec::new();
    for _ in 0..args.warm {
        warm.push(first_byte(runtime, program).await?);
    }
    println!("{label}: cold start to first byte {}", summary(&mut cold));
    println!("{label}: warm request latency {}", summary(&mut warm));
    runtime.stop(&program.id).await;

    let mut used = Vec::new();
    for i in 0..args.density {
        let mut copy = program.clone();
        copy.id = format!("{}d{i}", program.id);
        first_byte(runtime, &copy).await?;
        used.push(runtime.memory_usage(&copy.id).unwrap_or(0));
    }
    let mean = used.iter().sum::<u64>() as f64 / used.len().max(1) as f64;
    match mean > 0.0 {
        true => println!(
            "{label}: {:.1} MiB per instance (cgroup memory, {} running) → {:.0} instances/GiB",
            mean / f64::from(1 << 20),
            used.len(),
            f64::from(1 << 30) / mean
        ),
        false => println!("{label}: no memory cgroup: instances/GiB not measured"),
    }
    for i in 0..args.density {
        runtime.stop(&format!("{}d{i}", program.id)).await;
    }
    Ok(())
}

/// min/median/p90/p99/max of `samples` (sorted in place), for the bench reports.
pub(crate) fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "min {:.2?} median {:.2?} p90 {:.2?} p99 {:.2?} max {:.2?} (n={})",
        samples[0],
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1],
        samples.len()
    )
}

/// The load average line, printed beside measurements.
pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}
