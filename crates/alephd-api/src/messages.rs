//! Message routes: `POST /api/v0/messages` (sync and async), `GET /api/v0/messages/{hash}`
//! (+ `/status`, `/content`), `messages.json` / `page/{n}.json`, `messages/hashes`, and the
//! legacy pubsub publish routes.

mod filter;
mod single;

use std::time::Duration;

use alephd_db::{Cursor, MessageStatus, ops};
use alephd_message::{ErrorCode, IncomingMessage};
use alephd_processor::{Origin, SubmitOutcome, WaitOutcome};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

pub(crate) use filter::{message_filter, sort_order as filter_sort_order};

use crate::{
    ApiState,
    core::{ApiError, ConfirmationView, CoreApi, MessageView, Params, iso8601, strip_json},
};

/// How long `sync=true` waits for the processing result (then 202).
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest page in cursor mode.
const MAX_CURSOR_PAGE: i64 = 200;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/messages", post(post_message))
        .route("/api/v0/messages.json", get(list_messages))
        .route("/api/v0/messages/page/{page}", get(list_messages_page))
        .route("/api/v0/messages/hashes", get(list_hashes))
        .route("/api/v0/messages/{hash}", get(single::message))
        .route("/api/v0/messages/{hash}/status", get(single::status))
        .route("/api/v0/messages/{hash}/content", get(single::content))
        .route("/api/v0/ipfs/pubsub/pub", post(legacy_publish))
        .route("/api/v0/p2p/pubsub/pub", post(legacy_publish))
}

fn publication(message_status: &str) -> Value {
    json!({"publication_status": {"status": "success", "failed": []}, "message_status": message_status})
}

/// Parses `{"sync": bool, "message": {...}}` and queues the message (422 when malformed).
async fn post_message(State(state): State<ApiState>, body: Bytes) -> Result<Response, ApiError> {
    let core = state.core()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Unprocessable(format!("request body is not valid JSON: {e}")))?;
    let sync = body.get("sync").and_then(Value::as_bool).unwrap_or(false);
    let message = body
        .get("message")
        .cloned()
        .ok_or_else(|| ApiError::Unprocessable("field \"message\" is required".into()))?;
    let message =
        IncomingMessage::from_value(message).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if !sync {
        let status = match core.processor.submit(message, Origin::Http).await {
            Ok(SubmitOutcome::Queued) => MessageStatus::Pending,
            Ok(SubmitOutcome::Known(status)) => status,
            Err(e) => return Err(submit_failed(e)),
        };
        return Ok((StatusCode::ACCEPTED, Json(publication(status.as_str()))).into_response());
    }
    let outcome = core
        .processor
        .submit_and_wait(message, Origin::Http, SYNC_TIMEOUT)
        .await
        .map_err(submit_failed)?;
    Ok(sync_response(outcome))
}

/// A forgotten message submitted again is a FORGOTTEN_DUPLICATE.
fn forgotten_code(status: MessageStatus) -> Option<i32> {
    (status == MessageStatus::Forgotten).then(|| ErrorCode::ForgottenDuplicate.code())
}

fn submit_failed(e: alephd_processor::SubmitError) -> ApiError {
    tracing::error!(error = %e, "could not queue a submitted message");
    ApiError::Internal
}

fn sync_response(outcome: WaitOutcome) -> Response {
    let (status, code) = match outcome {
        WaitOutcome::Done(event) => (event.status, event.error_code),
        WaitOutcome::Known(status) => (status, forgotten_code(status)),
        WaitOutcome::TimedOut => (MessageStatus::Pending, None),
    };
    let mut body = publication(status.as_str());
    if let Some(code) = code {
        body["error_code"] = json!(code);
    }
    let http = match status {
        MessageStatus::Processed | MessageStatus::Removing => StatusCode::OK,
        MessageStatus::Pending => StatusCode::ACCEPTED,
        MessageStatus::Rejected | MessageStatus::Forgotten | MessageStatus::Removed => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    (http, Json(body)).into_response()
}

/// `POST /api/v0/ipfs/pubsub/pub` and `/p2p/pubsub/pub`: `{topic, data}` where data is the
/// message (as a JSON string, or an object).
async fn legacy_publish(State(state): State<ApiState>, body: Bytes) -> Result<Response, ApiError> {
    let core = state.core()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Unprocessable(format!("request body is not valid JSON: {e}")))?;
    if body.get("topic").and_then(Value::as_str) != Some("ALEPH-TEST") {
        return Ok((
            StatusCode::FORBIDDEN,
            Json(json!({"error": "unauthorized topic"})),
        )
            .into_response());
    }
    let message = match body.get("data") {
        Some(Value::String(text)) => IncomingMessage::from_json(text.as_bytes()),
        Some(value @ Value::Object(_)) => IncomingMessage::from_value(value.clone()),
        _ => {
            return Err(ApiError::Unprocessable(
                "field \"data\" must be the message".into(),
            ));
        }
    }
    .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    core.processor
        .submit(message, Origin::Http)
        .await
        .map_err(submit_failed)?;
    Ok(Json(json!({"status": "success", "failed": []})).into_response())
}

