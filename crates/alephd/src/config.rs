//! Node configuration, layered: defaults → TOML file → `ALEPHD_*` environment → flags.
//!
//! Every section is a serde struct with `deny_unknown_fields`, so a typo in a file or an
//! environment variable is an error at start-up rather than a silently ignored setting.
//! Environment overrides name a setting by its path with `__` between levels:
//! `ALEPHD_API__ADDR=127.0.0.1:4100` sets `[api] addr`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cli::NodeArgs;

/// Prefix of environment variables that override config settings.
const ENV_PREFIX: &str = "ALEPHD_";
/// Separates the levels of a setting's path in an environment variable name.
const ENV_PATH_SEPARATOR: &str = "__";

/// The whole configuration of a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NodeConfig {
    /// Data directory. Set by `--data-dir` / `ALEPHD_DATA_DIR`; not read from the file, which
    /// itself lives in the data directory.
    #[serde(skip)]
    pub(crate) data_dir: PathBuf,
    pub(crate) api: ApiConfig,
    pub(crate) p2p: alephd_p2p::P2pConfig,
    pub(crate) log: LogConfig,
    pub(crate) db: alephd_db::DbConfig,
    pub(crate) storage: alephd_storage::StorageConfig,
    pub(crate) processor: alephd_processor::ProcessorConfig,
    pub(crate) chain: alephd_chain::ChainConfig,
    pub(crate) compute: alephd_compute::ComputeConfig,
}

/// The REST API server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApiConfig {
    /// Listen address of the REST API and compute routes (Aleph's port is 4024).
    pub(crate) addr: SocketAddr,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// Filter in `RUST_LOG` syntax; `RUST_LOG` itself wins when set.
    pub(crate) filter: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            api: ApiConfig::default(),
            p2p: alephd_p2p::P2pConfig::default(),
            log: LogConfig::default(),
            db: alephd_db::DbConfig::default(),
            storage: alephd_storage::StorageConfig::default(),
            processor: alephd_processor::ProcessorConfig::default(),
            chain: alephd_chain::ChainConfig::default(),
            compute: alephd_compute::ComputeConfig::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 4024)),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
        }
    }
}

impl NodeConfig {
    /// The default configuration as a commented TOML file.
    pub(crate) fn default_toml() -> anyhow::Result<String> {
        let body = toml::to_string_pretty(&Self::default())?;
        Ok(format!(
            "# alephd configuration: every setting with its default.\n\
             # Precedence: defaults < this file < ALEPHD_<SECTION>__<KEY> environment < flags.\n\
             # The data directory is chosen with --data-dir or ALEPHD_DATA_DIR (default ~/.alephd).\n\n\
             {body}"
        ))
    }

