//! `GET /api/v0/posts.json` (v0: message-like posts) and `GET /api/v1/posts.json` (v1), with
//! `/page/{n}.json`. Amends are merged: the original's identity with the latest content.

use alephd_db::{MergedPost, PostFilter, ops};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{
    ApiState,
    core::{ApiError, CoreApi, Params, confirmations, iso8601, strip_json},
    messages::filter_sort_order,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V0,
    V1,
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/posts.json", get(v0))
        .route("/api/v0/posts/page/{page}", get(v0_page))
        .route("/api/v1/posts.json", get(v1))
        .route("/api/v1/posts/page/{page}", get(v1_page))
}

async fn v0(
    State(s): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    posts(s.core()?, Params::new(q), None, Version::V0).await
}

async fn v1(
    State(s): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    posts(s.core()?, Params::new(q), None, Version::V1).await
}

async fn v0_page(
    State(s): State<ApiState>,
    Path(page): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    posts(
        s.core()?,
        Params::new(q),
        Some(page_number(&page)?),
        Version::V0,
    )
    .await
}

async fn v1_page(
    State(s): State<ApiState>,
    Path(page): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    posts(
        s.core()?,
        Params::new(q),
        Some(page_number(&page)?),
        Version::V1,
    )
    .await
}

fn page_number(segment: &str) -> Result<i64, ApiError> {
    match strip_json(segment)?.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ApiError::Unprocessable(
            "page must be a positive integer".into(),
        )),
    }
}

async fn posts(
    core: &CoreApi,
    p: Params,
    page: Option<i64>,
    version: Version,
) -> Result<Response, ApiError> {
    let (per_page, query_page) = p.pagination(20, None)?;
    let page = page.unwrap_or(query_page);
    let filter = PostFilter {
        addresses: p.list(&["addresses"])?,
        hashes: p.list(&["hashes"])?,
        refs: p.list(&["refs"])?,
        types: p.list(&["types"])?,
        tags: p.list(&["tags"])?,
        channels: p.list(&["channels"])?,
        start_date: p.float(&["startDate", "start_date"])?,
        end_date: p.float(&["endDate", "end_date"])?,
        sort_order: filter_sort_order(&p)?,
        per_page,
        page,
    };
    let mut conn = core.read().await?;
    let (rows, total) = ops::list_posts(&mut conn, &filter).await?;
    let mut out = Vec::with_capacity(rows.len());
    for post in &rows {
        out.push(match version {
            Version::V0 => {
                let confirmations = confirmations(&mut conn, &post.current.item_hash).await?;
                v0_post(
                    post,
                    serde_json::to_value(confirmations).map_err(|_| ApiError::Internal)?,
                )
            }
            Version::V1 => v1_post(post),
        });
    }
    Ok(Json(json!({
        "posts": out,
        "pagination_page": page,
        "pagination_total": total,
        "pagination_per_page": per_page,
        "pagination_item": "posts",
    }))
    .into_response())
}

/// The user content of a post (`content.content`).
fn inner_content(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|c| c.get("content").cloned())
        .unwrap_or(Value::Null)
}

fn v0_post(p: &MergedPost, confirmations: Value) -> Value {
    let (o, c) = (&p.original, &p.current);
    json!({
        "chain": c.chain,
        "item_hash": c.item_hash,
        "sender": c.sender,
        "type": p.post_type,
        "channel": o.channel,
        "confirmed": confirmations.as_array().is_some_and(|a| !a.is_empty()),
        "content": inner_content(&c.content),
        "item_content": c.item_content,
        "item_type": c.item_type,
        "signature": c.signature,
        "size": c.size,
        "time": c.time,
        "confirmations": confirmations,
        "original_item_hash": o.item_hash,
        "original_signature": o.signature,
        "original_type": p.post_type,
        "hash": o.item_hash,
        "address": o.owner,
        "ref": p.post_ref,
    })
}

fn v1_post(p: &MergedPost) -> Value {
    let (o, c) = (&p.original, &p.current);
    json!({
        "item_hash": c.item_hash,
        "content": inner_content(&c.content),
        "original_item_hash": o.item_hash,
        "original_type": p.post_type,
        "address": o.owner,
        "ref": p.post_ref,
        "channel": o.channel,
        "created": iso8601(o.time),
        "last_updated": iso8601(c.time),
    })
}
