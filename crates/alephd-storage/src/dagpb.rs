//! The dag-pb (`PBNode`/`PBLink`) and UnixFS `Data` protobuf encodings, byte-exact with Kubo.
//!
//! Encoding follows go-merkledag's canonical form: links (field 2) before data (field 1), every
//! link carries its `Name` (empty for file chunks), UnixFS fields in field-number order with
//! `blocksizes` unpacked. Decoding accepts any valid protobuf and never panics: blocks come from
//! peers and CAR files.

use thiserror::Error;

/// UnixFS node types (`unixfs.proto`).
pub(crate) const TYPE_DIRECTORY: u64 = 1;
pub(crate) const TYPE_FILE: u64 = 2;
pub(crate) const TYPE_RAW: u64 = 0;

/// A block that is not valid dag-pb / UnixFS.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated protobuf")]
    Truncated,
    #[error("varint longer than 10 bytes")]
    VarintOverflow,
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    #[error("link without a hash")]
    LinkWithoutHash,
    #[error("link name is not UTF-8")]
    LinkName,
}

/// A decoded `PBLink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PbLink<'a> {
    pub(crate) hash: &'a [u8],
    pub(crate) name: &'a str,
    pub(crate) tsize: u64,
}

/// A decoded `PBNode`: its links and its raw `Data` bytes (a UnixFS message for UnixFS nodes).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PbNode<'a> {
    pub(crate) links: Vec<PbLink<'a>>,
    pub(crate) data: Option<&'a [u8]>,
}

/// A decoded UnixFS `Data` message (the fields we use).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct UnixFsData<'a> {
    pub(crate) kind: u64,
    pub(crate) data: Option<&'a [u8]>,
    pub(crate) filesize: Option<u64>,
    pub(crate) blocksizes: Vec<u64>,
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The UnixFS message of a file leaf holding `len` bytes, split around the data so the chunk
/// itself is never copied: returns (bytes before the chunk, bytes after it).
pub(crate) fn file_leaf_frame(len: usize) -> (Vec<u8>, Vec<u8>) {
    let len = len as u64;
    // UnixFS: Type=File, Data (only when non-empty, like Kubo), filesize.
    let mut unixfs_head = vec![0x08, TYPE_FILE as u8];
    if len > 0 {
        unixfs_head.push(0x12);
        put_varint(&mut unixfs_head, len);
    }
    let mut tail = vec![0x18];
    put_varint(&mut tail, len);
    let unixfs_len = unixfs_head.len() as u64 + len + tail.len() as u64;
    let mut head = vec![0x0a];
    put_varint(&mut head, unixfs_len);
    head.extend_from_slice(&unixfs_head);
    (head, tail)
}

/// A link to encode.
pub(crate) struct LinkOut<'a> {
    pub(crate) hash: &'a [u8],
    pub(crate) name: &'a str,
    pub(crate) tsize: u64,
}

/// Encodes a `PBNode` with `links` and optional `data`, in Kubo's canonical field order.
pub(crate) fn encode_node(links: &[LinkOut<'_>], data: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(links.len() * 48 + data.map_or(0, <[u8]>::len) + 8);
    let mut link = Vec::with_capacity(64);
    for l in links {
        link.clear();
        link.push(0x0a);
        put_varint(&mut link, l.hash.len() as u64);
        link.extend_from_slice(l.hash);
        link.push(0x12);
        put_varint(&mut link, l.name.len() as u64);
        link.extend_from_slice(l.name.as_bytes());
        link.push(0x18);
        put_varint(&mut link, l.tsize);
        out.push(0x12);
        put_varint(&mut out, link.len() as u64);
        out.extend_from_slice(&link);
    }
    if let Some(data) = data {
        out.push(0x0a);
        put_varint(&mut out, data.len() as u64);
        out.extend_from_slice(data);
    }
    out
}

/// The UnixFS message of an interior file node.
pub(crate) fn file_interior_data(filesize: u64, blocksizes: &[u64]) -> Vec<u8> {
    let mut out = vec![0x08, TYPE_FILE as u8, 0x18];
    put_varint(&mut out, filesize);
    for size in blocksizes {
        out.push(0x20);
        put_varint(&mut out, *size);
    }
    out
}

/// The UnixFS message of a (basic, unsharded) directory.
pub(crate) fn directory_data() -> Vec<u8> {
    vec![0x08, TYPE_DIRECTORY as u8]
}

struct Reader<'a> {
    buf: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    fn field(&mut self) -> Result<Option<(u64, Field<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                if len > self.buf.len() {
                    return Err(DecodeError::Truncated);
                }
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(bytes)
            }
            1 => Field::Bytes(self.take(8)?),
            5 => Field::Bytes(self.take(4)?),
            other => return Err(DecodeError::WireType(other)),
        };
        Ok(Some((key >> 3, field)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (bytes, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(bytes)
    }
}

/// Decodes a dag-pb block.
pub(crate) fn decode_node(block: &[u8]) -> Result<PbNode<'_>, DecodeError> {
    let mut reader = Reader { buf: block };
    let mut node = PbNode::default();
    while let Some((number, field)) = reader.field()? {
        match (number, field) {
            (1, Field::Bytes(data)) => node.data = Some(data),
            (2, Field::Bytes(link)) => node.links.push(decode_link(link)?),
            _ => {}
        }
    }
    Ok(node)
}

