//! Pieces shared by PROGRAM and INSTANCE content: payment, resources, environment,
//! host requirements, and the field limits common to both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MachineVolume, chars, check_len, lax};
use crate::{Chain, ItemHash};

pub(super) const MAX_METADATA_ENTRIES: usize = 256;
pub(super) const MAX_AUTHORIZED_KEYS: usize = 256;
pub(super) const MAX_AUTHORIZED_KEY_CHARS: usize = 8192;
pub(super) const MAX_VARIABLES: usize = 256;
pub(super) const MAX_VARIABLE_KEY_CHARS: usize = 128;
pub(super) const MAX_VARIABLE_VALUE_CHARS: usize = 4096;
pub(super) const MAX_VOLUMES: usize = 256;
pub(super) const MAX_REPLACES_CHARS: usize = 128;
const MAX_VCPUS: u32 = 256;
const MAX_MEMORY_MIB: u64 = 1024 * 1024;
const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;
const MAX_ADDRESS_REGEX_CHARS: usize = 256;

/// How an executable (or a STORE) is paid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Which chain to check for funds.
    #[serde(default)]
    pub chain: Option<Chain>,
    /// Where streamed tokens go (pay-as-you-go).
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(rename = "type")]
    pub payment_type: PaymentType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentType {
    /// Keep enough tokens on the account.
    Hold,
    /// Stream tokens to the node (pay-as-you-go).
    Superfluid,
    /// Spend prepaid credits.
    Credit,
}

impl Payment {
    pub fn is_stream(&self) -> bool {
        self.payment_type == PaymentType::Superfluid
    }

