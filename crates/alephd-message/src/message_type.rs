//! The six message types.

use serde::{Deserialize, Serialize};

/// What a message does; the wire value is the upper-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageType {
    Post,
    Aggregate,
    Store,
    Program,
    Instance,
    Forget,
}

impl MessageType {
    /// The wire name (`"POST"`, …), as it appears in the signed verification buffer.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Aggregate => "AGGREGATE",
            Self::Store => "STORE",
            Self::Program => "PROGRAM",
            Self::Instance => "INSTANCE",
            Self::Forget => "FORGET",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
