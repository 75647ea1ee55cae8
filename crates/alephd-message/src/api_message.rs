//! The API form of a processed message (`GET /api/v0/messages/{hash}`, `messages.json`,
//! websockets): the wire fields plus the parsed `content` and chain confirmations.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{Address, Chain, Channel, IncomingMessage, ItemHash, ItemType, MessageType};

/// A message as the REST API serves it. `time` is always written as a float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiMessage {
    pub sender: Address,
    pub chain: Chain,
    #[serde(deserialize_with = "signature_text")]
    pub signature: Option<String>,
    #[serde(rename = "type")]
    pub message_type: MessageType,
    pub item_type: ItemType,
    #[serde(default)]
    pub item_content: Option<String>,
    pub item_hash: ItemHash,
    pub time: f64,
    #[serde(default)]
    pub channel: Option<Channel>,
    /// The parsed content, with `address` and `time` filled in.
    pub content: Map<String, Value>,
    #[serde(default)]
    pub confirmed: bool,
    #[serde(default)]
    pub confirmations: Vec<Confirmation>,
    /// Content size in bytes, served by some endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A chain transaction that carried the message (the sync event of its batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub chain: Chain,
    pub height: u64,
    /// The transaction hash.
    pub hash: String,
}

impl ApiMessage {
    /// The API form of a parsed wire message, once its content is known.
    pub fn new(
        message: &IncomingMessage,
        content: Map<String, Value>,
        confirmations: Vec<Confirmation>,
    ) -> Self {
        Self {
            sender: message.sender().clone(),
            chain: message.chain(),
            signature: message.signature().map(str::to_owned),
            message_type: message.message_type(),
            item_type: message.item_type(),
            item_content: message.item_content().map(str::to_owned),
            item_hash: message.item_hash().clone(),
            time: message.time(),
            channel: message.channel().cloned(),
            content,
            confirmed: !confirmations.is_empty(),
            confirmations,
            size: None,
        }
    }
}

/// A signature is a string on the wire, but some tools emit the JSON object itself.
fn signature_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        obj @ Value::Object(_) => Ok(Some(obj.to_string())),
        _ => Err(serde::de::Error::custom("signature must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_time_is_written_back_as_float() {
        let content = r#"{"address":"0xabc","time":1,"type":"t","content":{}}"#;
        let message = IncomingMessage::from_value(serde_json::json!({
            "sender": "0xabc", "chain": "ETH", "signature": "0x00", "type": "POST",
            "item_content": content, "item_hash": ItemHash::sha256_of(content),
            "time": 1663933293, "channel": null
        }))
        .unwrap();
        let parsed = message.parse_inline_content().unwrap().unwrap();
        let api = ApiMessage::new(&message, parsed.object, vec![]);
        let json = serde_json::to_value(&api).unwrap();
        assert!(json["time"].is_f64(), "{json}");
        assert_eq!(json["confirmed"], false);
        assert_eq!(serde_json::from_value::<ApiMessage>(json).unwrap(), api);
    }
}
