//! `[processor.billing]`: trusted addresses, cutoffs and the balance lifecycle's periods.

use serde::{Deserialize, Serialize};

/// Who feeds balances and prices, and how unpaid resources are handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Senders whose `balances-update` POSTs set token balances.
    pub balance_senders: Vec<String>,
    /// Senders whose credit POSTs (distribution, expense) set credit balances.
    pub credit_senders: Vec<String>,
    /// Channels credit POSTs must be on (empty: any).
    pub credit_channels: Vec<String>,
    /// Owner of the `pricing` and `settings` aggregates.
    pub pricing_owner: String,
    /// STOREs paid by holding tokens up to this size (MiB) are free.
    pub free_store_mib: f64,
    /// Messages from this time (UNIX seconds) must pay with credits (2027-01-01).
    pub credit_only_from: f64,
    /// INSTANCE and persistent PROGRAM messages from this time cannot hold or stream
    /// (2026-03-11).
    pub hold_stream_cutoff: f64,
    /// STOREs and PROGRAMs before this time cost nothing (2025-04-04).
    pub free_before: f64,
    /// Credits needed at submission: this many seconds of the resource's cost (one day).
    pub credit_runway_secs: f64,
    /// How often owners' balances are checked against their costs (seconds).
    pub check_interval_secs: f64,
    /// How long a resource stays `removing` before it is removed (seconds).
    pub removal_grace_secs: f64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            balance_senders: vec![
                "0xB34f25f2c935bCA437C061547eA12851d719dEFb".into(),
                "0xa1B3bb7d2332383D96b7796B908fB7f7F3c2Be10".into(),
            ],
            credit_senders: vec!["0x2E4454fAD1906c0Ce6e45cBFA05cE898Ac3AC1dC".into()],
            credit_channels: vec!["ALEPH_CREDIT".into()],
            pricing_owner: "0xFba561a84A537fCaa567bb7A2257e7142701ae2A".into(),
            free_store_mib: 25.0,
            credit_only_from: 1_798_761_600.0,
            hold_stream_cutoff: 1_773_187_200.0,
            free_before: 1_743_775_079.0,
            credit_runway_secs: 86_400.0,
            check_interval_secs: 1800.0,
            removal_grace_secs: 25.0 * 3600.0,
        }
    }
}

impl BillingConfig {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        let periods = [
            ("check_interval_secs", self.check_interval_secs),
            ("removal_grace_secs", self.removal_grace_secs),
            ("credit_runway_secs", self.credit_runway_secs),
            ("free_store_mib", self.free_store_mib),
        ];
        for (name, value) in periods {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!(
                    "processor.billing.{name} must be a non-negative number"
                ));
            }
        }
        if self.check_interval_secs < 0.1 {
            return Err("processor.billing.check_interval_secs must be at least 0.1".into());
        }
        Ok(())
    }

    pub(crate) fn is_balance_sender(&self, sender: &str) -> bool {
        self.balance_senders
            .iter()
            .any(|a| a.eq_ignore_ascii_case(sender))
    }

    pub(crate) fn is_credit_sender(&self, sender: &str) -> bool {
        self.credit_senders
            .iter()
            .any(|a| a.eq_ignore_ascii_case(sender))
    }
}
