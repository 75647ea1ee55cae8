//! `on.message` subscriptions: which processed messages run which programs.
//!
//! A subscription is a JSON object matched against the message's JSON (the API form, with
//! `content` as an object): every key of the filter must be in the message with an equal
//! value, where a nested object matches sub-fields the same way. A program lists several
//! subscriptions; any one matching runs it. Arrays and scalars compare by equality.

use serde_json::Value;

/// Whether `message` matches the subscription `filter`.
pub fn matches(filter: &Value, message: &Value) -> bool {
    match (filter, message) {
        (Value::Object(wanted), Value::Object(have)) => wanted
            .iter()
            .all(|(key, want)| have.get(key).is_some_and(|got| matches(want, got))),
        (Value::Object(_), _) => false,
        _ => filter == message,
    }
}

/// Whether any of a program's subscriptions matches. An empty filter object would match every
/// message: it is ignored, as is anything that is not an object.
pub fn any_matches(filters: &[Value], message: &Value) -> bool {
    filters
        .iter()
        .filter(|f| f.as_object().is_some_and(|o| !o.is_empty()))
        .any(|f| matches(f, message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message() -> Value {
        json!({
            "type": "POST", "channel": "TRIGGERS", "sender": "0xabc",
            "content": {"type": "ping", "address": "0xabc", "content": {"n": 1}},
        })
    }

    #[test]
    fn fields_and_nested_fields_must_all_match() {
        assert!(matches(&json!({"channel": "TRIGGERS"}), &message()));
        assert!(matches(
            &json!({"type": "POST", "content": {"type": "ping"}}),
            &message()
        ));
        assert!(matches(
            &json!({"content": {"content": {"n": 1}}}),
            &message()
        ));
        assert!(!matches(&json!({"channel": "OTHER"}), &message()));
        assert!(!matches(
            &json!({"channel": "TRIGGERS", "content": {"type": "pong"}}),
            &message()
        ));
        assert!(!matches(&json!({"missing": "x"}), &message()));
        assert!(!matches(&json!({"channel": {"nested": 1}}), &message()));
        assert!(!matches(
            &json!({"content": {"content": {"n": "1"}}}),
            &message()
        ));
    }

    #[test]
    fn any_of_several_and_never_an_empty_one() {
        let filters = [json!({"channel": "OTHER"}), json!({"sender": "0xabc"})];
        assert!(any_matches(&filters, &message()));
        assert!(!any_matches(&[json!({}), json!("x")], &message()));
        assert!(!any_matches(&[], &message()));
    }
}
