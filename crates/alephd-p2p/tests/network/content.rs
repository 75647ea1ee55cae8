//! Content by hash: from peers over our protocol and from HTTP peers, always verified.

use std::time::Duration;

use alephd_message::ItemHash;
use alephd_p2p::FetchError;
use base64::Engine as _;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestNode, line, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_on_one_node_is_fetched_by_the_others() {
    let nodes = line(3).await;
    let file = Bytes::from(vec![7u8; 300_000]);
    let hash = nodes[0].content.insert_sha256(file.clone()).await;
    // Node 1 is connected to node 0; node 2 only to node 1, which fetches first then serves.
    let got = nodes[1].handle.fetch_content(&hash).await.unwrap();
    assert_eq!(got, file);
    nodes[1].content.insert(hash.clone(), got).await;
    assert_eq!(nodes[2].handle.fetch_content(&hash).await.unwrap(), file);
    assert_eq!(nodes[2].handle.stats().fetches_ok, 1);
    let missing = ItemHash::sha256_of(b"nobody has this");
    assert!(matches!(
        nodes[2].handle.fetch_content(&missing).await,
        Err(FetchError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_wrong_bytes_is_refused_and_struck() {
    let liar = TestNode::start(test_config()).await;
    let honest = TestNode::start(test_config()).await;
    let client = TestNode::start(test_config()).await;
    let file = Bytes::from_static(b"the real file");
    let hash = ItemHash::sha256_of(&file);
    liar.content
        .insert(hash.clone(), Bytes::from_static(b"a forged file"))
        .await;
    client.connect(&liar).await;
    assert!(
        client.handle.fetch_content(&hash).await.is_err(),
        "forged bytes must not be accepted"
    );
    let liar_id = liar.handle.local_peer_id().to_string();
    let strikes = client
        .handle
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.peer_id == liar_id)
        .unwrap()
        .strikes;
    assert_eq!(strikes, 1);
    assert_eq!(client.handle.stats().fetches_bad_content, 1);
    // With an honest peer as well, the fetch succeeds whichever is asked first.
    honest.content.insert(hash.clone(), file.clone()).await;
    client.connect(&honest).await;
    assert_eq!(client.handle.fetch_content(&hash).await.unwrap(), file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_content_is_not_accepted() {
    let big_server = TestNode::start(test_config()).await;
    let mut config = test_config();
    config.limits.max_content_size = 64 * 1024;
    let client = TestNode::start(config).await;
    client.connect(&big_server).await;
    let hash = big_server
        .content
        .insert_sha256(Bytes::from(vec![1u8; 1024 * 1024]))
        .await;
    assert!(client.handle.fetch_content(&hash).await.is_err());
    // The client still works afterwards.
    let small = big_server
        .content
        .insert_sha256(Bytes::from_static(b"small"))
        .await;
    assert_eq!(
        client.handle.fetch_content(&small).await.unwrap(),
        Bytes::from_static(b"small")
    );
}

/// A one-shot HTTP server answering `GET /api/v0/storage/{hash}` like an Aleph node.
async fn aleph_http_peer(content: Bytes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(request.starts_with("GET /api/v0/storage/"), "{request}");
            let body = serde_json::json!({
                "status": "success",
                "hash": ItemHash::sha256_of(&content).as_str(),
                "engine": "storage",
                "content": base64::engine::general_purpose::STANDARD.encode(&content),
            })
            .to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_peers_are_the_fallback_and_are_verified() {
    let file = Bytes::from_static(b"stored on an aleph node");
    let hash = ItemHash::sha256_of(&file);
    let good = aleph_http_peer(file.clone()).await;
    let bad = aleph_http_peer(Bytes::from_static(b"something else")).await;
    let mut config = test_config();
    config.http_peers = vec![bad.clone()];
    config.limits.request_timeout_ms = 2_000;
    let only_bad = TestNode::start(config.clone()).await;
    assert!(only_bad.handle.fetch_content(&hash).await.is_err());
    config.http_peers = vec![bad, good];
    let node = TestNode::start(config).await;
    let got = tokio::time::timeout(Duration::from_secs(10), node.handle.fetch_content(&hash))
        .await
        .unwrap();
    assert_eq!(got.unwrap(), file);
}
