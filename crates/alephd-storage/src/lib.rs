//! Content-addressed storage: `storage` items (sha256 of raw bytes) and `ipfs` items (UnixFS
//! dag-pb CIDs identical to `ipfs add`) over one blockstore, with pins and garbage collection.
//!
//! Never holds a whole file in memory: adding and serving stream through bounded buffers.

mod builder;
mod content_ref;
mod dagpb;

pub use builder::{DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, DagLink, Layout, hash_bytes};
pub use content_ref::{BlockDigest, CODEC_DAG_PB, CODEC_RAW, Cid, ContentRef, ParseRefError, Sha256Hash};
