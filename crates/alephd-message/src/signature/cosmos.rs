//! Cosmos SDK (CSDK): secp256k1 over the amino "sign doc" of an ADR-036 style text message,
//! hashed with sha256; the address is bech32 of ripemd160(sha256(public key)).

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use k256::ecdsa::{Signature, VerifyingKey, signature::Verifier as _};

use super::{SignatureError, json_object, secp, str_field};

const SCHEME: &str = "Cosmos";

pub(super) fn verify(sender: &str, signature: &str, buffer: &str) -> Result<(), SignatureError> {
    let map = json_object(SCHEME, signature)?;
    let sig = decode_base64(str_field(SCHEME, &map, "signature")?, "signature")?;
    let pub_key = map
        .get("pub_key")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| SignatureError::malformed(SCHEME, "missing pub_key object"))?;
    let key = decode_base64(str_field(SCHEME, pub_key, "value")?, "pub_key")?;
    let key = VerifyingKey::from_sec1_bytes(&key)
        .map_err(|_| SignatureError::malformed(SCHEME, "pub_key is not a secp256k1 point"))?;

    let (hrp, _) = bech32::decode(sender)
        .map_err(|e| SignatureError::malformed(SCHEME, format!("sender is not bech32: {e}")))?;
    let expected = bech32::encode::<bech32::Bech32>(hrp, &secp::hash160(&key))
        .map_err(|e| SignatureError::malformed(SCHEME, e.to_string()))?;
    if expected != sender {
        return Err(SignatureError::mismatch(SCHEME, sender));
    }

    let signature = Signature::from_slice(&sig)
        .map_err(|_| SignatureError::malformed(SCHEME, "signature is not 64 bytes r‖s"))?;
    // Cosmos signers emit low-S signatures; accept a high-S one as the Python verifier does.
    let signature = signature.normalize_s().unwrap_or(signature);
    key.verify(sign_doc(sender, buffer).as_bytes(), &signature)
        .map_err(|_| SignatureError::mismatch(SCHEME, sender))
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, SignatureError> {
    BASE64
        .decode(text)
        .map_err(|e| SignatureError::malformed(SCHEME, format!("{what}: {e}")))
}

/// The amino JSON sign doc with sorted keys, compact, as the wallet signed it.
fn sign_doc(signer: &str, message: &str) -> String {
    // Built by hand (not through a map) so the key order never depends on serde_json features.
    let message = serde_json::Value::from(message).to_string();
    let signer = serde_json::Value::from(signer).to_string();
    format!(
        r#"{{"account_number":"0","chain_id":"signed-message-v1","fee":{{"amount":[],"gas":"0"}},"memo":"","msgs":[{{"type":"signutil/MsgSignText","value":{{"message":{message},"signer":{signer}}}}}],"sequence":"0"}}"#
    )
}
