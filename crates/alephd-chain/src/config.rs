//! Chain sync configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::abi::parse_address;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("chain.rpc_url must be an http(s) URL, got {0:?}")]
    RpcUrl(String),
    #[error("chain.{field} is not a 20-byte hex address: {value:?}")]
    Address { field: &'static str, value: String },
    #[error("chain.{0} must be greater than zero")]
    Zero(&'static str),
    #[error("chain.archive_sources entries must be http(s) URLs, got {0:?}")]
    ArchiveSource(String),
    #[error("chain.token_contract is not set")]
    NoToken,
    #[error("chain.writer_key is not a valid secp256k1 private key")]
    WriterKey,
}

/// A private key from the configuration; never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretKey(pub String);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The `[chain]` section: one EVM chain's sync contract, read (and optionally written).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// Off by default: a node syncs from the chain only when told which chain and contract.
    pub enabled: bool,
    /// Chain name used in confirmations (`ETH`, ...).
    pub chain: String,
    pub rpc_url: String,
    /// AlephSync contract address.
    pub contract: String,
    pub chain_id: u64,
    /// Blocks a log must be buried under before it is applied (reorg protection).
    pub confirmations: u64,
    pub poll_interval_ms: u64,
    /// First block to scan when there is no checkpoint.
    pub start_block: u64,
    /// Emitters (`addr` of the event) accepted for `SyncEvent`. Empty accepts any: the
    /// messages are still verified, but anyone could then vouch confirmations.
    pub authorized_emitters: Vec<String>,
    /// Hex private key of the writer (a sync node); none means read-only. Prefer the
    /// `ALEPHD_CHAIN__WRITER_KEY` environment variable to writing it in a file.
    pub writer_key: Option<SecretKey>,
    pub batch_period_ms: u64,
    pub batch_size: usize,
    /// Largest `eth_getLogs` block range; halved on "too many results".
    pub max_block_range: u64,
    /// Attempts to fetch a missing archive in one pass before the reader holds its
    /// checkpoint and tries again next poll.
    pub archive_attempts: u32,
    /// Base URLs of nodes whose API serves archives (`GET /api/v0/storage/raw/{cid}`) when
    /// they are not stored locally; every fetched archive is checked against its CID.
    pub archive_sources: Vec<String>,
    pub rpc_timeout_ms: u64,
    /// How long the writer waits for its transaction to be buried before retrying later.
    pub tx_timeout_ms: u64,
    /// The writer refuses to pay more than this gas price (spec: 150 gwei).
    pub max_gas_price_gwei: u64,
    /// An ERC-20 token whose `Transfer` events keep holder balances (for the cost checks);
    /// none to take balances only from `balances-update` messages.
    pub token_contract: Option<String>,
    /// First block to scan for the token's transfers (its deployment block).
    pub token_start_block: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            chain: "ETH".into(),
            rpc_url: "http://127.0.0.1:8545".into(),
            contract: "0x166fd4299364B21c7567e163d85D78d2fb2f8Ad5".into(),
            chain_id: 1,
            confirmations: 12,
            poll_interval_ms: 10_000,
            start_block: 11_474_360,
            authorized_emitters: vec!["0x23eC28598DCeB2f7082Cc3a9D670592DfEd6e0dC".into()],
            writer_key: None,
            batch_period_ms: 35_000,
            batch_size: 10_000,
            max_block_range: 100_000,
            archive_attempts: 3,
            archive_sources: Vec::new(),
            rpc_timeout_ms: 30_000,
            tx_timeout_ms: 300_000,
            max_gas_price_gwei: 150,
            token_contract: None,
            token_start_block: 0,
        }
    }
}

impl ChainConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.rpc_url.starts_with("http://") || self.rpc_url.starts_with("https://")) {
            return Err(ConfigError::RpcUrl(self.rpc_url.clone()));
        }
        self.contract_address()?;
        self.authorized()?;
        self.token_address()?;
        for source in &self.archive_sources {
            if !(source.starts_with("http://") || source.starts_with("https://")) {
                return Err(ConfigError::ArchiveSource(source.clone()));
            }
        }
        for (name, v) in [
            ("poll_interval_ms", self.poll_interval_ms),
            ("batch_period_ms", self.batch_period_ms),
            ("max_block_range", self.max_block_range),
            ("batch_size", self.batch_size as u64),
            ("archive_attempts", u64::from(self.archive_attempts)),
            ("rpc_timeout_ms", self.rpc_timeout_ms),
            ("tx_timeout_ms", self.tx_timeout_ms),
            ("chain_id", self.chain_id),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if let Some(k) = &self.writer_key {
            crate::tx::Wallet::from_hex(&k.0).map_err(|_| ConfigError::WriterKey)?;
        }
        Ok(())
    }

    pub fn contract_address(&self) -> Result<[u8; 20], ConfigError> {
        parse_address(&self.contract).ok_or_else(|| ConfigError::Address {
            field: "contract",
            value: self.contract.clone(),
        })
    }

    pub fn token_address(&self) -> Result<Option<[u8; 20]>, ConfigError> {
        self.token_contract
            .as_deref()
            .map(|t| {
                parse_address(t).ok_or_else(|| ConfigError::Address {
                    field: "token_contract",
                    value: t.to_owned(),
                })
            })
            .transpose()
    }

    pub fn authorized(&self) -> Result<Vec<[u8; 20]>, ConfigError> {
        self.authorized_emitters
            .iter()
            .map(|a| {
                parse_address(a).ok_or_else(|| ConfigError::Address {
                    field: "authorized_emitters",
                    value: a.clone(),
                })
            })
            .collect()
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn batch_period(&self) -> Duration {
        Duration::from_millis(self.batch_period_ms)
    }

    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    pub fn tx_timeout(&self) -> Duration {
        Duration::from_millis(self.tx_timeout_ms)
    }

    pub fn max_gas_price_wei(&self) -> u128 {
        u128::from(self.max_gas_price_gwei) * 1_000_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_unknown_fields_rejected() {
        ChainConfig::default().validate().unwrap();
        let bad: Result<ChainConfig, _> = serde_json::from_str(r#"{"rpc_urll":"x"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn validate_catches_mistakes() {
        let c = ChainConfig {
            contract: "0x12".into(),
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Address {
                field: "contract",
                ..
            })
        ));
        let c = ChainConfig {
            rpc_url: "ftp://x".into(),
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::RpcUrl(_))));
        let c = ChainConfig {
            max_block_range: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Zero("max_block_range")));
        let c = ChainConfig {
            writer_key: Some(SecretKey("nothex".into())),
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::WriterKey));
        assert!(
            !format!("{c:?}").contains("nothex"),
            "the key must not be printed"
        );
    }
}
