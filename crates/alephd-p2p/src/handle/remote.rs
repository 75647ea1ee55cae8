//! A connected peer seen as a [`SyncProvider`]: the catch-up algorithm runs the same code
//! against a peer over the network as against a local store in tests.

use alephd_message::ItemHash;
use bytes::Bytes;
use futures::future::BoxFuture;
use libp2p::PeerId;

use super::P2pHandle;
use crate::{
    protocol::{MAX_HASHES, MAX_KEYS, MAX_RANGES, Request, Response},
    sync::{Fingerprint, ItemKey, ProviderError, SyncProvider, TimeRange},
};

/// Catch-up queries to one peer.
#[derive(Debug, Clone)]
pub struct RemotePeer {
    pub handle: P2pHandle,
    pub peer: PeerId,
}

impl RemotePeer {
    async fn ask(&self, request: Request) -> Result<Response, ProviderError> {
        match self.handle.request(self.peer, request).await {
            Ok(Response::Refused(reason)) => Err(ProviderError(format!(
                "{}: refused ({reason:?})",
                self.peer
            ))),
            Ok(answer) => Ok(answer),
            Err(e) => Err(ProviderError(e.to_string())),
        }
    }
}

fn unexpected(peer: PeerId) -> ProviderError {
    ProviderError(format!("{peer} answered with the wrong response kind"))
}

impl SyncProvider for RemotePeer {
    fn fingerprints<'a>(
        &'a self,
        ranges: &'a [TimeRange],
    ) -> BoxFuture<'a, Result<Vec<Fingerprint>, ProviderError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ranges.len());
            for chunk in ranges.chunks(MAX_RANGES) {
                match self
                    .ask(Request::Fingerprints {
                        ranges: chunk.to_vec(),
                    })
                    .await?
                {
                    Response::Fingerprints(fps) => out.extend(fps),
                    _ => return Err(unexpected(self.peer)),
                }
            }
            Ok(out)
        })
    }

    fn keys<'a>(
        &'a self,
        range: TimeRange,
        after: Option<&'a ItemKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<ItemKey>, ProviderError>> {
        Box::pin(async move {
            let limit = u32::try_from(limit.min(MAX_KEYS)).unwrap_or(u32::MAX);
            match self
                .ask(Request::Keys {
                    range,
                    after: after.cloned(),
                    limit,
                })
                .await?
            {
                Response::Keys(keys) => Ok(keys),
                _ => Err(unexpected(self.peer)),
            }
        })
    }

    fn messages<'a>(
        &'a self,
        hashes: &'a [ItemHash],
    ) -> BoxFuture<'a, Result<Vec<Bytes>, ProviderError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for chunk in hashes.chunks(MAX_HASHES) {
                match self
                    .ask(Request::Messages {
                        hashes: chunk.to_vec(),
                    })
                    .await?
                {
                    Response::Messages(msgs) => out.extend(msgs.into_iter().take(chunk.len())),
                    _ => return Err(unexpected(self.peer)),
                }
            }
            Ok(out)
        })
    }
}
