//! The client subcommands (`alephd key|post|aggregate|file|message|node|price|balance|program`):
//! parse, call the node through `alephd-sdk`, print text or `--json`, and turn every failure
//! into a sentence a person understands and a distinct non-zero exit code.
//!
//! Must never start the node or touch its database: it only talks HTTP to `--api`.

pub(crate) mod args;
mod files;
mod keys;
mod programs;
mod progress;
mod resources;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
};

use alephd_message::{Channel, ItemHash, signature::Signer};
use alephd_sdk::{Account, AlephClient, Composer, SdkError, SubmitResult};
use anyhow::Context;
use serde_json::{Value, json};

use self::args::{
    AggregateCommand, BalanceArgs, ChannelArg, ClientArgs, ContentArg, FileCommand, KeyCommand,
    MessageCommand, NodeCommand, PriceCommand, ProgramCommand,
};

/// Exit codes scripts can branch on (documented in crates/alephd-sdk/README.md).
mod exit {
    pub(super) const FAILURE: u8 = 1;
    pub(super) const UNREACHABLE: u8 = 3;
    pub(super) const REJECTED: u8 = 4;
    pub(super) const NOT_FOUND: u8 = 5;
    pub(super) const TOO_LARGE: u8 = 6;
    pub(super) const KEY_MISSING: u8 = 7;
    pub(super) const PAYMENT_REQUIRED: u8 = 8;
}

/// One client command.
#[derive(Debug)]
pub(crate) enum ClientCommand {
    Key(KeyCommand),
    Post(args::PostCommand),
    Aggregate(AggregateCommand),
    File(FileCommand),
    Message(MessageCommand),
    Node(NodeCommand),
    Price(PriceCommand),
    Balance(BalanceArgs),
    Program(ProgramCommand),
}

/// Failures of the client itself (the node's are [`SdkError`]s).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error(
        "no key named {name:?} in {}: create one with `alephd key new` or import one with \
         `alephd key import FILE` (or choose another with --key)", dir.display()
    )]
    KeyMissing { name: String, dir: PathBuf },
    #[error("{0}")]
    NotFound(String),
}

/// What a command prints: a JSON document for `--json`, text otherwise.
#[derive(Debug)]
pub(crate) struct Output {
    json: Option<Value>,
    text: String,
}

impl Output {
    pub(crate) fn new(json: Value, text: String) -> Self {
        Self {
            json: Some(json),
            text,
        }
    }

    /// The command already printed what it had to (streams).
    pub(crate) fn printed() -> Self {
        Self {
            json: None,
            text: String::new(),
        }
    }
}

/// What every command needs: the node, the options, and the key when it signs.
pub(crate) struct Ctx {
    pub(crate) client: AlephClient,
    pub(crate) args: ClientArgs,
}

impl Ctx {
    fn keys(&self) -> keys::KeyStore {
        keys::KeyStore::new(&data_dir(&self.args))
    }

    /// The signing key (`--key`).
    pub(crate) fn account(&self) -> anyhow::Result<Account> {
        self.keys().load(&self.args.key)
    }

    /// `explicit`, else the key's address.
    pub(crate) fn address_or_key(&self, explicit: Option<String>) -> anyhow::Result<String> {
        match explicit {
            Some(address) => Ok(address),
            None => Ok(self.account()?.address().to_owned()),
        }
    }

    /// `explicit`, else the key's address when a key exists, else no filter.
    pub(crate) fn address_filter(&self, explicit: Option<String>) -> Option<String> {
        explicit.or_else(|| self.account().ok().map(|a| a.address().to_owned()))
    }
}

pub(crate) fn composer<'a>(
    account: &'a Account,
    channel: &ChannelArg,
) -> anyhow::Result<Composer<'a>> {
    let channel = Channel::new(channel.channel.clone()).context("invalid --channel")?;
    Ok(Composer::new(account).with_channel(channel))
}

fn data_dir(args: &ClientArgs) -> PathBuf {
    args.data_dir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME").map_or_else(
            || PathBuf::from(".alephd"),
            |h| Path::new(&h).join(".alephd"),
        )
    })
}

