//! The node's materialized state, in SQLite through sqlx.
//!
//! Owns the schema (migrations in `migrations/`), the durable pending queue, messages and
//! their statuses, aggregates, posts, tombstones and the state root. It stores what the
//! processor decided and answers the API's reads; it never decides validity itself: the
//! semantics (who may amend, how aggregates merge) live in `alephd-processor`.
//!
//! Every query is plain runtime SQL with `$n` placeholders, `ON CONFLICT` upserts, times as
//! float UNIX seconds and JSON as text, so a PostgreSQL backend can follow by swapping the pool
//! type behind [`Db`]. Functions take a [`Conn`]: a pooled read connection or a write
//! transaction ([`Db::begin`]) — the processor applies a whole batch in one transaction.

mod aggregates;
mod batch;
mod costs;
mod db;
mod error;
mod files;
mod messages;
mod model;
mod peers;
mod pending;
mod posts;
mod query;
mod staged;
mod state_root;
mod unconfirmed;

pub use aggregates::{AggregateListFilter, AggregateSort};
pub use costs::{BalanceRecord, CostLine, CreditEntry, Removal};
pub use db::{Conn, Db, DbConfig, ReadConn, WriteTx};
pub use error::DbError;
pub use files::{FilePin, VmRecord};
pub use model::{
    AggregateElement, AggregateRecord, ForgottenRecord, MergedPost, MessageRecord, MessageStatus,
    PendingRecord, PostRecord, RejectedRecord, StatusRecord,
};
pub use peers::PeerRecord;
pub use pending::{EnqueueOutcome, NewPending};
pub use posts::PostFilter;
pub use query::{Cursor, MessageFilter, SortBy, SortOrder};
pub use state_root::StateRoot;

/// Reads and writes grouped by table family; each is a set of free functions over a [`Conn`].
pub mod ops {
    pub use crate::aggregates::{
        aggregate, aggregates_of, delete_aggregate, delete_element, element, elements,
        elements_after, elements_up_to, insert_element, insert_tombstone, list_aggregates,
        tombstone_time, upsert_aggregate,
    };
    pub use crate::batch::{
        applied_statuses, confirmations_for, delete_pending as delete_pending_many, enqueue_many,
        insert_messages, set_statuses, statuses,
    };
    pub use crate::costs::{
        balances_of, cost_owners, costs_of, credit_entries_of, delete_costs, delete_removal,
        insert_costs, insert_credit_entries, insert_removal, list_balances, list_costs,
        list_credit_balances, owner_cost_total, owner_resources, removal, removals_due,
        upsert_balance,
    };
    pub use crate::files::{
        delete_file_pin, delete_vm, file_pin, files_of_owner, insert_file_pin, insert_vm,
        persistent_vms, pins_of_file, programs_on_message, tag_latest, vm, vm_versions, vms_using,
    };
    pub use crate::messages::{
        add_confirmation, append_forgotten_by, channels, confirmations, delete_message, forgotten,
        insert_forgotten, insert_message, insert_rejected, message, owner_channels,
        owner_post_types, rejected, rejected_for_owner, set_status, status, type_counts,
    };
    pub use crate::peers::{peers_seen_since, prune_peers, upsert_peer};
    pub use crate::pending::{
        count as pending_count, delete as delete_pending, enqueue, for_hash as pending_for_hash,
        next_attempt, reschedule, take_ready,
    };
    pub use crate::posts::{
        amends_of, delete_post, insert_post, list_posts, post, set_latest_amend,
    };
    pub use crate::query::{count_messages, find_hashes, find_messages};
    pub use crate::staged::{
        aggregates_by_key, insert_elements, insert_posts, posts_by_hash, set_latest_amends,
        tombstoned_keys, upsert_aggregates,
    };
    pub use crate::state_root::state_root;
    pub use crate::unconfirmed::unconfirmed;
}
