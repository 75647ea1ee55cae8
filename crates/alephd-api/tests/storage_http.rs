//! Storage and IPFS routes through the real router and a real store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use alephd_api::{ApiState, router};
use alephd_storage::{Layout, StorageConfig, Store, hash_bytes};
use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

const BOUNDARY: &str = "alephdboundary";

fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (filename, content) in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn call(app: &axum::Router, request: Request<Body>) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn post_multipart(uri: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(uri)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn app(dir: &std::path::Path, config: StorageConfig) -> axum::Router {
    let store = Store::open(dir, config).await.unwrap();
    router(ApiState::default().with_storage(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_come_back_byte_identical_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), StorageConfig::default()).await;
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let expected_v0 = hash_bytes(&data, Layout::V0).cid.to_string();

    let (status, _, body) = call(
        &app,
        post_multipart("/api/v0/ipfs/add_file", multipart(&[("f.bin", &data)])),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["hash"], expected_v0);
    assert_eq!(json["size"], data.len());

    let (status, _, body) = call(
        &app,
        post_multipart("/api/v0/add?cid-version=1", multipart(&[("f.bin", &data)])),
    )
    .await;
    assert_eq!(status, 200);
    let line: serde_json::Value =
        serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let v1 = line["Hash"].as_str().unwrap().to_owned();
    assert_eq!(v1, hash_bytes(&data, Layout::V1).cid.to_string());

    for cid in [&expected_v0, &v1] {
        for request in [
            get(&format!("/ipfs/{cid}")),
            Request::post(format!("/api/v0/cat?arg={cid}"))
                .body(Body::empty())
                .unwrap(),
            get(&format!("/api/v0/storage/raw/{cid}")),
        ] {
            let uri = request.uri().to_string();
            let (status, headers, body) = call(&app, request).await;
            assert_eq!(status, 200, "{uri}");
            assert!(body == data, "{uri} returned different bytes");
            if let Some(len) = headers.get("content-length") {
                assert_eq!(len.to_str().unwrap(), data.len().to_string());
            }
        }
    }
    // Range and HEAD.
    let request = Request::get(format!("/ipfs/{expected_v0}"))
        .header("range", "bytes=262140-262150")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&app, request).await;
    assert_eq!(status, 206);
    assert_eq!(body, &data[262_140..=262_150]);
    assert_eq!(
        headers["content-range"],
        format!("bytes 262140-262150/{}", data.len()).as_str()
    );
    let head = Request::head(format!("/api/v0/storage/raw/{v1}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&app, head).await;
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(headers["content-length"], data.len().to_string().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_items_json_base64_count_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        max_unauthenticated_upload: 1000,
        max_file_size: 2000,
        ..StorageConfig::default()
    };
    let app = app(dir.path(), config).await;
    let content = br#"{"a":1,"b":[true,null]}"#;
    let (status, _, body) = call(
        &app,
        Request::post("/api/v0/storage/add_json")
            .body(Body::from(&content[..]))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let hash = json["hash"].as_str().unwrap().to_owned();
    assert_eq!(
        hash,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content))
    );

    let (status, _, body) = call(&app, get(&format!("/api/v0/storage/{hash}"))).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["engine"], "storage");
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(json["content"].as_str().unwrap())
            .unwrap(),
        content
    );
    let (_, _, body) = call(&app, get(&format!("/api/v0/storage/count/{hash}"))).await;
    assert_eq!(body, b"1");

    // Raw body add_file, then 413 for a body over the limit (declared or streamed).
    let (status, _, _) = call(
        &app,
        Request::post("/api/v0/storage/add_file")
            .body(Body::from(vec![1u8; 1000]))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let big = vec![2u8; 1001];
    let (status, _, _) = call(
        &app,
        post_multipart("/api/v0/storage/add_file", multipart(&[("big", &big)])),
    )
    .await;
    assert_eq!(status, 413);
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(big))]);
    let (status, _, _) = call(
        &app,
        Request::post("/api/v0/storage/add_file")
            .body(Body::from_stream(stream))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    let (status, _, _) = call(
        &app,
        get(&format!("/api/v0/storage/raw/{}", "0".repeat(64))),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_add_directory_and_gateway_paths_and_car_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let app_a = app(dir.path(), StorageConfig::default()).await;
    let body = multipart(&[
        ("site/index.html", b"<h1>home</h1>"),
        ("site/docs/a.txt", b"alpha"),
    ]);
    let (status, _, body) = call(&app_a, post_multipart("/api/v0/add", body)).await;
    assert_eq!(status, 200);
    let lines: Vec<serde_json::Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let root = lines.last().unwrap();
    assert_eq!(root["Name"], "site");
    let cid = root["Hash"].as_str().unwrap().to_owned();
    let (_, _, body) = call(&app_a, get(&format!("/ipfs/{cid}/docs/a.txt"))).await;
    assert_eq!(body, b"alpha");
    let (_, _, body) = call(&app_a, get(&format!("/ipfs/{cid}/"))).await;
    assert_eq!(body, b"<h1>home</h1>");

    let (status, _, car) = call(&app_a, get(&format!("/ipfs/{cid}?format=car"))).await;
    assert_eq!(status, 200);
    let other = tempfile::tempdir().unwrap();
    let app_b = app(other.path(), StorageConfig::default()).await;
    let (status, _, body) = call(
        &app_b,
        Request::post("/api/v0/ipfs/add_car")
            .body(Body::from(car))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["hash"], cid.as_str());
    let (_, _, body) = call(&app_b, get(&format!("/ipfs/{cid}/docs/a.txt"))).await;
    assert_eq!(body, b"alpha");
}
