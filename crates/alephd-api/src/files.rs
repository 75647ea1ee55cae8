//! Files kept by STORE messages: `/api/v0/storage/metadata/{file_hash}`,
//! `/storage/by-message-hash/{hash}`, `/storage/by-ref/[{address}/]{ref}` (the current
//! version of a file tag) and `/api/v0/addresses/{address}/files`.

use alephd_db::{FilePin, ops};
use alephd_message::ItemHash;
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{
    ApiState,
    core::{ApiError, Params, iso8601},
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/storage/metadata/{hash}", get(metadata))
        .route(
            "/api/v0/storage/by-message-hash/{hash}",
            get(by_message_hash),
        )
        .route("/api/v0/storage/by-ref/{reference}", get(by_ref))
        .route(
            "/api/v0/storage/by-ref/{address}/{reference}",
            get(by_owner_ref),
        )
        .route("/api/v0/addresses/{address}/files", get(address_files))
}

fn view(pin: &FilePin) -> Value {
    json!({
        "file_hash": pin.file_hash,
        "owner": pin.owner,
        "ref": pin.reference,
        "item_hash": pin.item_hash,
        "size": pin.size,
        "type": pin.kind,
        "download_url": format!("/api/v0/storage/raw/{}", pin.file_hash),
    })
}

async fn metadata(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    let pins = ops::pins_of_file(&mut conn, &hash).await?;
    let first = pins
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no STORE message keeps {hash}")))?;
    Ok(Json(json!({
        "file_hash": first.file_hash, "size": first.size, "type": first.kind,
        "download_url": format!("/api/v0/storage/raw/{}", first.file_hash),
        "pins": pins.iter().map(|p| json!({"item_hash": p.item_hash, "owner": p.owner})).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn by_message_hash(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    ItemHash::parse(&hash).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut conn = state.core()?.read().await?;
    let pin = ops::file_pin(&mut conn, &hash)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no STORE message {hash}")))?;
    Ok(Json(view(&pin)).into_response())
}

/// A tag named by a STORE hash needs no owner; a free-text tag does (400 without).
async fn by_ref(
    State(state): State<ApiState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    if ItemHash::parse(&reference).is_err() {
        return Err(ApiError::BadRequest(
            "a user-defined ref needs an address: /storage/by-ref/{address}/{ref}".into(),
        ));
    }
    tag(state, &reference, None).await
}

async fn by_owner_ref(
    State(state): State<ApiState>,
    Path((address, reference)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    tag(state, &reference, Some(&address)).await
}

async fn tag(state: ApiState, reference: &str, owner: Option<&str>) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    let pin = ops::tag_latest(&mut conn, reference, owner)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no file tagged {reference}")))?;
    Ok(Json(view(&pin)).into_response())
}

async fn address_files(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let (per_page, page) = params.pagination(100, Some(1000))?;
    let newest_first = params.int(&["sort_order", "sortOrder"])?.unwrap_or(-1) < 0;
    let mut conn = state.core()?.read().await?;
    let (pins, total, total_size) = ops::files_of_owner(
        &mut conn,
        &address,
        newest_first,
        per_page,
        per_page.saturating_mul(page - 1),
    )
    .await?;
    let files: Vec<Value> = pins
        .iter()
        .map(|p| {
            json!({
                "file_hash": p.file_hash, "size": p.size, "type": p.kind,
                "created": iso8601(p.time), "item_hash": p.item_hash,
            })
        })
        .collect();
    Ok(Json(json!({
        "address": address, "total_size": total_size, "files": files,
        "pagination_page": page, "pagination_total": total, "pagination_per_page": per_page,
    }))
    .into_response())
}
