//! Account addresses and channels, as free-form strings with the network's comparison rules.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::item_hash::truncated;

/// An account address in its chain's native format (`0x…` EVM, base58 Solana, ss58, bech32…).
///
/// The network does not normalise addresses: the string is kept as received. Compare owners
/// and senders with [`Address::same_as`], never with `==`, because EVM addresses are
/// case-insensitive (checksummed and lowercase spellings name the same account).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    pub fn new(address: impl Into<String>) -> Self {
        Self(address.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// `0x` followed by 40 hex digits, in any case.
    pub fn is_evm(&self) -> bool {
        is_evm(&self.0)
    }

    /// Whether both name the same account: case-insensitive for EVM addresses, exact otherwise.
    pub fn same_as(&self, other: &Address) -> bool {
        if self.is_evm() && other.is_evm() {
            self.0.eq_ignore_ascii_case(&other.0)
        } else {
            self.0 == other.0
        }
    }

    /// A spelling suitable as an index key: lowercase for EVM addresses, unchanged otherwise.
    ///
    /// Two addresses are [`same_as`](Self::same_as) each other iff their keys are equal.
    pub fn canonical(&self) -> String {
        if self.is_evm() {
            self.0.to_ascii_lowercase()
        } else {
            self.0.clone()
        }
    }
}

fn is_evm(s: &str) -> bool {
    s.len() == 42 && s.starts_with("0x") && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Address {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Address {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Address {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Longest accepted channel name, in characters.
pub const MAX_CHANNEL_LEN: usize = 128;

/// An application namespace (`"ALEPH-CLOUDSOLUTIONS"`, `"TEST"`…), at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel(String);

/// A channel name over [`MAX_CHANNEL_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel is {chars} characters long, the maximum is {MAX_CHANNEL_LEN}: {prefix:?}…")]
pub struct ChannelTooLong {
    pub chars: usize,
    pub prefix: String,
}

impl Channel {
    pub fn new(channel: impl Into<String>) -> Result<Self, ChannelTooLong> {
        Self::try_from(channel.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for Channel {
    type Error = ChannelTooLong;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        // Python counts code points; bytes ≤ max implies chars ≤ max, which skips the count.
        if s.len() > MAX_CHANNEL_LEN {
            let chars = s.chars().count();
            if chars > MAX_CHANNEL_LEN {
                return Err(ChannelTooLong {
                    chars,
                    prefix: truncated(&s),
                });
            }
        }
        Ok(Self(s))
    }
}

impl From<Channel> for String {
    fn from(channel: Channel) -> Self {
        channel.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Channel {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evm_addresses_compare_case_insensitively() {
        let checksummed = Address::new("0xB68B9D4f3771c246233823ed1D3Add451055F9Ef");
        let lower = Address::new("0xb68b9d4f3771c246233823ed1d3add451055f9ef");
        assert!(checksummed.same_as(&lower));
        assert_eq!(checksummed.canonical(), lower.canonical());
        assert_ne!(
            checksummed, lower,
            "== stays exact; same_as is the protocol rule"
        );
        let other = Address::new("0xb68b9d4f3771c246233823ed1d3add451055f9e0");
        assert!(!checksummed.same_as(&other));
    }

    #[test]
    fn other_addresses_compare_exactly() {
        let sol = Address::new("CjVLBgRdE5nWmhmHhY5ZaVCxeosEj9B2ynBmHTVg4jG5");
        let sol_lower = Address::new("cjvlbgrde5nwmhmhhy5zavcxeosej9b2ynbmhtvg4jg5");
        assert!(sol.same_as(&sol.clone()));
        assert!(!sol.same_as(&sol_lower));
        assert_ne!(sol.canonical(), sol_lower.canonical());
        // An EVM-looking string is not the same as a non-EVM one that differs in case only.
        let almost = Address::new("0XB68B9D4F3771C246233823ED1D3ADD451055F9EF");
        assert!(!almost.is_evm());
        assert!(!almost.same_as(&Address::new("0xb68b9d4f3771c246233823ed1d3add451055f9ef")));
    }

    #[test]
    fn channel_length_is_counted_in_characters() {
        assert!(Channel::new("é".repeat(MAX_CHANNEL_LEN)).is_ok());
        assert!(Channel::new("a".repeat(MAX_CHANNEL_LEN + 1)).is_err());
        assert!(serde_json::from_str::<Channel>(&format!("\"{}\"", "x".repeat(129))).is_err());
        assert_eq!(
            serde_json::from_str::<Channel>("\"TEST\"")
                .unwrap()
                .as_str(),
            "TEST"
        );
    }
}
