//! NULS 2: a recoverable secp256k1 signature (base64 of `27+recid ‖ r ‖ s`) over
//! sha256("\x18NULS Signed Message:\n" ‖ varint(len) ‖ buffer). The address embeds the chain id
//! and address type; it must match ripemd160(sha256(compressed key)) under them.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use sha2::{Digest, Sha256};

use super::{SignatureError, secp};

const SCHEME: &str = "NULS2";
const SEPARATORS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let bytes = BASE64
        .decode(signature)
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    let [v, rs @ ..] = bytes.as_slice() else {
        return Err(SignatureError::malformed(SCHEME, "empty signature"));
    };
    if rs.len() != 64 || !(27..=30).contains(v) {
        return Err(SignatureError::malformed(
            SCHEME,
            "not a 65-byte compact signature",
        ));
    }
    let key = secp::recover(SCHEME, rs, v - 27, &digest(buffer))?;
    let address = decode_address(sender)?;
    let mut expected = address[..3].to_vec(); // chain id (u16 LE) and address type
    expected.extend_from_slice(&secp::hash160(&key));
    if expected[..] == address[..] {
        Ok(())
    } else {
        Err(SignatureError::mismatch(SCHEME, sender))
    }
}

fn digest(buffer: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"\x18NULS Signed Message:\n");
    hasher.update(varint(buffer.len() as u64));
    hasher.update(buffer.as_bytes());
    hasher.finalize().into()
}

/// Bitcoin-style variable-length integer.
fn varint(n: u64) -> Vec<u8> {
    match n {
        0..=0xfc => vec![n as u8],
        0xfd..=0xffff => [&[0xfd][..], &(n as u16).to_le_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0xfe][..], &(n as u32).to_le_bytes()].concat(),
        _ => [&[0xff][..], &n.to_le_bytes()].concat(),
    }
}

/// The 23-byte address hash of `PREFIX` + separator + base58(hash ‖ xor), checksum verified.
fn decode_address(address: &str) -> Result<[u8; 23], SignatureError> {
    let bad = || SignatureError::malformed(SCHEME, "sender is not a NULS address");
    // The separator is the letter at index len(prefix) - 1 of [a-zA-Z].
    let bytes = address.as_bytes();
    let body = (1..bytes.len().min(16))
        .find(|&len| SEPARATORS.get(len - 1) == bytes.get(len))
        .and_then(|len| address.get(len + 1..))
        .ok_or_else(bad)?;
    let decoded = bs58::decode(body).into_vec().map_err(|_| bad())?;
    let (hash, xor) = decoded.split_last().map(|(x, h)| (h, *x)).ok_or_else(bad)?;
    if hash.iter().fold(0u8, |acc, b| acc ^ b) != xor {
        return Err(bad());
    }
    hash.try_into().map_err(|_| bad())
}
