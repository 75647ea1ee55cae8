//! Chain sync on EVM chains (spec §7): a writer anchoring batches of unconfirmed messages
//! through the AlephSync contract, and a reader replaying `SyncEvent`/`MessageEvent` logs
//! from a durable checkpoint into the node's pipeline.
//!
//! The node plugs in through the seams in [`seams`]: [`ArchiveStore`], [`MessageSink`],
//! [`UnconfirmedSource`] and [`CheckpointStore`]. JSON-RPC, ABI coding and legacy EIP-155
//! transaction signing are written here against `reqwest` and `k256` (no alloy: the
//! surface we need is four calls and two events).

pub mod abi;
pub mod config;
pub mod reader;
pub mod rpc;
pub mod seams;
pub mod sender;
pub mod token;
pub mod tx;
pub mod writer;

pub use config::{ChainConfig, ConfigError, SecretKey};
pub use reader::{Reader, ReaderError, SyncStats};
pub use rpc::{RpcClient, RpcError};
pub use seams::{
    ArchiveError, ArchiveId, ArchiveStore, Checkpoint, CheckpointKey, CheckpointStore,
    Confirmation, DeferredArchive, DirArchiveStore, FileCheckpointStore, MessageSink, Provenance,
    SeamError, UnconfirmedSource,
};
pub use sender::{SendError, Sent, TxSender};
pub use token::{BalanceSink, HolderBalance, TokenReader, TokenStats};
pub use writer::{Anchored, MAX_ARCHIVE_BYTES, Writer, WriterError};

/// AlephSync contract build output made by `solcjs --bin --abi --optimize` (contracts/).
pub const ALEPH_SYNC_BYTECODE_HEX: &str =
    include_str!("../../../contracts/build/AlephSync_sol_AlephSync.bin");
/// ABI of the AlephSync contract (JSON).
pub const ALEPH_SYNC_ABI_JSON: &str =
    include_str!("../../../contracts/build/AlephSync_sol_AlephSync.abi");
