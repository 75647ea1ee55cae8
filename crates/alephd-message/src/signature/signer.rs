//! Signing messages on the client side.

use crate::{Chain, IncomingMessage, MessageError, UnsignedMessage};

/// Signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key material is not a valid key.
    #[error("invalid key: expected a {0}")]
    InvalidKey(&'static str),
    /// The key cannot sign for that chain.
    #[error("this key cannot sign for chain {0}")]
    WrongChain(Chain),
    /// The message's sender or chain is not this account's.
    #[error("message is from {sender} on {chain}, not from this account")]
    NotOurs { sender: String, chain: Chain },
    /// The signature primitive failed (practically unreachable for valid keys).
    #[error("signing failed")]
    Failed,
    /// The signed message does not validate.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// An account that signs Aleph messages for one chain.
pub trait Signer: Send + Sync {
    /// The chain it signs for.
    fn chain(&self) -> Chain;

    /// Its address in the chain's native format (the message `sender`).
    fn address(&self) -> &str;

    /// The wire `signature` string for a verification buffer.
    fn sign_buffer(&self, buffer: &str) -> Result<String, SignError>;

    /// Signs a message built for this account.
    fn sign_message(&self, message: UnsignedMessage) -> Result<IncomingMessage, SignError> {
        if message.chain() != self.chain() || message.sender().as_str() != self.address() {
            return Err(SignError::NotOurs {
                sender: message.sender().as_str().to_owned(),
                chain: message.chain(),
            });
        }
        let signature = self.sign_buffer(&message.verification_buffer())?;
        Ok(message.into_signed(signature)?)
    }
}
