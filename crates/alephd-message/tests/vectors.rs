//! Every message vector in `fixtures/vectors/` goes through the parsers: the item-hash verdict
//! matches the one recorded when the vectors were collected, real messages parse (envelope
//! and content), and the known-odd fixtures fail with the error we expect.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is a test failure.

use std::path::Path;

use alephd_message::{
    ApiMessage, IncomingMessage, ItemHash, ItemType, MessageContent, MessageError, MessageType,
};
use serde_json::{Map, Value};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors");

struct Vector {
    file: String,
    name: String,
    body: Map<String, Value>,
}

fn vectors() -> Vec<Vector> {
    let mut files: Vec<_> = std::fs::read_dir(VECTORS)
        .expect("fixtures/vectors exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("messages-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "expected the 7 message vector files, found {files:?}"
    );
    files.iter().flat_map(|path| read_vectors(path)).collect()
}

fn read_vectors(path: &Path) -> Vec<Vector> {
    let text = std::fs::read_to_string(path).unwrap();
    let Value::Array(list) = serde_json::from_str(&text).unwrap() else {
        panic!("{path:?}")
    };
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    list.into_iter()
        .map(|v| {
            let Value::Object(body) = v else {
                panic!("{file}: vector is not an object")
            };
            let name = body["name"].as_str().unwrap().to_owned();
            Vector {
                file: file.clone(),
                name,
                body,
            }
        })
        .collect()
}

/// aleph-message's schema fixtures are old API dumps without `item_hash`/`item_content`.
fn is_schema_fixture(v: &Vector) -> bool {
    v.name.starts_with("aleph-message:") || v.name.starts_with("pyaleph:program.json")
}

#[test]
fn every_vector_is_checked() {
    let vectors = vectors();
    let mut checked = 0;
    for v in &vectors {
        let context = format!("{} / {}", v.file, v.name);
        match (v.body.get("message"), v.body.get("response")) {
            (Some(Value::Object(message)), _) if is_schema_fixture(v) => {
                check_schema_fixture(message, &context)
            }
            (Some(Value::Object(message)), _) => check_real_message(v, message, &context),
            (_, Some(Value::Object(response))) => check_api_response(&v.name, response, &context),
            _ => panic!("{context}: neither a message nor a response"),
        }
        checked += 1;
    }
    assert_eq!(checked, 35, "a vector was added or lost: update this test");
}

fn check_real_message(v: &Vector, message: &Map<String, Value>, context: &str) {
    let verdict = v
        .body
        .get("item_hash_equals_sha256_item_content")
        .and_then(Value::as_bool);
    let item_content = message.get("item_content").and_then(Value::as_str);
    let item_hash = message["item_hash"].as_str().unwrap();
    if let Some(content) = item_content {
        let ours = ItemHash::sha256_of(content) == item_hash;
        assert_eq!(Some(ours), verdict, "{context}: item-hash verdict");
    } else {
        assert_eq!(
            verdict, None,
            "{context}: verdict recorded without item_content"
        );
    }

    let parsed = IncomingMessage::from_value(Value::Object(message.clone()));
    let parsed = match (parsed, verdict) {
        (Ok(parsed), Some(true) | None) => parsed,
        (Err(MessageError::ItemHashMismatch { .. }), Some(false)) => return,
        (other, _) => panic!("{context}: unexpected parse result {other:?}"),
    };
    assert_eq!(parsed.item_hash().as_str(), item_hash, "{context}");
    assert_eq!(parsed.raw(), message, "{context}: raw object kept");
    check_item_type(&parsed, message, context);
    check_signature_kept(&parsed, message, context);
    check_verification_buffer(v, &parsed, context);

    // The wire form re-parses to the same message.
    let again = IncomingMessage::from_value(parsed.to_wire_value()).unwrap();
    assert_eq!(again, parsed, "{context}: wire round trip");

    if let Some(result) = parsed.parse_inline_content() {
        let content = result.unwrap_or_else(|e| panic!("{context}: inline content: {e}"));
        assert_eq!(
            content.content.message_type(),
            parsed.message_type(),
            "{context}"
        );
        if let Some(Value::Object(api_content)) = message.get("content") {
            let from_api = MessageContent::from_object(parsed.message_type(), api_content)
                .unwrap_or_else(|e| panic!("{context}: API content: {e}"));
            assert_eq!(
                from_api, content.content,
                "{context}: API content differs from item_content"
            );
        }
    } else if let Some(Value::Object(api_content)) = message.get("content") {
        MessageContent::from_object(parsed.message_type(), api_content)
            .unwrap_or_else(|e| panic!("{context}: API content: {e}"));
    }

    if message.contains_key("confirmations") {
        let api: ApiMessage = serde_json::from_value(Value::Object(message.clone()))
            .unwrap_or_else(|e| panic!("{context}: API form: {e}"));
        let round: ApiMessage =
            serde_json::from_value(serde_json::to_value(&api).unwrap()).unwrap();
        assert_eq!(round, api, "{context}: API round trip");
        assert_eq!(api.confirmed, !api.confirmations.is_empty(), "{context}");
    }
}

