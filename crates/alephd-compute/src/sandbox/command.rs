//! The bubblewrap command line of one instance: the filesystem it sees (the runtime image
//! read-only, the code at `/opt/code`, volumes, a fresh tmpfs for `/tmp`, `/var/tmp` and `/run`,
//! the instance's socket directory at `/run/app`) and the isolation flags (every namespace new,
//! no further user namespaces, all capabilities dropped, empty environment, seccomp from fd 0).
//!
//! Pure: builds arguments from paths, starts nothing. Host paths are only ever what the caller
//! lists; nothing else of the host is mounted.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use super::SandboxError;

/// Where the code is mounted, and the working directory of the program.
pub(crate) const CODE_DIR: &str = "/opt/code";
/// The instance's directory shared with the host: the app's unix socket lives here.
pub(crate) const RUN_DIR: &str = "/run/app";
/// The socket the ASGI server listens on, inside `RUN_DIR`.
pub(crate) const SOCKET_NAME: &str = "sock";

/// Fresh writable directories of each instance.
const TMPFS_DIRS: [&str; 3] = ["/tmp", "/var/tmp", "/run"];
/// A directory replaced by a tmpfs to create a missing mount point may hold at most this many
/// entries (each becomes a bind mount).
const MAX_EXPANDED_ENTRIES: usize = 512;

/// One mount beyond the runtime image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mount {
    ReadOnly { host: PathBuf, guest: String },
    ReadWrite { host: PathBuf, guest: String },
    Tmpfs { size_bytes: u64, guest: String },
}

impl Mount {
    fn guest(&self) -> &str {
        match self {
            Mount::ReadOnly { guest, .. }
            | Mount::ReadWrite { guest, .. }
            | Mount::Tmpfs { guest, .. } => guest,
        }
    }
}

/// Everything the command line is made of.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) rootfs: PathBuf,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) argv: Vec<String>,
}

/// The base environment: programs start from an empty one (`--clearenv`).
pub(crate) fn base_env() -> Vec<(String, String)> {
    [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Checks a guest path: absolute, normalised, no `..`, and not one the sandbox needs itself.
pub(crate) fn check_guest_path(path: &str) -> Result<(), SandboxError> {
    let bad = |why: &str| SandboxError::BadMount {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    if !path.starts_with('/') || path == "/" {
        return Err(bad("must be an absolute path below /"));
    }
    if path
        .split('/')
        .skip(1)
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("must be normalised (no empty, . or .. components)"));
    }
    for reserved in ["/proc", "/dev", RUN_DIR] {
        if path == reserved || path.starts_with(&format!("{reserved}/")) {
            return Err(bad("is reserved by the sandbox"));
        }
    }
    Ok(())
}

/// The bwrap arguments (after the program name, before nothing: `argv` ends them).
pub(crate) fn bwrap_args(layout: &Layout) -> Result<Vec<OsString>, SandboxError> {
    let mut a = Args::default();
    let expanded = expanded_dirs(&layout.rootfs, &layout.mounts)?;
    if expanded.iter().any(|d| d == "/") {
        a.expand(&layout.rootfs, "/")?;
    } else {
        a.push(["--ro-bind"]).path(&layout.rootfs).push(["/"]);
    }
    for dir in expanded.iter().filter(|d| *d != "/") {
        a.push(["--tmpfs", dir]);
        a.expand(&layout.rootfs, dir)?;
    }
    a.push(["--proc", "/proc", "--dev", "/dev"]);
    for dir in TMPFS_DIRS {
        if layout.rootfs.join(&dir[1..]).is_dir() {
            a.push(["--tmpfs", dir]);
        }
    }
    for mount in &layout.mounts {
        match mount {
            Mount::ReadOnly { host, guest } => a.push(["--ro-bind"]).path(host).push([guest]),
            Mount::ReadWrite { host, guest } => a.push(["--bind"]).path(host).push([guest]),
            Mount::Tmpfs { size_bytes, guest } => {
                a.push(["--size", &size_bytes.to_string(), "--tmpfs", guest])
            }
        };
    }
    for dir in &expanded {
        a.push(["--remount-ro", dir]);
    }
    a.push([
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "aleph",
        "--seccomp",
        "0",
        "--clearenv",
    ]);
    for (key, value) in &layout.env {
        a.push(["--setenv", key, value]);
    }
    a.push(["--chdir", CODE_DIR, "--"]);
    for arg in &layout.argv {
        a.push([arg]);
    }
    Ok(a.0)
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push<const N: usize>(&mut self, items: [&str; N]) -> &mut Self {
        self.0.extend(items.iter().map(OsString::from));
        self
    }

    fn path(&mut self, path: &Path) -> &mut Self {
        self.0.push(path.as_os_str().to_owned());
        self
    }

    /// Rebuilds `dir` of the image entry by entry in a tmpfs, so missing mount points can be
    /// created in it (the image itself is read-only and shared).
    fn expand(&mut self, rootfs: &Path, dir: &str) -> Result<(), SandboxError> {
        let host = rootfs.join(dir.trim_start_matches('/'));
        let io = |e| SandboxError::io(format!("reading {}", host.display()), e);
        let mut entries: Vec<_> = std::fs::read_dir(&host)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        if entries.len() > MAX_EXPANDED_ENTRIES {
            return Err(SandboxError::BadMount {
                path: dir.to_owned(),
                why: "its parent in the runtime has too many entries to add a mount point".into(),
            });
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let guest = format!("{}/{name}", dir.trim_end_matches('/'));
            let meta = entry.path().symlink_metadata().map_err(io)?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path()).map_err(io)?;
                self.push(["--symlink"]).path(&target).push([&guest]);
            } else {
                self.push(["--ro-bind"]).path(&entry.path()).push([&guest]);
            }
        }
        Ok(())
    }
}

