//! Signature verdicts over every real signed vector in `fixtures/vectors`, their tampered
//! variants, and garbage: every chain family, valid and invalid alike.

#![allow(clippy::unwrap_used)] // test helpers: a bad fixture should fail loudly

use alephd_message::{
    Chain, MessageType,
    signature::{EthAccount, SignedFields, Signer, SolAccount, verify},
};
use serde_json::Value;

const FILES: &[&str] = &[
    "messages-eth.json",
    "messages-sol.json",
    "messages-other-chains.json",
    "messages-program.json",
    "messages-store.json",
    "messages-instance.json",
];

struct Vector {
    name: String,
    chain: Chain,
    sender: String,
    message_type: MessageType,
    item_hash: String,
    signature: String,
    time: f64,
    expected: Option<bool>,
}

impl Vector {
    fn fields(&self) -> SignedFields<'_> {
        SignedFields {
            chain: self.chain,
            sender: &self.sender,
            message_type: self.message_type,
            item_hash: &self.item_hash,
            signature: &self.signature,
            time: self.time,
        }
    }
}

fn vectors() -> Vec<Vector> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors");
    let mut out = Vec::new();
    for file in FILES {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        for v in list {
            let m = &v["message"];
            let expected = v["signature_valid_expected"]
                .as_bool()
                .or_else(|| v["signature_valid_checked_locally"].as_bool());
            let signature = match &m["signature"] {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(), // some fixtures show the JSON object itself
            };
            let name = format!("{file}: {}", v["name"].as_str().unwrap());
            // Schema fixtures may lack envelope fields (no item_hash): nothing to judge.
            let (Ok(chain), Some(sender), Ok(message_type), Some(item_hash)) = (
                serde_json::from_value(m["chain"].clone()),
                m["sender"].as_str(),
                serde_json::from_value(m["type"].clone()),
                m["item_hash"].as_str(),
            ) else {
                continue;
            };
            out.push(Vector {
                name,
                chain,
                sender: sender.to_owned(),
                message_type,
                item_hash: item_hash.to_owned(),
                signature,
                time: m["time"].as_f64().unwrap_or(0.0),
                expected,
            });
        }
    }
    out
}

#[test]
fn every_vector_with_a_verdict_gets_it() {
    let vectors = vectors();
    let judged: Vec<&Vector> = vectors.iter().filter(|v| v.expected.is_some()).collect();
    assert!(
        judged.len() >= 20,
        "only {} vectors with a verdict",
        judged.len()
    );
    let mut chains = std::collections::BTreeSet::new();
    for v in &judged {
        let verdict = verify(&v.fields());
        assert_eq!(
            verdict.is_ok(),
            v.expected.unwrap(),
            "{}: {verdict:?}",
            v.name
        );
        if verdict.is_ok() {
            chains.insert(v.chain.as_str());
        }
    }
    // Every chain family of the fixtures has at least one valid signature checked.
    for chain in ["ETH", "SOL", "DOT", "CSDK", "TEZOS", "AVAX", "NULS2"] {
        assert!(
            chains.contains(chain),
            "no valid {chain} vector verified: {chains:?}"
        );
    }
}

#[test]
fn real_program_store_and_instance_signatures_verify() {
    // The aleph-rs PROGRAM/STORE/INSTANCE fixtures carry real signatures (fixtures README);
    // the aleph-message schema fixtures carry synthetic ones, which must not verify.
    for v in vectors().iter().filter(|v| v.expected.is_none()) {
        let verdict = verify(&v.fields());
        if v.name.contains("aleph-rs") {
            assert!(verdict.is_ok(), "{}: {verdict:?}", v.name);
        } else if v.name.contains("aleph-message") || v.name.contains("aleph_message") {
            assert!(verdict.is_err(), "{}: synthetic signature verified", v.name);
        }
    }
}

#[test]
fn tampering_with_any_signed_field_invalidates() {
    for v in vectors().iter().filter(|v| v.expected == Some(true)) {
        let fields = v.fields();
        let other_hash = flip_hex(&v.item_hash);
        let mut tampered = vec![
            SignedFields {
                item_hash: &other_hash,
                ..fields
            },
            SignedFields {
                message_type: other_type(v.message_type),
                ..fields
            },
        ];
        let other_sender = flip_last(&v.sender);
        tampered.push(SignedFields {
            sender: &other_sender,
            ..fields
        });
        let other_signature = flip_signature(&v.signature);
        tampered.push(SignedFields {
            signature: &other_signature,
            ..fields
        });
        for (i, t) in tampered.iter().enumerate() {
            assert!(
                verify(t).is_err(),
                "{}: tampered variant {i} verified",
                v.name
            );
        }
    }
}

