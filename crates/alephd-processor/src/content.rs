//! The parts of a message's content the node acts on, read from the content JSON.
//!
//! Parsing is lenient where pyaleph is (unknown keys kept) and strict where the node needs a
//! field (POST `type`, AGGREGATE object `content`, FORGET targets): failures are
//! INVALID_FORMAT (code 0). The stored content is the received text unless a default
//! (`address`, `time`) had to be filled in.

use alephd_message::{
    Address, IncomingMessage, ItemHash, MAX_TIME, MessageContent, MessageType,
    content::{InstanceContent, ProgramContent, StoreContent},
};
use serde_json::{Map, Value};

use crate::ProcessingError;

/// FORGET limits (aleph-message).
const MAX_FORGET_TARGETS: usize = 1000;
const MAX_FORGET_REASON: usize = 1000;

/// Parsed content of any message type.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    /// The content as stored and served (JSON text).
    pub(crate) json: String,
    /// `content.address`: the owner the message acts for.
    pub(crate) address: Address,
    pub(crate) time: f64,
    pub(crate) body: Body,
    /// `content.type`, when a string.
    pub(crate) content_type: Option<String>,
    /// `content.payment.type`, when present.
    pub(crate) payment_type: Option<String>,
}

/// Type-specific fields.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Post {
        post_type: String,
        reference: Option<String>,
        tags: Vec<String>,
    },
    Aggregate {
        key: String,
        value: Map<String, Value>,
    },
    Forget {
        hashes: Vec<ItemHash>,
        aggregates: Vec<String>,
    },
    Store(Box<StoreContent>),
    Program(Box<ProgramContent>),
    Instance(Box<InstanceContent>),
}

impl Content {
    /// Parses `text` as the content of `message`.
    pub(crate) fn parse(text: &str, message: &IncomingMessage) -> Result<Self, ProcessingError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ProcessingError::format(format!("content is not valid JSON: {e}")))?;
        let Value::Object(mut object) = value else {
            return Err(ProcessingError::format("content must be a JSON object"));
        };
        let mut filled = false;
        let address = match object.get("address") {
            Some(Value::String(a)) if !a.is_empty() => Address::new(a.clone()),
            None | Some(Value::Null) => {
                filled = true;
                object.insert(
                    "address".into(),
                    Value::String(message.sender().as_str().into()),
                );
                message.sender().clone()
            }
            Some(_) => return Err(ProcessingError::format("content.address must be a string")),
        };
        let time = match object.get("time") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            None | Some(Value::Null) => {
                filled = true;
                object.insert("time".into(), message.time().into());
                message.time()
            }
            Some(_) => return Err(ProcessingError::format("content.time must be a number")),
        };
        if !(0.0..=MAX_TIME).contains(&time) {
            return Err(ProcessingError::format(format!(
                "content.time {time} is out of range"
            )));
        }
        let body = Body::parse(message.message_type(), &object)?;
        let content_type = match &body {
            Body::Post { post_type, .. } => Some(post_type.clone()),
            _ => object
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        let payment_type = object
            .get("payment")
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let json = if filled {
            Value::Object(object).to_string()
        } else {
            text.to_owned()
        };
        Ok(Self {
            json,
            address,
            time,
            body,
            content_type,
            payment_type,
        })
    }

    /// `content.key` of an AGGREGATE.
    pub(crate) fn key(&self) -> Option<&str> {
        match &self.body {
            Body::Aggregate { key, .. } => Some(key),
            _ => None,
        }
    }

    /// `content.ref` (a hash or free text) of POST and STORE.
    pub(crate) fn reference(&self) -> Option<&str> {
        match &self.body {
            Body::Post { reference, .. } => reference.as_deref(),
            Body::Store(store) => store.reference.as_deref(),
            _ => None,
        }
    }

    /// `content.item_hash` of a STORE.
    pub(crate) fn file_hash(&self) -> Option<&str> {
        match &self.body {
            Body::Store(store) => Some(store.item_hash.as_str()),
            _ => None,
        }
    }

    /// `content.content.tags` of a POST.
    pub(crate) fn tags(&self) -> &[String] {
        match &self.body {
            Body::Post { tags, .. } => tags,
            _ => &[],
        }
    }
}

