//! Content-addressed storage: `storage` items (sha256 of raw bytes) and `ipfs` items (UnixFS
//! dag-pb CIDs identical to `ipfs add`) over one blockstore, with pins and garbage collection.
//!
//! Never holds a whole file in memory: adding and serving stream through bounded buffers.
//! Layout in the data dir: `blocks/` (one file per block, named by its sha256), `staging/`
//! (uploads in progress, wiped at start), `storage.db` (SQLite index: refcounts, roots, pins).

mod blockstore;
mod builder;
mod car;
mod config;
mod content_ref;
mod dagpb;
mod index;
mod ingest;
mod kubo_rpc;
mod reader;
mod store;

pub use blockstore::BlockError;
pub use builder::{CidHasher, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, DagLink, Layout, hash_bytes};
pub use car::CarError;
pub use config::{StorageConfig, StorageConfigError};
pub use content_ref::{
    BlockDigest, CODEC_DAG_PB, CODEC_RAW, Cid, ContentRef, ParseRefError, SHA2_256, Sha256Hash,
};
pub use dagpb::DecodeError;
pub use ingest::{AddError, AddOptions, AddSession, Added, Engine, FileWriter, PinMode};
pub use kubo_rpc::{FetchedBy, KuboFetchError, KuboRpcSource};
pub use reader::{DirEntry, EntryKind, ReadError};
pub use store::{
    ByteStream, CommitError, GcReport, InvalidPinOwner, OpenError, PinOwner, Stat, Store,
    StoreError, StoreTotals,
};