#[test]
fn garbage_signatures_are_errors_never_panics() {
    let garbage = [
        String::new(),
        "0x".into(),
        "0xzz".into(),
        "0x".to_owned() + &"ab".repeat(64),
        "0x".to_owned() + &"ff".repeat(65),
        "{".into(),
        "[]".into(),
        "null".into(),
        r#"{"signature":1,"publicKey":2}"#.into(),
        r#"{"signature":"","publicKey":""}"#.into(),
        r#"{"curve":"ed25519","data":"00"}"#.into(),
        r#"{"pub_key":{"value":"AAAA"},"signature":"AAAA"}"#.into(),
        r#"{"publicKey":"edpk","signature":"sig","signingType":"micheline"}"#.into(),
        "\u{0}\u{ffff}".into(),
        "x".repeat(100_000),
        "1".repeat(500),
    ];
    for chain in Chain::ALL {
        for signature in &garbage {
            for sender in [
                "",
                "0x",
                "NULSd",
                "X-avax1",
                "cosmos1",
                "tz1",
                "5CGNMKCscqN2QNcT7Jtuz23ab7JUxh8wTEtXhECZLJn5vCGX",
            ] {
                let fields = SignedFields {
                    chain: *chain,
                    sender,
                    message_type: MessageType::Post,
                    item_hash: "ab",
                    signature,
                    time: f64::NAN,
                };
                assert!(verify(&fields).is_err(), "{chain} accepted {signature:?}");
            }
        }
    }
}

#[test]
fn our_signatures_verify_and_batches_agree() {
    let hash = "c".repeat(64);
    let eth = EthAccount::generate();
    let sol: Vec<SolAccount> = (0..40).map(|_| SolAccount::generate()).collect();
    let buffer = alephd_message::signature::verification_buffer(
        Chain::ETH,
        eth.address(),
        MessageType::Post,
        &hash,
    );
    let sig = eth.sign_buffer(&buffer).unwrap();
    let fields = SignedFields {
        chain: Chain::ETH,
        sender: eth.address(),
        message_type: MessageType::Post,
        item_hash: &hash,
        signature: &sig,
        time: 0.0,
    };
    verify(&fields).unwrap();
    let base = EthAccount::from_secret(&eth.secret_bytes())
        .unwrap()
        .on_chain(Chain::BASE)
        .unwrap();
    let buffer = alephd_message::signature::verification_buffer(
        Chain::BASE,
        base.address(),
        MessageType::Post,
        &hash,
    );
    let sig = base.sign_buffer(&buffer).unwrap();
    verify(&SignedFields {
        chain: Chain::BASE,
        signature: &sig,
        ..fields
    })
    .unwrap();

    let sigs: Vec<String> = sol
        .iter()
        .map(|a| {
            a.sign_buffer(&alephd_message::signature::verification_buffer(
                Chain::SOL,
                a.address(),
                MessageType::Post,
                &hash,
            ))
            .unwrap()
        })
        .collect();
    let batch: Vec<SignedFields<'_>> = sol
        .iter()
        .zip(&sigs)
        .map(|(a, s)| SignedFields {
            chain: Chain::SOL,
            sender: a.address(),
            signature: s,
            ..fields
        })
        .collect();
    assert!(batch.iter().all(|f| verify(f).is_ok()));
    let restored = SolAccount::from_secret(&sol[0].keypair_bytes()).unwrap();
    assert_eq!(restored.address(), sol[0].address());
}

fn flip_hex(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn flip_last(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() - 2;
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

/// Changes one character inside the cryptographic part of a signature of any format.
fn flip_signature(s: &str) -> String {
    if let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(s) {
        for key in ["signature", "data"] {
            if let Some(Value::String(inner)) = map.get(key) {
                let flipped = flip_middle(inner);
                map.insert(key.to_owned(), Value::String(flipped));
                return Value::Object(map).to_string();
            }
        }
    }
    flip_middle(s)
}

fn flip_middle(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn other_type(t: MessageType) -> MessageType {
    if t == MessageType::Post {
        MessageType::Aggregate
    } else {
        MessageType::Post
    }
}
