//! UnixFS DAG building with `ipfs add`'s balanced layout, one chunk at a time.
//!
//! The builder keeps one open node per tree level (at most 174 links each), so memory is
//! O(depth × 174) whatever the file size. Closing a level when it overflows, and closing every
//! level at the end, gives exactly go-unixfs's balanced layout: full left subtrees, a right
//! spine of partial nodes, a lone chunk as its own root. Blocks go to a [`BlockSink`].

use std::io;

use sha2::{Digest, Sha256};

use crate::{
    content_ref::{BlockDigest, CODEC_DAG_PB, CODEC_RAW, Cid},
    dagpb::{self, LinkOut},
};

/// Kubo's default chunk size (`size-262144`).
pub const DEFAULT_CHUNK_SIZE: usize = 262_144;
/// Kubo's default maximum number of links per node.
pub const DEFAULT_MAX_LINKS: usize = 174;

/// Where built blocks go: a staging directory, or nowhere (`only-hash`).
pub(crate) trait BlockSink {
    /// Stores a block made of `parts` (concatenated) whose children are `links`.
    fn put(
        &mut self,
        digest: BlockDigest,
        parts: &[&[u8]],
        links: &[BlockDigest],
    ) -> io::Result<()>;
}

/// `only-hash`: blocks are computed and dropped.
pub(crate) struct DiscardSink;

impl BlockSink for DiscardSink {
    fn put(&mut self, _: BlockDigest, _: &[&[u8]], _: &[BlockDigest]) -> io::Result<()> {
        Ok(())
    }
}

/// How files become DAGs: Kubo's `--cid-version` and `--raw-leaves`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// CIDv0 (base58 `Qm…`) for dag-pb nodes; `false` means CIDv1 (base32 `bafy…`).
    pub cid_v0: bool,
    /// Leaves as raw blocks (CIDv1 `raw`) instead of UnixFS dag-pb leaves.
    pub raw_leaves: bool,
    pub chunk_size: usize,
    pub max_links: usize,
}

impl Layout {
    /// `ipfs add` defaults: CIDv0, dag-pb leaves.
    pub const V0: Layout = Layout {
        cid_v0: true,
        raw_leaves: false,
        chunk_size: DEFAULT_CHUNK_SIZE,
        max_links: DEFAULT_MAX_LINKS,
    };
    /// `ipfs add --cid-version=1`: CIDv1, raw leaves.
    pub const V1: Layout = Layout {
        cid_v0: false,
        raw_leaves: true,
        chunk_size: DEFAULT_CHUNK_SIZE,
        max_links: DEFAULT_MAX_LINKS,
    };
}

/// A built node as its parent links to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DagLink {
    pub cid: Cid,
    pub digest: BlockDigest,
    /// Cumulative size of the block and everything below it (`Tsize`, Kubo's "Size").
    pub tsize: u64,
    /// File bytes below this node.
    pub filesize: u64,
}

fn digest_of(parts: &[&[u8]]) -> BlockDigest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    BlockDigest(hasher.finalize().into())
}

/// Builds one file's DAG from its chunks, in order.
pub(crate) struct FileBuilder {
    layout: Layout,
    levels: Vec<Vec<DagLink>>,
}

impl FileBuilder {
    pub(crate) fn new(layout: Layout) -> Self {
        FileBuilder {
            layout,
            levels: Vec::new(),
        }
    }

    /// Adds the next chunk (exactly `chunk_size` bytes except for the last one).
    pub(crate) fn push_chunk(&mut self, chunk: &[u8], sink: &mut dyn BlockSink) -> io::Result<()> {
        let leaf = self.leaf(chunk, sink)?;
        self.push_link(0, leaf, sink)
    }

