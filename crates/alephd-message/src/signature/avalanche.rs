//! Avalanche (X-chain addresses): a recoverable secp256k1 signature in cb58 over
//! sha256("\x1aAvalanche Signed Message:\n" ‖ u32 BE length ‖ buffer); the sender is
//! `"{chain}-" + bech32("avax", ripemd160(sha256(compressed key)))`.

use sha2::{Digest, Sha256};

use super::{SignatureError, secp};

const SCHEME: &str = "Avalanche";

pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let bytes = cb58_decode(signature)?;
    let [rs @ .., v] = bytes.as_slice() else {
        return Err(SignatureError::malformed(SCHEME, "empty signature"));
    };
    if rs.len() != 64 {
        return Err(SignatureError::malformed(
            SCHEME,
            format!("{} bytes, expected 65", bytes.len()),
        ));
    }
    let key = secp::recover(SCHEME, rs, *v, &digest(buffer))?;
    let (chain, address) = sender
        .split_once('-')
        .ok_or_else(|| SignatureError::malformed(SCHEME, "sender is not CHAIN-avax1…"))?;
    let (hrp, _) = bech32::decode(address)
        .map_err(|e| SignatureError::malformed(SCHEME, format!("sender is not bech32: {e}")))?;
    let expected = bech32::encode::<bech32::Bech32>(hrp, &secp::hash160(&key))
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    if format!("{chain}-{expected}") == sender {
        Ok(())
    } else {
        Err(SignatureError::mismatch(SCHEME, sender))
    }
}

fn digest(buffer: &str) -> [u8; 32] {
    let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
    let mut hasher = Sha256::new();
    hasher.update(b"\x1aAvalanche Signed Message:\n");
    hasher.update(len.to_be_bytes());
    hasher.update(buffer.as_bytes());
    hasher.finalize().into()
}

/// base58 with a 4-byte checksum: the last 4 bytes of sha256(payload).
fn cb58_decode(text: &str) -> Result<Vec<u8>, SignatureError> {
    let mut bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    if bytes.len() < 4 {
        return Err(SignatureError::malformed(
            SCHEME,
            "too short for a cb58 checksum",
        ));
    }
    let checksum = bytes.split_off(bytes.len() - 4);
    if Sha256::digest(&bytes)[28..] != checksum[..] {
        return Err(SignatureError::malformed(SCHEME, "bad cb58 checksum"));
    }
    Ok(bytes)
}
