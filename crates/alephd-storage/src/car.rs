//! CAR v1 import and export (`ipfs dag import` / `ipfs dag export` format).
//!
//! Import parses on a blocking thread from the body stream, verifies every block against its
//! CID, keeps only blocks reachable from the roots, and commits only a complete DAG. Export walks
//! the DAG depth-first (each block once) into a bounded channel.

use std::{
    collections::{HashMap, HashSet},
    io::{self, Read},
};

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::{
    blockstore::{BlockError, StagingSink},
    content_ref::{BlockDigest, CODEC_DAG_PB, CODEC_RAW, Cid},
    dagpb::{self, put_varint},
    ingest::PinMode,
    reader::ReadError,
    store::{ByteStream, CommitError, CommitPlan, Store},
};

/// Largest block accepted (Kubo refuses blocks over 2 MiB on the network).
const MAX_BLOCK: u64 = 2 * 1024 * 1024;
const MAX_HEADER: u64 = 64 * 1024;
const MAX_ROOTS: usize = 1024;

/// A CAR that cannot be imported; nothing was stored.
#[derive(Debug, Error)]
pub enum CarError {
    #[error("CAR exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("CAR holds more than {limit} blocks")]
    TooManyBlocks { limit: u64 },
    #[error("invalid CAR: {0}")]
    Invalid(&'static str),
    #[error("block {0} does not match its CID")]
    HashMismatch(Cid),
    #[error("block {0} uses an unsupported codec or hash")]
    Unsupported(Cid),
    #[error("block {cid} is not valid dag-pb: {source}")]
    Malformed {
        cid: Cid,
        source: dagpb::DecodeError,
    },
    #[error("cannot read the CAR: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("a CAR task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn read_varint(r: &mut impl Read) -> Result<Option<u64>, CarError> {
    let mut value = 0u64;
    for i in 0..10 {
        let mut byte = [0u8];
        if r.read(&mut byte)? == 0 {
            return match i {
                0 => Ok(None),
                _ => Err(CarError::Invalid("truncated varint")),
            };
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] < 0x80 {
            return Ok(Some(value));
        }
    }
    Err(CarError::Invalid("varint too long"))
}

fn read_exact_vec(r: &mut impl Read, len: u64) -> Result<Vec<u8>, CarError> {
    let mut buf = Vec::with_capacity(len as usize);
    r.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(CarError::Invalid("truncated section"));
    }
    Ok(buf)
}

/// The children of a block, by codec.
pub(crate) fn links_of(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>, CarError> {
    match cid.codec() {
        CODEC_RAW => Ok(Vec::new()),
        CODEC_DAG_PB => dagpb::decode_node(data)
            .map_err(|source| CarError::Malformed { cid: *cid, source })?
            .links
            .iter()
            .map(|l| Cid::try_from(l.hash).map_err(|_| CarError::Invalid("bad link CID")))
            .collect(),
        _ => Err(CarError::Unsupported(*cid)),
    }
}

fn digest(cid: &Cid) -> Result<BlockDigest, CarError> {
    BlockDigest::of_cid(cid).ok_or(CarError::Unsupported(*cid))
}

struct Limits {
    bytes: u64,
    blocks: u64,
}

/// Each block's children, by digest.
type ChildMap = HashMap<BlockDigest, Vec<BlockDigest>>;

/// Parses a whole CAR into `sink`; returns its roots and each block's children.
fn parse(
    mut r: impl Read,
    sink: &mut StagingSink,
    limits: &Limits,
) -> Result<(Vec<Cid>, ChildMap), CarError> {
    let mut counted = CountingReader {
        inner: &mut r,
        read: 0,
        limit: limits.bytes,
    };
    let header_len = read_varint(&mut counted)?.ok_or(CarError::Invalid("empty CAR"))?;
    if header_len > MAX_HEADER {
        return Err(CarError::Invalid("header too large"));
    }
    let roots = decode_header(&read_exact_vec(&mut counted, header_len)?)?;
    let mut children = HashMap::new();
    while let Some(len) = read_varint(&mut counted)? {
        if len > MAX_BLOCK + 128 {
            return Err(CarError::Invalid("block too large"));
        }
        if children.len() as u64 >= limits.blocks {
            return Err(CarError::TooManyBlocks {
                limit: limits.blocks,
            });
        }
        let section = read_exact_vec(&mut counted, len)?;
        let mut cursor = io::Cursor::new(&section[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|_| CarError::Invalid("bad block CID"))?;
        let data = &section[cursor.position() as usize..];
        let block_digest = digest(&cid)?;
        if Sha256::digest(data)[..] != block_digest.0[..] {
            return Err(CarError::HashMismatch(cid));
        }
        let links = links_of(&cid, data)?
            .iter()
            .map(digest)
            .collect::<Result<Vec<_>, _>>()?;
        sink.put_verified(block_digest, data, links.clone())?;
        children.insert(block_digest, links);
    }
    Ok((roots, children))
}

struct CountingReader<'a, R> {
    inner: &'a mut R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "CAR too large"));
        }
        Ok(n)
    }
}