impl Body {
    fn parse(
        message_type: MessageType,
        object: &Map<String, Value>,
    ) -> Result<Self, ProcessingError> {
        match message_type {
            MessageType::Post => parse_post(object),
            MessageType::Aggregate => parse_aggregate(object),
            MessageType::Forget => parse_forget(object),
            MessageType::Store | MessageType::Program | MessageType::Instance => {
                match MessageContent::from_object(message_type, object) {
                    Ok(MessageContent::Store(c)) => Ok(Body::Store(Box::new(c))),
                    Ok(MessageContent::Program(c)) => Ok(Body::Program(c)),
                    Ok(MessageContent::Instance(c)) => Ok(Body::Instance(c)),
                    Ok(_) => Err(ProcessingError::format("content does not match its type")),
                    Err(e) => Err(ProcessingError::new(e.error_code(), e.to_string())),
                }
            }
        }
    }
}

fn parse_post(object: &Map<String, Value>) -> Result<Body, ProcessingError> {
    let post_type = match object.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => {
            return Err(ProcessingError::format(
                "POST content.type must be a string",
            ));
        }
    };
    let tags = object
        .get("content")
        .and_then(|c| c.get("tags"))
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Body::Post {
        post_type,
        reference: reference(object.get("ref"))?,
        tags,
    })
}

/// `ref` is a string, or a chain reference object whose `item_hash` is used.
fn reference(value: Option<&Value>) -> Result<Option<String>, ProcessingError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("item_hash") {
            Some(Value::String(h)) => Ok(Some(h.clone())),
            _ => Err(ProcessingError::format(
                "content.ref object needs an item_hash string",
            )),
        },
        Some(_) => Err(ProcessingError::format(
            "content.ref must be a string or an object",
        )),
    }
}

fn parse_aggregate(object: &Map<String, Value>) -> Result<Body, ProcessingError> {
    let key = match object.get("key") {
        Some(Value::String(k)) => k.clone(),
        Some(Value::Object(o)) => match o.get("name") {
            Some(Value::String(k)) => k.clone(),
            _ => {
                return Err(ProcessingError::format(
                    "AGGREGATE content.key.name must be a string",
                ));
            }
        },
        _ => {
            return Err(ProcessingError::format(
                "AGGREGATE content.key must be a string",
            ));
        }
    };
    match object.get("content") {
        Some(Value::Object(value)) => Ok(Body::Aggregate {
            key,
            value: value.clone(),
        }),
        _ => Err(ProcessingError::format(
            "AGGREGATE content.content must be a JSON object",
        )),
    }
}

fn parse_forget(object: &Map<String, Value>) -> Result<Body, ProcessingError> {
    let strings = |field: &'static str| -> Result<Vec<String>, ProcessingError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= MAX_FORGET_TARGETS => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ProcessingError::format(format!("FORGET {field} must be strings"))),
            Some(_) => Err(ProcessingError::format(format!(
                "FORGET {field} must be a list of at most {MAX_FORGET_TARGETS} strings"
            ))),
        }
    };
    let hashes = strings("hashes")?
        .iter()
        .map(|h| {
            ItemHash::parse(h).map_err(|e| ProcessingError::format(format!("FORGET hashes: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let aggregates = strings("aggregates")?;
    if let Some(reason) = object.get("reason") {
        match reason {
            Value::Null => {}
            Value::String(r) if r.chars().count() <= MAX_FORGET_REASON => {}
            _ => {
                return Err(ProcessingError::format(
                    "FORGET reason must be a string of at most 1000 chars",
                ));
            }
        }
    }
    Ok(Body::Forget { hashes, aggregates })
}
