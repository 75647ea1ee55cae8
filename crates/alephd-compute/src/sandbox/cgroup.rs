//! Memory, CPU and PID limits per sandbox instance through cgroups: the unified v2 hierarchy
//! when it has the controllers, else the v1 controllers (as on these machines: memory, cpu and
//! pids mounted separately, the v2 mount holding only hugetlb). Each instance gets its own
//! group below the node's own group (so the node's limits still bound its programs), is joined
//! by the instance's first process before it execs bubblewrap, and is emptied with SIGKILL and
//! removed when the instance stops. When neither hierarchy is usable this says so in the log
//! once; the caller then falls back to `ulimit -v` and the kernel's defaults.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{sys::signal, unistd::Pid};

/// The name of the directory holding every instance's group.
const PARENT: &str = "alephd-sandbox";
const CPU_PERIOD_US: u64 = 100_000;

/// Limits applied to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub vcpus: u32,
    pub pids: u32,
}

/// The cgroup hierarchy found on this host.
#[derive(Debug, Clone)]
pub enum Cgroups {
    /// cgroup v2: instance groups go below `parent`.
    V2 { parent: PathBuf },
    /// cgroup v1: one parent per controller found (memory, cpu, pids).
    V1 {
        memory: Option<PathBuf>,
        cpu: Option<PathBuf>,
        pids: Option<PathBuf>,
    },
    /// No usable controller: limits are not enforced by the kernel.
    Unavailable,
}

impl Cgroups {
    /// Finds the hierarchy from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Self {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let found = detect_from(&mounts, &own);
        match &found {
            Cgroups::Unavailable => tracing::warn!(
                "no usable cgroup controllers (neither v2 with memory+pids nor v1 memory/cpu/pids): \
                 sandbox memory, CPU and PID limits are NOT enforced by cgroups (ulimit -v only)"
            ),
            Cgroups::V1 { memory, cpu, pids } => {
                tracing::info!(
                    memory = memory.is_some(),
                    cpu = cpu.is_some(),
                    pids = pids.is_some(),
                    "sandbox limits through cgroup v1"
                );
                if memory.is_none() || pids.is_none() {
                    tracing::warn!(
                        "cgroup v1 lacks the memory or pids controller: that limit is not enforced"
                    );
                }
            }
            Cgroups::V2 { parent } => {
                tracing::info!(parent = %parent.display(), "sandbox limits through cgroup v2")
            }
        }
        found
    }

    /// Whether memory is limited by a cgroup (else the caller limits address space itself).
    pub fn limits_memory(&self) -> bool {
        match self {
            Cgroups::V2 { .. } => true,
            Cgroups::V1 { memory, .. } => memory.is_some(),
            Cgroups::Unavailable => false,
        }
    }

    /// Creates the group of instance `name` with `limits`.
    pub(crate) fn create(
        &self,
        name: &str,
        limits: Limits,
    ) -> std::io::Result<Option<InstanceCgroup>> {
        let group = match self {
            Cgroups::Unavailable => return Ok(None),
            Cgroups::V2 { parent } => {
                let dir = parent.join(name);
                fs::create_dir_all(&dir)?;
                let group = InstanceCgroup {
                    dirs: vec![dir.clone()],
                };
                write(&dir, "memory.max", limits.memory_bytes)?;
                let _ = write(&dir, "memory.swap.max", 0); // absent without swap accounting
                let quota = u64::from(limits.vcpus) * CPU_PERIOD_US;
                let _ = fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"));
                write(&dir, "pids.max", limits.pids)?;
                group
            }
            Cgroups::V1 { memory, cpu, pids } => {
                let mut group = InstanceCgroup { dirs: Vec::new() };
                if let Some(parent) = memory {
                    let dir = group.add(parent, name)?;
                    write(&dir, "memory.limit_in_bytes", limits.memory_bytes)?;
                    // Swap counts too where the kernel accounts it (memsw ≥ limit is required).
                    let _ = write(&dir, "memory.memsw.limit_in_bytes", limits.memory_bytes);
                }
                if let Some(parent) = cpu {
                    let dir = group.add(parent, name)?;
                    write(&dir, "cpu.cfs_period_us", CPU_PERIOD_US)?;
                    write(
                        &dir,
                        "cpu.cfs_quota_us",
                        u64::from(limits.vcpus) * CPU_PERIOD_US,
                    )?;
                }
                if let Some(parent) = pids {
                    let dir = group.add(parent, name)?;
                    write(&dir, "pids.max", limits.pids)?;
                }
                group
            }
        };
        Ok(Some(group))
    }
}

fn write(dir: &Path, file: &str, value: impl std::fmt::Display) -> std::io::Result<()> {
    fs::write(dir.join(file), value.to_string())
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}/{file}: {e}", dir.display())))
}

