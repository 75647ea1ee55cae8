//! The envelope rules, applied to a decoded JSON object, in pyaleph's order.

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::{IncomingMessage, MAX_INLINE_CHARS, MAX_TIME, MessageError};
use crate::item_hash::truncated;
use crate::{Address, Chain, Channel, ItemHash, ItemType, MessageType};

pub(super) fn parse(raw: Map<String, Value>) -> Result<IncomingMessage, MessageError> {
    let message_type = message_type(&raw)?;
    let sender = Address::new(required_str(&raw, "sender")?);
    let chain: Chain = required_str(&raw, "chain")?.parse()?;
    let signature = signature(&raw)?;
    let item_hash_text = required_str(&raw, "item_hash")?;
    let item_content = optional_str(&raw, "item_content")?;
    let declared = optional_str(&raw, "item_type")?
        .map(str::parse::<ItemType>)
        .transpose()?;
    let (item_type, item_hash) = check_item(declared, item_hash_text, item_content)?;
    let time = time(&raw)?;
    let channel = optional_str(&raw, "channel")?
        .map(Channel::new)
        .transpose()?;
    Ok(IncomingMessage {
        sender,
        chain,
        signature,
        message_type,
        item_type,
        item_content: item_content.map(str::to_owned),
        item_hash,
        time,
        channel,
        raw,
    })
}

fn message_type(raw: &Map<String, Value>) -> Result<MessageType, MessageError> {
    let text = match raw.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(MessageError::UnknownMessageType(truncated(
                &other.to_string(),
            )));
        }
        None => return Err(MessageError::UnknownMessageType("None".to_owned())),
    };
    serde_json::from_value(Value::String(text.to_owned()))
        .map_err(|_| MessageError::UnknownMessageType(truncated(text)))
}

/// Item type, hash and content must agree: the declared (or inferred) type decides which
/// check applies, and the hash shape must match a non-inline type.
fn check_item(
    declared: Option<ItemType>,
    item_hash: &str,
    item_content: Option<&str>,
) -> Result<(ItemType, ItemHash), MessageError> {
    let item_type = match (declared, item_content) {
        (Some(item_type), _) => item_type,
        (None, Some(_)) => ItemType::Inline,
        (None, None) => ItemHash::parse(item_hash)?.item_type(),
    };
    if item_type != ItemType::Inline {
        if item_content.is_some() {
            return Err(MessageError::ContentNotAllowed { item_type });
        }
        let hash = ItemHash::parse(item_hash)?;
        if hash.item_type() != item_type {
            let from_hash = hash.item_type();
            return Err(MessageError::ItemTypeMismatch {
                declared: item_type,
                from_hash,
            });
        }
        return Ok((item_type, hash));
    }
    let content = item_content.ok_or(MessageError::InlineWithoutContent)?;
    check_inline_content(content)?;
    let computed = ItemHash::sha256_of(content);
    if computed != item_hash {
        return Err(MessageError::ItemHashMismatch { computed });
    }
    Ok((item_type, computed))
}

/// Size, forbidden `\u0000`, then JSON validity of an inline `item_content`.
pub(crate) fn check_inline_content(content: &str) -> Result<(), MessageError> {
    // Characters ≤ bytes: only count when the byte length alone does not settle it.
    if content.len() > MAX_INLINE_CHARS {
        let chars = content.chars().count();
        if chars > MAX_INLINE_CHARS {
            return Err(MessageError::ContentTooLong { chars });
        }
    }
    if contains_nul(content) {
        return Err(MessageError::NullCharacter);
    }
    serde_json::from_str::<IgnoredAny>(content)
        .map(|_| ())
        .map_err(|e| MessageError::ContentNotJson(e.to_string()))
}

/// pyaleph refuses the JSON escape `\u0000` (its database cannot store NUL in text).
pub(crate) fn contains_nul(text: &str) -> bool {
    text.contains("\\u0000") || text.contains('\0')
}

fn signature(raw: &Map<String, Value>) -> Result<Option<String>, MessageError> {
    match raw.get("signature") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Some tools send the Solana-style signature object itself: keep its compact JSON.
        Some(obj @ Value::Object(_)) => Ok(Some(obj.to_string())),
        Some(_) => Err(MessageError::WrongType {
            field: "signature",
            expected: "a string",
        }),
    }
}

fn time(raw: &Map<String, Value>) -> Result<f64, MessageError> {
    let time = match raw.get("time") {
        None | Some(Value::Null) => return Err(MessageError::MissingField("time")),
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    let time = time.ok_or(MessageError::WrongType {
        field: "time",
        expected: "a number",
    })?;
    if !(0.0..=MAX_TIME).contains(&time) {
        return Err(MessageError::TimeOutOfRange(time));
    }
    Ok(time)
}

fn required_str<'a>(
    raw: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, MessageError> {
    optional_str(raw, field)?.ok_or(MessageError::MissingField(field))
}

fn optional_str<'a>(
    raw: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, MessageError> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MessageError::WrongType {
            field,
            expected: "a string",
        }),
    }
}
