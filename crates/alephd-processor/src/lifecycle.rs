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
/// Owners checked per write transaction of the balance sweep.
const OWNERS_PER_TRANSACTION: usize = 200;
/// Removals applied per write transaction.
const REMOVALS_PER_TRANSACTION: usize = 500;

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
    for payment in ["hold", "credit"] {
        let owners = {
            let mut conn = db.read().await?;
            ops::cost_owners(&mut conn, payment).await?
        };
        // Short write transactions: the processor's batches interleave with the sweep.
        for chunk in owners.chunks(OWNERS_PER_TRANSACTION) {
            let mut tx = db.begin().await?;
            for owner in chunk {
                sweep_owner(&mut tx, config, owner, payment, now, &mut report).await?;
            }
            tx.commit().await?;
        }
    }
    Ok(report)
}

/// Spends one owner's balance on their resources of one payment type, oldest first.
async fn sweep_owner(
    tx: &mut alephd_db::Conn,
    config: &BillingConfig,
    owner: &str,
    payment: &str,
    now: f64,
    report: &mut SweepReport,
) -> Result<(), DbError> {
    report.owners += 1;
    let resources = ops::owner_resources(tx, owner, payment).await?;
    let (mut remaining, factor, reason) = if payment == "hold" {
        (
            billing::token_balance(tx, owner).await?,
            1.0,
            BALANCE_INSUFFICIENT,
        )
    } else {
        // Credits must last until the next check.
        (
            billing::credit_balance(tx, owner, now).await? as f64,
            config.check_interval_secs,
            CREDIT_INSUFFICIENT,
        )
    };
    let hashes: Vec<&str> = resources.iter().map(|r| r.0.as_str()).collect();
    let statuses = ops::statuses(tx, &hashes).await?;
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
                ops::delete_removal(tx, hash).await?;
                changes.push((hash.clone(), MessageStatus::Processed, now));
                report.to_processed += 1;
            }
            (false, Some(MessageStatus::Processed)) => {
                let removal = Removal {
                    item_hash: hash.clone(),
                    owner: owner.to_owned(),
                    reason: reason.into(),
                    since: now,
                };
                ops::insert_removal(tx, &removal).await?;
                changes.push((hash.clone(), MessageStatus::Removing, now));
                report.to_removing += 1;
            }
            _ => {}
        }
    }
    ops::set_statuses(tx, &changes).await
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
    let due = {
        let mut conn = db.read().await?;
        ops::removals_due(&mut conn, now - config.removal_grace_secs).await?
    };
    let mut removed = 0;
    // Short write transactions: the processor's batches interleave with the removals.
    for chunk in due.chunks(REMOVALS_PER_TRANSACTION) {
        let mut tx = db.begin().await?;
        for removal in chunk {
            if remove_one(&mut tx, store, removal, now).await? {
                removed += 1;
            }
        }
        tx.commit().await.map_err(DbError::from)?;
    }
    Ok(removed)
}

/// Turns one `removing` resource into a `removed` tombstone and releases what it held;
/// `false` when it is no longer removing (paid again, forgotten).
async fn remove_one(
    tx: &mut alephd_db::Conn,
    store: Option<&Store>,
    removal: &Removal,
    now: f64,
) -> Result<bool, LifecycleError> {
    let status = ops::status(tx, &removal.item_hash).await?;
    let message = ops::message(tx, &removal.item_hash).await?;
    let (Some(message), Some(MessageStatus::Removing)) = (message, status.map(|s| s.status)) else {
        ops::delete_removal(tx, &removal.item_hash).await?;
        return Ok(false);
    };
    let mut tombstone = ForgottenRecord::of(&message, "", now);
    tombstone.forgotten_by = "[]".into();
    ops::insert_forgotten(tx, &tombstone).await?;
    ops::delete_message(tx, &message.item_hash).await?;
    ops::set_status(
        tx,
        &message.item_hash,
        MessageStatus::Removed,
        message.reception_time,
    )
    .await?;
    if message.message_type == "STORE" {
        release_file(tx, store, &message.item_hash, false)
            .await
            .map_err(|e| match e {
                ApplyError::Db(e) => LifecycleError::Db(e),
                ApplyError::Invalid(e) => LifecycleError::Storage(e.to_string()),
            })?;
    } else {
        ops::delete_vm(tx, &message.item_hash).await?;
        ops::delete_costs(tx, &message.item_hash).await?;
        ops::delete_removal(tx, &message.item_hash).await?;
    }
    Ok(true)
}
