//! Volumes an executable mounts: immutable (a STORE), ephemeral (scratch), persistent.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::chars;
use super::check_len;
use super::executable::in_range;
use super::lax;
use crate::ItemHash;

const MAX_LABEL_CHARS: usize = 256;
const MAX_EPHEMERAL_MIB: u64 = 1000;
/// 2048 GiB.
pub(super) const MAX_PERSISTENT_MIB: u64 = 2048 * 1024;

/// One volume. Told apart as aleph-message does: every variant refuses unknown keys, and
/// the first variant that accepts the object wins (immutable, ephemeral, persistent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MachineVolume {
    Immutable(ImmutableVolume),
    Ephemeral(EphemeralVolume),
    Persistent(PersistentVolume),
}

impl MachineVolume {
    pub fn mount(&self) -> Option<&str> {
        match self {
            Self::Immutable(v) => v.mount.as_deref(),
            Self::Ephemeral(v) => v.mount.as_deref(),
            Self::Persistent(v) => v.mount.as_deref(),
        }
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::Immutable(_))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let (comment, mount) = match self {
            Self::Immutable(v) => (&v.comment, &v.mount),
            Self::Ephemeral(v) => {
                in_range("volumes.size_mib", v.size_mib, 1, MAX_EPHEMERAL_MIB)?;
                (&v.comment, &v.mount)
            }
            Self::Persistent(v) => {
                in_range("volumes.size_mib", v.size_mib, 1, MAX_PERSISTENT_MIB)?;
                check_len(
                    "volumes.name",
                    v.name.as_deref().map_or(0, chars),
                    MAX_LABEL_CHARS,
                )?;
                (&v.comment, &v.mount)
            }
        };
        check_len(
            "volumes.comment",
            comment.as_deref().map_or(0, chars),
            MAX_LABEL_CHARS,
        )?;
        check_len(
            "volumes.mount",
            mount.as_deref().map_or(0, chars),
            MAX_LABEL_CHARS,
        )
    }
}

/// A read-only squashfs from a STORE message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImmutableVolume {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub mount: Option<String>,
    #[serde(rename = "ref")]
    pub reference: ItemHash,
    /// Follow the file tag to its newest STORE.
    #[serde(default = "yes", deserialize_with = "lax::bool")]
    pub use_latest: bool,
}

/// Scratch space, lost when the VM stops (≤ 1000 MiB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EphemeralVolume {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub mount: Option<String>,
    #[serde(default)]
    pub ephemeral: EphemeralMarker,
    pub size_mib: u64,
}

/// `"ephemeral": true`, the only accepted value (and the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EphemeralMarker;

impl Serialize for EphemeralMarker {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl<'de> Deserialize<'de> for EphemeralMarker {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // pydantic's `Literal[True]` compares with Python equality, so `1` (and `1.0`) match.
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Bool(true) => Ok(Self),
            serde_json::Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Self),
            _ => Err(serde::de::Error::custom("ephemeral must be true")),
        }
    }
}

/// Kept on the compute node (or the network) across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistentVolume {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub mount: Option<String>,
    /// A file to copy as the initial content.
    #[serde(default, deserialize_with = "lax::option_object")]
    pub parent: Option<ParentVolume>,
    #[serde(default)]
    pub persistence: Option<VolumePersistence>,
    #[serde(default)]
    pub name: Option<String>,
    pub size_mib: u64,
}

/// A STORE whose file seeds a persistent volume or an instance's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentVolume {
    #[serde(rename = "ref")]
    pub reference: ItemHash,
    #[serde(default = "yes", deserialize_with = "lax::bool")]
    pub use_latest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumePersistence {
    /// On the compute node's disk.
    Host,
    /// Saved to the network.
    Store,
}

pub(super) fn yes() -> bool {
    true
}
