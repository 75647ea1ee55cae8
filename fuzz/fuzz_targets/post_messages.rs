//! `POST /api/v0/messages` with arbitrary bodies, against the real router, processor and
//! SQLite state of one node that lives for the whole fuzzing run.
//!
//! Invariants: the node never answers 5xx and never panics; anything but a well-formed,
//! correctly signed message is refused (422) or accepted and then rejected by the pipeline,
//! never processed. Each input is posted as the whole body, and when it is JSON also wrapped
//! as `{"message": …, "sync": false}` so the message-level checks run. (`sync: true` would make
//! every real signed vector whose content is not local wait for the 30 s sync timeout; the
//! sync path is covered by the API's property tests.)
#![no_main]

use std::sync::{Arc, OnceLock};

use alephd_api::{ApiState, CoreApi, router};
use alephd_db::Db;
use alephd_processor::{MemoryContent, Processor, ProcessorConfig};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use libfuzzer_sys::fuzz_target;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

struct Node {
    runtime: tokio::runtime::Runtime,
    app: Router,
    _dir: tempfile::TempDir,
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let app = runtime.block_on(async {
            let db = Db::open(&dir.path().join("alephd.db")).await.expect("db");
            let config = ProcessorConfig {
                verify_threads: 1,
                ..Default::default()
            };
            let (processor, _task) = Processor::spawn(
                db.clone(),
                config,
                Arc::new(MemoryContent::default()),
                CancellationToken::new(),
            );
            router(ApiState::default().with_core(CoreApi::new(db, processor)))
        });
        Node {
            runtime,
            app,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let node = node();
    let mut bodies = vec![data.to_vec()];
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        bodies.push(serde_json::json!({"message": value, "sync": false}).to_string().into_bytes());
    }
    node.runtime.block_on(async {
        for body in bodies {
            let request = Request::post("/api/v0/messages")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request");
            let response = node.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            assert!(
                !status.is_server_error(),
                "POST /api/v0/messages answered {status}"
            );
            assert!(
                [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::UNPROCESSABLE_ENTITY, StatusCode::PAYLOAD_TOO_LARGE, StatusCode::BAD_REQUEST, StatusCode::UNSUPPORTED_MEDIA_TYPE]
                    .contains(&status),
                "unexpected status {status}"
            );
        }
    });
});
