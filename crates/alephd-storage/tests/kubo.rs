//! Property test against the real Kubo library: random files of random sizes (0 to a few MB,
//! including the 256 KiB and 174-chunk boundaries) get the same CIDv0 from alephd and Kubo.
//! Needs the test venv (`scripts/test-env.sh`); fails, never skips, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alephd_storage::{Layout, hash_bytes};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

fn python() -> PathBuf {
    let path = std::env::var_os("ALEPHD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.venv/bin/python"
            ))
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test-env.sh to install the test venv",
        path.display()
    );
    path
}

#[test]
fn random_files_get_kubos_cidv0() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rng = StdRng::seed_from_u64(0xa1ef_d003);
    let chunk = 262_144usize;
    let mut sizes = vec![
        0,
        1,
        chunk - 1,
        chunk,
        chunk + 1,
        2 * chunk,
        174 * chunk,
        174 * chunk + 1,
    ];
    sizes.extend((0..14).map(|_| rng.gen_range(0..4 * 1024 * 1024)));
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let mut data = vec![0u8; *size];
        rng.fill_bytes(&mut data);
        if i % 5 == 4 {
            data.iter_mut().step_by(3).for_each(|b| *b = 0); // some repetitive content too
        }
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, &data)?;
        expected.push((path, hash_bytes(&data, Layout::V0).cid.to_string()));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/kubo_cid.py");
    let repo = dir.path().join("kubo-repo");
    let mut child = Command::new(python())
        .arg(script)
        .arg(&repo)
        .args(expected.iter().map(|(p, _)| p))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?; // SIGKILL: Kubo ignores SIGTERM
            anyhow::bail!("Kubo helper timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kubo: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("CID "))
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    assert_eq!(kubo.len(), expected.len(), "Kubo helper output:\n{stdout}");
    for ((path, ours), (kpath, theirs)) in expected.iter().zip(kubo) {
        assert_eq!(path.to_str(), Some(kpath));
        assert_eq!(
            ours,
            theirs,
            "CIDv0 of {} ({} bytes)",
            path.display(),
            std::fs::metadata(path)?.len()
        );
    }
    Ok(())
}
