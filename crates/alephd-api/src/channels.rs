//! `GET /api/v0/channels/list.json` and `GET /api/v0/state_root.json` (the hash over the
//! canonical state two nodes compare to prove they agree).

use alephd_db::ops;
use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::{ApiState, core::ApiError};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/channels/list.json", get(list))
        .route("/api/v0/state_root.json", get(state_root))
}

async fn list(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    Ok(Json(json!({"channels": ops::channels(&mut conn).await?})).into_response())
}

async fn state_root(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    Ok(Json(ops::state_root(&mut conn).await?).into_response())
}
