//! Content-addressed storage: `storage` items (sha256 of raw bytes) and `ipfs` items (UnixFS
//! dag-pb CIDs identical to `ipfs add`) over one blockstore, with pins and garbage collection.
//!
//! Never holds a whole file in memory: adding and serving stream through bounded buffers.
