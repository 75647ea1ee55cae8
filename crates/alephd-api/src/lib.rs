//! The REST API: Aleph's `/api/v0`, `/api/v1` and `/api/ws0` routes, served by axum.
//!
//! Handlers parse input into typed requests, call the node's handles, and map errors to HTTP
//! status codes; they never leak internal errors to the caller.

mod version;
// Core node routes (messages, aggregates, posts, …).
mod addresses;
mod aggregates;
mod authorizations;
mod channels;
mod core;
mod messages;
mod posts;
mod websockets;
// Storage engine routes (storage items, IPFS gateway, Kubo RPC subset).
mod files;
mod ipfs;
mod linger;
mod storage;
mod upload;
// Balances, prices and costs; programs.
mod billing;
mod programs;

pub use core::CoreApi;

use axum::Router;

/// Everything the handlers need, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ApiState {
    /// The core node (state database + processor); its routes answer 503 without it.
    pub core: Option<CoreApi>,
    /// The storage engine; storage and IPFS routes answer 503 without it.
    pub storage: Option<alephd_storage::Store>,
}

impl ApiState {
    /// Serves the core node's routes from `core`.
    pub fn with_core(mut self, core: CoreApi) -> Self {
        self.core = Some(core);
        self
    }

    /// Serves the storage and IPFS routes from `store`.
    pub fn with_storage(mut self, store: alephd_storage::Store) -> Self {
        self.storage = Some(store);
        self
    }

    fn core(&self) -> Result<&CoreApi, core::ApiError> {
        self.core.as_ref().ok_or(core::ApiError::Unavailable)
    }
}

/// The node's whole HTTP surface.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(version::routes())
        .merge(messages::routes())
        .merge(aggregates::routes())
        .merge(posts::routes())
        .merge(channels::routes())
        .merge(addresses::routes())
        .merge(authorizations::routes())
        .merge(websockets::routes())
        .merge(billing::routes())
        .merge(files::routes())
        .merge(programs::routes())
        .merge(storage::routes())
        .merge(ipfs::routes())
        .with_state(state)
}
