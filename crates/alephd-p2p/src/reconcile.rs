//! Range-based set reconciliation: how a node that was down or cut off finds what a peer has
//! and it lacks, in a number of round trips logarithmic in the history and with bounded memory.
//!
//! Split a time range into buckets, compare fingerprints, recurse into mismatched buckets;
//! small (or one-millisecond) buckets are compared key by key with a paged merge walk, and the
//! missing messages are fetched in batches and handed to the node like gossip. Pull only: each
//! side pulls what it lacks, so two peers converge to the union once both have run a round.
//! Interrupted rounds resume for free: matching ranges are skipped by their fingerprint.

use alephd_message::ItemHash;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::sync::{ItemKey, ProviderError, SyncProvider, TimeRange};

/// Bounds of one reconciliation round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileLimits {
    /// Buckets a range is split into at each level.
    pub fanout: u64,
    /// Remote count at or below which a bucket is compared key by key.
    pub leaf_size: usize,
    /// Keys per page when listing a bucket.
    pub page_size: usize,
    /// Messages asked per request.
    pub fetch_batch: usize,
    /// Messages fetched per round at most; the next round continues.
    pub max_fetch_per_round: usize,
}

impl Default for ReconcileLimits {
    fn default() -> Self {
        Self {
            fanout: 16,
            leaf_size: 256,
            page_size: 512,
            fetch_batch: 64,
            max_fetch_per_round: 20_000,
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Remote calls made.
    pub requests: usize,
    /// Keys the remote has and we lack, found this round.
    pub missing: usize,
    /// Messages handed to the node.
    pub delivered: usize,
    /// True if the fetch cap stopped the round before the end.
    pub truncated: bool,
}

/// A round failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The local or remote provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The remote answered something that cannot be right (wrong count, unsorted keys,
    /// keys outside the asked range).
    #[error("remote broke the sync protocol: {0}")]
    Protocol(&'static str),
    /// Nobody takes the messages any more (shutting down).
    #[error("message sink closed")]
    SinkClosed,
}

/// Pulls from `remote` what `local` lacks in `range`, sending each message's wire JSON to `sink`.
pub async fn reconcile(
    local: &dyn SyncProvider,
    remote: &dyn SyncProvider,
    range: TimeRange,
    limits: ReconcileLimits,
    sink: &mpsc::Sender<Bytes>,
) -> Result<ReconcileReport, ReconcileError> {
    let mut round = Round {
        local,
        remote,
        limits,
        sink,
        report: ReconcileReport::default(),
    };
    let mut stack = vec![range];
    while let Some(range) = stack.pop() {
        let parts = range.split(limits.fanout);
        let ours = local.fingerprints(&parts).await?;
        let theirs = remote.fingerprints(&parts).await?;
        round.report.requests += 1;
        if ours.len() != parts.len() || theirs.len() != parts.len() {
            return Err(ReconcileError::Protocol(
                "fingerprint count differs from range count",
            ));
        }
        for ((part, ours), theirs) in parts.iter().zip(ours).zip(theirs) {
            if ours == theirs || theirs.count == 0 {
                continue;
            }
            let small = usize::try_from(theirs.count).is_ok_and(|c| c <= limits.leaf_size);
            if small || part.width() <= 1 {
                round.pull_bucket(*part).await?;
                if round.report.truncated {
                    return Ok(round.report);
                }
            } else {
                stack.push(*part);
            }
        }
    }
    Ok(round.report)
}

struct Round<'a> {
    local: &'a dyn SyncProvider,
    remote: &'a dyn SyncProvider,
    limits: ReconcileLimits,
    sink: &'a mpsc::Sender<Bytes>,
    report: ReconcileReport,
}

/// A sorted page cursor over one side's keys in a bucket.
struct Pager {
    range: TimeRange,
    page: std::collections::VecDeque<ItemKey>,
    after: Option<ItemKey>,
    done: bool,
}

impl Pager {
    fn new(range: TimeRange) -> Self {
        Self {
            range,
            page: Default::default(),
            after: None,
            done: false,
        }
    }

    async fn peek(
        &mut self,
        side: &dyn SyncProvider,
        page_size: usize,
        requests: &mut usize,
    ) -> Result<Option<&ItemKey>, ReconcileError> {
        if self.page.is_empty() && !self.done {
            let keys = side
                .keys(self.range, self.after.as_ref(), page_size)
                .await?;
            *requests += 1;
            check_page(&keys, self.range, self.after.as_ref(), page_size)?;
            self.done = keys.len() < page_size;
            self.after = keys.last().cloned();
            self.page.extend(keys);
        }
        Ok(self.page.front())
    }
}

fn check_page(
    keys: &[ItemKey],
    range: TimeRange,
    after: Option<&ItemKey>,
    page_size: usize,
) -> Result<(), ReconcileError> {
    if keys.len() > page_size {
        return Err(ReconcileError::Protocol("more keys than asked"));
    }
    if keys.iter().any(|k| !range.contains(k.time_ms)) {
        return Err(ReconcileError::Protocol("key outside the asked range"));
    }
    let mut prev = after;
    for k in keys {
        if prev.is_some_and(|p| p >= k) {
            return Err(ReconcileError::Protocol("keys not strictly increasing"));
        }
        prev = Some(k);
    }
    Ok(())
}

impl Round<'_> {
    /// Merge-walks both sides' keys in `range` and fetches what only the remote has.
    async fn pull_bucket(&mut self, range: TimeRange) -> Result<(), ReconcileError> {
        let (mut ours, mut theirs) = (Pager::new(range), Pager::new(range));
        let mut wanted: Vec<ItemHash> = Vec::new();
        let page = self.limits.page_size.max(1);
        let mut requests = 0;
        loop {
            let Some(their_key) = theirs
                .peek(self.remote, page, &mut requests)
                .await?
                .cloned()
            else {
                break;
            };
            let our_key = ours.peek(self.local, page, &mut requests).await?.cloned();
            match our_key {
                Some(o) if o < their_key => {
                    ours.page.pop_front();
                }
                Some(o) if o == their_key => {
                    ours.page.pop_front();
                    theirs.page.pop_front();
                }
                _ => {
                    theirs.page.pop_front();
                    self.report.missing += 1;
                    wanted.push(their_key.hash);
                    if wanted.len() >= self.limits.fetch_batch.max(1) {
                        self.fetch(std::mem::take(&mut wanted)).await?;
                        if self.report.truncated {
                            break;
                        }
                    }
                }
            }
        }
        self.report.requests += requests;
        if !wanted.is_empty() && !self.report.truncated {
            self.fetch(wanted).await?;
        }
        Ok(())
    }

    async fn fetch(&mut self, hashes: Vec<ItemHash>) -> Result<(), ReconcileError> {
        let messages = self.remote.messages(&hashes).await?;
        self.report.requests += 1;
        for wire in messages.into_iter().take(hashes.len()) {
            self.sink
                .send(wire)
                .await
                .map_err(|_| ReconcileError::SinkClosed)?;
            self.report.delivered += 1;
        }
        if self.report.delivered >= self.limits.max_fetch_per_round {
            self.report.truncated = true;
        }
        Ok(())
    }
}
