//! INSTANCE content: a long-running virtual machine booted from a root filesystem image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::executable::{CommonFields, in_range};
use super::lax;
use super::volume::MAX_PERSISTENT_MIB;
use super::{
    HostRequirements, HypervisorType, InstanceEnvironment, MachineResources, MachineVolume,
    ParentVolume, Payment, VolumePersistence,
};
use crate::Address;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceContent {
    pub address: Address,
    #[serde(deserialize_with = "lax::float")]
    pub time: f64,
    #[serde(deserialize_with = "lax::bool")]
    pub allow_amend: bool,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub authorized_keys: Option<Vec<String>>,
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "lax::object")]
    pub environment: InstanceEnvironment,
    #[serde(deserialize_with = "lax::object")]
    pub resources: MachineResources,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub payment: Option<Payment>,
    #[serde(default, deserialize_with = "lax::option_object")]
    pub requirements: Option<HostRequirements>,
    #[serde(default)]
    pub volumes: Vec<MachineVolume>,
    #[serde(default)]
    pub replaces: Option<String>,
    #[serde(deserialize_with = "lax::object")]
    pub rootfs: RootfsVolume,
}

/// The instance's root disk: a copy of a parent image grown to `size_mib`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsVolume {
    #[serde(deserialize_with = "lax::object")]
    pub parent: ParentVolume,
    pub persistence: VolumePersistence,
    pub size_mib: u64,
    #[serde(default)]
    pub forgotten_by: Option<Vec<String>>,
}

impl InstanceContent {
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
        in_range(
            "rootfs.size_mib",
            self.rootfs.size_mib,
            1,
            MAX_PERSISTENT_MIB,
        )?;
        self.check_environment()?;
        self.check_requirements()
    }

    fn is_qemu(&self) -> bool {
        self.environment.hypervisor == Some(HypervisorType::Qemu)
    }

    /// A confidential VM runs with AMD SEV under QEMU.
    pub fn is_confidential(&self) -> bool {
        self.environment.trusted_execution.is_some()
    }

    fn check_environment(&self) -> Result<(), String> {
        if self.is_confidential() && !self.is_qemu() {
            return Err("Trusted Execution Environment is only supported for QEmu".to_owned());
        }
        Ok(())
    }

    /// aleph-message's cross-field rules on node pinning, GPUs and terms and conditions.
    fn check_requirements(&self) -> Result<(), String> {
        let Some(requirements) = &self.requirements else {
            return Ok(());
        };
        let pinned = requirements.node_hash().is_some();
        let paid_per_use = self
            .payment
            .as_ref()
            .is_some_and(|p| p.is_stream() || p.is_credit());
        if paid_per_use && !pinned {
            return Err("Node hash assignment is needed for PAYG or Credit payments".to_owned());
        }
        if !requirements.gpus().is_empty() {
            if !pinned {
                return Err("Node hash assignment is needed for GPU support".to_owned());
            }
            if !self.is_qemu() {
                return Err("GPU option is only supported for QEmu hypervisor".to_owned());
            }
        }
        let has_terms = requirements
            .node
            .as_ref()
            .is_some_and(|n| n.terms_and_conditions.is_some());
        if has_terms {
            if !pinned {
                return Err(
                    "Terms_and_conditions field needs a requirements.node.node_hash value"
                        .to_owned(),
                );
            }
            if !paid_per_use && !self.is_confidential() {
                return Err(
                    "Only PAYG/CoCo/Credit instances can have a terms_and_conditions".to_owned(),
                );
            }
        }
        Ok(())
    }
}
