//! Delegations from `security` aggregates: `/api/v0/authorizations/granted/{address}.json`
//! (what an address granted) and `/received/{address}.json` (who granted it something).

use alephd_db::{AggregateListFilter, ops};
use alephd_message::Address;
use alephd_processor::SECURITY_KEY;
use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{
    ApiState,
    core::{ApiError, strip_json},
};

/// Security aggregates scanned for `received` (each owner has at most one).
const MAX_SCANNED: i64 = 100_000;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/authorizations/granted/{address}", get(granted))
        .route("/api/v0/authorizations/received/{address}", get(received))
}

fn grants(content: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(content)
        .ok()
        .and_then(|v| v.get("authorizations").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

async fn granted(
    State(state): State<ApiState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let address = strip_json(&file)?;
    let mut conn = state.core()?.read().await?;
    let list = match ops::aggregate(&mut conn, address, SECURITY_KEY).await? {
        Some(a) => grants(&a.content),
        None => Vec::new(),
    };
    Ok(Json(json!({"address": address, "authorizations": list})).into_response())
}

async fn received(
    State(state): State<ApiState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let address = strip_json(&file)?;
    let me = Address::new(address);
    let filter = AggregateListFilter {
        keys: vec![SECURITY_KEY.to_owned()],
        limit: MAX_SCANNED,
        ..Default::default()
    };
    let mut conn = state.core()?.read().await?;
    let (rows, _) = ops::list_aggregates(&mut conn, &filter).await?;
    let mut out = Vec::new();
    for row in rows {
        for grant in grants(&row.content) {
            let to_me = grant
                .get("address")
                .and_then(Value::as_str)
                .is_some_and(|a| Address::new(a).same_as(&me));
            if to_me {
                let mut grant = grant;
                grant["owner"] = json!(row.owner);
                out.push(grant);
            }
        }
    }
    Ok(Json(json!({"address": address, "authorizations": out})).into_response())
}