fn check_item_type(parsed: &IncomingMessage, message: &Map<String, Value>, context: &str) {
    let expected = match message.get("item_type").and_then(Value::as_str) {
        Some(declared) => declared.parse().unwrap(),
        None if parsed.item_content().is_some() => ItemType::Inline,
        None => parsed.item_hash().item_type(),
    };
    assert_eq!(parsed.item_type(), expected, "{context}");
}

fn check_signature_kept(parsed: &IncomingMessage, message: &Map<String, Value>, context: &str) {
    match &message["signature"] {
        Value::String(s) => assert_eq!(parsed.signature(), Some(s.as_str()), "{context}"),
        obj @ Value::Object(_) => {
            let text = parsed.signature().unwrap();
            assert!(!text.contains(' '), "{context}: not compact: {text}");
            assert_eq!(
                &serde_json::from_str::<Value>(text).unwrap(),
                obj,
                "{context}"
            );
        }
        other => panic!("{context}: odd signature {other}"),
    }
}

fn check_verification_buffer(v: &Vector, parsed: &IncomingMessage, context: &str) {
    if let Some(Value::String(expected)) = v.body.get("verification_buffer") {
        let fields = parsed.signed_fields().unwrap();
        assert_eq!(&fields.verification_buffer(), expected, "{context}");
    }
}

/// Schema fixtures: the envelope lacks `item_hash` (so it is refused), but the `content`
/// object must satisfy its type's schema.
fn check_schema_fixture(message: &Map<String, Value>, context: &str) {
    let err = IncomingMessage::from_value(Value::Object(message.clone())).unwrap_err();
    assert_eq!(err, MessageError::MissingField("item_hash"), "{context}");
    let message_type: MessageType = serde_json::from_value(message["type"].clone()).unwrap();
    let Some(Value::Object(content)) = message.get("content") else {
        panic!("{context}")
    };
    let parsed = MessageContent::from_object(message_type, content)
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    assert_eq!(
        parsed.address().as_str(),
        content["address"].as_str().unwrap(),
        "{context}"
    );
}

/// `GET /api/v0/messages/{hash}` bodies from aleph-rs. Their embedded messages are not wire
/// messages: a forgotten one keeps only metadata (inline without its content), and both use
/// ISO-8601 times (an aleph-rs serialisation) that the wire parser refuses, like pyaleph.
fn check_api_response(name: &str, response: &Map<String, Value>, context: &str) {
    let expected = match name {
        "aleph-rs:forgotten-message.json" => MessageError::InlineWithoutContent,
        "aleph-rs:pending-message.json" => MessageError::WrongType {
            field: "time",
            expected: "a number",
        },
        other => panic!("{context}: new API response vector {other}: add its expectation"),
    };
    let embedded = match (response.get("message"), response.get("messages")) {
        (Some(message), _) => message.clone(),
        (None, Some(Value::Array(list))) => list[0].clone(),
        _ => panic!("{context}: no embedded message"),
    };
    let err = IncomingMessage::from_value(embedded).unwrap_err();
    assert_eq!(err, expected, "{context}");
    ItemHash::parse(response["item_hash"].as_str().unwrap()).unwrap();
}
