//! `GET /api/v0/aggregates/{address}.json` (404 when nothing matches: the SDK relies on it)
//! and the aggregate list `GET /api/v0/aggregates(.json)`.

use alephd_db::{AggregateListFilter, AggregateRecord, AggregateSort, SortOrder, ops};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};

use crate::{
    ApiState,
    core::{ApiError, Params, iso8601, strip_json},
    messages,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/aggregates/{address}", get(address_aggregates))
        .route("/api/v0/aggregates.json", get(list))
        .route("/api/v0/aggregates", get(list))
}

fn value(record: &AggregateRecord) -> Value {
    serde_json::from_str(&record.content).unwrap_or(Value::Null)
}

async fn address_aggregates(
    State(state): State<ApiState>,
    Path(file): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let core = state.core()?;
    let address = strip_json(&file)?;
    let params = Params::new(query);
    let keys = params.list(&["keys"])?;
    let limit = params.int(&["limit"])?.unwrap_or(1000);
    if limit < 1 {
        return Err(ApiError::Unprocessable("limit must be at least 1".into()));
    }
    let with_info = params.bool(&["with_info", "withInfo"])?.unwrap_or(false);
    let value_only = params.bool(&["value_only", "valueOnly"])?.unwrap_or(false);
    let mut conn = core.read().await?;
    let rows = ops::aggregates_of(&mut conn, address, &keys, limit).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("no aggregate found".into()));
    }
    if value_only && keys.len() == 1 {
        return Ok(Json(value(&rows[0])).into_response());
    }
    let mut data = Map::new();
    let mut info = Map::new();
    for r in &rows {
        data.insert(r.key.clone(), value(r));
        info.insert(
            r.key.clone(),
            json!({
                "created": iso8601(r.created),
                "last_updated": iso8601(r.last_updated),
                "original_item_hash": r.original_item_hash,
                "last_update_item_hash": r.last_update_item_hash,
            }),
        );
    }
    let mut body = json!({"address": address, "data": data});
    if with_info {
        body["info"] = Value::Object(info);
    }
    Ok(Json(body).into_response())
}

async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let core = state.core()?;
    let params = Params::new(query);
    let (per_page, page) = params.pagination(50, Some(500))?;
    let sort = match params.get(&["sortBy", "sort_by"]) {
        None | Some("last_modified") => AggregateSort::LastModified,
        Some("creation_time") => AggregateSort::CreationTime,
        Some(other) => return Err(ApiError::Unprocessable(format!("unknown sortBy {other:?}"))),
    };
    let filter = AggregateListFilter {
        keys: params.list(&["keys"])?,
        addresses: params.list(&["addresses"])?,
        sort,
        ascending: messages::filter_sort_order(&params)? == SortOrder::Ascending,
        limit: per_page,
        offset: per_page.saturating_mul(page - 1),
    };
    let mut conn = core.read().await?;
    let (rows, total) = ops::list_aggregates(&mut conn, &filter).await?;
    let aggregates: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "address": r.owner,
                "key": r.key,
                "content": value(r),
                "created": iso8601(r.created),
                "last_updated": iso8601(r.last_updated),
                "original_item_hash": r.original_item_hash,
                "last_update_item_hash": r.last_update_item_hash,
            })
        })
        .collect();
    Ok(Json(json!({
        "aggregates": aggregates,
        "pagination_page": page,
        "pagination_total": total,
        "pagination_per_page": per_page,
        "pagination_item": "aggregates",
    }))
    .into_response())
}
