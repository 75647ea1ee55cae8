//! `alephd`: a node of a decentralized cloud, compatible with Aleph.im, and its client.
//!
//! `alephd daemon` runs the node; the other subcommands are the client and tools. This file only
//! parses the command line and dispatches: each subcommand lives in its own module.

mod bench;
mod bench_api;
mod bench_p2p;
mod bench_sandbox;
mod chain;
mod cli;
mod compute;
mod config;
mod daemon;
mod data_dir;
mod logging;
mod p2p;
mod peers;
mod runtime;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "what failed: why".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Daemon(args) => daemon::run(args),
        Command::Peers(args) => peers::run(args),
        Command::Runtime { command } => runtime::run(command),
        Command::Bench { command } => bench::run(command),
        Command::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{}", config::NodeConfig::default_toml()?);
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Show(args),
        } => {
            let config = config::NodeConfig::load(&args)?;
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
    }
}
