//! Answering peers' requests. Each answer runs in its own task (the node's providers may touch
//! the database) under a semaphore; when it is exhausted the peer is told `Busy` at once.

use bytes::Bytes;
use libp2p::{PeerId, request_response::ResponseChannel};

use super::Actor;
use crate::{
    bridge::NodeBridge,
    protocol::{RefusedReason, Request, Response},
};

/// Budget for one `Messages` answer: the rest is left for the next request.
const MAX_MESSAGES_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

impl Actor {
    pub(super) fn answer(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        if !request.within_bounds() {
            self.strike(peer, "request over protocol bounds");
            let _ = self
                .swarm
                .behaviour_mut()
                .exchange
                .send_response(channel, Response::Refused(RefusedReason::TooLarge));
            return;
        }
        let Ok(permit) = self.inbound_permits.clone().try_acquire_owned() else {
            let _ = self
                .swarm
                .behaviour_mut()
                .exchange
                .send_response(channel, Response::Refused(RefusedReason::Busy));
            return;
        };
        let node = self.node.clone();
        let max_content = self.config.limits.max_content_size;
        let responses = self.responses_tx.clone();
        tokio::spawn(async move {
            let response = respond(&node, request, max_content).await;
            drop(permit);
            let _ = responses.send((channel, response)).await;
        });
    }
}

async fn respond(node: &NodeBridge, request: Request, max_content: usize) -> Response {
    let unavailable = Response::Refused(RefusedReason::Unavailable);
    match request {
        Request::Content { hash } => {
            Response::Content(node.content.content(&hash, max_content).await)
        }
        Request::Fingerprints { ranges } => match node.sync.fingerprints(&ranges).await {
            Ok(fps) => Response::Fingerprints(fps),
            Err(_) => unavailable,
        },
        Request::Keys {
            range,
            after,
            limit,
        } => {
            let limit = usize::try_from(limit).unwrap_or(0);
            match node.sync.keys(range, after.as_ref(), limit).await {
                Ok(keys) => Response::Keys(keys.into_iter().take(limit).collect()),
                Err(_) => unavailable,
            }
        }
        Request::Messages { hashes } => match node.sync.messages(&hashes).await {
            Ok(messages) => Response::Messages(within_budget(messages)),
            Err(_) => unavailable,
        },
    }
}

fn within_budget(messages: Vec<Bytes>) -> Vec<Bytes> {
    let mut total = 0usize;
    messages
        .into_iter()
        .take_while(|m| {
            total = total.saturating_add(m.len());
            total <= MAX_MESSAGES_RESPONSE_BYTES
        })
        .collect()
}
