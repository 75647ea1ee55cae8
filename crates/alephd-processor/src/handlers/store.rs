//! STORE: the file must be in the local store (else retry, 4); `ref` makes it a new version
//! of a file tag (200 when the tagged STORE is unknown, 201 when it is itself an update, 2
//! when another owner holds the tag); its cost must be covered (5, 6, 202). Applying records
//! the file pin and costs and pins the file in the store for this message.

use alephd_db::{Conn, CostLine, FilePin, MessageRecord, ops};
use alephd_message::{
    ErrorCode, IncomingMessage, MessageContent,
    content::{PaymentType, StoreContent},
};
use alephd_storage::{ContentRef, EntryKind, PinOwner, Store};
use serde_json::Value;

use super::{Ctx, Disposition};
use crate::{
    ProcessingError,
    billing::{self, CostInput, MIB, Pricing},
    content::{Body, Content},
    pipeline::ApplyError,
};

pub(crate) async fn process(
    conn: &mut Conn,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
) -> Result<Disposition, ApplyError> {
    let Body::Store(store_content) = &content.body else {
        return Err(ProcessingError::format("not a STORE content").into());
    };
    let payment = store_content.payment_type();
    billing::check_payment_method(ctx.billing, payment, true, false, message.time())?;
    let (target, size, kind) = locate(ctx.store, store_content).await?;
    check_ref(conn, store_content, record).await?;
    let lines = costs(conn, ctx, store_content, record, size, message.time()).await?;
    let total = billing::total_of(&lines, billing::payment_name(payment));
    billing::check_balance(conn, ctx.billing, &record.owner, payment, total, ctx.now).await?;
    let pin = FilePin {
        item_hash: record.item_hash.clone(),
        owner: record.owner.clone(),
        file_hash: store_content.item_hash.as_str().to_owned(),
        engine: store_content.item_type.as_str().to_owned(),
        size: size as i64,
        kind: kind.to_owned(),
        reference: store_content.reference.clone(),
        time: content.time,
    };
    ops::insert_file_pin(conn, &pin).await?;
    ops::insert_costs(conn, &lines).await?;
    if let Some(store) = ctx.store {
        pin_file(store, &target, &record.item_hash).await?;
    }
    Ok(Disposition::Processed)
}

/// The file in the local store: its address, size and kind. Missing → retry (4).
async fn locate(
    store: Option<&Store>,
    content: &StoreContent,
) -> Result<(ContentRef, u64, &'static str), ProcessingError> {
    let unavailable = || {
        ProcessingError::new(
            ErrorCode::FileUnavailable,
            format!("file {} is not available", content.item_hash),
        )
    };
    let target: ContentRef = content.item_hash.as_str().parse().map_err(|_| {
        ProcessingError::format(format!("{} is not a file hash", content.item_hash))
    })?;
    let store = store.ok_or_else(unavailable)?;
    let stat = store
        .stat(&target)
        .await
        .map_err(|e| ProcessingError::new(ErrorCode::FileUnavailable, e.to_string()))?
        .ok_or_else(unavailable)?;
    let kind = match stat.kind {
        EntryKind::Directory => "directory",
        _ => "file",
    };
    Ok((target, stat.size, kind))
}

/// A `ref` that is an item hash must name a known STORE (200) that is not itself an update
/// (201); any tag may only be extended by its owner (2).
async fn check_ref(
    conn: &mut Conn,
    content: &StoreContent,
    record: &MessageRecord,
) -> Result<(), ApplyError> {
    let Some(reference) = &content.reference else {
        return Ok(());
    };
    let existing = if alephd_message::ItemHash::parse(reference).is_ok() {
        let Some(original) = ops::file_pin(conn, reference).await? else {
            return Err(ProcessingError::new(
                ErrorCode::StoreRefNotFound,
                format!("STORE {reference} is not known yet"),
            )
            .into());
        };
        if original.reference.is_some() {
            return Err(ProcessingError::new(
                ErrorCode::StoreUpdateUpdate,
                format!("{reference} is itself an update"),
            )
            .into());
        }
        Some(original)
    } else {
        ops::tag_latest(conn, reference, None).await?
    };
    match existing {
        Some(pin) if !pin.owner.eq_ignore_ascii_case(&record.owner) => Err(
            ProcessingError::denied(format!("file tag {reference} belongs to {}", pin.owner))
                .into(),
        ),
        _ => Ok(()),
    }
}

