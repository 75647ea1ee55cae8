//! The client subcommands' command line: one `*Command` enum per resource, the options every
//! client command shares in [`ClientArgs`].

use std::path::PathBuf;

use alephd_sdk::{FileEngine, KeyKind};
use clap::{Args, Subcommand};

/// Options of every client command (accepted before or after the subcommand).
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// The node's API.
    #[arg(
        long,
        global = true,
        env = "ALEPHD_API",
        default_value = "http://127.0.0.1:4024",
        value_name = "URL"
    )]
    pub(crate) api: String,
    /// Print JSON (one document, or one line per item for `watch`) instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Data directory holding `keys/`. Default: `~/.alephd`.
    #[arg(long, global = true, env = "ALEPHD_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Which key signs (a name from `alephd key list`).
    #[arg(
        long,
        global = true,
        env = "ALEPHD_KEY",
        default_value = "default",
        value_name = "NAME"
    )]
    pub(crate) key: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key (ETH by default) and store it in `<data-dir>/keys/` (mode 0600).
    New {
        /// Name of the key.
        #[arg(long, default_value = "default")]
        name: String,
        /// eth or sol.
        #[arg(long, alias = "chain", default_value = "eth")]
        kind: KeyKind,
    },
    /// Import a key file: the `aleph` CLI's (raw 32 bytes), hex, a Solana keypair (64 bytes,
    /// JSON array or base58).
    Import {
        file: PathBuf,
        #[arg(long, default_value = "default")]
        name: String,
        /// eth or sol (a 32-byte file can be either).
        #[arg(long, alias = "chain", default_value = "eth")]
        kind: KeyKind,
    },
    /// List the stored keys and their addresses.
    List,
    /// Show one key's address (never its secret).
    Show {
        /// Default: the `--key` name.
        name: Option<String>,
    },
}

/// Where a message goes.
#[derive(Debug, Clone, Args)]
pub(crate) struct ChannelArg {
    /// Channel of the message.
    #[arg(long, default_value = "ALEPHD")]
    pub(crate) channel: String,
}

/// A JSON document given inline, from a file or from stdin.
#[derive(Debug, Clone, Args)]
pub(crate) struct ContentArg {
    /// The content as JSON text.
    #[arg(long, conflicts_with = "content_file")]
    pub(crate) content: Option<String>,
    /// Read the JSON content from a file (`-` for stdin).
    #[arg(long, value_name = "PATH")]
    pub(crate) content_file: Option<PathBuf>,
}