/// Parses mountinfo and the node's own membership into the hierarchy to use.
fn detect_from(mountinfo: &str, own: &str) -> Cgroups {
    let mut v1 = (None, None, None);
    for line in mountinfo.lines() {
        // "... mount_point options - fstype source super_options"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or_default();
        let options = right.nth(1).unwrap_or_default();
        let point = Path::new(point);
        if fstype == "cgroup2" {
            let controllers =
                fs::read_to_string(point.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if has("memory") && has("pids") {
                return v2_parent(point, own);
            }
        } else if fstype == "cgroup" {
            for option in options.split(',') {
                let slot = match option {
                    "memory" => &mut v1.0,
                    "cpu" => &mut v1.1,
                    "pids" => &mut v1.2,
                    _ => continue,
                };
                *slot = Some(own_path(point, own, option).join(PARENT));
            }
        }
    }
    match v1 {
        (None, None, None) => Cgroups::Unavailable,
        (memory, cpu, pids) => Cgroups::V1 { memory, cpu, pids },
    }
}

/// The node's own group for a v1 controller, as a directory under its mount point.
fn own_path(mount: &Path, own: &str, controller: &str) -> PathBuf {
    let relative = own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names.split(',').any(|n| n == controller).then_some(path)
    });
    mount.join(relative.unwrap_or("/").trim_start_matches('/'))
}

/// v2 forbids processes in a group that has child groups with controllers: instance groups
/// go in a sibling of the node's own group, whose controllers are enabled here.
fn v2_parent(mount: &Path, own: &str) -> Cgroups {
    let path = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .unwrap_or("/")
        .trim_start_matches('/');
    let base = Path::new(path)
        .parent()
        .map_or_else(|| mount.to_owned(), |p| mount.join(p));
    let parent = base.join(PARENT);
    let enable = |dir: &Path| fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
    if let Err(err) = enable(&base)
        .and_then(|()| fs::create_dir_all(&parent))
        .and_then(|()| enable(&parent))
    {
        tracing::warn!(%err, parent = %parent.display(), "cannot delegate cgroup v2 controllers");
        return Cgroups::Unavailable;
    }
    Cgroups::V2 { parent }
}

/// The group(s) of one running instance: one directory per v1 controller, or one v2 group.
#[derive(Debug, Clone)]
pub(crate) struct InstanceCgroup {
    dirs: Vec<PathBuf>,
}

impl InstanceCgroup {
    fn add(&mut self, parent: &Path, name: &str) -> std::io::Result<PathBuf> {
        let dir = parent.join(name);
        fs::create_dir_all(&dir)?;
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// The `cgroup.procs` files a process writes its pid to, to join every controller.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Memory currently charged to the instance, in bytes (None without a memory group).
    pub(crate) fn memory_usage(&self) -> Option<u64> {
        self.dirs.iter().find_map(|d| {
            ["memory.usage_in_bytes", "memory.current"]
                .iter()
                .find_map(|f| fs::read_to_string(d.join(f)).ok()?.trim().parse().ok())
        })
    }

    /// Whether the kernel OOM-killed something in the group.
    pub(crate) fn oom_killed(&self) -> bool {
        self.dirs.iter().any(|d| {
            ["memory.oom_control", "memory.events"].iter().any(|f| {
                fs::read_to_string(d.join(f)).is_ok_and(|text| {
                    text.lines()
                        .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
                })
            })
        })
    }

    /// SIGKILLs every process in the group until it is empty (a fork bomb keeps forking while
    /// it is being killed; `pids.max` bounds it), then removes the directories.
    pub(crate) fn destroy(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in &self.dirs {
            // cgroup v2 kills the whole group in one write.
            let _ = fs::write(dir.join("cgroup.kill"), "1");
            loop {
                let pids = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                let mut any = false;
                for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    any = true;
                    let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL);
                }
                if !any || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        for dir in &self.dirs {
            // The last processes may take a moment to leave after SIGKILL.
            while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if dir.exists() {
                tracing::warn!(dir = %dir.display(), "cannot remove an instance cgroup");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_controllers_nest_below_the_nodes_own_group() {
        let mounts = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                      31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
                      32 25 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        let own = "8:pids:/\n4:memory:/api/abc\n1:cpu:/\n0::/\n";
        let Cgroups::V1 { memory, cpu, pids } = detect_from(mounts, own) else {
            panic!("expected v1")
        };
        assert_eq!(
            memory.unwrap(),
            Path::new("/sys/fs/cgroup/memory/api/abc/alephd-sandbox")
        );
        assert_eq!(
            pids.unwrap(),
            Path::new("/sys/fs/cgroup/pids/alephd-sandbox")
        );
        assert_eq!(cpu.unwrap(), Path::new("/sys/fs/cgroup/cpu/alephd-sandbox"));
    }

    #[test]
    fn no_cgroup_mounts_means_unavailable() {
        let mounts = "22 1 0:20 / /proc rw - proc proc rw\n";
        assert!(matches!(
            detect_from(mounts, "0::/\n"),
            Cgroups::Unavailable
        ));
    }
}