    /// Loads the layered configuration for a node started with `args`.
    pub(crate) fn load(args: &NodeArgs) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(args, &env)
    }

    fn load_from(args: &NodeArgs, env: &[(String, String)]) -> anyhow::Result<Self> {
        let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
        let mut table = toml::Table::try_from(Self::default())?;

        let file = match &args.config {
            Some(path) => Some(path.clone()),
            None => Some(data_dir.join("config.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            merge(&mut table, read_toml(&path)?);
        }
        apply_env(&mut table, env)?;

        let mut config: Self = table.try_into().context("invalid configuration")?;
        config.data_dir = data_dir;
        if let Some(addr) = args.api_addr {
            config.api.addr = addr;
        }
        if let Some(addr) = &args.p2p_addr {
            config.p2p.listen_addr = addr.clone();
        }
        // Flags add to the configured bootstrap list rather than replacing it.
        config.p2p.bootstrap.extend(args.bootstrap.iter().cloned());
        if let Some(filter) = &args.log {
            config.log.filter = filter.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.p2p.validate().context("invalid [p2p] section")?;
        if self.chain.enabled {
            self.chain.validate().context("invalid [chain] section")?;
        }
        self.db.validate().map_err(anyhow::Error::msg)?;
        self.storage
            .validate()
            .context("invalid [storage] section")?;
        self.processor.validate().map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from(".alephd"),
        |home| Path::new(&home).join(".alephd"),
    )
}

fn read_toml(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    text.parse::<toml::Table>()
        .with_context(|| format!("config file {} is not valid TOML", path.display()))
}

/// Deep-merges `overlay` into `base`: tables merge key by key, any other value replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(overlay_table)) => {
                merge(base_table, overlay_table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies `ALEPHD_SECTION__KEY=value` variables. Values are read as TOML when they parse
/// (numbers, booleans, arrays), else taken as plain strings.
fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> anyhow::Result<()> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !path.contains(ENV_PATH_SEPARATOR) {
            continue; // ALEPHD_DATA_DIR, ALEPHD_CONFIG, … are flags, handled by clap.
        }
        let keys: Vec<String> = path
            .split(ENV_PATH_SEPARATOR)
            .map(str::to_lowercase)
            .collect();
        let value = parse_env_value(raw);
        let (last, parents) = keys.split_last().context("empty environment path")?;
        let mut current = &mut *table;
        for key in parents {
            let entry = current
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = entry
                .as_table_mut()
                .with_context(|| format!("{name}: `{key}` is a setting, not a section"))?;
        }
        current.insert(last.clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data_dir: &Path) -> NodeArgs {
        NodeArgs {
            data_dir: Some(data_dir.to_owned()),
            ..NodeArgs::default()
        }
    }

    #[test]
    fn defaults_round_trip_through_the_printed_file() {
        let text = NodeConfig::default_toml().unwrap();
        let parsed: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(parsed.api, NodeConfig::default().api);
        assert_eq!(parsed.p2p, NodeConfig::default().p2p);
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[api]\naddr = \"127.0.0.1:5000\"\n[log]\nfilter = \"debug\"\n[p2p]\nlisten_addr = \"/ip4/127.0.0.1/tcp/5001\"\n",
        )
        .unwrap();
        let env = vec![
            ("ALEPHD_LOG__FILTER".to_owned(), "warn".to_owned()),
            (
                "ALEPHD_P2P__LISTEN_ADDR".to_owned(),
                "/ip4/127.0.0.1/tcp/6001".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let mut flags = args(dir.path());
        flags.p2p_addr = Some("/ip4/127.0.0.1/tcp/7001".to_owned());

        let config = NodeConfig::load_from(&flags, &env).unwrap();
        assert_eq!(config.api.addr, "127.0.0.1:5000".parse().unwrap()); // file
        assert_eq!(config.log.filter, "warn"); // env over file
        assert_eq!(config.p2p.listen_addr, "/ip4/127.0.0.1/tcp/7001"); // flag over env
    }

    #[test]
    fn bootstrap_flags_add_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[p2p]\nbootstrap = [\"/ip4/127.0.0.1/tcp/5001\"]\n",
        )
        .unwrap();
        let mut flags = args(dir.path());
        flags.bootstrap = vec![
            "/ip4/127.0.0.1/tcp/5002/p2p/12D3KooWGzh1ZNLAfsjw8eHBMdFGeq4d4s6SHiDGuTfPW8sEq9Dw"
                .to_owned(),
        ];
        let config = NodeConfig::load_from(&flags, &[]).unwrap();
        assert_eq!(config.p2p.bootstrap.len(), 2);
        flags.bootstrap = vec!["not-a-multiaddr".to_owned()];
        let err = NodeConfig::load_from(&flags, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("not-a-multiaddr"), "{err:#}");
    }

    #[test]
    fn unknown_settings_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![("ALEPHD_API__ADRESS".to_owned(), "1".to_owned())];
        let err = NodeConfig::load_from(&args(dir.path()), &env).unwrap_err();
        assert!(format!("{err:#}").contains("adress"), "{err:#}");

        std::fs::write(dir.path().join("config.toml"), "[api]\naddr = 12\n").unwrap();
        assert!(NodeConfig::load_from(&args(dir.path()), &[]).is_err());
        std::fs::write(dir.path().join("config.toml"), "not toml [").unwrap();
        assert!(NodeConfig::load_from(&args(dir.path()), &[]).is_err());
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut flags = args(dir.path());
        flags.config = Some(dir.path().join("missing.toml"));
        assert!(NodeConfig::load_from(&flags, &[]).is_err());
    }
}
