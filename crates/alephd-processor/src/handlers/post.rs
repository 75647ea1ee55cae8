//! POST: originals and amends. An amend names its original in `ref`; the original's current
//! content is the amend with the newest `(content.time, item_hash)`, whatever the arrival order.

use alephd_db::{Conn, MessageRecord, PostRecord, ops};
use alephd_message::{Address, ErrorCode, IncomingMessage};
use serde_json::Value;

use super::{Ctx, Disposition, version_cmp};
use crate::{
    ProcessingError,
    billing::{self, TrustedPost},
    content::Content,
    pipeline::ApplyError,
    staged::Staged,
};

/// Post types the node consumes itself (balances and credits).
const TRUSTED_TYPES: [&str; 4] = [
    "balances-update",
    "aleph_credit_distribution",
    "aleph_credit_expense",
    "aleph_credit_transfer",
];

/// The post type that marks an amend.
pub(crate) const AMEND: &str = "amend";

/// Whether a post of this type changes node state besides posts (balances, credits): such
/// posts are applied on a flushed batch cache (see [`crate::staged`]).
pub(crate) fn is_trusted(post_type: Option<&str>) -> bool {
    post_type.is_some_and(|t| TRUSTED_TYPES.contains(&t))
}

pub(crate) async fn process(
    conn: &mut Conn,
    staged: &mut Staged,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
) -> Result<Disposition, ApplyError> {
    let post_type = content.content_type.clone().unwrap_or_default();
    let mut row = PostRecord {
        item_hash: record.item_hash.clone(),
        owner: record.owner.clone(),
        post_type,
        post_ref: content.reference().map(str::to_owned),
        amends: None,
        channel: record.channel.clone(),
        time: content.time,
        latest_amend: None,
    };
    if row.post_type != AMEND {
        if is_trusted(Some(&row.post_type)) {
            apply_trusted(conn, message, content, record, ctx).await?;
        }
        staged.insert_post(row);
        return Ok(Disposition::Processed);
    }
    let Some(target) = content.reference() else {
        return Err(
            ProcessingError::new(ErrorCode::PostAmendNoTarget, "an amend needs a ref").into(),
        );
    };
    let Some(original) = staged.post(conn, target).await? else {
        if let Some(forgotten) = ops::forgotten(conn, target).await? {
            // The original is gone: this amend is forgotten with it.
            return Ok(Disposition::ForgottenOnArrival {
                forgotten_by: forgotten.forgotten_by_list()?,
            });
        }
        return Err(ProcessingError::new(
            ErrorCode::PostAmendTargetNotFound,
            format!("post {target} is not known yet"),
        )
        .into());
    };
    if original.amends.is_some() {
        return Err(
            ProcessingError::new(ErrorCode::PostAmendAmend, "cannot amend an amend").into(),
        );
    }
    if !Address::new(original.owner.as_str()).same_as(&content.address) {
        return Err(ProcessingError::denied(format!(
            "only the owner {} may amend {target}",
            original.owner
        ))
        .into());
    }
    row.amends = Some(original.item_hash.clone());
    let newer = match &original.latest_amend {
        None => true,
        Some(latest) => match staged.post(conn, latest).await? {
            Some(current) => version_cmp(
                (row.time, &row.item_hash),
                (current.time, &current.item_hash),
            )
            .is_gt(),
            None => true,
        },
    };
    if newer {
        staged.set_latest_amend(&original.item_hash, &row.item_hash);
    }
    staged.insert_post(row);
    Ok(Disposition::Processed)
}

/// Recomputes an original's current amend after one of its amends was forgotten.
pub(crate) async fn refresh_latest(conn: &mut Conn, original: &str) -> Result<(), ApplyError> {
    let latest = ops::amends_of(conn, original)
        .await?
        .into_iter()
        .next()
        .map(|p| p.item_hash);
    ops::set_latest_amend(conn, original, latest.as_deref()).await?;
    Ok(())
}

/// Balance and credit effects of the node's own post types.
async fn apply_trusted(
    conn: &mut Conn,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
) -> Result<(), ApplyError> {
    let parsed: Value = serde_json::from_str(&content.json).unwrap_or(Value::Null);
    let post = TrustedPost {
        item_hash: &record.item_hash,
        sender: message.sender().as_str(),
        owner: content.address.as_str(),
        channel: record.channel.as_deref(),
        post_type: content.content_type.as_deref().unwrap_or_default(),
        body: parsed.get("content"),
        time: message.time(),
    };
    billing::apply_trusted_post(conn, ctx.billing, &post, ctx.now).await
}
