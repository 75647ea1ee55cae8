//! A content source over any Kubo-compatible HTTP RPC (a Kubo daemon, an IPFS cluster proxy,
//! or another alephd): fetches an `ipfs` item into the local store, verified against its CID.
//!
//! Two ways, best first:
//! 1. `POST /api/v0/dag/export?arg=<cid>`: a CAR of the exact blocks; every block is checked
//!    against its own CID on import and the DAG must be complete, so any layout (chunker,
//!    raw leaves, trickle) is reproduced byte for byte.
//! 2. `POST /api/v0/cat?arg=<cid>`: the file's bytes, re-added with `ipfs add`'s defaults for the
//!    CID's version and accepted only if they give that very CID (so a file made with other
//!    parameters fails here, cleanly, and needs the first way).
//!
//! Nothing is stored unless it verifies; both ways stream through bounded buffers.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use thiserror::Error;

use crate::{AddError, AddOptions, CarError, Cid, ContentRef, Engine, Layout, PinMode, Store};

/// Why a fetch from the RPC failed; nothing was stored.
#[derive(Debug, Error)]
pub enum KuboFetchError {
    #[error("the RPC at {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the RPC answered {status} to {url}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the CAR from the RPC was refused: {0}")]
    Car(#[from] CarError),
    #[error("the CAR from the RPC does not have {0} as a root")]
    MissingRoot(Cid),
    #[error("the bytes from /cat were refused: {0}")]
    Add(#[from] AddError),
    #[error("{0} is not a CID this store can fetch (only sha2-256 dag-pb or raw)")]
    Unsupported(Cid),
}

/// A Kubo-compatible RPC endpoint, e.g. `http://127.0.0.1:5001`.
#[derive(Debug, Clone)]
pub struct KuboRpcSource {
    base: String,
    client: reqwest::Client,
}

impl KuboRpcSource {
    /// `base` is the RPC root (without `/api/v0`); `timeout` bounds each whole request.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// The RPC root this source talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Fetches `cid` into `store` (pinned as `pin`); the exact blocks through `dag/export`
    /// when the RPC has it, else the bytes through `cat`. Returns which way worked.
    pub async fn fetch_into(
        &self,
        store: &Store,
        cid: Cid,
        pin: PinMode,
    ) -> Result<FetchedBy, KuboFetchError> {
        if crate::BlockDigest::of_cid(&cid).is_none()
            || ![crate::CODEC_DAG_PB, crate::CODEC_RAW].contains(&cid.codec())
        {
            return Err(KuboFetchError::Unsupported(cid));
        }
        match self.via_car(store, cid, pin.clone()).await {
            Ok(()) => return Ok(FetchedBy::DagExport),
            Err(e) => {
                tracing::debug!(%cid, rpc = %self.base, error = %e, "dag/export failed; trying cat")
            }
        }
        self.via_cat(store, cid, pin).await?;
        Ok(FetchedBy::Cat)
    }

    async fn via_car(&self, store: &Store, cid: Cid, pin: PinMode) -> Result<(), KuboFetchError> {
        let body = self.post("dag/export", cid).await?;
        let roots = store.import_car(Box::pin(body), pin).await?;
        if !roots.contains(&cid) {
            return Err(KuboFetchError::MissingRoot(cid));
        }
        Ok(())
    }

    async fn via_cat(&self, store: &Store, cid: Cid, pin: PinMode) -> Result<(), KuboFetchError> {
        let layout = if cid.version() == cid::Version::V0 {
            Layout::V0
        } else {
            Layout::V1
        };
        let mut opts = AddOptions::new(Engine::Ipfs(layout), store.config().max_ipfs_file_size);
        opts.pin = pin;
        opts.expect = Some(ContentRef::Ipfs(cid));
        let body = self.post("cat", cid).await?;
        store.add_stream(Box::pin(body), opts).await?;
        Ok(())
    }

    async fn post(
        &self,
        call: &str,
        cid: Cid,
    ) -> Result<impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static, KuboFetchError>
    {
        let url = format!("{}/api/v0/{call}?arg={cid}", self.base);
        let response =
            self.client
                .post(&url)
                .send()
                .await
                .map_err(|source| KuboFetchError::Http {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        if !status.is_success() {
            let mut body = response.text().await.unwrap_or_default();
            body.truncate(200);
            return Err(KuboFetchError::Status {
                url,
                status: status.as_u16(),
                body,
            });
        }
        Ok(response.bytes_stream().map_err(|e| e.without_url()))
    }
}

/// Which RPC call delivered the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchedBy {
    DagExport,
    Cat,
}
