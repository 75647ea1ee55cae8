-- `pending_item_hash` repeated the leading column of the queue's UNIQUE (item_hash, sender,
-- signature) index, which serves the same lookups. Every queued message paid for both,
-- on insert and again on delete, and they are keyed by hash, so each batch dirtied pages
-- all over the two of them.
DROP INDEX IF EXISTS pending_item_hash;
