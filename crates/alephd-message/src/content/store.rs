//! STORE content: pins a file (native storage or IPFS) on behalf of its owner.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Payment, PaymentType, lax};
use crate::{Address, ItemHash, ItemType};

/// Unknown keys (the SDK sends e.g. `mime_type`) are ignored, as aleph-message does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    /// The file's engine: storage or ipfs, matching the shape of `item_hash`.
    pub item_type: ItemType,
    /// The file's hash (sha256 hex or CID).
    pub item_hash: ItemHash,
    #[serde(default, deserialize_with = "lax::option_int")]
    pub size: Option<i64>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// A file tag: the latest STORE with the same (owner, ref) is the tag's value.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub payment: Option<Payment>,
}

impl StoreContent {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.item_hash.item_type() != self.item_type {
            return Err(format!(
                "item_hash {} is a {} hash but item_type is {}",
                self.item_hash,
                self.item_hash.item_type(),
                self.item_type
            ));
        }
        match self.payment.as_ref().map(|p| p.payment_type) {
            None | Some(PaymentType::Hold | PaymentType::Credit) => Ok(()),
            Some(PaymentType::Superfluid) => Err(
                "payment: only 'hold' and 'credit' payment types are supported for store messages"
                    .to_owned(),
            ),
        }
    }

    /// The payment type, defaulting to holding tokens.
    pub fn payment_type(&self) -> PaymentType {
        self.payment
            .as_ref()
            .map_or(PaymentType::Hold, |p| p.payment_type)
    }
}
