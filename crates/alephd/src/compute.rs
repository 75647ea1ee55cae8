//! The node's compute side: a supervisor over the Linux sandbox runtime, serving programs on
//! `/vm/{hash}` and by host name. A node whose host cannot sandbox (no bubblewrap, a seccomp
//! filter for another architecture) still starts: its program routes answer 503 with why.

use std::path::Path;

use alephd_compute::{ComputeConfig, Supervisor, sandbox::SandboxRuntime};
use anyhow::Context;

/// The supervisor, or `None` when `[compute] enabled = false`.
pub(crate) fn start(
    config: &ComputeConfig,
    data_dir: &Path,
    db: &alephd_db::Db,
    store: &alephd_storage::Store,
) -> anyhow::Result<Option<Supervisor>> {
    if !config.enabled {
        tracing::info!("compute disabled ([compute] enabled = false)");
        return Ok(None);
    }
    let work_dir = match &config.work_dir {
        Some(dir) => dir.clone(),
        None => default_work_dir(data_dir),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {} (compute.work_dir)", work_dir.display()))?;
    let sandbox = sandbox_runtime(config, &work_dir);
    match &sandbox {
        Ok(runtime) => {
            tracing::info!(cgroups = ?runtime.cgroups(), "Linux sandbox runtime ready");
            runtime.spawn_reaper();
        }
        Err(why) => tracing::warn!("programs cannot run on this node: {why}"),
    }
    let supervisor = Supervisor::new(
        db.clone(),
        store.clone(),
        sandbox,
        &work_dir,
        config.domain.clone(),
    )
    .context("cannot start the compute supervisor")?;
    Ok(Some(supervisor))
}

/// `<data-dir>/compute` when every ancestor is searchable by others (the sandbox runs as an
/// unprivileged uid that must reach its mounts), else a directory under `/var/lib/alephd`
/// named by a digest of the data dir, so two nodes on one host never share it.
fn default_work_dir(data_dir: &Path) -> std::path::PathBuf {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    let data_dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_owned());
    let reachable = data_dir
        .ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if reachable {
        return data_dir.join("compute");
    }
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let dir = Path::new("/var/lib/alephd").join(format!("compute-{}", &hex::encode(digest)[..16]));
    tracing::info!(
        data_dir = %data_dir.display(),
        work_dir = %dir.display(),
        "the data dir is not reachable by the sandbox's uid: compute files go to the work dir"
    );
    dir
}

fn sandbox_runtime(config: &ComputeConfig, work_dir: &Path) -> Result<SandboxRuntime, String> {
    let bwrap = &config.sandbox.bwrap;
    let found = std::process::Command::new(bwrap)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} cannot run ({e}): install bubblewrap", bwrap.display()))?;
    if !found.status.success() {
        return Err(format!("{} --version failed", bwrap.display()));
    }
    SandboxRuntime::new(config.sandbox.clone(), work_dir.join("sandbox")).map_err(|e| e.to_string())
}
