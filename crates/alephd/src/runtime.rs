//! `alephd runtime build`: the Linux runtime image for sandboxed programs (Debian + Python 3 +
//! uvicorn/FastAPI from Debian's packages), as a squashfs to upload as a STORE and name in a
//! PROGRAM's `runtime.ref`.

use std::path::PathBuf;

use alephd_compute::sandbox::build::{RuntimeBuild, build_runtime};
use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum RuntimeCommand {
    /// Build the Debian + Python 3 + uvicorn/FastAPI runtime squashfs (needs root, mmdebstrap,
    /// mksquashfs).
    Build(RuntimeBuildArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RuntimeBuildArgs {
    /// Where to write the squashfs image.
    #[arg(long, short, default_value = "runtime.squashfs", value_name = "FILE")]
    output: PathBuf,
    /// Debian suite.
    #[arg(long, default_value = "bookworm")]
    suite: String,
    /// Debian mirror (default: the one this host's apt uses).
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// An extra Debian package to include (repeatable).
    #[arg(long = "package", value_name = "NAME")]
    packages: Vec<String>,
    /// zstd compression level of the image.
    #[arg(long, default_value_t = 3)]
    compression_level: u32,
}

pub(crate) fn run(command: RuntimeCommand) -> anyhow::Result<()> {
    let RuntimeCommand::Build(args) = command;
    let build = RuntimeBuild {
        suite: args.suite,
        mirror: args.mirror,
        extra_packages: args.packages,
        compression_level: args.compression_level,
        ..RuntimeBuild::new(args.output.clone())
    };
    let started = std::time::Instant::now();
    build_runtime(&build).context("runtime build failed")?;
    let size = std::fs::metadata(&args.output)?.len();
    println!(
        "built {} ({:.1} MB) in {:.1?}; upload it as a STORE and use its hash as runtime.ref",
        args.output.display(),
        size as f64 / 1e6,
        started.elapsed()
    );
    Ok(())
}
