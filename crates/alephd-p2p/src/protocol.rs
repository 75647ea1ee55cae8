//! Our request-response protocol (`/alephd/exchange/1`): content by hash and the three catch-up
//! queries. CBOR frames; every list and byte string is bounded on both sides.

use alephd_message::ItemHash;
use bytes::Bytes;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::sync::{Fingerprint, ItemKey, TimeRange};

pub(crate) const EXCHANGE_PROTOCOL: StreamProtocol = StreamProtocol::new("/alephd/exchange/1");

/// Largest request frame (bytes): requests are small lists of hashes or ranges.
pub(crate) const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Ranges per fingerprint request.
pub(crate) const MAX_RANGES: usize = 64;
/// Keys per page.
pub(crate) const MAX_KEYS: usize = 1_024;
/// Hashes per message request.
pub(crate) const MAX_HASHES: usize = 128;

/// A question to a peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The bytes stored under an item hash (file or non-inline message content).
    Content { hash: ItemHash },
    /// Fingerprints of these ranges.
    Fingerprints { ranges: Vec<TimeRange> },
    /// Keys in a range after a cursor.
    Keys {
        range: TimeRange,
        after: Option<ItemKey>,
        limit: u32,
    },
    /// Wire JSON of these messages.
    Messages { hashes: Vec<ItemHash> },
}

/// The answer; `Refused` when busy, over a limit or failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Content(Option<Bytes>),
    Fingerprints(Vec<Fingerprint>),
    Keys(Vec<ItemKey>),
    Messages(Vec<Bytes>),
    Refused(RefusedReason),
}

/// Why a peer did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusedReason {
    Busy,
    TooLarge,
    Unavailable,
}

impl Request {
    /// Whether the request respects the protocol's list bounds (checked on receipt).
    pub(crate) fn within_bounds(&self) -> bool {
        match self {
            Self::Content { .. } => true,
            Self::Fingerprints { ranges } => ranges.len() <= MAX_RANGES,
            Self::Keys { limit, .. } => usize::try_from(*limit).is_ok_and(|l| l <= MAX_KEYS),
            Self::Messages { hashes } => hashes.len() <= MAX_HASHES,
        }
    }
}

pub(crate) type ExchangeBehaviour = libp2p::request_response::cbor::Behaviour<Request, Response>;

/// The request-response behaviour with our frame limits.
pub(crate) fn exchange_behaviour(
    max_response_bytes: u64,
    timeout: std::time::Duration,
    max_streams: usize,
) -> ExchangeBehaviour {
    use libp2p::request_response::{Config, ProtocolSupport, cbor};
    let codec = cbor::codec::Codec::<Request, Response>::default()
        .set_request_size_maximum(MAX_REQUEST_BYTES)
        .set_response_size_maximum(max_response_bytes);
    let config = Config::default()
        .with_request_timeout(timeout)
        .with_max_concurrent_streams(max_streams);
    libp2p::request_response::Behaviour::with_codec(
        codec,
        [(EXCHANGE_PROTOCOL, ProtocolSupport::Full)],
        config,
    )
}
