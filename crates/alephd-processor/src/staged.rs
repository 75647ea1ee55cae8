//! The posts and aggregates a batch reads and writes, held in memory while the batch is
//! applied. The batch prefetches what its messages will read with a few set-based queries,
//! POST and AGGREGATE handlers change the cached rows, and [`Staged::flush`] writes them back
//! with one statement per table: a batch of posts and aggregates costs a fixed number of
//! statements instead of several per message (each statement is a round trip to the
//! database thread).
//!
//! The cache is the truth for what it holds until it is flushed. A handler that reads or
//! writes these tables through the connection (FORGET, STORE, programs, the node's own
//! post types) must run on a flushed cache, and the cache must be cleared after it
//! ([`Staged::reset`]): the pipeline does both.

use std::collections::{HashMap, HashSet};

use alephd_db::{AggregateElement, AggregateRecord, Conn, DbError, PostRecord, ops};

type Key = (String, String);

/// Cached rows and the changes not yet written. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// Posts by hash; `None` = known not to exist.
    posts: HashMap<String, Option<PostRecord>>,
    /// Hashes of posts inserted in the cache, in order.
    inserted_posts: Vec<String>,
    /// Stored originals whose `latest_amend` changed in the cache.
    amended: HashSet<String>,
    /// Merged aggregate values; `None` = known not to exist.
    aggregates: HashMap<Key, Option<AggregateRecord>>,
    /// Aggregates changed in the cache (distinct keys: their upserts commute).
    changed_aggregates: HashSet<Key>,
    /// Elements not written yet.
    elements: Vec<AggregateElement>,
    /// Owners whose key FORGETs were prefetched into `tombstoned`.
    tombstones_known: HashSet<String>,
    /// `(owner, key)`s with at least one key FORGET, for the owners in `tombstones_known`.
    tombstoned: HashSet<Key>,
}

/// What a batch will read: amend targets, aggregate keys (values and key FORGETs).
#[derive(Debug, Default)]
pub(crate) struct Prefetch {
    pub(crate) posts: HashSet<String>,
    pub(crate) aggregates: HashSet<Key>,
}

impl Staged {
    /// Loads what `wanted` names (and the current amends of the wanted posts) in a few
    /// statements. Entries already cached are kept: the cache may hold unflushed changes.
    pub(crate) async fn prefetch(
        &mut self,
        conn: &mut Conn,
        wanted: Prefetch,
    ) -> Result<(), DbError> {
        let posts: Vec<String> = wanted
            .posts
            .into_iter()
            .filter(|h| !self.posts.contains_key(h))
            .collect();
        let latest = self.load_posts(conn, posts).await?;
        let latest: Vec<String> = latest
            .into_iter()
            .filter(|h| !self.posts.contains_key(h))
            .collect();
        self.load_posts(conn, latest).await?;
        let keys: Vec<Key> = wanted
            .aggregates
            .into_iter()
            .filter(|k| !self.aggregates.contains_key(k))
            .collect();
        if !keys.is_empty() {
            let found = ops::aggregates_by_key(conn, &keys).await?;
            let owners: Vec<String> = keys
                .iter()
                .map(|(owner, _)| owner.clone())
                .filter(|o| !self.tombstones_known.contains(o))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            for key in keys {
                self.aggregates.insert(key, None);
            }
            for a in found {
                self.aggregates
                    .insert((a.owner.clone(), a.key.clone()), Some(a));
            }
            self.tombstoned
                .extend(ops::tombstoned_keys(conn, &owners).await?);
            self.tombstones_known.extend(owners);
        }
        Ok(())
    }