/// The cost lines; free-tier STOREs (small files held, or before costs started) cost 0.
async fn costs(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    content: &StoreContent,
    record: &MessageRecord,
    size: u64,
    time: f64,
) -> Result<Vec<CostLine>, ApplyError> {
    let pricing = Pricing::load(conn, ctx.billing).await?;
    let typed = MessageContent::Store(content.clone());
    let object = match serde_json::from_str::<Value>(&record.content) {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    let input = CostInput {
        item_hash: &record.item_hash,
        owner: &record.owner,
        content: &typed,
        object: &object,
        store_size: Some(size),
    };
    let mut lines = billing::compute_costs(conn, &pricing, &input).await?;
    let held = content.payment_type() == PaymentType::Hold;
    let small = (size as f64) / MIB <= ctx.billing.free_store_mib;
    let free =
        time < ctx.billing.free_before || (held && small && time < ctx.billing.credit_only_from);
    if free {
        for line in &mut lines {
            line.cost_hold = 0.0;
        }
    }
    Ok(lines)
}

async fn pin_file(store: &Store, target: &ContentRef, item_hash: &str) -> Result<(), ApplyError> {
    let owner = PinOwner::new(item_hash).map_err(|e| ProcessingError::format(e.to_string()))?;
    store.pin(target, &owner).await.map_err(|e| {
        ProcessingError::new(
            ErrorCode::FileUnavailable,
            format!("cannot pin {target}: {e}"),
        )
        .into()
    })
}

/// Drops a STORE's pin on its file; when nothing else pins it, the file gets a grace pin
/// (forget) or is left to the next GC (`grace: false`, removal of unpaid files).
pub(crate) async fn release_file(
    conn: &mut Conn,
    store: Option<&Store>,
    item_hash: &str,
    grace: bool,
) -> Result<(), ApplyError> {
    ops::delete_costs(conn, item_hash).await?;
    ops::delete_removal(conn, item_hash).await?;
    let Some(pin) = ops::delete_file_pin(conn, item_hash).await? else {
        return Ok(());
    };
    let Some(store) = store else {
        return Ok(());
    };
    let (Ok(target), Ok(owner)) = (
        pin.file_hash.parse::<ContentRef>(),
        PinOwner::new(item_hash),
    ) else {
        return Ok(());
    };
    let storage_error = |e: alephd_storage::StoreError| {
        ApplyError::Invalid(ProcessingError::new(
            ErrorCode::InternalError,
            e.to_string(),
        ))
    };
    store.unpin(&target, &owner).await.map_err(storage_error)?;
    if grace {
        let left = store.stat(&target).await.map_err(storage_error)?;
        if left.is_some_and(|s| s.pins == 0) {
            store.grace_pin(&target).await.map_err(storage_error)?;
        }
    }
    Ok(())
}

/// A rejected STORE gives up the pin its authenticated upload placed under its hash: the
/// file falls back to a grace pin (best effort; a failure only keeps the file longer).
pub(crate) async fn release_upload_pin(store: &Store, raw_message: &str, item_hash: &str) {
    let Ok(message) = IncomingMessage::from_json(raw_message.as_bytes()) else {
        return;
    };
    let Some(Ok(parsed)) = message.parse_inline_content() else {
        return;
    };
    let MessageContent::Store(content) = parsed.content else {
        return;
    };
    let (Ok(target), Ok(owner)) = (
        content.item_hash.as_str().parse::<ContentRef>(),
        PinOwner::new(item_hash),
    ) else {
        return;
    };
    if matches!(store.unpin(&target, &owner).await, Ok(true))
        && let Ok(Some(stat)) = store.stat(&target).await
        && stat.pins == 0
        && let Err(e) = store.grace_pin(&target).await
    {
        tracing::warn!(error = %e, %item_hash, "could not grace-pin a rejected upload");
    }
}
