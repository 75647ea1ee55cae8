//! FORGET: tombstones for targets named by hash, and for aggregate elements named by key.
//!
//! Every target must exist (else retry, 501: a FORGET may arrive before its target) and the
//! sender must be allowed to act for the target's owner with the target's own attributes.
//! A key FORGET leaves a tombstone so elements up to its time that arrive later are
//! forgotten on arrival, as they would have been had they come first.

use alephd_db::{Conn, DbError, ForgottenRecord, MessageRecord, MessageStatus, ops};
use alephd_message::{Address, ErrorCode, IncomingMessage, MessageType};
use serde_json::json;

use super::{Ctx, Disposition, aggregate, post, store};
use crate::{
    ProcessingError,
    content::{Body, Content},
    permissions::{self, Action},
    pipeline::{ApplyError, Effects},
};

pub(crate) async fn process(
    conn: &mut Conn,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
    _effects: &mut Effects,
) -> Result<Disposition, ApplyError> {
    let Body::Forget { hashes, aggregates } = &content.body else {
        return Err(ProcessingError::format("not a forget content").into());
    };
    if hashes.is_empty() && aggregates.is_empty() {
        return Err(ProcessingError::new(ErrorCode::ForgetNoTarget, "nothing to forget").into());
    }
    let mut live = Vec::new();
    let mut already = Vec::new();
    let mut missing = Vec::new();
    for hash in hashes {
        let hash = hash.as_str();
        match ops::status(conn, hash).await?.map(|s| s.status) {
            Some(MessageStatus::Processed | MessageStatus::Removing) => {
                match ops::message(conn, hash).await? {
                    Some(target) => live.push(target),
                    None => missing.push(json!({"message": hash})),
                }
            }
            Some(MessageStatus::Forgotten) => match ops::forgotten(conn, hash).await? {
                Some(t) => already.push(t),
                None => missing.push(json!({"message": hash})),
            },
            Some(MessageStatus::Rejected | MessageStatus::Removed) => {}
            Some(MessageStatus::Pending) | None => missing.push(json!({"message": hash})),
        }
    }
    let owner = content.address.as_str();
    let mut keyed = Vec::new();
    for key in aggregates {
        let elements = ops::elements_up_to(conn, owner, key, content.time).await?;
        if elements.is_empty() && ops::aggregate(conn, owner, key).await?.is_none() {
            missing.push(json!({"aggregate": key}));
        }
        keyed.push((key, elements));
    }
    if !missing.is_empty() {
        return Err(ProcessingError::new(
            ErrorCode::ForgetTargetNotFound,
            "forget targets are not known yet",
        )
        .with_details(json!(missing))
        .into());
    }
    for target in &live {
        check_target(conn, message, &Target::of_message(target)).await?;
        check_not_in_use(conn, target).await?;
    }
    for target in &already {
        check_target(conn, message, &Target::of_tombstone(target)).await?;
    }
    let by = vec![record.item_hash.clone()];
    for target in &live {
        forget_message(conn, target, &by, ctx).await?;
    }
    for target in &already {
        ops::append_forgotten_by(conn, &target.item_hash, &record.item_hash).await?;
    }
    for (key, elements) in keyed {
        ops::insert_tombstone(conn, owner, key, &record.item_hash, content.time).await?;
        for element in elements {
            if let Some(target) = ops::message(conn, &element.item_hash).await? {
                forget_message(conn, &target, &by, ctx).await?;
            }
        }
    }
    Ok(Disposition::Processed)
}

/// What authorizing a FORGET needs to know of a target (live or already forgotten: a
/// FORGET of a forgotten message is checked the same, so the outcome never depends on
/// which FORGET came first).
struct Target<'a> {
    item_hash: &'a str,
    owner: &'a str,
    message_type: &'a str,
    channel: Option<&'a str>,
    content_type: Option<&'a str>,
    content_key: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn of_message(m: &'a MessageRecord) -> Self {
        Self {
            item_hash: &m.item_hash,
            owner: &m.owner,
            message_type: &m.message_type,
            channel: m.channel.as_deref(),
            content_type: m.content_type.as_deref(),
            content_key: m.content_key.as_deref(),
        }
    }

    fn of_tombstone(f: &'a ForgottenRecord) -> Self {
        Self {
            item_hash: &f.item_hash,
            owner: &f.owner,
            message_type: &f.message_type,
            channel: f.channel.as_deref(),
            content_type: f.content_type.as_deref(),
            content_key: f.content_key.as_deref(),
        }
    }
}

