//! Uploads carrying a signed STORE message (`metadata` part), through the real router, the
//! real processor and the real store: accepted uploads are processed and served; bad input
//! (bad signature, hash mismatch, too large, cut short, unaffordable) is refused with nothing
//! stored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use std::sync::Arc;

use alephd_api::{ApiState, CoreApi, router};
use alephd_db::Db;
use alephd_processor::{Processor, ProcessorConfig, StoreFetcher, billing::BillingConfig};
use alephd_storage::{StorageConfig, Store};
use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use signer::{Signer, hash_of};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const BOUNDARY: &str = "alephdstoreboundary";
const MIB: usize = 1024 * 1024;
/// After costs started, before the credit-only cutoff.
const T: f64 = 1_790_000_000.0;

struct Node {
    _dir: tempfile::TempDir,
    app: axum::Router,
    store: Store,
    cancel: CancellationToken,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Node {
    async fn start(storage: StorageConfig, billing: BillingConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let store = Store::open(dir.path().join("store"), storage)
            .await
            .unwrap();
        let cancel = CancellationToken::new();
        let config = ProcessorConfig {
            verify_threads: 2,
            billing,
            ..Default::default()
        };
        let (processor, _task) = Processor::spawn(
            db.clone(),
            config,
            Arc::new(StoreFetcher::new(store.clone())),
            cancel.clone(),
        );
        let state = ApiState::default()
            .with_core(CoreApi::new(db, processor))
            .with_storage(store.clone());
        Self {
            _dir: dir,
            app: router(state),
            store,
            cancel,
        }
    }

    async fn call(&self, request: Request<Body>) -> (u16, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, uri: &str) -> (u16, Value) {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn upload(&self, uri: &str, body: Vec<u8>) -> (u16, Value) {
        let request = Request::post(uri)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap();
        self.call(request).await
    }

    /// Nothing at all is in the store (no root, no block).
    async fn assert_empty(&self) {
        let totals = self.store.totals().await.unwrap();
        assert_eq!((totals.roots, totals.blocks), (0, 0), "{totals:?}");
    }
}

/// A multipart body: `metadata` (JSON) then `file`, as the SDK sends them.
fn body(metadata: Option<&Value>, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(m) = metadata {
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n").as_bytes());
        out.extend_from_slice(m.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn sha256(bytes: &[u8]) -> String {
    alephd_message::ItemHash::sha256_of(bytes)
        .as_str()
        .to_owned()
}

fn store_message(signer: &Signer, file_hash: &str, time: f64) -> Value {
    signer.message(
        "STORE",
        json!({"item_type": "storage", "item_hash": file_hash, "time": time,
               "payment": {"chain": "ETH", "type": "hold"}}),
        time,
        "TEST",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_upload_is_processed_and_served() {
    let node = Node::start(StorageConfig::default(), BillingConfig::default()).await;
    let alice = Signer::eth(1);
    let file = vec![42u8; 100_000];
    let message = store_message(&alice, &sha256(&file), T);
    let (status, answer) = node
        .upload(
            "/api/v0/storage/add_file",
            body(Some(&json!({"message": message, "sync": true})), &file),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hash"], sha256(&file));
    assert_eq!(answer["message_status"], "processed");

    let hash = hash_of(&message);
    let (_, got) = node.get(&format!("/api/v0/messages/{hash}")).await;
    assert_eq!(got["status"], "processed");
    assert_eq!(got["message"]["size"], 100_000);
    let (status, meta) = node
        .get(&format!("/api/v0/storage/by-message-hash/{hash}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["file_hash"], sha256(&file));
    assert_eq!(meta["size"], 100_000);
    let (_, meta) = node
        .get(&format!("/api/v0/storage/metadata/{}", sha256(&file)))
        .await;
    assert_eq!(meta["pins"][0]["item_hash"], hash);
    let (_, files) = node
        .get(&format!("/api/v0/addresses/{}/files", alice.address()))
        .await;
    assert_eq!(files["total_size"], 100_000);
    assert_eq!(files["files"][0]["item_hash"], hash);
    // The same message re-sent to /messages (as the SDK does) is known: not queued again.
    let request = Request::post("/api/v0/messages")
        .header("content-type", "application/json")
        .body(Body::from(json!({"message": message}).to_string()))
        .unwrap();
    let (_, resent) = node.call(request).await;
    assert_eq!(resent["message_status"], "processed");
    let (_, price) = node.get(&format!("/api/v0/price/{hash}")).await;
    assert_eq!(price["payment_type"], "hold");
    assert_eq!(price["required_tokens"], 0.0, "a small held file is free");
    let (_, balance) = node
        .get(&format!("/api/v0/addresses/{}/balance", alice.address()))
        .await;
    assert_eq!(balance["balance"], 0.0);
    assert_eq!(balance["locked_amount"], 0.0);
    assert_eq!(balance["credit_balance"], 0);

    // Metadata after the file (clients send it first) is honoured too.
    let file3 = vec![9u8; 10_000];
    let message3 = store_message(&alice, &sha256(&file3), T + 1.0);
    let mut reversed = body(None, &file3);
    let closing = format!("--{BOUNDARY}--\r\n");
    reversed.truncate(reversed.len() - closing.len());
    reversed.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{}\r\n{closing}", json!({"message": message3, "sync": true})).as_bytes());
    let (status, answer) = node.upload("/api/v0/storage/add_file", reversed).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["message_status"], "processed");

    // IPFS engine with a message naming the CID.
    let file2 = vec![7u8; 50_000];
    let cid = alephd_storage::hash_bytes(&file2, alephd_storage::Layout::V0)
        .cid
        .to_string();
    let message2 = alice.message(
        "STORE",
        json!({"item_type": "ipfs", "item_hash": cid, "time": T}),
        T,
        "TEST",
    );
    let (status, answer) = node
        .upload(
            "/api/v0/ipfs/add_file",
            body(Some(&json!({"message": message2, "sync": true})), &file2),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hash"], cid);
    assert_eq!(answer["message_status"], "processed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_nothing_is_stored() {
    let storage = StorageConfig {
        max_unauthenticated_upload: 256 * 1024,
        max_file_size: MIB as u64,
        ..Default::default()
    };
    let node = Node::start(storage, BillingConfig::default()).await;
    let alice = Signer::eth(1);
    let mallory = Signer::eth(2);
    let file = vec![1u8; 300_000];

    // The message names other bytes: 422.
    let wrong = store_message(&alice, &sha256(b"something else"), T);
    let (status, answer) = node
        .upload(
            "/api/v0/storage/add_file",
            body(Some(&json!({"message": wrong})), &file),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    node.assert_empty().await;
    let (status, _) = node
        .get(&format!("/api/v0/messages/{}", hash_of(&wrong)))
        .await;
    assert_eq!(status, 404, "a refused upload queues no message");

    // Signed by someone else than its sender: 403.
    let mut forged = store_message(&alice, &sha256(&file), T);
    forged["signature"] = signer::forged(&forged, &mallory)["signature"].clone();
    let (status, answer) = node
        .upload(
            "/api/v0/storage/add_file",
            body(Some(&json!({"message": forged})), &file),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    node.assert_empty().await;

    // Larger than allowed with a message (1 MiB here): 413.
    let big = vec![2u8; 2 * MIB];
    let message = store_message(&alice, &sha256(&big), T);
    let (status, _) = node
        .upload(
            "/api/v0/storage/add_file",
            body(Some(&json!({"message": message})), &big),
        )
        .await;
    assert_eq!(status, 413);
    node.assert_empty().await;
    // Without a message the lower limit applies.
    let (status, _) = node
        .upload("/api/v0/storage/add_file", body(None, &file))
        .await;
    assert_eq!(status, 413);
    node.assert_empty().await;

    // The body stops in the middle of the file.
    let message = store_message(&alice, &sha256(&file), T);
    let mut cut = body(Some(&json!({"message": message})), &file);
    cut.truncate(cut.len() - 150_000);
    let (status, _) = node.upload("/api/v0/storage/add_file", cut).await;
    assert!(
        (400..500).contains(&status),
        "cut-short body answered {status}"
    );
    node.assert_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unaffordable_upload_is_refused_with_402() {
    let billing = BillingConfig {
        free_store_mib: 0.0,
        ..Default::default()
    };
    let node = Node::start(StorageConfig::default(), billing).await;
    let alice = Signer::eth(1);
    let file = vec![3u8; 3 * MIB];
    let message = store_message(&alice, &sha256(&file), T);
    let (status, answer) = node
        .upload(
            "/api/v0/storage/add_file",
            body(Some(&json!({"message": message})), &file),
        )
        .await;
    assert_eq!(status, 402, "{answer}");
    node.assert_empty().await;
    // The CLI's estimate for such a file: 3 MiB × 0.333333333 held.
    let estimate = json!({"message": {"type": "STORE", "sender": alice.address(), "content": {
        "address": alice.address(), "time": T, "item_type": "storage", "estimated_size_mib": 3,
        "item_hash": sha256(b"dummy value")}}});
    let request = Request::post("/api/v0/price/estimate")
        .header("content-type", "application/json")
        .body(Body::from(estimate.to_string()))
        .unwrap();
    let (status, price) = node.call(request).await;
    assert_eq!(status, 200);
    assert_eq!(price["cost"], "0.999999999000000000");
    assert_eq!(price["payment_type"], "hold");
}

/// The `aleph file upload` estimate request exactly as captured from the real CLI, then with
/// a 30 MiB hint in its signed `item_content` (the CLI's `content` copy omits the hint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_estimate_request_parses_and_prices() {
    let node = Node::start(StorageConfig::default(), BillingConfig::default()).await;
    let path = format!(
        "{}/../../fixtures/client-captures/aleph-cli-file_upload_storage.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let request = &capture["requests"][0];
    assert_eq!(request["path"], "/api/v0/price/estimate");
    let mut estimate = request["body"]["json"].clone();
    let post = |body: &Value| {
        Request::post("/api/v0/price/estimate")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, price) = node.call(post(&estimate)).await;
    assert_eq!(status, 200, "{price}");
    assert_eq!(price["required_tokens"], 0.0);
    assert_eq!(price["payment_type"], "hold");
    assert_eq!(price["cost"], "0.000000000000000000");

    let text = estimate["message"]["item_content"]
        .as_str()
        .unwrap()
        .replace("\"estimated_size_mib\":0", "\"estimated_size_mib\":30");
    estimate["message"]["item_content"] = json!(text);
    let (status, price) = node.call(post(&estimate)).await;
    assert_eq!(status, 200, "{price}");
    assert_eq!(price["cost"], "9.999999990000000000");
}
