//! Tezos: ed25519 (tz1), secp256k1 (tz2) or P-256 (tz3) keys, signing the blake2b-256 digest of
//! either the raw buffer or a "micheline" wrapping of it (Beacon wallets). The public key's
//! blake2b-160 hash, base58check-encoded, must be the sender.

use blake2::{
    Blake2b, Digest,
    digest::consts::{U20, U32},
};

use super::{SignatureError, SignedFields, json_object, str_field};

const SCHEME: &str = "Tezos";

const EDPK: &[u8] = &[13, 15, 37, 217];
const SPPK: &[u8] = &[3, 254, 226, 86];
const P2PK: &[u8] = &[3, 178, 139, 127];
const EDSIG: &[u8] = &[9, 245, 205, 134, 18];
const SPSIG: &[u8] = &[13, 115, 101, 19, 63];
const P2SIG: &[u8] = &[54, 240, 44, 52];
const SIG: &[u8] = &[4, 130, 43];
const TZ1: &[u8] = &[6, 161, 159];
const TZ2: &[u8] = &[6, 161, 161];
const TZ3: &[u8] = &[6, 161, 164];

enum PublicKey {
    Ed25519([u8; 32]),
    Secp256k1(Vec<u8>),
    P256(Vec<u8>),
}

pub(super) fn verify(fields: &SignedFields<'_>, buffer: &str) -> Result<(), SignatureError> {
    let map = json_object(SCHEME, fields.signature)?;
    let key = decode_public_key(str_field(SCHEME, &map, "publicKey")?)?;
    if address_of(&key) != fields.sender {
        return Err(SignatureError::mismatch(SCHEME, fields.sender));
    }
    let signature = decode_signature(str_field(SCHEME, &map, "signature")?)?;
    let signing_type = map
        .get("signingType")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("raw");
    let payload = match signing_type {
        "raw" => buffer.as_bytes().to_vec(),
        "micheline" => {
            let dapp_url = map
                .get("dAppUrl")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("aleph.im");
            micheline_payload(buffer, fields.time, dapp_url)?
        }
        other => {
            return Err(SignatureError::malformed(
                SCHEME,
                format!("signingType {other:?}"),
            ));
        }
    };
    let digest = Blake2b::<U32>::digest(&payload);
    let valid = match key {
        PublicKey::Ed25519(key) => ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map(|k| {
                k.verify_strict(&digest, &ed25519_dalek::Signature::from_bytes(&signature))
                    .is_ok()
            })
            .unwrap_or(false),
        PublicKey::Secp256k1(key) => {
            verify_prehash::<k256::ecdsa::VerifyingKey, k256::ecdsa::Signature>(
                k256::ecdsa::VerifyingKey::from_sec1_bytes(&key).ok(),
                k256::ecdsa::Signature::from_slice(&signature)
                    .ok()
                    .map(|s| s.normalize_s().unwrap_or(s)),
                &digest,
            )
        }
        PublicKey::P256(key) => {
            verify_prehash::<p256::ecdsa::VerifyingKey, p256::ecdsa::Signature>(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&key).ok(),
                p256::ecdsa::Signature::from_slice(&signature)
                    .ok()
                    .map(|s| s.normalize_s().unwrap_or(s)),
                &digest,
            )
        }
    };
    valid
        .then_some(())
        .ok_or_else(|| SignatureError::mismatch(SCHEME, fields.sender))
}

fn verify_prehash<K, S>(key: Option<K>, signature: Option<S>, digest: &[u8]) -> bool
where
    K: ecdsa_prehash::PrehashVerifier<S>,
{
    match (key, signature) {
        (Some(key), Some(signature)) => key.verify_prehash(digest, &signature).is_ok(),
        _ => false,
    }
}

mod ecdsa_prehash {
    pub(super) use k256::ecdsa::signature::hazmat::PrehashVerifier;
}

/// What Beacon wallets sign: a Micheline-packed string of
/// `"Tezos Signed Message: {dapp} {ISO time} {buffer}"`.
fn micheline_payload(buffer: &str, time: f64, dapp_url: &str) -> Result<Vec<u8>, SignatureError> {
    let text = format!(
        "Tezos Signed Message: {dapp_url} {} {buffer}",
        iso_time(time)?
    );
    let hex_len = (text.len() * 2).to_string();
    let mut payload = vec![0x05, 0x01, 0x00];
    payload.extend_from_slice(hex_len.as_bytes());
    payload.extend_from_slice(text.as_bytes());
    Ok(payload)
}

/// `time` as ISO 8601 with milliseconds in UTC, `2022-09-23T14:41:19.029Z` (what Beacon
/// wallets put in the signed text): rounded to microseconds first, then truncated to ms.
fn iso_time(time: f64) -> Result<String, SignatureError> {
    if !(0.0..=crate::MAX_TIME).contains(&time) {
        return Err(SignatureError::malformed(SCHEME, "time out of range"));
    }
    let micros_total = (time * 1_000_000.0).round() as i64;
    let (secs, micros) = (
        micros_total.div_euclid(1_000_000),
        micros_total.rem_euclid(1_000_000),
    );
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let clock = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{clock}.{:03}Z",
        micros / 1000
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn decode_public_key(text: &str) -> Result<PublicKey, SignatureError> {
    let bytes = base58check(text)?;
    if let Some(key) = bytes.strip_prefix(EDPK) {
        let key = key
            .try_into()
            .map_err(|_| SignatureError::malformed(SCHEME, "edpk length"))?;
        return Ok(PublicKey::Ed25519(key));
    }
    if let Some(key) = bytes.strip_prefix(SPPK) {
        return Ok(PublicKey::Secp256k1(key.to_vec()));
    }
    if let Some(key) = bytes.strip_prefix(P2PK) {
        return Ok(PublicKey::P256(key.to_vec()));
    }
    Err(SignatureError::malformed(
        SCHEME,
        "unknown public key prefix",
    ))
}

fn decode_signature(text: &str) -> Result<[u8; 64], SignatureError> {
    let bytes = base58check(text)?;
    let body = [EDSIG, SPSIG, P2SIG, SIG]
        .iter()
        .find_map(|prefix| bytes.strip_prefix(*prefix).filter(|b| b.len() == 64))
        .ok_or_else(|| SignatureError::malformed(SCHEME, "unknown signature prefix or length"))?;
    body.try_into()
        .map_err(|_| SignatureError::malformed(SCHEME, "signature length"))
}

fn address_of(key: &PublicKey) -> String {
    let (prefix, bytes): (&[u8], &[u8]) = match key {
        PublicKey::Ed25519(k) => (TZ1, k),
        PublicKey::Secp256k1(k) => (TZ2, k),
        PublicKey::P256(k) => (TZ3, k),
    };
    let mut payload = prefix.to_vec();
    payload.extend_from_slice(&Blake2b::<U20>::digest(bytes));
    bs58::encode(payload).with_check().into_string()
}

/// base58 with a 4-byte double-sha256 checksum (bitcoin's base58check).
fn base58check(text: &str) -> Result<Vec<u8>, SignatureError> {
    bs58::decode(text)
        .with_check(None)
        .into_vec()
        .map_err(|e| SignatureError::malformed(SCHEME, format!("base58check: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_matches_python() {
        assert_eq!(
            iso_time(1663944079.029).unwrap(),
            "2022-09-23T14:41:19.029Z"
        );
        assert_eq!(iso_time(0.0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951782400.5).unwrap(), "2000-02-29T00:00:00.500Z");
        assert!(iso_time(-1.0).is_err() && iso_time(f64::NAN).is_err());
    }
}
