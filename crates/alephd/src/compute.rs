//! The node's compute side: a supervisor over the Linux sandbox and Wasm runtimes, serving
//! programs on `/vm/{hash}` and by host name. A node whose host cannot sandbox (no bubblewrap, a
//! seccomp filter for another architecture) still starts: its Linux programs answer 503 with
//! why, and its Wasm programs still run.

use std::path::Path;

use alephd_compute::{ComputeConfig, Supervisor, sandbox::SandboxRuntime, wasm::WasmRuntime};
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
        Err(why) => tracing::warn!("Linux programs cannot run on this node: {why}"),
    }
    let wasm = WasmRuntime::new(
        config.wasm.clone(),
        &work_dir,
        config.sandbox.unsquashfs.clone(),
    )
    .map_err(|e| e.to_string());
    match &wasm {
        Ok(runtime) => {
            tracing::info!("Wasm runtime ready");
            runtime.spawn_reaper();
        }
        Err(why) => tracing::warn!("Wasm programs cannot run on this node: {why}"),
    }
    let supervisor = Supervisor::new(
        db.clone(),
        store.clone(),
        sandbox,
        wasm,
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

/// Most message-triggered runs in flight at once; beyond it the trigger loop waits (it never
/// drops a match because programs are slow, but a lagging subscription logs what it missed).
const MAX_TRIGGERS_IN_FLIGHT: usize = 16;

/// Runs `on.message` programs on each processed message that matches one of their
/// subscriptions. The subscriber list is re-read when a PROGRAM or FORGET is processed (what
/// can change it) and at most every 30 s otherwise.
pub(crate) fn spawn_triggers(
    supervisor: Supervisor,
    mut events: tokio::sync::broadcast::Receiver<alephd_processor::MessageEvent>,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use std::{sync::Arc, time::Duration};

    use alephd_db::MessageStatus;
    use tokio::sync::broadcast::error::RecvError;
    const REFRESH: Duration = Duration::from_secs(30);

    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_TRIGGERS_IN_FLIGHT));
        let mut subscribers = Vec::new();
        let mut refreshed: Option<tokio::time::Instant> = None;
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => return,
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "message triggers fell behind; some messages ran no program"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let (MessageStatus::Processed, Some(record)) = (event.status, event.message) else {
                continue;
            };
            if record.message_type == "PROGRAM" && is_wasm_program(&record.content) {
                // Compiled now, so its first request does not wait for Cranelift.
                let (supervisor, hash) = (supervisor.clone(), record.item_hash.clone());
                tokio::spawn(async move {
                    if let Err(err) = supervisor.prepare(&hash).await {
                        tracing::info!(program = %hash, "the Wasm program cannot be prepared: {err}");
                    }
                });
            }
            let changes_subscribers = matches!(record.message_type.as_str(), "PROGRAM" | "FORGET");
            if changes_subscribers || refreshed.is_none_or(|at| at.elapsed() > REFRESH) {
                match supervisor.message_subscribers().await {
                    Ok(list) => subscribers = list,
                    Err(err) => {
                        tracing::warn!(%err, "cannot read the programs' message subscriptions")
                    }
                }
                refreshed = Some(tokio::time::Instant::now());
            }
            if subscribers.is_empty() {
                continue;
            }
            let message = message_json(&record);
            for (program, filters) in &subscribers {
                if !alephd_compute::triggers::any_matches(filters, &message) {
                    continue;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (supervisor, program, message) =
                    (supervisor.clone(), program.clone(), message.clone());
                tokio::spawn(async move {
                    let status = supervisor.trigger_message(&program, &message).await;
                    tracing::debug!(%program, item_hash = %message["item_hash"], status, "message trigger ran");
                    drop(slot);
                });
            }
        }
    })
}

/// Whether a PROGRAM's content names the Wasm runtime.
fn is_wasm_program(content: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(content)
        .is_ok_and(|c| c["runtime"]["ref"].as_str() == Some(alephd_compute::wasm::WASM_RUNTIME_REF))
}

/// A processed message as programs receive it: the API's message form, `content` as an object.
fn message_json(record: &alephd_db::MessageRecord) -> serde_json::Value {
    let content: serde_json::Value =
        serde_json::from_str(&record.content).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "item_hash": record.item_hash,
        "type": record.message_type,
        "chain": record.chain,
        "sender": record.sender,
        "signature": record.signature,
        "item_type": record.item_type,
        "item_content": record.item_content,
        "content": content,
        "time": record.time,
        "channel": record.channel,
    })
}

/// Keeps `on.persistent` programs running: every `CHECK` it starts the current version of
/// each one that is not running (a crash or an update), backing off per program after a
/// failed start or a failure of what it started (1 s doubling to 60 s, reset once it is seen
/// running), and stops those no longer persistent (forgotten, or updated to a
/// non-persistent version).
pub(crate) fn spawn_persistent_keeper(
    supervisor: Supervisor,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use std::{collections::HashMap, time::Duration};

    use tokio::time::Instant;
    const CHECK: Duration = Duration::from_millis(500);
    const FIRST_BACKOFF: Duration = Duration::from_secs(1);
    const MAX_BACKOFF: Duration = Duration::from_secs(60);

    struct Kept {
        backoff: Duration,
        retry_at: Instant,
    }

    tokio::spawn(async move {
        let mut kept: HashMap<String, Kept> = HashMap::new();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(CHECK) => {}
            }
            let wanted = match supervisor.persistent_programs().await {
                Ok(wanted) => wanted,
                Err(err) => {
                    tracing::warn!(%err, "cannot read the persistent programs");
                    continue;
                }
            };
            let gone: Vec<String> = kept
                .keys()
                .filter(|id| !wanted.contains(id))
                .cloned()
                .collect();
            for id in gone {
                tracing::info!(program = %id, "stopping a program that is no longer persistent");
                supervisor.stop(&id).await;
                kept.remove(&id);
            }
            for id in wanted {
                let now = Instant::now();
                let entry = kept.entry(id.clone()).or_insert(Kept {
                    backoff: FIRST_BACKOFF,
                    retry_at: now,
                });
                if now < entry.retry_at {
                    continue;
                }
                match supervisor.keep_running(&id).await {
                    // The backoff resets once an instance is seen still running at a
                    // check, so a program that fails right after each start keeps backing off.
                    Ok(true) => tracing::info!(program = %id, "persistent program started"),
                    Ok(false) => entry.backoff = FIRST_BACKOFF,
                    Err(err) => {
                        tracing::warn!(program = %id, retry_in_s = entry.backoff.as_secs(), "persistent program failed to start: {err}");
                        entry.retry_at = now + entry.backoff;
                        entry.backoff = (entry.backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    })
}
