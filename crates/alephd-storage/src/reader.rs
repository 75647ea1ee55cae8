//! Reading UnixFS DAGs: file sizes, directory listings and byte ranges, block by block.
//!
//! Runs on blocking threads (filesystem reads + hashing) and feeds a bounded channel, so a
//! slow client holds at most a few blocks in memory. Traversal uses an explicit stack with a
//! depth bound: DAGs may come from peers.

use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::{
    blockstore::{BlockError, Blockstore},
    content_ref::{BlockDigest, CODEC_DAG_PB, CODEC_RAW, Cid},
    dagpb::{self, DecodeError},
};

/// Deepest DAG we follow (Kubo's balanced layout reaches depth 5 at 100 TB).
const MAX_DEPTH: usize = 64;

/// A DAG that cannot be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("block {cid} is not valid dag-pb/UnixFS: {source}")]
    Malformed { cid: Cid, source: DecodeError },
    #[error("{0} uses an unsupported codec or hash")]
    Unsupported(Cid),
    #[error("the DAG under {0} is inconsistent (sizes or depth)")]
    Inconsistent(Cid),
    #[error("{0} is a directory")]
    IsDirectory(Cid),
    #[error("{0} is not a directory")]
    NotDirectory(Cid),
}

/// File or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
}

/// One entry of a UnixFS directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub cid: Cid,
    /// The link's cumulative size (`Tsize`).
    pub tsize: u64,
}

fn digest(cid: &Cid) -> Result<BlockDigest, ReadError> {
    BlockDigest::of_cid(cid).ok_or(ReadError::Unsupported(*cid))
}

fn parse_cid(bytes: &[u8], parent: &Cid) -> Result<Cid, ReadError> {
    Cid::try_from(bytes).map_err(|_| ReadError::Inconsistent(*parent))
}

/// A decoded UnixFS node: kind, file size, inline data, children with their byte sizes.
struct Node {
    kind: EntryKind,
    size: u64,
    data: Bytes,
    children: Vec<(Cid, u64)>,
    names: Vec<(String, u64)>,
}

fn load(blocks: &Blockstore, cid: &Cid) -> Result<Node, ReadError> {
    let bytes = Bytes::from(blocks.read(&digest(cid)?)?);
    match cid.codec() {
        CODEC_RAW => Ok(Node {
            kind: EntryKind::File,
            size: bytes.len() as u64,
            data: bytes,
            children: vec![],
            names: vec![],
        }),
        CODEC_DAG_PB => decode(cid, bytes),
        _ => Err(ReadError::Unsupported(*cid)),
    }
}

fn decode(cid: &Cid, bytes: Bytes) -> Result<Node, ReadError> {
    let malformed = |source| ReadError::Malformed { cid: *cid, source };
    let node = dagpb::decode_node(&bytes).map_err(malformed)?;
    let unixfs = dagpb::decode_unixfs(node.data.unwrap_or_default()).map_err(malformed)?;
    let links = node
        .links
        .iter()
        .map(|l| Ok((parse_cid(l.hash, cid)?, l.tsize)))
        .collect::<Result<Vec<_>, ReadError>>()?;
    if unixfs.kind == dagpb::TYPE_DIRECTORY {
        let names = node
            .links
            .iter()
            .map(|l| (l.name.to_owned(), l.tsize))
            .collect();
        return Ok(Node {
            kind: EntryKind::Directory,
            size: 0,
            data: Bytes::new(),
            children: links,
            names,
        });
    }
    if unixfs.kind != dagpb::TYPE_FILE && unixfs.kind != dagpb::TYPE_RAW {
        return Err(ReadError::Unsupported(*cid));
    }
    if unixfs.blocksizes.len() != links.len() {
        return Err(ReadError::Inconsistent(*cid));
    }
    let data = match unixfs.data {
        Some(inline) => bytes.slice_ref(inline),
        None => Bytes::new(),
    };
    let children: Vec<(Cid, u64)> = links
        .iter()
        .map(|(c, _)| *c)
        .zip(unixfs.blocksizes.iter().copied())
        .collect();
    let computed = data.len() as u64 + children.iter().map(|(_, s)| *s).sum::<u64>();
    let size = unixfs.filesize.unwrap_or(computed);
    if size != computed {
        return Err(ReadError::Inconsistent(*cid));
    }
    Ok(Node {
        kind: EntryKind::File,
        size,
        data,
        children,
        names: vec![],
    })
}

/// Kind and byte size of the DAG rooted at `cid`.
pub(crate) fn stat(blocks: &Blockstore, cid: &Cid) -> Result<(EntryKind, u64), ReadError> {
    let node = load(blocks, cid)?;
    Ok((node.kind, node.size))
}

/// The entries of a directory, in link order.
pub(crate) fn list(blocks: &Blockstore, cid: &Cid) -> Result<Vec<DirEntry>, ReadError> {
    let node = load(blocks, cid)?;
    if node.kind != EntryKind::Directory {
        return Err(ReadError::NotDirectory(*cid));
    }
    Ok(node
        .names
        .into_iter()
        .zip(node.children)
        .map(|((name, tsize), (cid, _))| DirEntry { name, cid, tsize })
        .collect())
}

/// Follows `path` (names separated by `/`) from `root`.
pub(crate) fn resolve(
    blocks: &Blockstore,
    root: &Cid,
    path: &str,
) -> Result<Option<Cid>, ReadError> {
    let mut current = *root;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        let entries = list(blocks, &current)?;
        match entries.into_iter().find(|e| e.name == name) {
            Some(entry) => current = entry.cid,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Streams bytes `range` of the file at `root` into `tx`; stops early if the receiver leaves.
pub(crate) fn send_range(
    blocks: &Blockstore,
    root: &Cid,
    range: Range<u64>,
    tx: &mpsc::Sender<Result<Bytes, ReadError>>,
) {
    if let Err(err) = walk(blocks, root, range, tx) {
        let _ = tx.blocking_send(Err(err));
    }
}

fn walk(
    blocks: &Blockstore,
    root: &Cid,
    range: Range<u64>,
    tx: &mpsc::Sender<Result<Bytes, ReadError>>,
) -> Result<(), ReadError> {
    // (node, offset of its first byte in the file, depth, size its parent announced)
    let mut stack = vec![(*root, 0u64, 0usize, None)];
    while let Some((cid, offset, depth, expected)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(ReadError::Inconsistent(*root));
        }
        let node = load(blocks, &cid)?;
        if expected.is_some_and(|size| size != node.size) {
            return Err(ReadError::Inconsistent(cid));
        }
        if node.kind == EntryKind::Directory {
            return Err(ReadError::IsDirectory(cid));
        }
        let data_end = offset + node.data.len() as u64;
        if range.start < data_end && offset < range.end {
            let from = range.start.saturating_sub(offset) as usize;
            let to = (range.end.min(data_end) - offset) as usize;
            if tx.blocking_send(Ok(node.data.slice(from..to))).is_err() {
                return Ok(());
            }
        }
        let mut child_offset = data_end;
        let mut pending = Vec::new();
        for (child, size) in node.children {
            let end = child_offset
                .checked_add(size)
                .ok_or(ReadError::Inconsistent(cid))?;
            if child_offset < range.end && range.start < end {
                pending.push((child, child_offset, depth + 1, Some(size)));
            }
            child_offset = end;
        }
        stack.extend(pending.into_iter().rev());
    }
    Ok(())
}
