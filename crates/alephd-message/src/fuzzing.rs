//! Bodies of the fuzz targets, kept in the crate so they also run under plain `cargo test`
//! (random and mutated inputs in `tests/garbage.rs`) where no fuzzing toolchain exists.
//!
//! They must never panic on any input, and they check invariants that would reveal a parser
//! bug: an assertion failure here is a bug report, not a rejected input.

use serde_json::Value;

use crate::{IncomingMessage, ItemHash, ItemType, MessageType, parse_content};

/// Feeds arbitrary bytes to the message parser (then the signature verifier of the message's
/// chain), and to the content parser of every type.
pub fn message_parse(data: &[u8]) {
    if let Ok(message) = IncomingMessage::from_json(data) {
        check_accepted(&message);
    }
    let sender = crate::Address::new("0x0000000000000000000000000000000000000000");
    for message_type in MESSAGE_TYPES {
        if let Ok(parsed) = parse_content(message_type, data, &sender, 1.0) {
            assert_eq!(parsed.content.message_type(), message_type);
            assert!(parsed.object.contains_key("address") && parsed.object.contains_key("time"));
        }
    }
}

const MESSAGE_TYPES: [MessageType; 6] = [
    MessageType::Post,
    MessageType::Aggregate,
    MessageType::Store,
    MessageType::Program,
    MessageType::Instance,
    MessageType::Forget,
];

/// What every accepted message satisfies, whatever the input was.
fn check_accepted(message: &IncomingMessage) {
    match message.item_content() {
        Some(content) => {
            assert_eq!(message.item_type(), ItemType::Inline);
            assert_eq!(&ItemHash::sha256_of(content), message.item_hash());
            assert!(content.chars().count() <= crate::MAX_INLINE_CHARS);
        }
        None => assert_eq!(message.item_type(), message.item_hash().item_type()),
    }
    assert!((0.0..=crate::MAX_TIME).contains(&message.time()));
    if let Some(fields) = message.signed_fields() {
        let buffer = fields.verification_buffer();
        assert!(buffer.ends_with(message.item_hash().as_str()));
        // Any verdict is fine (mutated real messages may stay valid); it must not panic and
        // must not depend on anything but the input.
        let verdict = crate::signature::verify(&fields);
        assert_eq!(crate::signature::verify(&fields), verdict);
    }
    let wire = message.to_wire_value();
    let again = IncomingMessage::from_value(wire.clone());
    assert_eq!(
        again.as_ref().ok(),
        Some(message),
        "wire form re-parses: {wire}"
    );
    let text = serde_json::to_vec(&wire).unwrap_or_default();
    assert_eq!(
        IncomingMessage::from_json(&text).ok().as_ref(),
        Some(message)
    );
    if let Some(Ok(parsed)) = message.parse_inline_content() {
        assert_eq!(parsed.content.message_type(), message.message_type());
    }
    assert!(matches!(
        message.raw().get("item_hash"),
        Some(Value::String(_))
    ));
}
