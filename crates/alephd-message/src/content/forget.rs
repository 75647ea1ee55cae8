//! FORGET content: messages and aggregates whose content the owner asks nodes to drop.

use serde::{Deserialize, Serialize};

use super::{ContentError, chars, check_len, lax};
use crate::{Address, ItemHash};

/// Most hashes, and most aggregate keys, one FORGET may name.
pub const MAX_FORGET_TARGETS: usize = 1000;
/// Longest `reason`, in characters.
pub const MAX_FORGET_REASON_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    pub hashes: Vec<ItemHash>,
    /// Aggregate keys to forget. aleph-message types them as item hashes (so only
    /// hash-shaped keys pass), and nodes must agree on what is valid: we keep that quirk.
    #[serde(default)]
    pub aggregates: Vec<ItemHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ForgetContent {
    pub(super) fn validate(&self) -> Result<(), String> {
        check_len("hashes", self.hashes.len(), MAX_FORGET_TARGETS)?;
        check_len("aggregates", self.aggregates.len(), MAX_FORGET_TARGETS)?;
        let reason_chars = self.reason.as_deref().map_or(0, chars);
        check_len("reason", reason_chars, MAX_FORGET_REASON_CHARS)
    }

    /// FORGET_NO_TARGET (500) when it names nothing; the processor calls this.
    pub fn ensure_has_targets(&self) -> Result<(), ContentError> {
        if self.hashes.is_empty() && self.aggregates.is_empty() {
            return Err(ContentError::ForgetNoTarget);
        }
        Ok(())
    }
}