/// Directories of the image that must be rebuilt in a tmpfs because a mount point below them
/// does not exist in the (read-only) image. Shallowest first.
fn expanded_dirs(rootfs: &Path, mounts: &[Mount]) -> Result<Vec<String>, SandboxError> {
    let mut dirs: Vec<String> = Vec::new();
    let targets = mounts.iter().map(Mount::guest).chain([CODE_DIR, RUN_DIR]);
    for target in targets {
        let mut current = String::from("/");
        for component in target.split('/').filter(|c| !c.is_empty()) {
            if TMPFS_DIRS.contains(&current.as_str()) {
                break; // a fresh tmpfs: bwrap creates what it needs
            }
            let next = format!("{}/{component}", current.trim_end_matches('/'));
            match rootfs.join(&next[1..]).symlink_metadata() {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(SandboxError::BadMount {
                        path: target.to_owned(),
                        why: format!("{next} is a symlink in the runtime"),
                    });
                }
                Ok(_) => current = next,
                Err(_) => {
                    if !dirs.contains(&current) {
                        dirs.push(current);
                    }
                    break;
                }
            }
        }
    }
    dirs.sort_by_key(|d| d.matches('/').count() - usize::from(d == "/"));
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in ["usr/bin", "opt/code", "tmp", "run", "etc"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink("usr/bin", dir.path().join("bin")).unwrap();
        dir
    }

    fn layout(root: &Path, mounts: Vec<Mount>) -> Vec<String> {
        let layout = Layout {
            rootfs: root.to_owned(),
            mounts,
            env: base_env(),
            argv: vec!["python3".into()],
        };
        bwrap_args(&layout)
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn existing_mount_points_use_the_image_as_root() {
        let root = rootfs();
        let args = layout(root.path(), vec![]);
        assert_eq!(args[0], "--ro-bind");
        assert_eq!(args[2], "/");
        for flag in [
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--clearenv",
        ] {
            assert!(args.iter().any(|a| a == flag), "{flag}");
        }
        assert!(!args.iter().any(|a| a == "--share-net"));
        assert_eq!(args.last().unwrap(), "python3");
    }

    #[test]
    fn a_missing_mount_point_rebuilds_its_parent_in_a_tmpfs() {
        let root = rootfs();
        let data = Mount::Tmpfs {
            size_bytes: 1 << 20,
            guest: "/data".into(),
        };
        let args = layout(root.path(), vec![data]);
        let joined = args.join(" ");
        assert!(joined.contains("--symlink usr/bin /bin"), "{joined}");
        assert!(joined.contains("/usr /usr"), "{joined}");
        assert!(joined.contains("--remount-ro /"), "{joined}");
        assert!(!joined.starts_with("--ro-bind"), "{joined}");
    }

    #[test]
    fn guest_paths_are_checked() {
        for bad in [
            "relative",
            "/",
            "/a/../etc",
            "/proc/self",
            "/run/app",
            "/a//b",
        ] {
            assert!(check_guest_path(bad).is_err(), "{bad}");
        }
        check_guest_path("/opt/packages").unwrap();
    }
}
