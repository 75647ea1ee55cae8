//! The Kubo-RPC content source against a real HTTP server on loopback: an alephd node's own
//! Kubo-compatible routes (`/api/v0/dag/export`, `/api/v0/cat`), a server that only has `cat`,
//! and lying servers. Fetched content must be byte-identical and CID-verified; anything that
//! does not verify stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use std::{net::SocketAddr, time::Duration};

use alephd_api::{ApiState, router};
use alephd_storage::{
    AddOptions, Cid, ContentRef, Engine, FetchedBy, KuboRpcSource, Layout, PinMode, StorageConfig,
    Store,
};
use axum::{Router, routing::post};
use bytes::Bytes;
use futures::TryStreamExt;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Deterministic bytes spanning several 256 KiB chunks.
fn data(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

async fn add(store: &Store, bytes: &[u8], layout: Layout) -> Cid {
    let added = store
        .add_bytes(
            Bytes::copy_from_slice(bytes),
            AddOptions::new(Engine::Ipfs(layout), u64::MAX),
        )
        .await
        .unwrap();
    match added.content {
        ContentRef::Ipfs(cid) => cid,
        other => panic!("not an ipfs item: {other:?}"),
    }
}

async fn read(store: &Store, cid: Cid) -> Vec<u8> {
    let chunks: Vec<Bytes> = store
        .read_cid(cid, 0..u64::MAX)
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

fn source(base: &str) -> KuboRpcSource {
    KuboRpcSource::new(base, Duration::from_secs(30)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_exact_dags_from_another_node_and_falls_back_to_cat() {
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Store::open(remote_dir.path(), StorageConfig::default())
        .await
        .unwrap();
    let big = data(700_000, 1); // three chunks: a dag-pb root with links
    let small = data(1000, 2);
    let v0 = add(&remote, &big, Layout::V0).await;
    let v1 = add(&remote, &big, Layout::V1).await;
    let small_v0 = add(&remote, &small, Layout::V0).await;
    let base = serve(router(ApiState::default().with_storage(remote.clone()))).await;

    let local_dir = tempfile::tempdir().unwrap();
    let local = Store::open(local_dir.path(), StorageConfig::default())
        .await
        .unwrap();
    for cid in [v0, v1, small_v0] {
        assert!(local.stat(&ContentRef::Ipfs(cid)).await.unwrap().is_none());
        let how = source(&base)
            .fetch_into(&local, cid, PinMode::None)
            .await
            .unwrap();
        assert_eq!(how, FetchedBy::DagExport, "{cid}");
    }
    assert_eq!(read(&local, v0).await, big);
    assert_eq!(read(&local, v1).await, big);
    assert_eq!(read(&local, small_v0).await, small);

    // A server with only `cat` (what many gateways expose): the bytes are re-added with
    // the defaults of the CID's version and must give that CID.
    let remote_for_cat = remote.clone();
    let cat_only = Router::new().route(
        "/api/v0/cat",
        post(
            move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let store = remote_for_cat.clone();
                async move {
                    let cid: Cid = query["arg"].parse().unwrap();
                    axum::body::Body::from_stream(store.read_cid(cid, 0..u64::MAX))
                }
            },
        ),
    );
    let cat_base = serve(cat_only).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::open(other_dir.path(), StorageConfig::default())
        .await
        .unwrap();
    for cid in [v0, v1] {
        let how = source(&cat_base)
            .fetch_into(&other, cid, PinMode::None)
            .await
            .unwrap();
        assert_eq!(how, FetchedBy::Cat, "{cid}");
        assert_eq!(read(&other, cid).await, big);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_or_broken_servers_store_nothing() {
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = Store::open(scratch_dir.path(), StorageConfig::default())
        .await
        .unwrap();
    let wanted = add(&scratch, &data(300_000, 3), Layout::V0).await;
    let other = add(&scratch, &data(300_000, 4), Layout::V0).await;

    // Serves the CAR and the bytes of `other` whatever is asked.
    let liar_store = scratch.clone();
    let liar_store2 = scratch.clone();
    let liar = Router::new()
        .route(
            "/api/v0/dag/export",
            post(move || {
                let store = liar_store.clone();
                async move { axum::body::Body::from_stream(store.export_car(other)) }
            }),
        )
        .route(
            "/api/v0/cat",
            post(move || {
                let store = liar_store2.clone();
                async move { axum::body::Body::from_stream(store.read_cid(other, 0..u64::MAX)) }
            }),
        );
    // Answers 500 to everything, and one that cuts the body short.
    let broken = Router::new()
        .fallback(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") });
    let truncated = Router::new().fallback(|| async { vec![0u8; 10] });
    let liar = serve(liar).await;
    let broken = serve(broken).await;
    let truncated = serve(truncated).await;

    let dir = tempfile::tempdir().unwrap();
    let local = Store::open(dir.path(), StorageConfig::default())
        .await
        .unwrap();
    for base in [&liar, &broken, &truncated] {
        let err = source(base)
            .fetch_into(&local, wanted, PinMode::None)
            .await
            .expect_err(base);
        assert!(!err.to_string().is_empty());
        assert!(
            local
                .stat(&ContentRef::Ipfs(wanted))
                .await
                .unwrap()
                .is_none(),
            "{base}: nothing stored for the wanted CID"
        );
    }
    // The liar's CAR was complete and valid for `other`: import may keep those blocks
    // (they verify), but the wanted CID is never claimed as present.
    assert_eq!(local.totals().await.unwrap().pins, 0);
    // Unreachable RPC: a clear error, no panic.
    let err = source("http://127.0.0.1:9")
        .fetch_into(&local, wanted, PinMode::None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}