fn decode_link(buf: &[u8]) -> Result<PbLink<'_>, DecodeError> {
    let mut reader = Reader { buf };
    let (mut hash, mut name, mut tsize) = (None, "", 0);
    while let Some((number, field)) = reader.field()? {
        match (number, field) {
            (1, Field::Bytes(h)) => hash = Some(h),
            (2, Field::Bytes(n)) => {
                name = std::str::from_utf8(n).map_err(|_| DecodeError::LinkName)?
            }
            (3, Field::Varint(t)) => tsize = t,
            _ => {}
        }
    }
    Ok(PbLink {
        hash: hash.ok_or(DecodeError::LinkWithoutHash)?,
        name,
        tsize,
    })
}

/// Decodes a UnixFS `Data` message.
pub(crate) fn decode_unixfs(buf: &[u8]) -> Result<UnixFsData<'_>, DecodeError> {
    let mut reader = Reader { buf };
    let mut out = UnixFsData::default();
    while let Some((number, field)) = reader.field()? {
        match (number, field) {
            (1, Field::Varint(kind)) => out.kind = kind,
            (2, Field::Bytes(data)) => out.data = Some(data),
            (3, Field::Varint(size)) => out.filesize = Some(size),
            (4, Field::Varint(size)) => out.blocksizes.push(size),
            (4, Field::Bytes(packed)) => {
                let mut inner = Reader { buf: packed };
                while !inner.buf.is_empty() {
                    out.blocksizes.push(inner.varint()?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_length() {
        for value in [0u64, 1, 127, 128, 300, 262_144, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value));
            assert_eq!(Reader { buf: &out }.varint().unwrap(), value);
        }
    }

    #[test]
    fn node_round_trip() {
        let data = file_interior_data(10, &[4, 6]);
        let links = [
            LinkOut {
                hash: &[1, 2, 3],
                name: "",
                tsize: 12,
            },
            LinkOut {
                hash: &[4, 5],
                name: "b.txt",
                tsize: 9,
            },
        ];
        let block = encode_node(&links, Some(&data));
        let node = decode_node(&block).unwrap();
        assert_eq!(node.links.len(), 2);
        assert_eq!(node.links[1].name, "b.txt");
        assert_eq!(node.links[0].tsize, 12);
        let unixfs = decode_unixfs(node.data.unwrap()).unwrap();
        assert_eq!(unixfs.kind, TYPE_FILE);
        assert_eq!(unixfs.filesize, Some(10));
        assert_eq!(unixfs.blocksizes, vec![4, 6]);
    }

    #[test]
    fn empty_leaf_is_kubos_empty_file() {
        let (head, tail) = file_leaf_frame(0);
        assert_eq!(
            [head, tail].concat(),
            vec![0x0a, 0x04, 0x08, 0x02, 0x18, 0x00]
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &[0x12, 0x05, 0x0a][..],
            &[0xff; 11],
            &[0x0b],
            &[0x12, 0x02, 0x18, 0x01],
        ] {
            assert!(decode_node(bad).is_err(), "{bad:?}");
        }
    }
}
