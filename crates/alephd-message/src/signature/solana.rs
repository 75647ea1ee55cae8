//! Solana (and Eclipse): ed25519 over the raw buffer; the signature is the JSON string
//! `{"signature": base58, "publicKey": base58}` and the public key must equal the sender.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::{SignError, SignatureError, Signer, json_object, str_field};
use crate::Chain;

const SCHEME: &str = "Solana";

/// A decoded Solana signature: the key and the 64-byte signature.
fn decode(sender: &str, signature: &str) -> Result<(VerifyingKey, Signature), SignatureError> {
    let map = json_object(SCHEME, signature)?;
    if let Some(version) = map.get("version")
        && version != 1
    {
        return Err(SignatureError::malformed(SCHEME, "unsupported version"));
    }
    let public_key = str_field(SCHEME, &map, "publicKey")?;
    if public_key != sender {
        return Err(SignatureError::mismatch(SCHEME, sender));
    }
    let key: [u8; 32] = base58_array(public_key, "publicKey")?;
    let sig: [u8; 64] = base58_array(str_field(SCHEME, &map, "signature")?, "signature")?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| SignatureError::malformed(SCHEME, "publicKey is not a curve point"))?;
    Ok((key, Signature::from_bytes(&sig)))
}

fn base58_array<const N: usize>(text: &str, what: &str) -> Result<[u8; N], SignatureError> {
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| SignatureError::malformed(SCHEME, format!("{what}: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        SignatureError::malformed(SCHEME, format!("{what}: {} bytes, expected {N}", b.len()))
    })
}

/// One signature at a time, strictly (small-order keys and R rejected, cofactorless). There
/// is deliberately no batch verification: it is cofactored, so a crafted signature (an R
/// with a torsion component) would pass or fail depending on the other messages of its
/// batch, and nodes must agree on every verdict.
pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let (key, sig) = decode(sender, signature)?;
    key.verify_strict(buffer.as_bytes(), &sig)
        .map_err(|_| SignatureError::mismatch(SCHEME, sender))
}

/// A Solana account: an ed25519 key whose base58 public key is the address.
#[derive(Clone)]
pub struct SolAccount {
    key: SigningKey,
    address: String,
}

impl std::fmt::Debug for SolAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolAccount")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl SolAccount {
    /// The account of a 32-byte ed25519 seed, or of a 64-byte Solana keypair (seed ‖ public key).
    pub fn from_secret(secret: &[u8]) -> Result<Self, SignError> {
        let seed: [u8; 32] = match secret.len() {
            32 | 64 => secret[..32]
                .try_into()
                .map_err(|_| SignError::InvalidKey("ed25519 seed"))?,
            _ => {
                return Err(SignError::InvalidKey(
                    "32-byte ed25519 seed or 64-byte keypair",
                ));
            }
        };
        let key = SigningKey::from_bytes(&seed);
        if secret.len() == 64 && key.verifying_key().as_bytes()[..] != secret[32..] {
            return Err(SignError::InvalidKey(
                "keypair whose public half matches its seed",
            ));
        }
        Ok(Self::from_key(key))
    }

    /// A fresh random account.
    pub fn generate() -> Self {
        Self::from_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_key(key: SigningKey) -> Self {
        let address = bs58::encode(key.verifying_key().as_bytes()).into_string();
        Self { key, address }
    }

    /// The 64-byte keypair (seed ‖ public key), as Solana tools store it.
    pub fn keypair_bytes(&self) -> [u8; 64] {
        self.key.to_keypair_bytes()
    }
}

impl Signer for SolAccount {
    fn chain(&self) -> Chain {
        Chain::SOL
    }

    fn address(&self) -> &str {
        &self.address
    }

    fn sign_buffer(&self, buffer: &str) -> Result<String, SignError> {
        let signature = self.key.sign(buffer.as_bytes());
        Ok(serde_json::json!({
            "signature": bs58::encode(signature.to_bytes()).into_string(),
            "publicKey": self.address,
        })
        .to_string())
    }
}
