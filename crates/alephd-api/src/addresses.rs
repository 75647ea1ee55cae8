//! Per-address views: `/api/v0/addresses/{address}/post_types`, `/channels`, and message
//! counts per type `/api/v0/addresses/stats.json` and `/api/v1/addresses/stats.json`.

use std::collections::BTreeMap;

use alephd_db::ops;
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};

use crate::{
    ApiState,
    core::{ApiError, Params},
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/addresses/{address}/post_types", get(post_types))
        .route("/api/v0/addresses/{address}/channels", get(channels))
        .route("/api/v0/addresses/stats.json", get(stats))
        .route("/api/v1/addresses/stats.json", get(stats))
}

async fn post_types(
    State(state): State<ApiState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    let types = ops::owner_post_types(&mut conn, &address).await?;
    Ok(Json(json!({"address": address, "post_types": types})).into_response())
}

async fn channels(
    State(state): State<ApiState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    let channels = ops::owner_channels(&mut conn, &address).await?;
    Ok(Json(json!({"address": address, "channels": channels})).into_response())
}

async fn stats(
    State(state): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let addresses = params.list(&["addresses"])?;
    let (per_page, page) = params.pagination(100, Some(1000))?;
    let mut conn = state.core()?.read().await?;
    let rows = ops::type_counts(
        &mut conn,
        &addresses,
        per_page,
        per_page.saturating_mul(page - 1),
    )
    .await?;
    let mut data: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (sender, message_type, count) in rows {
        let entry = data.entry(sender).or_insert_with(|| {
            [
                "messages",
                "post",
                "aggregate",
                "store",
                "program",
                "instance",
                "forget",
            ]
            .into_iter()
            .map(|k| (k.to_owned(), json!(0)))
            .collect()
        });
        let total = entry.get("messages").and_then(Value::as_i64).unwrap_or(0) + count;
        entry.insert("messages".into(), json!(total));
        entry.insert(message_type.to_lowercase(), json!(count));
    }
    Ok(Json(json!({
        "data": data,
        "pagination_page": page,
        "pagination_total": data.len(),
        "pagination_per_page": per_page,
        "pagination_item": "addresses",
    }))
    .into_response())
}
