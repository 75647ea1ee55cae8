#![allow(unreachable_pub, dead_code, clippy::unwrap_used)] // shared test support: not every test uses every helper

//! Test-side message building and signing (ETH EIP-191 and SOL ed25519), independent of
//! the node's verifier so the tests check it rather than mirror it.

use ed25519_dalek::{Signer as _, SigningKey};
use k256::ecdsa::SigningKey as EthKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

/// A key that signs Aleph messages.
#[derive(Clone)]
pub enum Signer {
    Eth(EthKey),
    Sol(SigningKey),
}

impl Signer {
    /// Deterministic ETH key from a seed byte.
    pub fn eth(seed: u8) -> Self {
        let mut bytes = [0x11u8; 32];
        bytes[31] = seed.max(1);
        Self::Eth(EthKey::from_bytes((&bytes).into()).unwrap())
    }

    /// Deterministic SOL key from a seed byte.
    pub fn sol(seed: u8) -> Self {
        Self::Sol(SigningKey::from_bytes(&[seed; 32]))
    }

    pub fn chain(&self) -> &'static str {
        match self {
            Self::Eth(_) => "ETH",
            Self::Sol(_) => "SOL",
        }
    }

    pub fn address(&self) -> String {
        match self {
            Self::Eth(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let hash = Keccak256::digest(&point.as_bytes()[1..]);
                format!("0x{}", hex::encode(&hash[12..]))
            }
            Self::Sol(key) => bs58::encode(key.verifying_key().as_bytes()).into_string(),
        }
    }

    /// The wire signature of `buffer`.
    pub fn sign(&self, buffer: &str) -> String {
        match self {
            Self::Eth(key) => {
                let prefixed = format!("\x19Ethereum Signed Message:\n{}{buffer}", buffer.len());
                let digest = Keccak256::digest(prefixed.as_bytes());
                let (sig, recid) = key.sign_prehash_recoverable(&digest).unwrap();
                let mut bytes = sig.to_bytes().to_vec();
                bytes.push(27 + recid.to_byte());
                format!("0x{}", hex::encode(bytes))
            }
            Self::Sol(key) => {
                let sig = key.sign(buffer.as_bytes());
                json!({
                    "signature": bs58::encode(sig.to_bytes()).into_string(),
                    "publicKey": bs58::encode(key.verifying_key().as_bytes()).into_string(),
                })
                .to_string()
            }
        }
    }

    /// A signed inline message of `message_type` with `content` (address/time filled in
    /// unless present).
    pub fn message(
        &self,
        message_type: &str,
        mut content: Value,
        time: f64,
        channel: &str,
    ) -> Value {
        if content.get("address").is_none() {
            content["address"] = json!(self.address());
        }
        if content.get("time").is_none() {
            content["time"] = json!(time);
        }
        let item_content = content.to_string();
        let item_hash = hex::encode(Sha256::digest(item_content.as_bytes()));
        let buffer = format!(
            "{}\n{}\n{}\n{}",
            self.chain(),
            self.address(),
            message_type,
            item_hash
        );
        json!({
            "sender": self.address(),
            "chain": self.chain(),
            "signature": self.sign(&buffer),
            "type": message_type,
            "item_type": "inline",
            "item_content": item_content,
            "item_hash": item_hash,
            "time": time,
            "channel": channel,
        })
    }
}

pub fn hash_of(message: &Value) -> String {
    message["item_hash"].as_str().unwrap().to_owned()
}

pub fn post(signer: &Signer, post_type: &str, body: Value, time: f64) -> Value {
    signer.message(
        "POST",
        json!({"type": post_type, "content": body}),
        time,
        "TEST",
    )
}

pub fn amend(signer: &Signer, target: &str, body: Value, time: f64) -> Value {
    signer.message(
        "POST",
        json!({"type": "amend", "ref": target, "content": body}),
        time,
        "TEST",
    )
}

pub fn aggregate(signer: &Signer, owner: Option<&str>, key: &str, body: Value, time: f64) -> Value {
    let mut content = json!({"key": key, "content": body});
    if let Some(owner) = owner {
        content["address"] = json!(owner);
    }
    signer.message("AGGREGATE", content, time, "TEST")
}

pub fn forget(signer: &Signer, hashes: &[String], aggregates: &[&str], time: f64) -> Value {
    signer.message(
        "FORGET",
        json!({"hashes": hashes, "aggregates": aggregates}),
        time,
        "TEST",
    )
}

/// The same message with its signature swapped for another key's (a forgery).
pub fn forged(message: &Value, by: &Signer) -> Value {
    let mut m = message.clone();
    let buffer = format!(
        "{}\n{}\n{}\n{}",
        m["chain"].as_str().unwrap(),
        m["sender"].as_str().unwrap(),
        m["type"].as_str().unwrap(),
        m["item_hash"].as_str().unwrap()
    );
    m["signature"] = json!(by.sign(&buffer));
    m
}
