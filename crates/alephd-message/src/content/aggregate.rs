//! AGGREGATE content: one element of a key-value document owned by an address.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lax;
use crate::Address;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    pub key: AggregateKey,
    /// Shallow-merged into the aggregate's value, ordered by `time`. Must be an object.
    pub content: Map<String, Value>,
}

impl AggregateContent {
    /// The aggregate key, whichever form it was sent in.
    pub fn key_name(&self) -> &str {
        self.key.name()
    }
}

/// An aggregate key: a string, or the legacy `{"name": …}` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AggregateKey {
    Name(String),
    Legacy(LegacyAggregateKey),
}

impl AggregateKey {
    pub fn name(&self) -> &str {
        match self {
            Self::Name(name) => name,
            Self::Legacy(legacy) => &legacy.name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyAggregateKey {
    pub name: String,
}
