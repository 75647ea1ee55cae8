//! Balances, prices and costs: who may keep what running, and at which price.
//!
//! Balances come only from trusted POSTs (`balances-update`, credit posts); prices from the
//! `pricing` aggregate of the pricing owner, over built-in defaults. Costs follow pyaleph's
//! formulas (spec §10) and are recorded per resource when a message is applied, so the
//! periodic balance check and the API read them without recomputing.

mod config;
mod cost;
mod pricing;
mod trusted;

pub use config::BillingConfig;
pub(crate) use cost::{CostInput, compute_costs, payment_of};
pub use cost::{Estimate, EstimateError, estimate, total_of};
pub use pricing::{Pricing, ProductPrice};
pub(crate) use trusted::{TrustedPost, apply_trusted_post};

use alephd_db::{Conn, DbError, ops};
use alephd_message::{ErrorCode, content::PaymentType};
use serde_json::json;

use crate::ProcessingError;

/// Seconds per hour: payg and credit prices are per hour, costs per second.
pub(crate) const HOUR: f64 = 3600.0;
/// Bytes per MiB.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// An address's token balance: the sum over chains and dapps.
pub async fn token_balance(conn: &mut Conn, address: &str) -> Result<f64, DbError> {
    Ok(ops::balances_of(conn, address, None)
        .await?
        .iter()
        .map(|b| b.balance)
        .sum::<f64>()
        + 0.0) // the empty sum is -0.0
}

/// An address's credit balance at `now` (unexpired movements).
pub async fn credit_balance(conn: &mut Conn, address: &str, now: f64) -> Result<i64, DbError> {
    Ok(ops::credit_entries_of(conn, address, now)
        .await?
        .iter()
        .map(|e| e.amount)
        .sum::<i64>()
        .max(0))
}

/// Payment method rules by message time (spec §10 cutoffs): code 202 when refused.
pub(crate) fn check_payment_method(
    config: &BillingConfig,
    payment: PaymentType,
    is_store: bool,
    needs_credit_or_stream_since_cutoff: bool,
    time: f64,
) -> Result<(), ProcessingError> {
    let refused = match payment {
        PaymentType::Credit => false,
        PaymentType::Hold | PaymentType::Superfluid if time >= config.credit_only_from => true,
        PaymentType::Hold | PaymentType::Superfluid => {
            needs_credit_or_stream_since_cutoff && time >= config.hold_stream_cutoff
        }
    };
    let refused = refused || (is_store && payment == PaymentType::Superfluid);
    if refused {
        return Err(ProcessingError::new(
            ErrorCode::InvalidPaymentMethod,
            format!("payment type {payment:?} is no longer accepted for this resource"),
        ));
    }
    Ok(())
}

/// Checks the owner can pay for a new resource costing `cost` (hold: tokens; credit: per
/// second) on top of what they already pay for. Codes 5 and 6.
pub(crate) async fn check_balance(
    conn: &mut Conn,
    config: &BillingConfig,
    owner: &str,
    payment: PaymentType,
    cost: f64,
    now: f64,
) -> Result<(), crate::pipeline::ApplyError> {
    match payment {
        PaymentType::Hold => {
            if cost <= 0.0 {
                return Ok(());
            }
            let existing = ops::owner_cost_total(conn, owner, "hold").await?;
            let balance = token_balance(conn, owner).await?;
            let required = existing + cost;
            if balance < required {
                return Err(ProcessingError::new(
                    ErrorCode::BalanceInsufficient,
                    format!("{owner} holds {balance}, needs {required}"),
                )
                .with_details(json!({"errors": [{
                    "required_balance": format_cost(required),
                    "account_balance": format_cost(balance),
                }]}))
                .into());
            }
            Ok(())
        }
        PaymentType::Credit => {
            let existing = ops::owner_cost_total(conn, owner, "credit").await?;
            let balance = credit_balance(conn, owner, now).await? as f64;
            let required = (existing + cost) * config.credit_runway_secs;
            if balance < required {
                return Err(ProcessingError::new(
                    ErrorCode::CreditInsufficient,
                    format!("{owner} has {balance} credits, needs {required}"),
                )
                .with_details(json!({"errors": [{
                    "required_credits": format_cost(required),
                    "account_credits": format_cost(balance),
                }]}))
                .into());
            }
            Ok(())
        }
        // Streams are checked by the compute node that receives them.
        PaymentType::Superfluid => Ok(()),
    }
}

/// A cost as pyaleph serves it: a decimal string with 18 decimals.
pub fn format_cost(value: f64) -> String {
    if !value.is_finite() {
        return "0.000000000000000000".to_owned();
    }
    // f64 carries ~15 significant digits: round there, then pad to 18 decimals. Adding 0.0
    // turns -0.0 (the sum of nothing) into 0.0.
    let rounded = format!("{:.12}", value + 0.0);
    format!("{rounded}000000")
}

/// The API name of a payment type.
pub fn payment_name(payment: PaymentType) -> &'static str {
    match payment {
        PaymentType::Hold => "hold",
        PaymentType::Superfluid => "superfluid",
        PaymentType::Credit => "credit",
    }
}
