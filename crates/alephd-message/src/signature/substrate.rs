//! Substrate (DOT): sr25519 over the buffer (or its `<Bytes>…</Bytes>` wrapping, which browser
//! wallets sign), with the signing context "substrate"; the sender is an SS58 address.

use blake2::{Blake2b512, Digest};
use schnorrkel::{PublicKey, Signature};

use super::{SignatureError, json_object, str_field};

const SCHEME: &str = "Substrate";
const CONTEXT: &[u8] = b"substrate";

pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let map = json_object(SCHEME, signature)?;
    if let Some(curve) = map.get("curve")
        && curve != "sr25519"
    {
        return Err(SignatureError::malformed(
            SCHEME,
            "only the sr25519 curve is supported",
        ));
    }
    let data = str_field(SCHEME, &map, "data")?;
    let bytes = hex::decode(data.strip_prefix("0x").unwrap_or(data))
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    let signature = Signature::from_bytes(&bytes)
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    let key = PublicKey::from_bytes(&ss58_decode(sender)?)
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    let wrapped = format!("<Bytes>{buffer}</Bytes>");
    [buffer, wrapped.as_str()]
        .iter()
        .any(|message| {
            key.verify_simple(CONTEXT, message.as_bytes(), &signature)
                .is_ok()
        })
        .then_some(())
        .ok_or_else(|| SignatureError::mismatch(SCHEME, sender))
}

/// The 32-byte account key of an SS58 address (1- or 2-byte network prefix, 2-byte checksum).
fn ss58_decode(address: &str) -> Result<[u8; 32], SignatureError> {
    let bad = |why: &str| SignatureError::malformed(SCHEME, format!("sender is not SS58: {why}"));
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|_| bad("not base58"))?;
    let prefix_len = match bytes.first() {
        Some(0..=63) => 1,
        Some(64..=127) => 2,
        _ => return Err(bad("reserved prefix")),
    };
    if bytes.len() != prefix_len + 32 + 2 {
        return Err(bad("wrong length"));
    }
    let (body, checksum) = bytes.split_at(prefix_len + 32);
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(body);
    if hasher.finalize()[..2] != checksum[..] {
        return Err(bad("bad checksum"));
    }
    body[prefix_len..]
        .try_into()
        .map_err(|_| bad("wrong length"))
}
