//! What happens to resources whose owner stops paying (spec §4.6): a periodic balance check
//! walks each owner's resources oldest first and spends the balance on them; those it cannot
//! cover go `processed → removing` (still served), those covered again go back to
//! `processed`; a resource `removing` for longer than the grace period is `removed`: its
//! message becomes a tombstone, its file loses its pin and the next GC frees it.
//!
//! Nothing here deletes a paid-for file: only `removed` messages lose their pin, and a file
//! pinned by another message (or a grace pin) stays.

use alephd_db::{Db, DbError, ForgottenRecord, MessageStatus, Removal, ops};
use alephd_storage::{GcReport, Store};

use crate::{
    billing::{self, BillingConfig},
    handlers::store::release_file,
    pipeline::ApplyError,
};

/// Why removals record a resource.
const BALANCE_INSUFFICIENT: &str = "balance_insufficient";
const CREDIT_INSUFFICIENT: &str = "credit_insufficient";

/// A removal pass failed (it is retried at the next period).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("releasing a removed file failed: {0}")]
    Storage(String),
}

/// What one balance check changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub owners: usize,
    pub resources: usize,
    pub to_removing: usize,
    pub to_processed: usize,
}

/// What one removal pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalReport {
    pub removed: usize,
    pub gc: Option<GcReport>,
}

/// Checks every owner's balance against their resources at `now`, in one transaction.
pub async fn balance_sweep(
    db: &Db,
    config: &BillingConfig,
    now: f64,
) -> Result<SweepReport, DbError> {
    let mut report = SweepReport::default();
    let mut tx = db.begin().await?;
    for payment in ["hold", "credit"] {
        for owner in ops::cost_owners(&mut tx, payment).await? {
            report.owners += 1;
            let resources = ops::owner_resources(&mut tx, &owner, payment).await?;
            let mut remaining = if payment == "hold" {
                billing::token_balance(&mut tx, &owner).await?
            } else {
                billing::credit_balance(&mut tx, &owner, now).await? as f64
            };
            // Credits must last until the next check.
            let factor = if payment == "hold" {
                1.0
            } else {
                config.check_interval_secs
            };
            let hashes: Vec<&str> = resources.iter().map(|r| r.0.as_str()).collect();
            let statuses = ops::statuses(&mut tx, &hashes).await?;
            let mut changes = Vec::new();
            for (hash, cost, _) in &resources {
                report.resources += 1;
                let cost = cost * factor;
                let paid = cost <= 0.0 || remaining >= cost;
                if paid {
                    remaining -= cost.max(0.0);
                }
                match (paid, statuses.get(hash)) {
                    (true, Some(MessageStatus::Removing)) => {
                        ops::delete_removal(&mut tx, hash).await?;
                        changes.push((hash.clone(), MessageStatus::Processed, now));
                        report.to_processed += 1;
                    }
                    (false, Some(MessageStatus::Processed)) => {
                        let reason = if payment == "hold" {
                            BALANCE_INSUFFICIENT
                        } else {
                            CREDIT_INSUFFICIENT
                        };
                        let removal = Removal {
                            item_hash: hash.clone(),
                            owner: owner.clone(),
                            reason: reason.into(),
                            since: now,
                        };
                        ops::insert_removal(&mut tx, &removal).await?;
                        changes.push((hash.clone(), MessageStatus::Removing, now));
                        report.to_removing += 1;
                    }
                    _ => {}
                }
            }
            ops::set_statuses(&mut tx, &changes).await?;
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Removes resources `removing` for longer than the grace period, then collects garbage.
pub async fn removal_pass(
    db: &Db,
    store: Option<&Store>,
    config: &BillingConfig,
    now: f64,
) -> Result<RemovalReport, LifecycleError> {
    let removed = remove_due(db, store, config, now).await?;
    let mut report = RemovalReport { removed, gc: None };
    if let Some(store) = store {
        match store.gc().await {
            Ok(gc) => report.gc = Some(gc),
            Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
        }
    }
    Ok(report)
}

/// Removes resources `removing` for longer than the grace period (their files lose their
/// pins; GC deletes them later); returns how many.
pub async fn remove_due(
    db: &Db,
    store: Option<&Store>,
    config: &BillingConfig,
    now: f64,
) -> Result<usize, LifecycleError> {
    let mut removed = 0;
    let mut tx = db.begin().await?;
    let due = ops::removals_due(&mut tx, now - config.removal_grace_secs).await?;
    for removal in due {
        let status = ops::status(&mut tx, &removal.item_hash).await?;
        let Some(message) = ops::message(&mut tx, &removal.item_hash).await? else {
            ops::delete_removal(&mut tx, &removal.item_hash).await?;
            continue;
        };
        if status.map(|s| s.status) != Some(MessageStatus::Removing) {
            ops::delete_removal(&mut tx, &removal.item_hash).await?;
            continue;
        }
        let mut tombstone = ForgottenRecord::of(&message, "", now);
        tombstone.forgotten_by = "[]".into();
        ops::insert_forgotten(&mut tx, &tombstone).await?;
        ops::delete_message(&mut tx, &message.item_hash).await?;
        ops::set_status(
            &mut tx,
            &message.item_hash,
            MessageStatus::Removed,
            message.reception_time,
        )
        .await?;
        match message.message_type.as_str() {
            "STORE" => release_file(&mut tx, store, &message.item_hash, false)
                .await
                .map_err(|e| match e {
                    ApplyError::Db(e) => LifecycleError::Db(e),
                    ApplyError::Invalid(e) => LifecycleError::Storage(e.to_string()),
                })?,
            _ => {
                ops::delete_vm(&mut tx, &message.item_hash).await?;
                ops::delete_costs(&mut tx, &message.item_hash).await?;
                ops::delete_removal(&mut tx, &message.item_hash).await?;
            }
        }
        removed += 1;
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(removed)
}
