//! `GET /api/v0/version` and `GET /version`: peers poll these to see that a node is alive.

use axum::{Json, Router, routing::get};
use serde::Serialize;

use crate::ApiState;

#[derive(Serialize)]
struct Version {
    version: &'static str,
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/version", get(version))
        .route("/version", get(version))
}

async fn version() -> Json<Version> {
    Json(Version {
        version: concat!("alephd/", env!("CARGO_PKG_VERSION")),
    })
}
