//! `GET /api/v0/programs/on/message`: the current programs with message triggers (what a
//! compute node subscribes to).

use alephd_db::ops;
use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{ApiState, core::ApiError};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v0/programs/on/message", get(on_message))
}

async fn on_message(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let mut conn = state.core()?.read().await?;
    let mut programs = Vec::new();
    for vm in ops::programs_on_message(&mut conn).await? {
        // A program replaced by a newer version is served through that version.
        if !ops::vm_versions(&mut conn, &vm.item_hash).await?.is_empty() {
            continue;
        }
        let subscriptions: Value = vm
            .on_message
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(Value::Null);
        programs.push(json!({
            "item_hash": vm.item_hash,
            "content": {"on": {"message": subscriptions}},
        }));
    }
    Ok(Json(programs).into_response())
}