    /// Caches the posts `hashes` (absent ones as `None`); returns their `latest_amend`s.
    async fn load_posts(
        &mut self,
        conn: &mut Conn,
        hashes: Vec<String>,
    ) -> Result<Vec<String>, DbError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let found = ops::posts_by_hash(conn, &hashes).await?;
        for hash in hashes {
            self.posts.insert(hash, None);
        }
        let mut latest = Vec::new();
        for post in found {
            latest.extend(post.latest_amend.clone());
            self.posts.insert(post.item_hash.clone(), Some(post));
        }
        Ok(latest)
    }

    /// A post or amend by hash: from the cache, else from the database (then cached).
    pub(crate) async fn post(
        &mut self,
        conn: &mut Conn,
        hash: &str,
    ) -> Result<Option<PostRecord>, DbError> {
        if let Some(cached) = self.posts.get(hash) {
            return Ok(cached.clone());
        }
        let found = ops::post(conn, hash).await?;
        self.posts.insert(hash.to_owned(), found.clone());
        Ok(found)
    }

    /// Stores a post or amend (written at flush; an existing row is left as it is).
    pub(crate) fn insert_post(&mut self, row: PostRecord) {
        if matches!(self.posts.get(&row.item_hash), Some(Some(_))) {
            return;
        }
        self.inserted_posts.push(row.item_hash.clone());
        self.posts.insert(row.item_hash.clone(), Some(row));
    }

    /// Sets the current amend of `original`, which must have been read through the cache.
    pub(crate) fn set_latest_amend(&mut self, original: &str, latest: &str) {
        if let Some(Some(post)) = self.posts.get_mut(original) {
            post.latest_amend = Some(latest.to_owned());
            self.amended.insert(original.to_owned());
        }
    }

    /// The merged value of `(owner, key)`: from the cache, else from the database.
    pub(crate) async fn aggregate(
        &mut self,
        conn: &mut Conn,
        owner: &str,
        key: &str,
    ) -> Result<Option<AggregateRecord>, DbError> {
        let k = (owner.to_owned(), key.to_owned());
        if let Some(cached) = self.aggregates.get(&k) {
            return Ok(cached.clone());
        }
        let found = ops::aggregate(conn, owner, key).await?;
        self.aggregates.insert(k, found.clone());
        Ok(found)
    }

    /// Replaces the merged value of its `(owner, key)` (written at flush).
    pub(crate) fn put_aggregate(&mut self, record: AggregateRecord) {
        let k = (record.owner.clone(), record.key.clone());
        self.changed_aggregates.insert(k.clone());
        self.aggregates.insert(k, Some(record));
    }

    /// Stores an element (written at flush, or before anything reads elements).
    pub(crate) fn insert_element(&mut self, element: AggregateElement) {
        self.elements.push(element);
    }

    /// Writes the buffered elements: call before reading elements from the database.
    pub(crate) async fn flush_elements(&mut self, conn: &mut Conn) -> Result<(), DbError> {
        ops::insert_elements(conn, &self.elements).await?;
        self.elements.clear();
        Ok(())
    }

    /// The key FORGETs of `(owner, key)` at or after `time` (see [`ops::tombstone_time`]).
    pub(crate) async fn tombstones(
        &mut self,
        conn: &mut Conn,
        owner: &str,
        key: &str,
        time: f64,
    ) -> Result<Vec<String>, DbError> {
        if self.tombstones_known.contains(owner)
            && !self
                .tombstoned
                .contains(&(owner.to_owned(), key.to_owned()))
        {
            return Ok(Vec::new());
        }
        ops::tombstone_time(conn, owner, key, time).await
    }

    /// Writes every change; the cache stays valid (it now equals the database).
    pub(crate) async fn flush(&mut self, conn: &mut Conn) -> Result<(), DbError> {
        self.flush_elements(conn).await?;
        let inserted: Vec<&PostRecord> = self
            .inserted_posts
            .iter()
            .filter_map(|h| self.posts.get(h).and_then(Option::as_ref))
            .collect();
        ops::insert_posts(conn, &inserted).await?;
        let inserted: HashSet<&str> = self.inserted_posts.iter().map(String::as_str).collect();
        let amended: Vec<(&str, Option<&str>)> = self
            .amended
            .iter()
            .filter(|h| !inserted.contains(h.as_str()))
            .filter_map(|h| {
                let post = self.posts.get(h)?.as_ref()?;
                Some((post.item_hash.as_str(), post.latest_amend.as_deref()))
            })
            .collect();
        ops::set_latest_amends(conn, &amended).await?;
        let upserts: Vec<&AggregateRecord> = self
            .changed_aggregates
            .iter()
            .filter_map(|k| self.aggregates.get(k).and_then(Option::as_ref))
            .collect();
        ops::upsert_aggregates(conn, &upserts).await?;
        self.inserted_posts.clear();
        self.amended.clear();
        self.changed_aggregates.clear();
        Ok(())
    }

    /// Flushes, then forgets every cached row: after handlers that wrote these tables
    /// through the connection.
    pub(crate) async fn reset(&mut self, conn: &mut Conn) -> Result<(), DbError> {
        self.flush(conn).await?;
        *self = Self::default();
        Ok(())
    }
}
