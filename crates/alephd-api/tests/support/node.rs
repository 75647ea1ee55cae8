#![allow(unreachable_pub, dead_code, clippy::unwrap_used)] // shared test support

//! An in-process core node: real SQLite in a tempdir, the real processor service, the axum
//! router driven with `oneshot` (or served on loopback for websockets).

use std::sync::Arc;

use alephd_api::{ApiState, CoreApi, router};
use alephd_db::Db;
use alephd_processor::{MemoryContent, Processor, ProcessorConfig, ProcessorHandle};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub struct Node {
    pub _dir: tempfile::TempDir,
    pub app: Router,
    pub db: Db,
    pub processor: ProcessorHandle,
    pub content: MemoryContent,
    cancel: CancellationToken,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Node {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let content = MemoryContent::default();
        let cancel = CancellationToken::new();
        let config = ProcessorConfig {
            verify_threads: 2,
            ..Default::default()
        };
        let (processor, _task) = Processor::spawn(
            db.clone(),
            config,
            Arc::new(content.clone()),
            cancel.clone(),
        );
        let state = ApiState::default().with_core(CoreApi::new(db.clone(), processor.clone()));
        Self {
            _dir: dir,
            app: router(state),
            db,
            processor,
            content,
            cancel,
        }
    }

    pub async fn request(
        &self,
        method: &str,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.request("GET", uri, None).await
    }

    pub async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.request("POST", uri, Some(body.to_string().into_bytes()))
            .await
    }

    /// `POST /api/v0/messages` with `sync`.
    pub async fn submit(&self, message: &Value, sync: bool) -> (StatusCode, Value) {
        self.post(
            "/api/v0/messages",
            &json!({"sync": sync, "message": message}),
        )
        .await
    }

    /// Submits synchronously and asserts it was processed.
    pub async fn publish(&self, message: &Value) {
        let (status, body) = self.submit(message, true).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Waits until the message has left `pending` (bounded).
    pub async fn wait_settled(&self, hash: &str) -> String {
        for _ in 0..200 {
            let (_, body) = self.get(&format!("/api/v0/messages/{hash}/status")).await;
            if let Some(s) = body["status"].as_str()
                && s != "pending"
            {
                return s.to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{hash} still pending")
    }
}