async fn list_messages(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    messages_page(state.core()?, Params::new(query), None).await
}

async fn list_messages_page(
    State(state): State<ApiState>,
    Path(page): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let page: i64 = strip_json(&page)?
        .parse()
        .map_err(|_| ApiError::Unprocessable("page must be an integer".into()))?;
    messages_page(state.core()?, Params::new(query), Some(page)).await
}

async fn messages_page(
    core: &CoreApi,
    params: Params,
    page: Option<i64>,
) -> Result<Response, ApiError> {
    let filter = message_filter(&params)?;
    let (per_page, query_page) = params.pagination(20, None)?;
    let page = page.unwrap_or(query_page);
    if page < 1 {
        return Err(ApiError::Unprocessable("page must be at least 1".into()));
    }
    let format = params
        .get(&["contentFormat", "content_format"])
        .unwrap_or("full");
    let exclude = params
        .bool(&["excludeContent", "exclude_content"])?
        .unwrap_or(false);
    let mut conn = core.read().await?;
    if let Some(token) = params.raw("cursor") {
        let cursor = if token.is_empty() {
            None
        } else {
            Some(Cursor::decode(token)?)
        };
        let per_page = if per_page == 0 || per_page > MAX_CURSOR_PAGE {
            MAX_CURSOR_PAGE
        } else {
            per_page
        };
        let rows = ops::find_messages(&mut conn, &filter, per_page, 1, cursor.as_ref()).await?;
        let next = (rows.len() as i64 == per_page)
            .then(|| {
                rows.last().map(|m| {
                    Cursor {
                        time: m.time,
                        item_hash: m.item_hash.clone(),
                    }
                    .encode()
                })
            })
            .flatten();
        let messages = render(&mut conn, &rows, format, exclude).await?;
        return Ok(Json(
            json!({"messages": messages, "pagination_per_page": per_page, "next_cursor": next}),
        )
        .into_response());
    }
    let rows = ops::find_messages(&mut conn, &filter, per_page, page, None).await?;
    let total = ops::count_messages(&mut conn, &filter).await?;
    let messages = render(&mut conn, &rows, format, exclude).await?;
    Ok(Json(json!({
        "messages": messages,
        "pagination_page": page,
        "pagination_total": total,
        "pagination_per_page": per_page,
        "pagination_item": "messages",
    }))
    .into_response())
}

async fn render(
    conn: &mut alephd_db::Conn,
    rows: &[alephd_db::MessageRecord],
    format: &str,
    exclude_content: bool,
) -> Result<Vec<Value>, ApiError> {
    let hashes: Vec<String> = rows.iter().map(|m| m.item_hash.clone()).collect();
    let mut confirmed = ops::confirmations_for(conn, &hashes).await?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let confirmations = confirmed
            .remove(&m.item_hash)
            .unwrap_or_default()
            .into_iter()
            .map(|(chain, height, hash)| ConfirmationView {
                chain,
                height,
                hash,
            })
            .collect();
        let view = MessageView::new(m, confirmations);
        let mut value = serde_json::to_value(&view).map_err(|_| ApiError::Internal)?;
        if exclude_content || format == "none" {
            value["item_content"] = Value::Null;
            value["content"] = Value::Null;
        } else if format == "headers" {
            value["item_content"] = Value::Null;
        }
        out.push(value);
    }
    Ok(out)
}

/// `GET /api/v0/messages/hashes`.
async fn list_hashes(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let core = state.core()?;
    let params = Params::new(query);
    let status = params
        .get(&["status"])
        .map(|s| {
            MessageStatus::parse(s)
                .ok_or_else(|| ApiError::Unprocessable(format!("unknown status {s:?}")))
        })
        .transpose()?;
    let (per_page, page) = params.pagination(20, None)?;
    let order = filter::sort_order(&params)?;
    let start = params.float(&["startDate", "start_date"])?;
    let end = params.float(&["endDate", "end_date"])?;
    let hash_only = params.bool(&["hash_only", "hashOnly"])?.unwrap_or(true);
    let mut conn = core.read().await?;
    let (rows, total) =
        ops::find_hashes(&mut conn, status, start, end, order, per_page, page).await?;
    let hashes: Vec<Value> = rows
        .into_iter()
        .map(|(hash, status, reception)| {
            if hash_only {
                json!(hash)
            } else {
                json!({"item_hash": hash, "status": status.as_str(), "reception_time": iso8601(reception)})
            }
        })
        .collect();
    Ok(Json(json!({
        "hashes": hashes,
        "pagination_page": page,
        "pagination_total": total,
        "pagination_per_page": per_page,
        "pagination_item": "hashes",
    }))
    .into_response())
}
