//! `alephd runtime build`: a Debian root filesystem with Python 3 and an ASGI server (uvicorn,
//! FastAPI), from Debian's own packages with mmdebstrap, packed as a squashfs ready to upload
//! as a STORE and name in `runtime.ref`. Needs root (mmdebstrap's root mode), `mmdebstrap` and
//! `mksquashfs`. No pip: every package comes from the Debian archive, signatures checked by apt.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use thiserror::Error;

/// Changes whenever the recipe below changes: names cached test runtimes.
pub const RECIPE_VERSION: &str = "debian12-python3-uvicorn-v1";

/// Packages of the default runtime.
pub const DEFAULT_PACKAGES: &[&str] = &["python3", "python3-uvicorn", "python3-fastapi"];

/// Mount points the sandbox binds onto (the image is read-only at run time).
const MOUNT_POINTS: &[&str] = &["opt/code", "run/app", "opt/packages", "data", "mnt"];

/// What to build.
#[derive(Debug, Clone)]
pub struct RuntimeBuild {
    pub output: PathBuf,
    /// Debian suite.
    pub suite: String,
    /// Archive mirror; default: the one this host's apt uses, else deb.debian.org.
    pub mirror: Option<String>,
    /// Packages beyond `DEFAULT_PACKAGES`.
    pub extra_packages: Vec<String>,
    /// zstd level for mksquashfs (3: ~1 s, ~60 MB; 15: ~25 s, a little smaller).
    pub compression_level: u32,
}

impl RuntimeBuild {
    pub fn new(output: PathBuf) -> Self {
        Self {
            output,
            suite: "bookworm".into(),
            mirror: None,
            extra_packages: Vec::new(),
            compression_level: 3,
        }
    }
}

/// A step of the build failed.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("{step}: {source}")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} failed ({status}):\n{stderr}")]
    Tool {
        step: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// Builds the runtime image at `build.output` (replaced atomically when complete).
pub fn build_runtime(build: &RuntimeBuild) -> Result<(), BuildError> {
    let io = |step| move |source| BuildError::Io { step, source };
    let parent = build.output.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("creating the output directory"))?;
    let work = tempfile_dir(parent).map_err(io("creating a work directory"))?;
    let root = work.join("root");
    let outcome = (|| {
        let mirror = build.mirror.clone().unwrap_or_else(host_mirror);
        let mut packages: Vec<&str> = DEFAULT_PACKAGES.to_vec();
        packages.extend(build.extra_packages.iter().map(String::as_str));
        let mut mm = Command::new("mmdebstrap");
        mm.args(["--variant=minbase", "--mode=root", "--quiet"])
            .arg(format!("--include={}", packages.join(",")))
            .args([
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--dpkgopt=path-exclude=/usr/share/info/*",
            ])
            .arg(&build.suite)
            .arg(&root)
            .arg(&mirror);
        run("mmdebstrap", &mut mm)?;
        for dir in MOUNT_POINTS {
            std::fs::create_dir_all(root.join(dir)).map_err(io("creating mount points"))?;
        }
        // A regular file the sandbox can bind its own resolv.conf over.
        let resolv = root.join("etc/resolv.conf");
        let _ = std::fs::remove_file(&resolv);
        std::fs::write(&resolv, "").map_err(io("writing etc/resolv.conf"))?;
        let image = work.join("runtime.squashfs");
        let mut mk = Command::new("mksquashfs");
        mk.arg(&root)
            .arg(&image)
            .args(["-comp", "zstd", "-Xcompression-level"])
            .arg(build.compression_level.to_string())
            .args(["-noappend", "-quiet", "-no-progress"]);
        run("mksquashfs", &mut mk)?;
        std::fs::rename(&image, &build.output).map_err(io("moving the image into place"))
    })();
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

fn run(step: &'static str, command: &mut Command) -> Result<(), BuildError> {
    let output = command
        .output()
        .map_err(|source| BuildError::Io { step, source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        return Err(BuildError::Tool {
            step,
            status: output.status,
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(())
}

/// The Debian mirror this host's apt uses (deb822 `URIs:` or a `deb URL` line).
fn host_mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            if entry
                .path()
                .extension()
                .is_some_and(|e| e == "sources" || e == "list")
            {
                texts.extend(std::fs::read_to_string(entry.path()));
            }
        }
    }
    texts.extend(std::fs::read_to_string("/etc/apt/sources.list"));
    mirror_from(&texts).unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

fn mirror_from(texts: &[String]) -> Option<String> {
    texts.iter().flat_map(|t| t.lines()).find_map(|line| {
        let line = line.trim();
        let url = line
            .strip_prefix("URIs:")
            .map(|rest| rest.split_whitespace().next())
            .or_else(|| {
                line.strip_prefix("deb ")
                    .map(|rest| rest.split_whitespace().find(|w| w.contains("://")))
            })??;
        (url.contains("/debian") && !url.contains("security")).then(|| url.to_owned())
    })
}

fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    let dir = parent.join(format!(".runtime-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_mirror_is_found() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/x\nURIs: http://mirror.example/debian\nSuites: bookworm\n".to_owned();
        assert_eq!(
            mirror_from(&[deb822]).unwrap(),
            "http://mirror.example/debian"
        );
        let classic = "deb [arch=amd64] http://m.example/debian bookworm main\n".to_owned();
        assert_eq!(mirror_from(&[classic]).unwrap(), "http://m.example/debian");
        let security = "URIs: http://deb.debian.org/debian-security\n".to_owned();
        assert_eq!(mirror_from(&[security]), None);
    }
}
