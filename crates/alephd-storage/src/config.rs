//! `[storage]` configuration: upload limits and the grace period of message-less uploads.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

const MIB: u64 = 1024 * 1024;

/// Limits and retention of the storage engine. Defaults are Aleph's (spec §1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Largest upload accepted without a signed STORE message (bytes).
    pub max_unauthenticated_upload: u64,
    /// Largest `storage` file stored or served by `/storage/raw` (bytes).
    pub max_file_size: u64,
    /// Largest `ipfs` file added with a message or through the Kubo RPC (bytes).
    pub max_ipfs_file_size: u64,
    /// Largest CAR accepted by `add_car` (bytes).
    pub max_car_size: u64,
    /// Most blocks one CAR may hold (bounds the import's in-memory index).
    pub max_car_blocks: u64,
    /// How long an upload without a message is kept (seconds).
    pub grace_period_secs: u64,
    /// A Kubo-compatible RPC (e.g. `http://127.0.0.1:5001`) asked for `ipfs` items that
    /// neither this node nor its peers have; empty: none.
    pub ipfs_rpc_url: String,
    /// Time limit of one fetch from `ipfs_rpc_url` (seconds).
    pub ipfs_rpc_timeout_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_unauthenticated_upload: 25 * MIB,
            max_file_size: 100 * MIB,
            max_ipfs_file_size: 1024 * MIB,
            max_car_size: 4096 * MIB,
            max_car_blocks: 1_000_000,
            grace_period_secs: 24 * 3600,
            ipfs_rpc_url: String::new(),
            ipfs_rpc_timeout_secs: 120,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StorageConfigError {
    #[error("storage.{0} must be greater than zero")]
    Zero(&'static str),
    #[error("storage.max_unauthenticated_upload must not exceed storage.max_file_size")]
    UnauthenticatedAboveMax,
    #[error("storage.ipfs_rpc_url must be an http:// or https:// URL, not `{0}`")]
    RpcUrl(String),
}

impl StorageConfig {
    pub fn validate(&self) -> Result<(), StorageConfigError> {
        let sizes = [
            (
                "max_unauthenticated_upload",
                self.max_unauthenticated_upload,
            ),
            ("max_file_size", self.max_file_size),
            ("max_ipfs_file_size", self.max_ipfs_file_size),
            ("max_car_size", self.max_car_size),
            ("max_car_blocks", self.max_car_blocks),
            ("ipfs_rpc_timeout_secs", self.ipfs_rpc_timeout_secs),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(StorageConfigError::Zero(name));
        }
        if self.max_unauthenticated_upload > self.max_file_size {
            return Err(StorageConfigError::UnauthenticatedAboveMax);
        }
        let url = &self.ipfs_rpc_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StorageConfigError::RpcUrl(url.clone()));
        }
        Ok(())
    }

    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.grace_period_secs)
    }

    /// The configured Kubo-compatible RPC source, if any.
    pub fn ipfs_rpc(&self) -> Result<Option<crate::KuboRpcSource>, reqwest::Error> {
        if self.ipfs_rpc_url.is_empty() {
            return Ok(None);
        }
        crate::KuboRpcSource::new(
            &self.ipfs_rpc_url,
            Duration::from_secs(self.ipfs_rpc_timeout_secs),
        )
        .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = StorageConfig::default();
        config.validate().unwrap();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<StorageConfig>(&text).unwrap(), config);
        assert_eq!(config.grace_period(), Duration::from_secs(86_400));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_limits() {
        assert!(toml::from_str::<StorageConfig>("max_size = 3").is_err());
        let zero = StorageConfig {
            max_file_size: 0,
            ..StorageConfig::default()
        };
        assert_eq!(
            zero.validate(),
            Err(StorageConfigError::Zero("max_file_size"))
        );
        let inverted = StorageConfig {
            max_unauthenticated_upload: 200 * MIB,
            ..StorageConfig::default()
        };
        assert_eq!(
            inverted.validate(),
            Err(StorageConfigError::UnauthenticatedAboveMax)
        );
        let rpc = StorageConfig {
            ipfs_rpc_url: "127.0.0.1:5001".into(),
            ..StorageConfig::default()
        };
        assert!(matches!(rpc.validate(), Err(StorageConfigError::RpcUrl(_))));
    }
}