/// Reads one CBOR head: (major type, argument).
fn cbor_head(buf: &[u8], pos: &mut usize) -> Result<(u8, u64), CarError> {
    let bad = CarError::Invalid("bad CBOR header");
    let first = *buf
        .get(*pos)
        .ok_or(CarError::Invalid("truncated CBOR header"))?;
    *pos += 1;
    let (major, info) = (first >> 5, first & 0x1f);
    let width = match info {
        0..=23 => return Ok((major, u64::from(info))),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(bad),
    };
    let bytes = buf.get(*pos..*pos + width).ok_or(bad)?;
    *pos += width;
    Ok((
        major,
        bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    ))
}

fn cbor_bytes<'a>(buf: &'a [u8], pos: &mut usize, len: u64) -> Result<&'a [u8], CarError> {
    let len = usize::try_from(len).map_err(|_| CarError::Invalid("bad CBOR length"))?;
    let out = buf
        .get(*pos..pos.saturating_add(len))
        .ok_or(CarError::Invalid("truncated CBOR"))?;
    *pos += len;
    Ok(out)
}

/// Decodes `{"roots": [CID...], "version": 1}` (dag-cbor, tag 42 CIDs).
fn decode_header(buf: &[u8]) -> Result<Vec<Cid>, CarError> {
    let mut pos = 0;
    let (major, entries) = cbor_head(buf, &mut pos)?;
    if major != 5 {
        return Err(CarError::Invalid("header is not a map"));
    }
    let (mut roots, mut version) = (Vec::new(), None);
    for _ in 0..entries {
        let (major, len) = cbor_head(buf, &mut pos)?;
        if major != 3 {
            return Err(CarError::Invalid("header key is not a string"));
        }
        match cbor_bytes(buf, &mut pos, len)? {
            b"version" => version = Some(cbor_head(buf, &mut pos)?),
            b"roots" => {
                let (major, count) = cbor_head(buf, &mut pos)?;
                if major != 4 || count as usize > MAX_ROOTS {
                    return Err(CarError::Invalid("roots is not a short array"));
                }
                for _ in 0..count {
                    if cbor_head(buf, &mut pos)? != (6, 42) {
                        return Err(CarError::Invalid("root is not a CID"));
                    }
                    let (major, len) = cbor_head(buf, &mut pos)?;
                    let bytes = cbor_bytes(buf, &mut pos, len)?;
                    match (major, bytes.split_first()) {
                        (2, Some((0, cid))) => roots.push(
                            Cid::try_from(cid).map_err(|_| CarError::Invalid("bad root CID"))?,
                        ),
                        _ => return Err(CarError::Invalid("bad root CID")),
                    }
                }
            }
            _ => return Err(CarError::Invalid("unknown header key")),
        }
    }
    if version != Some((0, 1)) {
        return Err(CarError::Invalid("not a CAR v1"));
    }
    Ok(roots)
}

fn encode_header(root: &Cid) -> Vec<u8> {
    let cid = root.to_bytes();
    let mut out = vec![0xa2, 0x65];
    out.extend_from_slice(b"roots");
    out.extend_from_slice(&[0x81, 0xd8, 0x2a, 0x58, (cid.len() + 1) as u8, 0x00]);
    out.extend_from_slice(&cid);
    out.push(0x67);
    out.extend_from_slice(b"version");
    out.push(0x01);
    let mut framed = Vec::with_capacity(out.len() + 2);
    put_varint(&mut framed, out.len() as u64);
    framed.extend_from_slice(&out);
    framed
}

