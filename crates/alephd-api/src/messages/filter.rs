//! The filter query of `messages.json` and the websocket, with Aleph's parameter aliases.

use alephd_db::{MessageFilter, MessageStatus, SortBy, SortOrder};
use alephd_message::{Chain, MessageType};

use crate::core::{ApiError, Params};

const MESSAGE_TYPES: [MessageType; 6] = [
    MessageType::Post,
    MessageType::Aggregate,
    MessageType::Store,
    MessageType::Program,
    MessageType::Instance,
    MessageType::Forget,
];

/// Builds the database filter from the query string (422 on unknown values).
pub(crate) fn message_filter(p: &Params) -> Result<MessageFilter, ApiError> {
    let mut message_types = p.list(&["msgTypes", "msg_types", "message_types"])?;
    if let Some(single) = p.get(&["msgType", "msg_type", "message_type"]) {
        message_types.push(single.to_owned());
    }
    for t in &message_types {
        if !MESSAGE_TYPES.iter().any(|m| m.as_str() == t) {
            return Err(ApiError::Unprocessable(format!(
                "unknown message type {t:?}"
            )));
        }
    }
    let chains = p.list(&["chains"])?;
    for c in &chains {
        c.parse::<Chain>()
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    }
    let statuses = p
        .list(&["msgStatuses", "msg_statuses", "message_statuses"])?
        .iter()
        .map(|s| {
            MessageStatus::parse(s)
                .ok_or_else(|| ApiError::Unprocessable(format!("unknown status {s:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sort_by = match p.get(&["sortBy", "sort_by"]) {
        None | Some("time") => SortBy::Time,
        Some("tx-time") => SortBy::TxTime,
        Some(other) => return Err(ApiError::Unprocessable(format!("unknown sortBy {other:?}"))),
    };
    let start_date = p.float(&["startDate", "start_date"])?;
    let end_date = p.float(&["endDate", "end_date"])?;
    if let (Some(s), Some(e)) = (start_date, end_date)
        && e < s
    {
        return Err(ApiError::Unprocessable(
            "endDate must be after startDate".into(),
        ));
    }
    Ok(MessageFilter {
        hashes: p.list(&["hashes"])?,
        addresses: p.list(&["addresses"])?,
        owners: p.list(&["owners"])?,
        refs: p.list(&["refs"])?,
        content_hashes: p.list(&["contentHashes", "content_hashes"])?,
        content_keys: p.list(&["contentKeys", "content_keys"])?,
        content_types: p.list(&["contentTypes", "content_types"])?,
        chains,
        channels: p.list(&["channels"])?,
        tags: p.list(&["tags"])?,
        message_types,
        statuses,
        payment_types: p.list(&["paymentTypes", "payment_types"])?,
        start_date,
        end_date,
        start_block: p.int(&["startBlock", "start_block"])?,
        end_block: p.int(&["endBlock", "end_block"])?,
        sort_by,
        sort_order: sort_order(p)?,
    })
}

/// `sortOrder` / `sort_order`: -1 (default) or 1.
pub(crate) fn sort_order(p: &Params) -> Result<SortOrder, ApiError> {
    match p.int(&["sortOrder", "sort_order"])? {
        None => Ok(SortOrder::Descending),
        Some(v) => SortOrder::from_aleph(v)
            .ok_or_else(|| ApiError::Unprocessable("sortOrder must be -1 or 1".into())),
    }
}
