//! Signature verification (every chain family) and signing (EVM and Solana).
//!
//! Every chain signs the same UTF-8 text, `"{chain}\n{sender}\n{type}\n{item_hash}"`, wrapped
//! per chain. Verification never panics: any decoding problem is an invalid signature.

use crate::{Chain, MessageType};

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
