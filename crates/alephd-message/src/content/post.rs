//! POST content: user data with a user-defined type; `amend` posts replace an earlier one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lax;
use crate::{Address, Chain, ItemHash, ItemType};

/// The post type that replaces the content of the post named by `ref`.
pub const AMEND_POST_TYPE: &str = "amend";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    /// The user-defined post type (`"amend"` for amends).
    #[serde(rename = "type")]
    pub post_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<PostRef>,
}

impl PostContent {
    /// aleph-message refuses an amend without a ref at schema level (INVALID_FORMAT), before
    /// the node's own POST_AMEND_NO_TARGET check could run.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.is_amend() && self.ref_target().is_none() {
            return Err("A 'ref' is required for POST type 'amend'".to_owned());
        }
        Ok(())
    }

    pub fn is_amend(&self) -> bool {
        self.post_type == AMEND_POST_TYPE
    }

    /// What `ref` points at: the string itself, or a chain ref's item hash. Empty refs count
    /// as none.
    pub fn ref_target(&self) -> Option<&str> {
        let target = match self.reference.as_ref()? {
            PostRef::Text(text) => text.as_str(),
            PostRef::Chain(chain_ref) => chain_ref.item_hash.as_str(),
        };
        (!target.is_empty()).then_some(target)
    }
}

/// A post's `ref`: usually an item hash or free text, or an embedded message reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PostRef {
    Text(String),
    Chain(Box<ChainRef>),
}

/// A reference to another POST message, embedded with its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRef {
    pub chain: Chain,
    #[serde(default)]
    pub channel: Option<crate::Channel>,
    pub item_content: String,
    pub item_hash: ItemHash,
    pub item_type: ItemType,
    pub sender: String,
    pub signature: String,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    #[serde(rename = "type", default = "post_literal")]
    pub message_type: PostLiteral,
}

/// The only message type a [`ChainRef`] may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostLiteral {
    #[serde(rename = "POST")]
    Post,
}

fn post_literal() -> PostLiteral {
    PostLiteral::Post
}
