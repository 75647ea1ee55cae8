//! Signature checks for a batch, spread over a few threads (the CPU-heavy step).
//!
//! Interim: EVM (EIP-191) and Solana (ed25519) are verified here, every other scheme counts
//! as invalid, until `alephd_message::signature::verify` (all chain families) lands; then
//! `verify_fields` becomes a call to it.

use alephd_message::{IncomingMessage, SignatureScheme, signature::SignedFields};
use ed25519_dalek::{Signature as EdSignature, VerifyingKey};
use k256::ecdsa::{RecoveryId, Signature as EcSignature, VerifyingKey as EcKey};
use sha3::{Digest, Keccak256};

/// Verifies every message's signature; `None` entries (unparsable) count as invalid.
pub(crate) fn verify_batch(messages: &[Option<IncomingMessage>], threads: usize) -> Vec<bool> {
    let chunk = messages.len().div_ceil(threads.max(1)).max(1);
    if messages.len() <= 16 || threads <= 1 {
        return messages.iter().map(verify_one).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = messages
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(verify_one).collect::<Vec<bool>>()))
            .collect();
        // A panicking verifier is a bug in that verifier: count its messages as invalid.
        handles
            .into_iter()
            .zip(messages.chunks(chunk))
            .flat_map(|(h, part)| h.join().unwrap_or_else(|_| vec![false; part.len()]))
            .collect()
    })
}

fn verify_one(message: &Option<IncomingMessage>) -> bool {
    message
        .as_ref()
        .and_then(IncomingMessage::signed_fields)
        .is_some_and(|f| verify_fields(&f))
}

pub(crate) fn verify_fields(fields: &SignedFields<'_>) -> bool {
    match fields.chain.signature_scheme() {
        Some(SignatureScheme::Evm) => verify_evm(fields),
        Some(SignatureScheme::Solana) => verify_solana(fields),
        _ => false,
    }
}

/// EIP-191 personal_sign: recover the signer and compare addresses case-insensitively.
fn verify_evm(fields: &SignedFields<'_>) -> bool {
    let Some(hex_sig) = fields
        .signature
        .strip_prefix("0x")
        .or(Some(fields.signature))
    else {
        return false;
    };
    let Ok(bytes) = hex::decode(hex_sig) else {
        return false;
    };
    if bytes.len() != 65 {
        return false;
    }
    let v = match bytes[64] {
        27 | 28 => bytes[64] - 27,
        0 | 1 => bytes[64],
        _ => return false,
    };
    let (Ok(sig), Some(recid)) = (
        EcSignature::from_slice(&bytes[..64]),
        RecoveryId::from_byte(v),
    ) else {
        return false;
    };
    let buffer = fields.verification_buffer();
    let prefixed = format!("\x19Ethereum Signed Message:\n{}{buffer}", buffer.len());
    let digest = Keccak256::digest(prefixed.as_bytes());
    let Ok(key) = EcKey::recover_from_prehash(&digest, &sig, recid) else {
        return false;
    };
    let point = key.to_encoded_point(false);
    let address = Keccak256::digest(&point.as_bytes()[1..]);
    let recovered = format!("0x{}", hex::encode(&address[12..]));
    recovered.eq_ignore_ascii_case(fields.sender)
}

/// `{"signature": base58, "publicKey": base58}` with publicKey == sender, ed25519 over the buffer.
fn verify_solana(fields: &SignedFields<'_>) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(fields.signature) else {
        return false;
    };
    let (Some(sig), Some(key)) = (
        value.get("signature").and_then(|v| v.as_str()),
        value.get("publicKey").and_then(|v| v.as_str()),
    ) else {
        return false;
    };
    if key != fields.sender || value.get("version").is_some_and(|v| v != 1) {
        return false;
    }
    let (Ok(sig), Ok(key)) = (bs58::decode(sig).into_vec(), bs58::decode(key).into_vec()) else {
        return false;
    };
    let (Ok(sig), Ok(key)) = (
        <[u8; 64]>::try_from(sig.as_slice()),
        <[u8; 32]>::try_from(key.as_slice()),
    ) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_strict(
        fields.verification_buffer().as_bytes(),
        &EdSignature::from_bytes(&sig),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(file: &str) -> Vec<serde_json::Value> {
        let path = format!(
            "{}/../../fixtures/vectors/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn eth_and_sol_vectors_verify_as_checked_upstream() {
        let mut checked = 0;
        for v in vectors("messages-eth.json")
            .into_iter()
            .chain(vectors("messages-sol.json"))
        {
            let Some(expected) = v["signature_valid_checked_locally"].as_bool() else {
                continue;
            };
            let m = &v["message"];
            let signature = match &m["signature"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let (Some(chain), Some(message_type)) = (m["chain"].as_str(), m["type"].as_str())
            else {
                continue;
            };
            let fields = SignedFields {
                chain: chain.parse().unwrap(),
                sender: m["sender"].as_str().unwrap(),
                message_type: serde_json::from_value(serde_json::json!(message_type)).unwrap(),
                item_hash: m["item_hash"].as_str().unwrap(),
                signature: &signature,
                time: 0.0,
            };
            assert_eq!(verify_fields(&fields), expected, "{}", v["name"]);
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} vectors checked");
    }
}
