//! `GET /api/v0/messages/{hash}` in every status shape, `/status` and `/content`.

use alephd_db::{MessageStatus, StatusRecord, ops};
use alephd_message::ItemHash;
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    ApiState,
    core::{ApiError, CoreApi, MessageView, confirmations, iso8601},
};

async fn lookup(
    core: &CoreApi,
    hash: &str,
) -> Result<(alephd_db::ReadConn, StatusRecord), ApiError> {
    ItemHash::parse(hash).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut conn = core.read().await?;
    let status = ops::status(&mut conn, hash)
        .await?
        .ok_or_else(|| ApiError::NotFound("message not found".into()))?;
    Ok((conn, status))
}

pub(super) async fn status(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let (_, s) = lookup(state.core()?, &hash).await?;
    Ok(Json(json!({"status": s.status.as_str(), "item_hash": s.item_hash, "reception_time": iso8601(s.reception_time)}))
        .into_response())
}

pub(super) async fn message(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let (mut conn, s) = lookup(state.core()?, &hash).await?;
    let mut body = json!({
        "status": s.status.as_str(),
        "item_hash": s.item_hash,
        "reception_time": iso8601(s.reception_time),
    });
    match s.status {
        MessageStatus::Pending => {
            let rows = ops::pending_for_hash(&mut conn, &hash).await?;
            let messages: Vec<Value> = rows
                .iter()
                .map(|p| {
                    let mut m: Value =
                        serde_json::from_str(&p.message).unwrap_or_else(|_| json!({}));
                    m["content"] = Value::Null;
                    m["reception_time"] = json!(iso8601(p.reception_time));
                    m
                })
                .collect();
            body["messages"] = json!(messages);
        }
        MessageStatus::Processed | MessageStatus::Removing => {
            let record = ops::message(&mut conn, &hash)
                .await?
                .ok_or(ApiError::Internal)?;
            let view = MessageView::new(&record, confirmations(&mut conn, &hash).await?);
            body["message"] = serde_json::to_value(view).map_err(|_| ApiError::Internal)?;
            if s.status == MessageStatus::Removing {
                let reason = ops::removal(&mut conn, &hash).await?.map(|r| r.reason);
                body["reason"] = json!(reason.as_deref().unwrap_or("balance_insufficient"));
            }
        }
        MessageStatus::Rejected => {
            let r = ops::rejected(&mut conn, &hash)
                .await?
                .ok_or(ApiError::Internal)?;
            body["message"] = serde_json::from_str(&r.message).unwrap_or(Value::Null);
            body["error_code"] = json!(r.error_code);
            body["details"] = r
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
        }
        MessageStatus::Forgotten | MessageStatus::Removed => {
            if let Some(f) = ops::forgotten(&mut conn, &hash).await? {
                body["message"] = json!({
                    "sender": f.sender, "chain": f.chain, "signature": f.signature, "type": f.message_type,
                    "item_type": f.item_type, "item_hash": f.item_hash, "time": f.time, "channel": f.channel,
                });
                if s.status == MessageStatus::Removed {
                    body["reason"] = json!("balance_insufficient");
                    body["removed_at"] = json!(iso8601(f.forgotten_at));
                    body["size"] = json!(f.size);
                } else {
                    body["forgotten_by"] = json!(f.forgotten_by_list()?);
                }
            }
        }
    }
    Ok(Json(body).into_response())
}

/// The content of a processed message: for POST and AGGREGATE the inner `content`.
pub(super) async fn content(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let (mut conn, s) = lookup(state.core()?, &hash).await?;
    if !s.status.is_live() {
        return Err(ApiError::Unprocessable(format!("message is {}", s.status)));
    }
    let record = ops::message(&mut conn, &hash)
        .await?
        .ok_or(ApiError::Internal)?;
    let content: Value = serde_json::from_str(&record.content).map_err(|_| ApiError::Internal)?;
    let served = match record.message_type.as_str() {
        "POST" | "AGGREGATE" => content.get("content").cloned().unwrap_or(Value::Null),
        _ => content,
    };
    Ok(Json(served).into_response())
}
