//! The REST API: Aleph's `/api/v0`, `/api/v1` and `/api/ws0` routes, served by axum.
//!
//! Handlers parse input into typed requests, call the node's handles, and map errors to HTTP
//! status codes; they never leak internal errors to the caller.

mod version;

use axum::Router;

/// Everything the handlers need, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ApiState {}

/// The node's whole HTTP surface.
pub fn router(state: ApiState) -> Router {
    Router::new().merge(version::routes()).with_state(state)
}
