//! Hostile input: every malformed message is refused with a typed error, nothing panics,
//! and random bytes or mutated real messages go through the fuzz body unharmed.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is a test failure.

use alephd_message::fuzzing::message_parse;
use alephd_message::{ErrorCode, IncomingMessage, ItemHash, MessageError};
use proptest::prelude::*;
use serde_json::{Value, json};

const CONTENT: &str = r#"{"type":"test","address":"0x1","time":1,"content":{}}"#;

fn valid() -> Value {
    json!({
        "sender": "0x1", "chain": "ETH", "signature": "0x", "type": "POST",
        "item_type": "inline", "item_content": CONTENT,
        "item_hash": ItemHash::sha256_of(CONTENT), "time": 1.0, "channel": null,
    })
}

fn refused(bytes: &[u8]) -> MessageError {
    message_parse(bytes);
    let err = IncomingMessage::from_json(bytes).expect_err("garbage accepted");
    assert_eq!(err.error_code(), ErrorCode::InvalidFormat);
    assert!(!err.is_retryable());
    assert!(
        err.to_string().len() < 1024,
        "error text stays short: {err}"
    );
    err
}

fn patched(key: &str, value: Value) -> Vec<u8> {
    let mut message = valid();
    message[key] = value;
    serde_json::to_vec(&message).unwrap()
}

#[test]
fn the_baseline_is_valid() {
    message_parse(&serde_json::to_vec(&valid()).unwrap());
    IncomingMessage::from_value(valid()).unwrap();
}

#[test]
fn malformed_json_is_refused() {
    for bytes in [
        &b""[..],
        b"null",
        b"42",
        b"\"message\"",
        b"[]",
        b"{",
        b"{\"sender\":",
        b"\xff\xfe{}",
        b"{\"sender\": \"\xc3\x28\"}",
        b"{\"sender\": \"\\ud800\"}",
        &[b'['; 100_000],
        &[b'{'; 10],
    ] {
        refused(bytes);
    }
}

#[test]
fn wrong_types_are_refused() {
    for (key, value) in [
        ("sender", json!(1)),
        ("sender", json!(["0x1"])),
        ("chain", json!(null)),
        ("chain", json!("eth")),
        ("chain", json!({"name": "ETH"})),
        ("type", json!("post")),
        ("type", json!(null)),
        ("item_type", json!(1)),
        ("item_type", json!("Inline")),
        ("item_content", json!(true)),
        ("item_hash", json!(null)),
        ("item_hash", json!(7)),
        ("time", json!(null)),
        ("time", json!("1.0")),
        ("time", json!(true)),
        ("time", json!(-1)),
        ("time", json!(1e20)),
        ("channel", json!(5)),
        ("signature", json!(false)),
        ("signature", json!(["0x"])),
    ] {
        let err = refused(&patched(key, value.clone()));
        let text = err.to_string();
        assert!(!text.is_empty(), "{key}={value}");
    }
}

#[test]
fn huge_and_odd_strings_are_refused() {
    let huge = format!(r#"{{"a":"{}"}}"#, "x".repeat(1_000_000));
    let mut message = valid();
    message["item_content"] = json!(huge);
    message["item_hash"] = json!(ItemHash::sha256_of(&huge));
    assert!(matches!(
        refused(&serde_json::to_vec(&message).unwrap()),
        MessageError::ContentTooLong { chars } if chars == huge.len()
    ));

    let long_hash = "a".repeat(1_000_000);
    let err = refused(&patched("item_hash", json!(long_hash)));
    assert!(matches!(err, MessageError::ItemHashMismatch { .. }));
    let mut storage = valid();
    storage.as_object_mut().unwrap().remove("item_content");
    storage["item_type"] = json!("storage");
    storage["item_hash"] = json!("é".repeat(64));
    assert!(matches!(
        refused(&serde_json::to_vec(&storage).unwrap()),
        MessageError::UnknownHashShape(_)
    ));
    assert!(matches!(
        refused(&patched("channel", json!("c".repeat(100_000)))),
        MessageError::ChannelTooLong(_)
    ));
    let nul = r#"{"a":"\u0000"}"#;
    let mut message = valid();
    message["item_content"] = json!(nul);
    message["item_hash"] = json!(ItemHash::sha256_of(nul));
    assert_eq!(
        refused(&serde_json::to_vec(&message).unwrap()),
        MessageError::NullCharacter
    );
    assert!(matches!(
        refused(&patched("chain", json!("X".repeat(10_000)))),
        MessageError::UnknownChain(_)
    ));
}

#[test]
fn odd_signatures_are_kept_for_the_verifier() {
    for signature in [
        json!(""),
        json!("{{{{{"),
        json!("\u{0}"),
        json!({"nested": {"a": [1]}}),
    ] {
        let message = IncomingMessage::from_json(&patched("signature", signature)).unwrap();
        assert!(message.signature().is_some());
    }
}

#[test]
fn a_mismatched_hash_is_refused_with_the_expected_one() {
    let wrong = ItemHash::sha256_of("other").into_string();
    match refused(&patched("item_hash", json!(wrong))) {
        MessageError::ItemHashMismatch { computed } => {
            assert_eq!(computed, ItemHash::sha256_of(CONTENT))
        }
        other => panic!("{other:?}"),
    }
}

/// Real vectors, cut and flipped byte by byte: the fuzz body must survive all of them.
#[test]
fn mutated_vectors_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for vector in list {
            let Some(message) = vector.get("message") else {
                continue;
            };
            let bytes = serde_json::to_vec(message).unwrap();
            message_parse(&bytes);
            for cut in (0..bytes.len()).step_by(97) {
                message_parse(&bytes[..cut]);
                let mut flipped = bytes.clone();
                flipped[cut] ^= 0x20;
                message_parse(&flipped);
            }
            seeds += 1;
        }
    }
    assert!(seeds >= 30, "only {seeds} seed messages found");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        message_parse(&bytes);
    }

    #[test]
    fn random_json_text_never_panics(text in r#"[{}\[\]":,0-9a-zA-Z\\ .eE+-]{0,200}"#) {
        message_parse(text.as_bytes());
    }

    #[test]
    fn random_field_values_never_panic(
        key in prop::sample::select(vec![
            "sender", "chain", "signature", "type", "item_type", "item_content",
            "item_hash", "time", "channel",
        ]),
        value in arb_json(),
    ) {
        message_parse(&patched(key, value));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every chain's verifier gets odd signatures and senders through the fuzz body.
    #[test]
    fn odd_signatures_on_every_chain_never_panic(
        chain in prop::sample::select(alephd_message::Chain::ALL.to_vec()),
        sender in prop_oneof![Just("0x1".to_owned()), ".{0,60}".prop_map(String::from)],
        signature in prop_oneof![
            ".{0,200}".prop_map(Value::from),
            "0x[0-9a-f]{0,140}".prop_map(Value::from),
            "[1-9A-HJ-NP-Za-km-z]{0,100}".prop_map(Value::from),
            ("[1-9A-HJ-NP-Za-km-z]{0,90}", "[1-9A-HJ-NP-Za-km-z]{0,50}")
                .prop_map(|(s, k)| json!({"signature": s, "publicKey": k})),
            ("[a-z0-9]{0,8}", "0x[0-9a-f]{0,130}")
                .prop_map(|(c, d)| json!({"curve": c, "data": d})),
            arb_json(),
        ],
    ) {
        let mut message = valid();
        message["chain"] = json!(chain);
        message["sender"] = json!(sender);
        message["signature"] = signature;
        message_parse(&serde_json::to_vec(&message).unwrap());
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
