//! Content fetching from peers: our request-response protocol on connected peers, then Aleph's
//! `GET /api/v0/storage/{hash}` on known HTTP peers. Every answer is verified; a peer that sends
//! wrong or oversized bytes gets a strike. Concurrency is bounded by a semaphore.

use std::{sync::Arc, time::Duration};

use alephd_message::ItemHash;
use base64::Engine as _;
use bytes::Bytes;
use libp2p::PeerId;
use tokio::sync::Semaphore;

use super::{P2pHandle, ServiceStopped};
use crate::{
    bridge::ContentVerifier,
    metrics::bump,
    protocol::{Request, Response},
};

pub(crate) struct FetchContext {
    pub(crate) verifier: Arc<dyn ContentVerifier>,
    pub(crate) permits: Semaphore,
    pub(crate) attempts: usize,
    pub(crate) max_size: usize,
    pub(crate) timeout: Duration,
    pub(crate) http_peers: Vec<String>,
    pub(crate) http: reqwest::Client,
}

/// Fetching content from the network failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Stopped(#[from] ServiceStopped),
    /// No peer had it (or every answer was wrong); worth retrying later.
    #[error("content {0} not found on peers")]
    NotFound(String),
}

pub(super) async fn fetch_content(
    handle: &P2pHandle,
    hash: &ItemHash,
) -> Result<Bytes, FetchError> {
    let ctx = &handle.fetch;
    let _permit = ctx.permits.acquire().await.map_err(|_| ServiceStopped)?;
    let mut peers: Vec<PeerId> = Vec::new();
    for info in handle.peers().await? {
        if let Ok(peer) = info.peer_id.parse() {
            peers.push(peer);
        }
    }
    // Spread load: start at a peer picked by the hash, not always the first one.
    if !peers.is_empty() {
        let start = hash.as_str().bytes().map(usize::from).sum::<usize>() % peers.len();
        peers.rotate_left(start);
    }
    for peer in peers.into_iter().take(ctx.attempts) {
        let answer = handle
            .request(peer, Request::Content { hash: hash.clone() })
            .await;
        let Ok(Response::Content(Some(bytes))) = answer else {
            continue;
        };
        if bytes.len() <= ctx.max_size && ctx.verifier.verify(hash, &bytes) {
            bump(&handle.metrics.fetches_ok);
            return Ok(bytes);
        }
        tracing::warn!(%peer, %hash, "peer sent content that does not match its hash");
        bump(&handle.metrics.fetches_bad_content);
        handle.report_invalid(peer).await?;
    }
    for base in &ctx.http_peers {
        match fetch_http(ctx, base, hash).await {
            Some(bytes) => {
                bump(&handle.metrics.fetches_ok);
                return Ok(bytes);
            }
            None => continue,
        }
    }
    bump(&handle.metrics.fetches_failed);
    Err(FetchError::NotFound(hash.as_str().to_owned()))
}

#[derive(serde::Deserialize)]
struct StorageAnswer {
    content: String,
}

/// Aleph's node-to-node HTTP fetch; `None` on any failure or mismatch.
async fn fetch_http(ctx: &FetchContext, base: &str, hash: &ItemHash) -> Option<Bytes> {
    let url = format!(
        "{}/api/v0/storage/{}",
        base.trim_end_matches('/'),
        hash.as_str()
    );
    let response = ctx.http.get(&url).timeout(ctx.timeout).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    // base64 inflates by 4/3; allow the JSON envelope on top.
    let cap = ctx.max_size / 3 * 4 + 4096;
    if response.content_length().is_some_and(|l| l > cap as u64) {
        return None;
    }
    let body = read_capped(response, cap).await?;
    let answer: StorageAnswer = serde_json::from_slice(&body).ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer.content)
        .ok()?;
    if bytes.len() <= ctx.max_size && ctx.verifier.verify(hash, &bytes) {
        Some(Bytes::from(bytes))
    } else {
        tracing::warn!(%url, "HTTP peer sent content that does not match its hash");
        None
    }
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > cap {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}
