//! secp256k1 helpers shared by the EVM, Avalanche, NULS 2 and Cosmos verifiers.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::SignatureError;

/// Recovers the public key from a 64-byte `r‖s` signature, a recovery id and a prehash.
pub(crate) fn recover(
    scheme: &'static str,
    rs: &[u8],
    recovery_id: u8,
    prehash: &[u8],
) -> Result<VerifyingKey, SignatureError> {
    let signature = Signature::from_slice(rs)
        .map_err(|_| SignatureError::malformed(scheme, "r or s out of range"))?;
    let recid = RecoveryId::from_byte(recovery_id)
        .ok_or_else(|| SignatureError::malformed(scheme, format!("recovery id {recovery_id}")))?;
    VerifyingKey::recover_from_prehash(prehash, &signature, recid)
        .map_err(|_| SignatureError::malformed(scheme, "public key not recoverable"))
}

/// ripemd160(sha256(compressed public key)): the hash behind Cosmos, Avalanche and NULS addresses.
pub(crate) fn hash160(key: &VerifyingKey) -> [u8; 20] {
    use ripemd::Ripemd160;
    use sha2::{Digest, Sha256};
    let compressed = key.to_encoded_point(true);
    Ripemd160::digest(Sha256::digest(compressed.as_bytes())).into()
}
