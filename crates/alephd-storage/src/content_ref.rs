//! Identifiers: sha256 item hashes, CIDs and the block digests that key the blockstore.
//!
//! Every block is addressed by the sha256 of its bytes (raw and dag-pb alike), so one
//! blockstore serves both addressings; a CID's codec only says how to interpret the block.

use std::{fmt, str::FromStr};

pub use cid::Cid;
use cid::multihash::Multihash;
use thiserror::Error;

/// Multicodec of raw blocks.
pub const CODEC_RAW: u64 = 0x55;
/// Multicodec of dag-pb blocks.
pub const CODEC_DAG_PB: u64 = 0x70;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;

/// The sha256 of a block's bytes: the blockstore key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockDigest(pub [u8; 32]);

impl BlockDigest {
    /// Lowercase hex, the block's file name.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The digest of a CID whose multihash is sha2-256, else `None`.
    pub fn of_cid(cid: &Cid) -> Option<Self> {
        let hash = cid.hash();
        if hash.code() != SHA2_256 {
            return None;
        }
        hash.digest().try_into().ok().map(BlockDigest)
    }

    /// The sha2-256 multihash of this digest.
    pub fn multihash(&self) -> Multihash<64> {
        Multihash::wrap(SHA2_256, &self.0).expect("32 bytes always fit a 64-byte multihash")
    }

    /// A CID for this block: version 0 only exists for dag-pb.
    pub(crate) fn cid(&self, codec: u64, v0: bool) -> Cid {
        if v0 && codec == CODEC_DAG_PB {
            Cid::new_v0(self.multihash()).expect("a sha2-256 multihash is a valid CIDv0")
        } else {
            Cid::new_v1(codec, self.multihash())
        }
    }
}

impl fmt::Debug for BlockDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockDigest({})", self.to_hex())
    }
}

/// A `storage` item hash: the sha256 of a file's raw bytes, 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Hash(pub [u8; 32]);

impl fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hash({self})")
    }
}

/// A string that is neither a sha256 hex item hash nor a CID.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is neither a sha256 hex hash nor a CID")]
pub struct ParseRefError(pub String);

impl FromStr for Sha256Hash {
    type Err = ParseRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut out = [0u8; 32];
        match valid && hex::decode_to_slice(s, &mut out).is_ok() {
            true => Ok(Sha256Hash(out)),
            false => Err(ParseRefError(s.to_owned())),
        }
    }
}

/// What a caller asks for: a `storage` item or an `ipfs` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentRef {
    Storage(Sha256Hash),
    Ipfs(Cid),
}

impl ContentRef {
    /// The engine name Aleph uses for this kind of item.
    pub fn engine(&self) -> &'static str {
        match self {
            ContentRef::Storage(_) => "storage",
            ContentRef::Ipfs(_) => "ipfs",
        }
    }
}

impl fmt::Display for ContentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentRef::Storage(hash) => hash.fmt(f),
            ContentRef::Ipfs(cid) => cid.fmt(f),
        }
    }
}

impl FromStr for ContentRef {
    type Err = ParseRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 {
            return s.parse().map(ContentRef::Storage);
        }
        // Cid::from_str accepts only base58 v0 and multibase v1 strings; bound the length
        // first so a hostile path segment costs nothing.
        if s.len() > 200 {
            return Err(ParseRefError(s.chars().take(80).collect()));
        }
        Cid::from_str(s)
            .map(ContentRef::Ipfs)
            .map_err(|_| ParseRefError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_addressings() {
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha.parse::<ContentRef>().unwrap().to_string(), sha);
        let cid = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
        let parsed: ContentRef = cid.parse().unwrap();
        assert_eq!(parsed.engine(), "ipfs");
        assert_eq!(parsed.to_string(), cid);
        for bad in ["", "xyz", &sha.to_uppercase(), &"Qm".repeat(200)] {
            assert!(bad.parse::<ContentRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cid_versions_share_the_digest() {
        let digest = BlockDigest([7; 32]);
        let v0 = digest.cid(CODEC_DAG_PB, true);
        let v1 = digest.cid(CODEC_DAG_PB, false);
        assert_eq!(v0.version(), cid::Version::V0);
        assert_eq!(BlockDigest::of_cid(&v0), Some(digest));
        assert_eq!(BlockDigest::of_cid(&v1), Some(digest));
        assert_eq!(digest.cid(CODEC_RAW, true).codec(), CODEC_RAW);
    }
}