/// Runs a client command; prints its output or its error; the exit code says which failure.
pub(crate) fn run(args: ClientArgs, command: ClientCommand) -> ExitCode {
    let json = args.json;
    match execute(args, command) {
        Ok(output) => {
            if json && let Some(value) = output.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else if !output.text.is_empty() {
                print!("{}", output.text);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            let (code, kind, extra) = classify(&err);
            eprintln!("error: {err:#}");
            if json {
                let mut body =
                    json!({"kind": kind, "message": format!("{err:#}"), "exit_code": code});
                if let Some(Value::Object(extra)) = extra
                    && let Some(b) = body.as_object_mut()
                {
                    b.extend(extra);
                }
                println!("{}", json!({ "error": body }));
            }
            ExitCode::from(code)
        }
    }
}

/// Exit code, `kind` and extra JSON fields of a failure.
fn classify(err: &anyhow::Error) -> (u8, &'static str, Option<Value>) {
    for cause in err.chain() {
        if let Some(sdk) = cause.downcast_ref::<SdkError>() {
            let code = match sdk {
                SdkError::Unreachable { .. } => exit::UNREACHABLE,
                SdkError::WebSocket { reason, .. } if reason.contains("unreachable") => {
                    exit::UNREACHABLE
                }
                SdkError::Rejected { .. } => exit::REJECTED,
                SdkError::NotFound { .. } => exit::NOT_FOUND,
                SdkError::TooLarge { .. } => exit::TOO_LARGE,
                SdkError::PaymentRequired { .. } => exit::PAYMENT_REQUIRED,
                _ => exit::FAILURE,
            };
            let extra = match sdk {
                SdkError::Rejected {
                    item_hash,
                    code,
                    meaning,
                    details,
                } => Some(json!({
                    "item_hash": item_hash, "error_code": code, "meaning": meaning, "details": details,
                })),
                SdkError::TooLarge { limit } => Some(json!({ "limit": limit })),
                SdkError::Unreachable { url, .. } => Some(json!({ "url": url })),
                _ => None,
            };
            return (code, sdk.kind(), extra);
        }
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            return match client {
                ClientError::KeyMissing { .. } => (exit::KEY_MISSING, "key_missing", None),
                ClientError::NotFound(_) => (exit::NOT_FOUND, "not_found", None),
            };
        }
    }
    (exit::FAILURE, "error", None)
}

fn execute(args: ClientArgs, command: ClientCommand) -> anyhow::Result<Output> {
    if let ClientCommand::Key(command) = command {
        // No node needed.
        let store = keys::KeyStore::new(&data_dir(&args));
        return keys::run(&store, &args.key, command);
    }
    let client = AlephClient::new(&args.api)?;
    let ctx = Ctx { client, args };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            ClientCommand::Key(_) => unreachable!("handled above"),
            ClientCommand::Post(c) => resources::post(&ctx, c).await,
            ClientCommand::Aggregate(c) => resources::aggregate(&ctx, c).await,
            ClientCommand::Message(c) => resources::message(&ctx, c).await,
            ClientCommand::Node(c) => resources::node(&ctx, c).await,
            ClientCommand::Price(c) => resources::price(&ctx, c).await,
            ClientCommand::Balance(a) => resources::balance(&ctx, a).await,
            ClientCommand::File(c) => files::run(&ctx, c).await,
            ClientCommand::Program(c) => programs::run(&ctx, c).await,
        }
    })
}

/// The JSON of `--content` / `--content-file`.
pub(crate) fn read_content(arg: &ContentArg) -> anyhow::Result<Value> {
    let text = match (&arg.content, &arg.content_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            text
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => {
            anyhow::bail!("give the content with --content JSON or --content-file PATH")
        }
    };
    serde_json::from_str(&text).context("the content is not valid JSON")
}

pub(crate) fn parse_hash(text: &str) -> anyhow::Result<ItemHash> {
    ItemHash::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("{text:?} is not an item hash (sha256 hex or CID): {e}"))
}

/// The output of a published message.
pub(crate) fn published(
    message: &alephd_message::IncomingMessage,
    result: &SubmitResult,
) -> Output {
    let value = json!({
        "item_hash": message.item_hash(),
        "type": message.message_type(),
        "sender": message.sender(),
        "chain": message.chain(),
        "channel": message.channel(),
        "status": result.message_status,
    });
    let text = format!(
        "{} {} {}\n",
        message.message_type(),
        message.item_hash(),
        result.message_status
    );
    Output::new(value, text)
}