    fn leaf(&self, chunk: &[u8], sink: &mut dyn BlockSink) -> io::Result<DagLink> {
        let len = chunk.len() as u64;
        if self.layout.raw_leaves {
            let digest = digest_of(&[chunk]);
            sink.put(digest, &[chunk], &[])?;
            return Ok(DagLink {
                cid: digest.cid(CODEC_RAW, false),
                digest,
                tsize: len,
                filesize: len,
            });
        }
        let (head, tail) = dagpb::file_leaf_frame(chunk.len());
        let parts = [head.as_slice(), chunk, tail.as_slice()];
        let digest = digest_of(&parts);
        sink.put(digest, &parts, &[])?;
        let tsize = (head.len() + chunk.len() + tail.len()) as u64;
        let cid = digest.cid(CODEC_DAG_PB, self.layout.cid_v0);
        Ok(DagLink {
            cid,
            digest,
            tsize,
            filesize: len,
        })
    }

    fn push_link(
        &mut self,
        level: usize,
        link: DagLink,
        sink: &mut dyn BlockSink,
    ) -> io::Result<()> {
        if self.levels.len() <= level {
            self.levels.push(Vec::with_capacity(self.layout.max_links));
        }
        if self.levels[level].len() >= self.layout.max_links {
            let full = std::mem::take(&mut self.levels[level]);
            let node = self.interior(&full, sink)?;
            self.push_link(level + 1, node, sink)?;
        }
        self.levels[level].push(link);
        Ok(())
    }

    fn interior(&self, links: &[DagLink], sink: &mut dyn BlockSink) -> io::Result<DagLink> {
        let filesize = links.iter().map(|l| l.filesize).sum();
        let blocksizes: Vec<u64> = links.iter().map(|l| l.filesize).collect();
        let data = dagpb::file_interior_data(filesize, &blocksizes);
        let hashes: Vec<Vec<u8>> = links.iter().map(|l| l.cid.to_bytes()).collect();
        let outs: Vec<LinkOut<'_>> = links
            .iter()
            .zip(&hashes)
            .map(|(l, hash)| LinkOut {
                hash,
                name: "",
                tsize: l.tsize,
            })
            .collect();
        let block = dagpb::encode_node(&outs, Some(&data));
        let digest = digest_of(&[&block]);
        let children: Vec<BlockDigest> = links.iter().map(|l| l.digest).collect();
        sink.put(digest, &[&block], &children)?;
        let tsize = block.len() as u64 + links.iter().map(|l| l.tsize).sum::<u64>();
        let cid = digest.cid(CODEC_DAG_PB, self.layout.cid_v0);
        Ok(DagLink {
            cid,
            digest,
            tsize,
            filesize,
        })
    }

    /// Closes every open level and returns the root.
    pub(crate) fn finish(mut self, sink: &mut dyn BlockSink) -> io::Result<DagLink> {
        if self.levels.is_empty() {
            // An empty file is one empty leaf, as with Kubo.
            let leaf = self.leaf(&[], sink)?;
            return Ok(leaf);
        }
        let mut level = 0;
        loop {
            let links = std::mem::take(&mut self.levels[level]);
            if level + 1 == self.levels.len() && links.len() == 1 {
                return Ok(links[0]);
            }
            let node = self.interior(&links, sink)?;
            self.push_link(level + 1, node, sink)?;
            level += 1;
        }
    }
}

/// One entry of a directory node.
pub(crate) struct DirEntryLink<'a> {
    pub(crate) name: &'a str,
    pub(crate) link: DagLink,
}

