//! Solana (and Eclipse): ed25519 over the raw buffer; the signature is the JSON string
//! `{"signature": base58, "publicKey": base58}` and the public key must equal the sender.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex, PoisonError},
};

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
    let sig: [u8; 64] = base58_array(str_field(SCHEME, &map, "signature")?, "signature")?;
    Ok((verifying_key(public_key)?, Signature::from_bytes(&sig)))
}

/// Decoded keys by base58 address. Decoding one (base58, then decompressing the point)
/// costs about a tenth of a verification, and busy senders sign many messages. Bounded:
/// when full it starts over, so a flood of one-off senders costs only what it would
/// without a cache.
static KEYS: LazyLock<Mutex<HashMap<String, VerifyingKey>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const KEYS_CAPACITY: usize = 4096;

fn verifying_key(public_key: &str) -> Result<VerifyingKey, SignatureError> {
    // A poisoned lock only means another thread panicked mid-insert: the map is still valid.
    let lock = || KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(key) = lock().get(public_key) {
        return Ok(*key);
    }
    let bytes: [u8; 32] = base58_array(public_key, "publicKey")?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| SignatureError::malformed(SCHEME, "publicKey is not a curve point"))?;
    let mut keys = lock();
    if keys.len() >= KEYS_CAPACITY {
        keys.clear();
    }
    keys.insert(public_key.to_owned(), key);
    Ok(key)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(account: &SolAccount, buffer: &str) -> String {
        account.sign_buffer(buffer).unwrap()
    }

    #[test]
    fn cached_keys_give_the_same_verdicts() {
        let alice = SolAccount::generate();
        let mallory = SolAccount::generate();
        let good = signed(&alice, "buffer");
        // Twice: the second time the key comes from the cache.
        for _ in 0..2 {
            assert!(verify(alice.address(), &good, "buffer").is_ok());
            assert!(verify(alice.address(), &good, "other buffer").is_err());
        }
        // Mallory's signature claiming Alice's (cached) key.
        let forged = serde_json::json!({
            "signature": serde_json::from_str::<serde_json::Value>(&signed(&mallory, "buffer"))
                .unwrap()["signature"],
            "publicKey": alice.address(),
        })
        .to_string();
        assert!(verify(alice.address(), &forged, "buffer").is_err());
    }

    #[test]
    fn small_order_key_is_rejected_every_time() {
        // The identity point: decodes, but verify_strict refuses small-order keys.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let address = bs58::encode(identity).into_string();
        let signature = serde_json::json!({
            "signature": bs58::encode([0u8; 64]).into_string(),
            "publicKey": address,
        })
        .to_string();
        for _ in 0..2 {
            assert!(verify(&address, &signature, "buffer").is_err());
        }
    }

    #[test]
    fn a_full_cache_starts_over_and_keeps_verifying() {
        let accounts: Vec<SolAccount> = (0..KEYS_CAPACITY + 10)
            .map(|_| SolAccount::generate())
            .collect();
        for account in &accounts {
            verifying_key(account.address()).unwrap();
        }
        assert!(KEYS.lock().unwrap().len() <= KEYS_CAPACITY);
        let first = &accounts[0];
        assert!(verify(first.address(), &signed(first, "b"), "b").is_ok());
    }
}
