//! Item hashes and item types: how a message's content is addressed.
//!
//! An [`ItemHash`] is validated on construction: it always has one of the three shapes the
//! network knows (sha256 hex, CIDv0, CIDv1), so the rest of the node never re-checks it.
//! This module only looks at the *shape*; proving that a hash matches bytes is the job of
//! [`ItemHash::sha256_of`] (inline / storage) and of the storage crate (CIDs).

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a message's content lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    /// In the message itself, as the `item_content` JSON string.
    Inline,
    /// On the node's native store, addressed by sha256 hex.
    Storage,
    /// On IPFS, addressed by a CID.
    Ipfs,
}

impl ItemType {
    /// The wire name (`"inline"`, `"storage"`, `"ipfs"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inline => "inline",
            Self::Storage => "storage",
            Self::Ipfs => "ipfs",
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemType {
    type Err = UnknownItemType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inline" => Ok(Self::Inline),
            "storage" => Ok(Self::Storage),
            "ipfs" => Ok(Self::Ipfs),
            other => Err(UnknownItemType(truncated(other))),
        }
    }
}

/// An `item_type` value that is none of inline / storage / ipfs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown item type {0:?}")]
pub struct UnknownItemType(pub String);

/// The shape of an item hash, which decides how its content is fetched and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemHashKind {
    /// 64 lowercase hex characters: sha256 of the bytes (inline content or the native store).
    Sha256,
    /// `Qm…`, 44 to 46 base58btc characters: an IPFS CIDv0.
    CidV0,
    /// `bafy…`, 59 lowercase base32 characters: an IPFS CIDv1.
    CidV1,
}

impl ItemHashKind {
    /// The non-inline item type a hash of this shape implies.
    pub const fn item_type(self) -> ItemType {
        match self {
            Self::Sha256 => ItemType::Storage,
            Self::CidV0 | Self::CidV1 => ItemType::Ipfs,
        }
    }
}

/// A string that has none of the item-hash shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not determine hash type: {0:?}")]
pub struct UnknownHashShape(pub String);

/// A content address: sha256 hex, or an IPFS CID (v0 or v1). Always well-shaped.
///
/// Serialises as a plain string; deserialising checks the shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemHash(String);

impl ItemHash {
    /// Checks the shape of `s` and wraps it.
    pub fn parse(s: &str) -> Result<Self, UnknownHashShape> {
        match detect_kind(s) {
            Some(_) => Ok(Self(s.to_owned())),
            None => Err(UnknownHashShape(truncated(s))),
        }
    }

    /// The sha256 item hash of `bytes` (inline content, or a file on the native store).
    pub fn sha256_of(bytes: impl AsRef<[u8]>) -> Self {
        Self::from_sha256_digest(Sha256::digest(bytes.as_ref()).into())
    }

    /// The item hash of an already computed sha256 digest.
    pub fn from_sha256_digest(digest: [u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    /// The hash as it appears on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Which shape this hash has.
    pub fn kind(&self) -> ItemHashKind {
        // The constructor proved the shape; fall back to Sha256 only to stay total.
        detect_kind(&self.0).unwrap_or(ItemHashKind::Sha256)
    }

    /// The item type a non-inline message with this hash must declare (storage or ipfs).
    pub fn item_type(&self) -> ItemType {
        self.kind().item_type()
    }

    /// The 32 raw bytes of a sha256 hash; `None` for CIDs.
    pub fn sha256_digest(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        match self.kind() {
            ItemHashKind::Sha256 => hex::decode_to_slice(&self.0, &mut out).ok().map(|()| out),
            ItemHashKind::CidV0 | ItemHashKind::CidV1 => None,
        }
    }
}

/// The shape rules of aleph-message's `ItemType.from_hash`.
fn detect_kind(s: &str) -> Option<ItemHashKind> {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let bytes = s.as_bytes();
    if let Some(rest) = bytes.strip_prefix(b"Qm")
        && (44..=46).contains(&bytes.len())
        && rest.iter().all(|b| BASE58.contains(b))
    {
        return Some(ItemHashKind::CidV0);
    }
    if let Some(rest) = bytes.strip_prefix(b"bafy")
        && bytes.len() == 59
        && rest.iter().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
    {
        return Some(ItemHashKind::CidV1);
    }
    if bytes.len() == 64 && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Some(ItemHashKind::Sha256);
    }
    None
}

/// Error payloads quote the input, but never more than a screenful of it.
pub(crate) fn truncated(s: &str) -> String {
    const MAX_QUOTED: usize = 128;
    s.chars().take(MAX_QUOTED).collect()
}

impl fmt::Display for ItemHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ItemHash {
    type Err = UnknownHashShape;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ItemHash {
    type Error = UnknownHashShape;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match detect_kind(&s) {
            Some(_) => Ok(Self(s)),
            None => Err(UnknownHashShape(truncated(&s))),
        }
    }
}

impl From<ItemHash> for String {
    fn from(hash: ItemHash) -> Self {
        hash.0
    }
}

impl AsRef<str> for ItemHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ItemHash {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ItemHash {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ItemHash {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "d281eb8a69ba1f4dda2d71aaf3ded06caa92edd690ef3d0632f41aa91167762c";
    const CID0: &str = "QmYULJoNGPDmoRq4WNWTDTUvJGJv1hosox8H6vVd1kCsY8";
    const CID1: &str = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

    #[test]
    fn shapes_are_detected() {
        assert_eq!(ItemHash::parse(SHA).unwrap().kind(), ItemHashKind::Sha256);
        assert_eq!(ItemHash::parse(CID0).unwrap().kind(), ItemHashKind::CidV0);
        assert_eq!(ItemHash::parse(CID1).unwrap().kind(), ItemHashKind::CidV1);
        assert_eq!(ItemHash::parse(SHA).unwrap().item_type(), ItemType::Storage);
        assert_eq!(ItemHash::parse(CID0).unwrap().item_type(), ItemType::Ipfs);
        assert_eq!(ItemHash::parse(CID1).unwrap().item_type(), ItemType::Ipfs);
    }

    #[test]
    fn bad_shapes_are_rejected() {
        for bad in [
            "",
            "abc",
            &SHA.to_uppercase(),
            &SHA[..63],
            &format!("{SHA}0"),
            "Qm0000000000000000000000000000000000000000000", // '0' is not base58
            &CID1.replace('a', "A"),
            &format!("{CID1}a"),
            "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba",
            "é",
        ] {
            assert!(ItemHash::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sha256_of_matches_known_digest() {
        let hash = ItemHash::sha256_of(b"");
        assert_eq!(
            hash.as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hash.sha256_digest().map(hex::encode).as_deref(),
            Some(hash.as_str())
        );
        assert_eq!(ItemHash::parse(CID0).unwrap().sha256_digest(), None);
    }

    #[test]
    fn serde_is_a_plain_string_and_validates() {
        let hash = ItemHash::parse(CID0).unwrap();
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{CID0}\""));
        assert_eq!(serde_json::from_str::<ItemHash>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<ItemHash>("\"nope\"").is_err());
        assert!(serde_json::from_str::<ItemHash>("12").is_err());
    }

    #[test]
    fn item_type_round_trips() {
        for t in [ItemType::Inline, ItemType::Storage, ItemType::Ipfs] {
            assert_eq!(t.as_str().parse::<ItemType>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("INLINE".parse::<ItemType>().is_err());
    }
}
