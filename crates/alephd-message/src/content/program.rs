//! PROGRAM content (`type: "vm-function"`): code run on demand, by HTTP or message triggers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::executable::CommonFields;
use super::volume::yes;
use super::{FunctionEnvironment, HostRequirements, MachineResources, MachineVolume, Payment, lax};
use crate::{Address, ItemHash};

/// The `runtime.ref` that runs a PROGRAM's code as a WebAssembly component of the
/// `wasi:http/proxy` world (alephd's Wasm runtime) instead of on a STORE'd Linux runtime image:
/// sha256 of `alephd:runtime:wasi-http-proxy@0.2`. A valid item hash, so the message stays
/// valid under Aleph's schema; no STORE message backs it.
pub const WASM_RUNTIME_REF: &str =
    "feb56e08549230a86457b7944a71dba8d6b3b06323cb81f3ab5a8bb43a00b7c8";

/// Most keys one message-trigger subscription may filter on.
const MAX_SUBSCRIPTION_ENTRIES: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    #[serde(rename = "type")]
    pub program_type: ProgramType,
    /// Whether later messages may `replaces` this one.
    #[serde(deserialize_with = "lax::bool")]
    pub allow_amend: bool,
    /// An object; `[]` is tolerated for legacy mainnet programs.
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub authorized_keys: Option<Vec<String>>,
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "lax::object")]
    pub environment: FunctionEnvironment,
    #[serde(deserialize_with = "lax::object")]
    pub resources: MachineResources,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub payment: Option<Payment>,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub requirements: Option<HostRequirements>,
    #[serde(default)]
    pub volumes: Vec<MachineVolume>,
    /// The program this one updates (same owner, target must allow amends).
    #[serde(default)]
    pub replaces: Option<String>,
    #[serde(deserialize_with = "lax::object")]
    pub code: CodeContent,
    #[serde(deserialize_with = "lax::object")]
    pub runtime: FunctionRuntime,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub data: Option<DataContent>,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub export: Option<ExportContent>,
    #[serde(deserialize_with = "lax::object")]
    pub on: FunctionTriggers,
}

impl ProgramContent {
    pub(super) fn validate(&self) -> Result<(), String> {
        CommonFields {
            metadata: self.metadata.as_ref(),
            authorized_keys: self.authorized_keys.as_deref(),
            variables: self.variables.as_ref(),
            resources: &self.resources,
            requirements: self.requirements.as_ref(),
            volumes: &self.volumes,
            replaces: self.replaces.as_deref(),
        }
        .validate()?;
        for subscription in self.on.message.iter().flatten() {
            super::check_len("on.message[]", subscription.len(), MAX_SUBSCRIPTION_ENTRIES)?;
        }
        Ok(())
    }
}

/// The only machine type a PROGRAM may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgramType {
    #[serde(rename = "vm-function")]
    VmFunction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Plain,
    Zip,
    Squashfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// A Python ASGI app, `module:app`.
    Asgi,
    /// An executable serving HTTP on port 8080.
    Binary,
}

/// The program's code: a STORE holding an archive, and what to run in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeContent {
    pub encoding: Encoding,
    pub entrypoint: String,
    #[serde(rename = "ref")]
    pub reference: ItemHash,
    #[serde(default)]
    pub interface: Option<Interface>,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lax::bool")]
    pub use_latest: bool,
}

impl CodeContent {
    /// The declared interface, else ASGI when the entrypoint looks like `module:app`.
    pub fn inferred_interface(&self) -> Interface {
        match self.interface {
            Some(interface) => interface,
            None if self.entrypoint.contains(':') => Interface::Asgi,
            None => Interface::Binary,
        }
    }
}

/// The root filesystem the program runs on (a STORE of a squashfs image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRuntime {
    #[serde(rename = "ref")]
    pub reference: ItemHash,
    #[serde(default = "yes", deserialize_with = "lax::bool")]
    pub use_latest: bool,
    pub comment: String,
}

/// Input data mounted into the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataContent {
    pub encoding: Encoding,
    pub mount: String,
    #[serde(rename = "ref")]
    pub reference: ItemHash,
    #[serde(default, deserialize_with = "lax::option_bool")]
    pub use_latest: Option<bool>,
}

/// Data exported after a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportContent {
    pub encoding: Encoding,
    pub mount: String,
}

/// When the program runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionTriggers {
    /// Route HTTP requests (`/vm/{hash}`) to it.
    #[serde(deserialize_with = "lax::bool")]
    pub http: bool,
    /// Run it for each new message matching one of these field filters.
    #[serde(default)]
    pub message: Option<Vec<Map<String, Value>>>,
    /// Keep it running instead of starting it on demand.
    #[serde(default, deserialize_with = "lax::option_bool")]
    pub persistent: Option<bool>,
}