/// Filters of list commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    /// Only these senders/owners (comma-separated). Default: the key's address for post,
    /// aggregate and program lists when the key exists.
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// Only these channels (comma-separated).
    #[arg(long)]
    pub(crate) channel: Option<String>,
    /// Items per page.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: u32,
    /// Page, from 1.
    #[arg(long, default_value_t = 1)]
    pub(crate) page: u32,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PostCommand {
    /// Publish a post.
    Create {
        /// Post type (user-defined).
        #[arg(long = "type", default_value = "note")]
        post_type: String,
        #[command(flatten)]
        content: ContentArg,
        /// `ref`: what the post refers to.
        #[arg(long = "ref")]
        reference: Option<String>,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// Replace the content of a post (give the original post's hash).
    Amend {
        hash: String,
        #[command(flatten)]
        content: ContentArg,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// List posts (amends merged: the latest content under the original hash).
    List {
        #[command(flatten)]
        filter: ListArgs,
        /// Only these post types (comma-separated).
        #[arg(long = "type")]
        post_type: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AggregateCommand {
    /// Merge a JSON object into a key of the account's aggregates.
    Set {
        /// The aggregate key (not to be confused with `--key`, the signing key).
        #[arg(value_name = "KEY")]
        name: String,
        #[command(flatten)]
        content: ContentArg,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// The merged value of one key.
    Get {
        /// The aggregate key.
        #[arg(value_name = "KEY")]
        name: String,
        /// Whose aggregate. Default: the key's address.
        #[arg(long)]
        address: Option<String>,
    },
    /// Every key of an address.
    List {
        /// Default: the key's address.
        #[arg(long)]
        address: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FileCommand {
    /// Upload a file with its signed STORE message (progress on a terminal).
    Add {
        path: PathBuf,
        #[arg(long, default_value = "storage")]
        engine: FileEngine,
        /// Name recorded in the STORE (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// `ref`: an earlier STORE's hash or a tag (versions of a file).
        #[arg(long = "ref")]
        reference: Option<String>,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// Download a file by its hash (sha256 or CID).
    Get {
        hash: String,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Pin a file the node already has with a STORE message (no upload).
    Pin {
        hash: String,
        #[arg(long = "ref")]
        reference: Option<String>,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// Forget the STORE that pins a file: give the STORE's hash or the file's hash.
    Forget {
        hash: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        channel: ChannelArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MessageCommand {
    /// A message and its status.
    Get { hash: String },
    /// List messages.
    List {
        #[command(flatten)]
        filter: ListArgs,
        /// Only these message types (POST, AGGREGATE, STORE, FORGET, PROGRAM, INSTANCE).
        #[arg(long = "type")]
        message_type: Option<String>,
        /// Only messages whose `content.ref` is one of these.
        #[arg(long = "ref")]
        reference: Option<String>,
    },
    /// Print messages as they are processed (after the `--history` latest ones).
    Watch {
        #[arg(long)]
        address: Option<String>,
        #[arg(long = "type")]
        message_type: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        /// How many recent matching messages come first.
        #[arg(long, default_value_t = 0)]
        history: u32,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Forget messages (the key must own them).
    Forget {
        #[arg(required = true)]
        hashes: Vec<String>,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        channel: ChannelArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// The node's version, identity and addresses.
    Status,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PriceCommand {
    /// What storing a file would cost (nothing is uploaded).
    Estimate {
        /// The file to price.
        path: PathBuf,
        #[arg(long, default_value = "storage")]
        engine: FileEngine,
    },
    /// The recorded cost of a STORE or PROGRAM message.
    Get { hash: String },
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BalanceArgs {
    /// Default: the key's address.
    pub(crate) address: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProgramCommand {
    /// Upload a zip (or squashfs) as a STORE, then publish a PROGRAM running it.
    Deploy {
        /// The code: the program's directory (zipped), a zip, a squashfs image, or a Wasm
        /// component (`.wasm`, for the Wasm runtime).
        path: PathBuf,
        /// `module:app` (asgi) or the command to run (binary); Wasm components need none.
        #[arg(long)]
        entrypoint: Option<String>,
        /// The runtime: the hash of a STORE holding a runtime image, or `wasm`. Default: `wasm`
        /// for a Wasm component, else Aleph's default Debian runtime.
        #[arg(long)]
        runtime: Option<String>,
        /// asgi or binary (default: inferred by the node from the entrypoint).
        #[arg(long)]
        interface: Option<Interface>,
        #[command(flatten)]
        settings: ProgramSettings,
        /// Forbid later `program update`s.
        #[arg(long)]
        immutable: bool,
        #[command(flatten)]
        channel: ChannelArg,
    },
    /// Call a program over HTTP (`/vm/{hash}/{path}`); prints the response body.
    Call {
        hash: String,
        /// Path inside the program, e.g. `/hello`.
        #[arg(default_value = "/")]
        path: String,
        /// Send a POST with this body (default: GET).
        #[arg(long)]
        data: Option<String>,
    },
    /// The key's programs (or an address's).
    List {
        #[command(flatten)]
        filter: ListArgs,
    },
    /// The last executions of a program: trigger, status, stdout, stderr.
    Logs {
        hash: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Publish a new version of a program (a PROGRAM that `replaces` it).
    Update {
        hash: String,
        /// New code (zip); default: keep the current code.
        #[arg(long)]
        code: Option<PathBuf>,
        #[arg(long)]
        entrypoint: Option<String>,
        #[arg(long)]
        runtime: Option<String>,
        #[command(flatten)]
        settings: ProgramSettings,
        #[command(flatten)]
        channel: ChannelArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Interface {
    Asgi,
    Binary,
}

/// Resources and environment of a program (on update: only what is given changes).
#[derive(Debug, Clone, Args)]
pub(crate) struct ProgramSettings {
    /// Memory in MiB (default 128).
    #[arg(long)]
    pub(crate) memory: Option<u64>,
    /// vCPUs (default 1).
    #[arg(long)]
    pub(crate) vcpus: Option<u32>,
    /// Timeout of one call in seconds (default 30).
    #[arg(long)]
    pub(crate) timeout: Option<u64>,
    /// Give the program internet access.
    #[arg(long)]
    pub(crate) internet: bool,
    /// Keep the program running (`on.persistent`) instead of starting it per request; a Wasm
    /// program is then a `wasi:cli` command (a `main`), restarted with backoff when it ends.
    #[arg(long)]
    pub(crate) persistent: bool,
    /// An environment variable `K=V` (repeatable).
    #[arg(long = "var", value_name = "K=V")]
    pub(crate) vars: Vec<String>,
    /// `metadata.name`.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Also run on each processed message matching this JSON filter, e.g.
    /// `{"channel":"MINE","content":{"type":"ping"}}` (repeatable; on update, replaces the
    /// program's subscriptions).
    #[arg(long = "on-message", value_name = "JSON")]
    pub(crate) on_message: Vec<String>,
    /// A volume kept across calls and restarts, `NAME:MOUNT[:SIZE_MIB]` (repeatable; on
    /// update, replaces the program's volumes with the other volume flags).
    #[arg(long = "persistent-volume", value_name = "NAME:MOUNT[:MIB]")]
    pub(crate) persistent_volumes: Vec<String>,
    /// A fresh scratch volume per instance, `MOUNT[:SIZE_MIB]` (repeatable).
    #[arg(long = "ephemeral-volume", value_name = "MOUNT[:MIB]")]
    pub(crate) ephemeral_volumes: Vec<String>,
}