/// Keeps only the records reachable from `roots` (within this CAR).
fn reachable(
    roots: &[BlockDigest],
    children: &HashMap<BlockDigest, Vec<BlockDigest>>,
) -> HashSet<BlockDigest> {
    let mut seen = HashSet::new();
    let mut stack: Vec<BlockDigest> = roots.to_vec();
    while let Some(digest) = stack.pop() {
        if seen.insert(digest) {
            stack.extend(children.get(&digest).into_iter().flatten().copied());
        }
    }
    seen
}

impl Store {
    /// Imports a CAR v1 stream; its roots get `pin`. Returns the roots.
    pub async fn import_car<S, E>(&self, body: S, pin: PinMode) -> Result<Vec<Cid>, CarError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::fmt::Display,
    {
        let mut sink = self.inner.blocks.stage()?;
        let limits = Limits {
            bytes: self.inner.config.max_car_size,
            blocks: self.inner.config.max_car_blocks,
        };
        let reader = StreamReader::new(futures::StreamExt::map(body, |r| {
            r.map_err(|e| io::Error::other(e.to_string()))
        }));
        let (sink, parsed) = tokio::task::spawn_blocking(move || {
            let parsed = parse(
                io::BufReader::with_capacity(1 << 18, SyncIoBridge::new(reader)),
                &mut sink,
                &limits,
            );
            (sink, parsed)
        })
        .await?;
        let (roots, children) = parsed.map_err(|err| match err {
            CarError::Io(e) if e.kind() == io::ErrorKind::FileTooLarge => CarError::TooLarge {
                limit: self.inner.config.max_car_size,
            },
            other => other,
        })?;
        let mut sink = sink;
        let root_digests = roots.iter().map(digest).collect::<Result<Vec<_>, _>>()?;
        let keep = reachable(&root_digests, &children);
        sink.records.retain(|r| keep.contains(&r.digest));
        let pin = match pin {
            PinMode::Grace => Some((
                crate::index::GRACE_OWNER.to_owned(),
                Some(self.grace_expiry()),
            )),
            PinMode::Owner(owner) => Some((owner.as_str().to_owned(), None)),
            PinMode::None => None,
        };
        self.commit(
            sink,
            CommitPlan {
                roots: root_digests,
                pin,
                storage_item: None,
            },
        )
        .await?;
        Ok(roots)
    }

    /// Streams the DAG under `root` as a CAR v1 (root first, depth-first, each block once).
    pub fn export_car(&self, root: Cid) -> ByteStream {
        let (tx, rx) = mpsc::channel(8);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = export(&inner.blocks, root, &tx) {
                let _ = tx.blocking_send(Err(err));
            }
        });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}

fn export(
    blocks: &crate::blockstore::Blockstore,
    root: Cid,
    tx: &mpsc::Sender<Result<Bytes, ReadError>>,
) -> Result<(), ReadError> {
    if tx.blocking_send(Ok(encode_header(&root).into())).is_err() {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        let block_digest = BlockDigest::of_cid(&cid).ok_or(ReadError::Unsupported(cid))?;
        if !seen.insert(block_digest) {
            continue;
        }
        let data = blocks.read(&block_digest).map_err(ReadError::Block)?;
        let children = links_of(&cid, &data).map_err(|_| ReadError::Unsupported(cid))?;
        stack.extend(children.into_iter().rev());
        let cid_bytes = cid.to_bytes();
        let mut section = Vec::with_capacity(data.len() + cid_bytes.len() + 10);
        put_varint(&mut section, (cid_bytes.len() + data.len()) as u64);
        section.extend_from_slice(&cid_bytes);
        section.extend_from_slice(&data);
        if tx.blocking_send(Ok(section.into())).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

impl From<BlockError> for CarError {
    fn from(err: BlockError) -> Self {
        CarError::Io(io::Error::other(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_garbage() {
        let root: Cid = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
            .parse()
            .unwrap();
        let framed = encode_header(&root);
        let mut r = &framed[..];
        let len = read_varint(&mut r).unwrap().unwrap();
        assert_eq!(decode_header(&r[..len as usize]).unwrap(), vec![root]);
        for bad in [
            &[][..],
            &[0xa1],
            &[0x80],
            &[0xa1, 0x63, b'f', b'o', b'o', 0x01],
            &[0xbf; 9],
        ] {
            assert!(decode_header(bad).is_err(), "{bad:?}");
        }
    }
}
