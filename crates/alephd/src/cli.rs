//! The command line: one clap `*Args` group per subcommand.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::client::args::{
    AggregateCommand, BalanceArgs, ClientArgs, FileCommand, KeyCommand, MessageCommand,
    NodeCommand, PostCommand, PriceCommand, ProgramCommand,
};

/// A node of a decentralized cloud (Aleph-compatible), and its client.
#[derive(Debug, Parser)]
#[command(name = "alephd", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a node: REST API, message pipeline, storage, p2p network (and later chains, compute).
    Daemon(NodeArgs),
    /// Measure this machine: ingest throughput of the real pipeline and API.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
    /// Linux runtime images for sandboxed programs.
    Runtime {
        #[command(subcommand)]
        command: crate::runtime::RuntimeCommand,
    },
    /// Show the running node's peers: its addresses, connected and known peers.
    Peers(PeersArgs),
    /// Inspect the node configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Signing keys (ETH, SOL) in `<data-dir>/keys/`.
    Key {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Posts: create, amend, list.
    Post {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: PostCommand,
    },
    /// Aggregates (key-value documents): set, get, list.
    Aggregate {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AggregateCommand,
    },
    /// Files: add (upload with a STORE), get, pin, forget.
    File {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: FileCommand,
    },
    /// Messages: get, list, watch, forget.
    Message {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: MessageCommand,
    },
    /// Programs: deploy, call, list, logs, update.
    Program {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ProgramCommand,
    },
    /// The node: status.
    Node {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Prices: estimate a file's storage cost, or read a message's recorded cost.
    Price {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: PriceCommand,
    },
    /// An address's balance, locked amount and credits (default: the key's address).
    Balance {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: BalanceArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the full default configuration file (every setting, with its default).
    Default,
    /// Print the configuration a daemon would run with: defaults, file, env and flags merged.
    Show(NodeArgs),
}

/// Where a node keeps its state and how it is reached. Each flag overrides the config file and
/// the `ALEPHD_*` environment.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct NodeArgs {
    /// Configuration file (TOML). Default: `<data-dir>/config.toml` when it exists.
    #[arg(long, env = "ALEPHD_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory: database, blocks, keys. Default: `~/.alephd`.
    #[arg(long, env = "ALEPHD_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Address of the REST API and compute routes.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) api_addr: Option<SocketAddr>,
    /// libp2p listen address.
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) p2p_addr: Option<String>,
    /// A peer to dial at start and keep connected: a multiaddr, with or without
    /// `/p2p/<peer id>` (repeatable; adds to `[p2p] bootstrap`).
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub(crate) bootstrap: Vec<String>,
    /// Log filter, in `RUST_LOG` syntax (e.g. `info,alephd_processor=debug`).
    #[arg(long, value_name = "FILTER")]
    pub(crate) log: Option<String>,
}

/// Which node `alephd peers` asks.
#[derive(Debug, Clone, Args)]
pub(crate) struct PeersArgs {
    /// The node's API.
    #[arg(
        long,
        env = "ALEPHD_API",
        default_value = "http://127.0.0.1:4024",
        value_name = "URL"
    )]
    pub(crate) api: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}
