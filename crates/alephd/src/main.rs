//! `alephd`: a node of a decentralized cloud, compatible with Aleph.im, and its client.
//!
//! `alephd daemon` runs the node; the other subcommands are the client and tools. This file only
//! parses the command line and dispatches: each subcommand lives in its own module.

mod bench;
mod bench_api;
mod bench_p2p;
mod bench_sandbox;
mod bench_wasm;
mod chain;
mod cli;
mod client;
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

use crate::{
    cli::{Cli, ClientArgs, Command, ConfigCommand},
    client::ClientCommand,
};

fn main() -> ExitCode {
    let command = match client_command(Cli::parse().command) {
        // Client commands print and classify their own errors (an exit code per failure).
        Ok((args, command)) => return client::run(args, command),
        Err(command) => *command,
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "what failed: why".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A client command and its options, or the node command given back.
fn client_command(command: Command) -> Result<(ClientArgs, ClientCommand), Box<Command>> {
    Ok(match command {
        Command::Key { client, command } => (client, ClientCommand::Key(command)),
        Command::Post { client, command } => (client, ClientCommand::Post(command)),
        Command::Aggregate { client, command } => (client, ClientCommand::Aggregate(command)),
        Command::File { client, command } => (client, ClientCommand::File(command)),
        Command::Message { client, command } => (client, ClientCommand::Message(command)),
        Command::Program { client, command } => (client, ClientCommand::Program(command)),
        Command::Node { client, command } => (client, ClientCommand::Node(command)),
        Command::Price { client, command } => (client, ClientCommand::Price(command)),
        Command::Balance { client, args } => (client, ClientCommand::Balance(args)),
        other => return Err(Box::new(other)),
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
        client => anyhow::bail!("{client:?} is a client command"),
    }
}
