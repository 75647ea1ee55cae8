//! Signature verification (every chain family) and signing (EVM and Solana).
//!
//! Every chain signs the same UTF-8 text, `"{chain}\n{sender}\n{type}\n{item_hash}"`, wrapped
//! per chain. Verification never panics: any decoding problem is an invalid signature, reported
//! as a [`SignatureError`] that says what was wrong.

mod avalanche;
mod cosmos;
mod evm;
mod nuls2;
mod secp;
mod signer;
mod solana;
mod substrate;
mod tezos;

use crate::{Chain, MessageType, SignatureScheme};

pub use evm::EthAccount;
pub use signer::{SignError, Signer};
pub use solana::SolAccount;

/// The fields a signature covers, borrowed from a message.
#[derive(Debug, Clone, Copy)]
pub struct SignedFields<'a> {
    pub chain: Chain,
    pub sender: &'a str,
    pub message_type: MessageType,
    pub item_hash: &'a str,
    /// The signature as it appears on the wire (a string; JSON inside for non-EVM chains).
    pub signature: &'a str,
    /// The envelope time (UNIX seconds); Tezos micheline signatures cover it.
    pub time: f64,
}

impl SignedFields<'_> {
    /// The text every chain signs: `"{chain}\n{sender}\n{type}\n{item_hash}"`.
    pub fn verification_buffer(&self) -> String {
        verification_buffer(self.chain, self.sender, self.message_type, self.item_hash)
    }
}

/// The text every chain signs: `"{chain}\n{sender}\n{type}\n{item_hash}"`.
pub fn verification_buffer(
    chain: Chain,
    sender: &str,
    message_type: MessageType,
    item_hash: &str,
) -> String {
    format!("{chain}\n{sender}\n{message_type}\n{item_hash}")
}

/// Why a signature does not verify. Every variant means "invalid signature" (error code 1);
/// the variants only say why, for logs and rejection details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The chain has no verifier (pyaleph rejects these as unknown for validation).
    #[error("no signature verifier for chain {0}")]
    UnsupportedChain(Chain),
    /// The signature field does not decode in the chain's format.
    #[error("malformed {scheme} signature: {reason}")]
    Malformed {
        scheme: &'static str,
        reason: String,
    },
    /// The signature decodes but was not made by the sender's key over this message.
    #[error("{scheme} signature does not match sender {sender}")]
    Mismatch {
        scheme: &'static str,
        sender: String,
    },
}

impl SignatureError {
    pub(crate) fn malformed(scheme: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            scheme,
            reason: reason.into(),
        }
    }

    pub(crate) fn mismatch(scheme: &'static str, sender: &str) -> Self {
        // Bounded: a hostile sender string must not bloat logs or rejection records.
        Self::Mismatch {
            scheme,
            sender: sender.chars().take(128).collect(),
        }
    }
}

/// Verifies a message's signature for its chain.
pub fn verify(fields: &SignedFields<'_>) -> Result<(), SignatureError> {
    let buffer = fields.verification_buffer();
    match fields.chain.signature_scheme() {
        Some(SignatureScheme::Evm) => evm::verify(fields.sender, fields.signature, &buffer),
        Some(SignatureScheme::Solana) => solana::verify(fields.sender, fields.signature, &buffer),
        Some(SignatureScheme::Substrate) => {
            substrate::verify(fields.sender, fields.signature, &buffer)
        }
        Some(SignatureScheme::Cosmos) => cosmos::verify(fields.sender, fields.signature, &buffer),
        Some(SignatureScheme::Tezos) => tezos::verify(fields, &buffer),
        Some(SignatureScheme::Avalanche) => {
            avalanche::verify(fields.sender, fields.signature, &buffer)
        }
        Some(SignatureScheme::Nuls2) => nuls2::verify(fields.sender, fields.signature, &buffer),
        Some(SignatureScheme::Nuls) | None => Err(SignatureError::UnsupportedChain(fields.chain)),
    }
}

/// Parses a JSON object carried in a signature string.
pub(crate) fn json_object(
    scheme: &'static str,
    signature: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, SignatureError> {
    match serde_json::from_str(signature) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(SignatureError::malformed(
            scheme,
            "signature is not a JSON object",
        )),
        Err(e) => Err(SignatureError::malformed(
            scheme,
            format!("signature is not JSON: {e}"),
        )),
    }
}

/// A string field of a JSON signature object.
pub(crate) fn str_field<'a>(
    scheme: &'static str,
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<&'a str, SignatureError> {
    map.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| SignatureError::malformed(scheme, format!("missing string field {key:?}")))
}