    pub fn is_credit(&self) -> bool {
        self.payment_type == PaymentType::Credit
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineResources {
    #[serde(default = "one_u32", deserialize_with = "lax::int")]
    pub vcpus: u32,
    /// MiB.
    #[serde(default = "default_memory", deserialize_with = "lax::int")]
    pub memory: u64,
    /// Timeout of one execution.
    #[serde(default = "one_u64", deserialize_with = "lax::int")]
    pub seconds: u64,
    #[serde(default)]
    pub published_ports: Option<Vec<PublishedPort>>,
}

fn one_u32() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn one_i64() -> i64 {
    1
}
fn default_memory() -> u64 {
    128
}

impl MachineResources {
    fn validate(&self) -> Result<(), String> {
        in_range(
            "resources.vcpus",
            u64::from(self.vcpus),
            1,
            u64::from(MAX_VCPUS),
        )?;
        in_range("resources.memory", self.memory, 1, MAX_MEMORY_MIB)?;
        in_range("resources.seconds", self.seconds, 1, MAX_SECONDS)?;
        for port in self.published_ports.iter().flatten() {
            in_range(
                "resources.published_ports.port",
                u64::from(port.port),
                1,
                65535,
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    #[serde(default)]
    pub protocol: NetworkProtocol,
    #[serde(deserialize_with = "lax::int")]
    pub port: u16,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkProtocol {
    #[default]
    Tcp,
    Udp,
}

/// A program's execution environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionEnvironment {
    #[serde(default, deserialize_with = "lax::bool")]
    pub reproducible: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub internet: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub aleph_api: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub shared_cache: bool,
}

/// An instance's execution environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceEnvironment {
    #[serde(default, deserialize_with = "lax::bool")]
    pub internet: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub aleph_api: bool,
    /// `None` means the node's default (QEMU).
    #[serde(default)]
    pub hypervisor: Option<HypervisorType>,
    /// Confidential VM (AMD SEV); QEMU only.
    #[serde(default, deserialize_with = "lax::option_object")]
    pub trusted_execution: Option<TrustedExecution>,
    #[serde(default, deserialize_with = "lax::bool")]
    pub reproducible: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub shared_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HypervisorType {
    Qemu,
    Firecracker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedExecution {
    /// The confidential OVMF firmware (a STORE).
    #[serde(default)]
    pub firmware: Option<ItemHash>,
    /// AMD SEV guest policy flags; 1 = no debugging.
    #[serde(default = "one_i64", deserialize_with = "lax::int")]
    pub policy: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRequirements {
    #[serde(default, deserialize_with = "lax::option_object")]
    pub cpu: Option<CpuProperties>,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub node: Option<NodeRequirements>,
    #[serde(default)]
    pub gpu: Option<Vec<GpuProperties>>,
}

impl HostRequirements {
    /// The required node's hash, if the executable is pinned to one.
    pub fn node_hash(&self) -> Option<&ItemHash> {
        self.node.as_ref()?.node_hash.as_ref()
    }

    pub fn gpus(&self) -> &[GpuProperties] {
        self.gpu.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuProperties {
    #[serde(default)]
    pub architecture: Option<CpuArchitecture>,
    /// `"AuthenticAMD"`, `"GenuineIntel"` or another vendor id.
    #[serde(default)]
    pub vendor: Option<String>,
    /// e.g. `sev`, `sev_es`, `sev_snp`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CpuArchitecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRequirements {
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub address_regex: Option<String>,
    #[serde(default)]
    pub node_hash: Option<ItemHash>,
    #[serde(default)]
    pub terms_and_conditions: Option<ItemHash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProperties {
    pub vendor: String,
    pub device_name: String,
    pub device_class: GpuDeviceClass,
    /// `vendor:device` PCI ids, e.g. `10de:2504`.
    pub device_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GpuDeviceClass {
    #[serde(rename = "0300")]
    VgaCompatibleController,
    #[serde(rename = "0302")]
    ThreeDController,
}

/// The executable fields PROGRAM and INSTANCE share, borrowed for the common checks.
pub(super) struct CommonFields<'a> {
    pub(super) metadata: Option<&'a Value>,
    pub(super) authorized_keys: Option<&'a [String]>,
    pub(super) variables: Option<&'a BTreeMap<String, String>>,
    pub(super) resources: &'a MachineResources,
    pub(super) requirements: Option<&'a HostRequirements>,
    pub(super) volumes: &'a [MachineVolume],
    pub(super) replaces: Option<&'a str>,
}

impl CommonFields<'_> {
    pub(super) fn validate(&self) -> Result<(), String> {
        match self.metadata {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => check_len("metadata", map.len(), MAX_METADATA_ENTRIES)?,
            // Mainnet holds programs from 2022 with `"metadata": []`; keep them readable.
            Some(Value::Array(list)) if list.is_empty() => {}
            Some(_) => return Err("metadata: expected an object".to_owned()),
        }
        let keys = self.authorized_keys.unwrap_or_default();
        check_len("authorized_keys", keys.len(), MAX_AUTHORIZED_KEYS)?;
        for key in keys {
            check_len("authorized_keys[]", chars(key), MAX_AUTHORIZED_KEY_CHARS)?;
        }
        if let Some(variables) = self.variables {
            check_len("variables", variables.len(), MAX_VARIABLES)?;
            for (name, value) in variables {
                check_len("variables key", chars(name), MAX_VARIABLE_KEY_CHARS)?;
                check_len("variables value", chars(value), MAX_VARIABLE_VALUE_CHARS)?;
            }
        }
        self.resources.validate()?;
        if let Some(regex) = self
            .requirements
            .and_then(|r| r.node.as_ref()?.address_regex.as_deref())
        {
            check_len(
                "requirements.node.address_regex",
                chars(regex),
                MAX_ADDRESS_REGEX_CHARS,
            )?;
        }
        check_len("volumes", self.volumes.len(), MAX_VOLUMES)?;
        self.volumes.iter().try_for_each(MachineVolume::validate)?;
        check_len(
            "replaces",
            self.replaces.map_or(0, chars),
            MAX_REPLACES_CHARS,
        )
    }
}

pub(super) fn in_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if !(min..=max).contains(&value) {
        return Err(format!("{field}: {value} is outside {min}..={max}"));
    }
    Ok(())
}
