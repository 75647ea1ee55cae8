//! EVM chains: EIP-191 `personal_sign` over secp256k1; the signer's address is recovered and
//! compared case-insensitively with the sender.

use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};

use super::{SignError, SignatureError, Signer};
use crate::Chain;

const SCHEME: &str = "EVM";

pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let hex_sig = signature.strip_prefix("0x").unwrap_or(signature);
    let bytes =
        hex::decode(hex_sig).map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    let [rs @ .., v] = bytes.as_slice() else {
        return Err(SignatureError::malformed(SCHEME, "empty signature"));
    };
    if rs.len() != 64 {
        return Err(SignatureError::malformed(
            SCHEME,
            format!("{} bytes, expected 65", bytes.len()),
        ));
    }
    let recovery_id = match v {
        27 | 28 => v - 27,
        0 | 1 => *v,
        other => return Err(SignatureError::malformed(SCHEME, format!("v = {other}"))),
    };
    let recovered = recover_address(rs, recovery_id, &eip191_hash(buffer))?;
    if recovered.eq_ignore_ascii_case(sender) {
        Ok(())
    } else {
        Err(SignatureError::mismatch(SCHEME, sender))
    }
}

/// Recovers the signer's address with libsecp256k1 (the hot path of EVM ingest).
fn recover_address(
    rs: &[u8],
    recovery_id: u8,
    digest: &[u8; 32],
) -> Result<String, SignatureError> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    static CONTEXT: std::sync::OnceLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
        std::sync::OnceLock::new();
    let context = CONTEXT.get_or_init(secp256k1::Secp256k1::verification_only);
    let recid = RecoveryId::try_from(i32::from(recovery_id))
        .map_err(|_| SignatureError::malformed(SCHEME, format!("recovery id {recovery_id}")))?;
    let signature = RecoverableSignature::from_compact(rs, recid)
        .map_err(|_| SignatureError::malformed(SCHEME, "r or s out of range"))?;
    let key = context
        .recover_ecdsa(&secp256k1::Message::from_digest(*digest), &signature)
        .map_err(|_| SignatureError::malformed(SCHEME, "public key not recoverable"))?;
    let hash = Keccak256::digest(&key.serialize_uncompressed()[1..]);
    Ok(format!("0x{}", hex::encode(&hash[12..])))
}

/// keccak256("\x19Ethereum Signed Message:\n" + len + message).
fn eip191_hash(message: &str) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    hasher.update(message.as_bytes());
    hasher.finalize().into()
}

/// The `0x…` address (lower case) of a public key.
fn address_of(key: &k256::ecdsa::VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

/// EIP-55 mixed-case checksum of a lower-case `0x` address.
fn checksummed(lower: &str) -> String {
    let hex = lower.trim_start_matches("0x");
    let hash = Keccak256::digest(hex.as_bytes());
    let mixed: String = hex
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    format!("0x{mixed}")
}

/// An Ethereum (and every EVM chain) account: a secp256k1 key.
#[derive(Clone)]
pub struct EthAccount {
    key: SigningKey,
    address: String,
    chain: Chain,
}

impl std::fmt::Debug for EthAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("EthAccount")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl EthAccount {
    /// The account of a 32-byte secret key.
    pub fn from_secret(secret: &[u8]) -> Result<Self, SignError> {
        let key = SigningKey::from_slice(secret)
            .map_err(|_| SignError::InvalidKey("secp256k1 secret"))?;
        let address = checksummed(&address_of(key.verifying_key()));
        Ok(Self {
            key,
            address,
            chain: Chain::ETH,
        })
    }

    /// The account of a hex secret key (with or without `0x`).
    pub fn from_hex(secret: &str) -> Result<Self, SignError> {
        let bytes = hex::decode(secret.trim().trim_start_matches("0x"))
            .map_err(|_| SignError::InvalidKey("hex secp256k1 secret"))?;
        Self::from_secret(&bytes)
    }

    /// A fresh random account.
    pub fn generate() -> Self {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let address = checksummed(&address_of(key.verifying_key()));
        Self {
            key,
            address,
            chain: Chain::ETH,
        }
    }

    /// The same key, signing for another EVM chain (`BASE`, `ARB`, …).
    pub fn on_chain(mut self, chain: Chain) -> Result<Self, SignError> {
        if chain.signature_scheme() != Some(crate::SignatureScheme::Evm) {
            return Err(SignError::WrongChain(chain));
        }
        self.chain = chain;
        Ok(self)
    }

    /// The 32-byte secret (for key files).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }
}

impl Signer for EthAccount {
    fn chain(&self) -> Chain {
        self.chain
    }

    fn address(&self) -> &str {
        &self.address
    }

    fn sign_buffer(&self, buffer: &str) -> Result<String, SignError> {
        let (signature, recid) = self
            .key
            .sign_prehash_recoverable(&eip191_hash(buffer))
            .map_err(|_| SignError::Failed)?;
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        Ok(format!("0x{}", hex::encode(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anvil_key_zero_has_its_well_known_address() {
        let account = EthAccount::from_hex(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .unwrap();
        assert_eq!(
            account.address(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let account = EthAccount::generate();
        let signature = account.sign_buffer("hello").unwrap();
        verify(account.address(), &signature, "hello").unwrap();
        verify(&account.address().to_lowercase(), &signature, "hello").unwrap();
        assert!(verify(account.address(), &signature, "hellO").is_err());
        assert!(
            verify(
                "0x0000000000000000000000000000000000000000",
                &signature,
                "hello"
            )
            .is_err()
        );
    }
}