/// A FORGET may not target a FORGET, and its sender must be allowed to act for the
/// target's owner as the target itself needed.
async fn check_target(
    conn: &mut Conn,
    forget: &IncomingMessage,
    target: &Target<'_>,
) -> Result<(), ApplyError> {
    if target.message_type == MessageType::Forget.as_str() {
        let reason = format!("{} is a FORGET", target.item_hash);
        return Err(ProcessingError::new(ErrorCode::ForgetForget, reason).into());
    }
    let owner = Address::new(target.owner);
    let message_type = match target.message_type {
        "POST" => MessageType::Post,
        "AGGREGATE" => MessageType::Aggregate,
        "STORE" => MessageType::Store,
        "PROGRAM" => MessageType::Program,
        _ => MessageType::Instance,
    };
    let action = Action {
        sender: forget.sender(),
        owner: &owner,
        chain: forget.chain(),
        channel: target.channel,
        message_type,
        post_type: target.content_type,
        aggregate_key: target.content_key,
    };
    permissions::authorize(conn, None, &action).await
}

/// Turns an applied message into a tombstone and undoes its type's effects.
async fn forget_message(
    conn: &mut Conn,
    target: &MessageRecord,
    by: &[String],
    ctx: &Ctx<'_>,
) -> Result<(), ApplyError> {
    let now = ctx.now;
    tombstone(conn, target, by, now).await?;
    ops::delete_message(conn, &target.item_hash).await?;
    match target.message_type.as_str() {
        "POST" => forget_post(conn, target, by, now).await?,
        "AGGREGATE" => {
            if let Some(element) = ops::delete_element(conn, &target.item_hash).await? {
                aggregate::recompute(conn, &element.owner, &element.key).await?;
            }
        }
        "STORE" => store::release_file(conn, ctx.store, &target.item_hash, true).await?,
        "PROGRAM" | "INSTANCE" => {
            ops::delete_vm(conn, &target.item_hash).await?;
            ops::delete_costs(conn, &target.item_hash).await?;
            ops::delete_removal(conn, &target.item_hash).await?;
        }
        _ => {}
    }
    Ok(())
}

/// A STORE used by a live VM (as code, runtime, data, volume or parent) stays (503).
async fn check_not_in_use(conn: &mut Conn, target: &MessageRecord) -> Result<(), ApplyError> {
    if target.message_type != MessageType::Store.as_str() {
        return Ok(());
    }
    let users = ops::vms_using(conn, &target.item_hash).await?;
    if let Some(vm) = users.first() {
        return Err(ProcessingError::new(
            ErrorCode::ForgetNotAllowed,
            format!("{} is used by the VM {vm}", target.item_hash),
        )
        .with_details(json!({"used_by": users}))
        .into());
    }
    Ok(())
}

async fn forget_post(
    conn: &mut Conn,
    target: &MessageRecord,
    by: &[String],
    now: f64,
) -> Result<(), ApplyError> {
    let Some(row) = ops::post(conn, &target.item_hash).await? else {
        return Ok(());
    };
    ops::delete_post(conn, &row.item_hash).await?;
    match &row.amends {
        Some(original) => post::refresh_latest(conn, original).await,
        None => {
            // Amends cannot be amended, so one level of cascade is all there is.
            for amend in ops::amends_of(conn, &row.item_hash).await? {
                if let Some(amend_message) = ops::message(conn, &amend.item_hash).await? {
                    tombstone(conn, &amend_message, by, now).await?;
                    ops::delete_message(conn, &amend.item_hash).await?;
                }
                ops::delete_post(conn, &amend.item_hash).await?;
            }
            Ok(())
        }
    }
}

/// Records the tombstone and the `forgotten` status of a message.
pub(crate) async fn tombstone(
    conn: &mut Conn,
    target: &MessageRecord,
    by: &[String],
    now: f64,
) -> Result<(), DbError> {
    let mut record = ForgottenRecord::of(target, "", now);
    record.forgotten_by = json!(by).to_string();
    ops::insert_forgotten(conn, &record).await?;
    ops::set_status(
        conn,
        &target.item_hash,
        MessageStatus::Forgotten,
        target.reception_time,
    )
    .await
}
