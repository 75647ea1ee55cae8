//! One handler per message type: dependency checks, then the type's writes, inside the
//! batch transaction. A handler checks everything before its first write, so an error never
//! leaves a half-applied message behind.

pub(crate) mod aggregate;
pub(crate) mod forget;
pub(crate) mod post;
pub(crate) mod store;
pub(crate) mod vm;

use std::cmp::Ordering;

use alephd_db::{Conn, MessageRecord};
use alephd_message::{IncomingMessage, MessageType};

use crate::{
    billing::BillingConfig,
    content::Content,
    pipeline::{ApplyError, Effects},
    staged::Staged,
};

/// What handlers need besides the transaction: the clock, the file store, billing rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: f64,
    /// The local content store (files are pinned and released in it), when the node has one.
    pub(crate) store: Option<&'a alephd_storage::Store>,
    pub(crate) billing: &'a BillingConfig,
}

/// What to do with a message that passed its checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Disposition {
    /// Store it as processed.
    Processed,
    /// It is already covered by FORGETs (e.g. an amend of a forgotten post, an aggregate
    /// element older than a key FORGET): store only its tombstone.
    ForgottenOnArrival { forgotten_by: Vec<String> },
}

/// Runs the handler of the message's type.
pub(crate) async fn process(
    conn: &mut Conn,
    staged: &mut Staged,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
    effects: &mut Effects,
) -> Result<Disposition, ApplyError> {
    match message.message_type() {
        MessageType::Post => post::process(conn, staged, message, content, record, ctx).await,
        MessageType::Aggregate => aggregate::process(conn, staged, content, record, effects).await,
        MessageType::Forget => forget::process(conn, message, content, record, ctx, effects).await,
        MessageType::Store => store::process(conn, message, content, record, ctx).await,
        MessageType::Program | MessageType::Instance => {
            vm::process(conn, message, content, record, ctx).await
        }
    }
}

/// Whether the handler of this message works on the batch's cache of posts and aggregates
/// alone. Any other handler reads or writes through the connection, so the pipeline flushes
/// the cache before it and clears it after (see [`crate::staged`]).
pub(crate) fn staged_only(message: &IncomingMessage, content: &Content) -> bool {
    match message.message_type() {
        MessageType::Aggregate => true,
        MessageType::Post => !post::is_trusted(content.content_type.as_deref()),
        _ => false,
    }
}

/// The deterministic order of versions: `content.time`, then item hash.
pub(crate) fn version_cmp(a: (f64, &str), b: (f64, &str)) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}