/// Builds a basic UnixFS directory node; `entries` must be sorted by name (bytewise).
pub(crate) fn build_directory(
    entries: &[DirEntryLink<'_>],
    cid_v0: bool,
    sink: &mut dyn BlockSink,
) -> io::Result<DagLink> {
    let hashes: Vec<Vec<u8>> = entries.iter().map(|e| e.link.cid.to_bytes()).collect();
    let outs: Vec<LinkOut<'_>> = entries
        .iter()
        .zip(&hashes)
        .map(|(e, hash)| LinkOut {
            hash,
            name: e.name,
            tsize: e.link.tsize,
        })
        .collect();
    let block = dagpb::encode_node(&outs, Some(&dagpb::directory_data()));
    let digest = digest_of(&[&block]);
    let children: Vec<BlockDigest> = entries.iter().map(|e| e.link.digest).collect();
    sink.put(digest, &[&block], &children)?;
    let tsize = block.len() as u64 + entries.iter().map(|e| e.link.tsize).sum::<u64>();
    let filesize = entries.iter().map(|e| e.link.filesize).sum();
    Ok(DagLink {
        cid: digest.cid(CODEC_DAG_PB, cid_v0),
        digest,
        tsize,
        filesize,
    })
}

/// Computes the root of `data` without storing anything (`only-hash` on a slice).
pub fn hash_bytes(data: &[u8], layout: Layout) -> DagLink {
    let mut builder = FileBuilder::new(layout);
    let mut sink = DiscardSink;
    for chunk in data.chunks(layout.chunk_size.max(1)) {
        builder
            .push_chunk(chunk, &mut sink)
            .expect("the discard sink never fails");
    }
    builder
        .finish(&mut sink)
        .expect("the discard sink never fails")
}

/// Streams a file's bytes into its `ipfs add` CID without storing anything: what a client
/// needs to sign a STORE message before uploading. Memory stays O(chunk size + tree depth).
pub struct CidHasher {
    builder: FileBuilder,
    pending: Vec<u8>,
    chunk_size: usize,
}

impl CidHasher {
    pub fn new(layout: Layout) -> Self {
        let chunk_size = layout.chunk_size.max(1);
        Self {
            builder: FileBuilder::new(layout),
            pending: Vec::with_capacity(chunk_size),
            chunk_size,
        }
    }

    /// Feeds the next bytes of the file, in order.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.chunk_size {
                self.builder
                    .push_chunk(&self.pending, &mut DiscardSink)
                    .expect("the discard sink never fails");
                self.pending.clear();
            }
        }
    }

    /// The root of the file fed so far.
    pub fn finish(mut self) -> DagLink {
        if !self.pending.is_empty() {
            self.builder
                .push_chunk(&self.pending, &mut DiscardSink)
                .expect("the discard sink never fails");
        }
        self.builder
            .finish(&mut DiscardSink)
            .expect("the discard sink never fails")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hasher_matches_hash_bytes() {
        let data: Vec<u8> = (0..(3 * DEFAULT_CHUNK_SIZE + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        for layout in [Layout::V0, Layout::V1] {
            let mut hasher = CidHasher::new(layout);
            for piece in data.chunks(100_003) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finish(), hash_bytes(&data, layout));
        }
        assert_eq!(
            CidHasher::new(Layout::V0).finish(),
            hash_bytes(b"", Layout::V0)
        );
    }

    #[test]
    fn well_known_cids() {
        // `echo hello | ipfs add` and the empty file.
        assert_eq!(
            hash_bytes(b"hello\n", Layout::V0).cid.to_string(),
            "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"
        );
        let empty = hash_bytes(b"", Layout::V0);
        assert_eq!(
            empty.cid.to_string(),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
        assert_eq!(empty.tsize, 6);
    }

    #[test]
    fn small_chunks_make_a_balanced_tree() {
        // 2 links per node, 1-byte chunks: 5 chunks → depth 3 with a right spine.
        let layout = Layout {
            chunk_size: 1,
            max_links: 2,
            ..Layout::V1
        };
        struct Count(Vec<usize>);
        impl BlockSink for Count {
            fn put(
                &mut self,
                _: BlockDigest,
                _: &[&[u8]],
                links: &[BlockDigest],
            ) -> io::Result<()> {
                self.0.push(links.len());
                Ok(())
            }
        }
        let mut sink = Count(Vec::new());
        let mut builder = FileBuilder::new(layout);
        for byte in b"abcde" {
            builder.push_chunk(&[*byte], &mut sink).unwrap();
        }
        let root = builder.finish(&mut sink).unwrap();
        assert_eq!(root.filesize, 5);
        // 5 leaves; depth-1 nodes [ab] [cd] [e]; depth-2 [ab cd] [e']; root.
        let interior: Vec<usize> = sink.0.iter().copied().filter(|n| *n > 0).collect();
        assert_eq!(interior, vec![2, 2, 1, 2, 1, 2]);
    }
}
