-- The node's materialized state. Portable SQL (SQLite now, PostgreSQL later): `$n`
-- placeholders in queries, ON CONFLICT upserts, times as float UNIX seconds, JSON as TEXT.

-- Every message that was applied (status processed or removing). `item_content` is the exact
-- received string (never re-encoded); `content` the parsed content with defaults filled.
CREATE TABLE messages (
    item_hash         TEXT PRIMARY KEY NOT NULL,
    sender            TEXT NOT NULL,
    chain             TEXT NOT NULL,
    signature         TEXT,
    type              TEXT NOT NULL,
    item_type         TEXT NOT NULL,
    item_content      TEXT,
    content           TEXT NOT NULL,
    time              DOUBLE PRECISION NOT NULL,
    channel           TEXT,
    owner             TEXT NOT NULL,
    content_type      TEXT,
    content_key       TEXT,
    content_ref       TEXT,
    content_item_hash TEXT,
    payment_type      TEXT,
    size              BIGINT NOT NULL,
    reception_time    DOUBLE PRECISION NOT NULL
);
CREATE INDEX messages_time ON messages (time, item_hash);
CREATE INDEX messages_sender_time ON messages (sender, time);
CREATE INDEX messages_owner_time ON messages (owner, time);
CREATE INDEX messages_type_time ON messages (type, time);
CREATE INDEX messages_channel_time ON messages (channel, time);
CREATE INDEX messages_ref ON messages (content_ref);
CREATE INDEX messages_key ON messages (content_key);
CREATE INDEX messages_content_type ON messages (content_type);
CREATE INDEX messages_content_item_hash ON messages (content_item_hash);

-- `content.content.tags` of POSTs, for the `tags` filter.
CREATE TABLE message_tags (
    tag       TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    PRIMARY KEY (tag, item_hash)
);
CREATE INDEX message_tags_hash ON message_tags (item_hash);

-- One status per item hash: pending, processed, rejected, forgotten, removing, removed.
CREATE TABLE message_status (
    item_hash      TEXT PRIMARY KEY NOT NULL,
    status         TEXT NOT NULL,
    reception_time DOUBLE PRECISION NOT NULL
);
CREATE INDEX message_status_status ON message_status (status, reception_time);

-- Rejections keep the raw submitted message (served back by GET /messages/{h}).
-- `owner` is known when the content could be read: a later `security` grant re-queues
-- PERMISSION_DENIED rejections of that owner.
CREATE TABLE rejected_messages (
    item_hash  TEXT PRIMARY KEY NOT NULL,
    message    TEXT NOT NULL,
    error_code BIGINT NOT NULL,
    details    TEXT,
    owner      TEXT
);
CREATE INDEX rejected_owner_code ON rejected_messages (owner, error_code);

-- Tombstones: metadata of forgotten messages, content dropped.
CREATE TABLE forgotten_messages (
    item_hash    TEXT PRIMARY KEY NOT NULL,
    sender       TEXT NOT NULL,
    chain        TEXT NOT NULL,
    signature    TEXT,
    type         TEXT NOT NULL,
    item_type    TEXT NOT NULL,
    time         DOUBLE PRECISION NOT NULL,
    channel      TEXT,
    owner        TEXT NOT NULL,
    content_type TEXT,
    content_key  TEXT,
    payment_type TEXT,
    size         BIGINT NOT NULL,
    forgotten_by TEXT NOT NULL,
    forgotten_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE confirmations (
    item_hash TEXT NOT NULL,
    chain     TEXT NOT NULL,
    height    BIGINT NOT NULL,
    tx_hash   TEXT NOT NULL,
    PRIMARY KEY (item_hash, chain, tx_hash)
);

-- The durable pending queue: a row exists from the moment a 200/202 is answered until the
-- message is processed or rejected. `message` is the raw wire JSON as received.
CREATE TABLE pending_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    item_hash       TEXT NOT NULL,
    sender          TEXT NOT NULL,
    signature       TEXT NOT NULL,
    message         TEXT NOT NULL,
    origin          TEXT NOT NULL,
    reception_time  DOUBLE PRECISION NOT NULL,
    retries         BIGINT NOT NULL DEFAULT 0,
    next_attempt    DOUBLE PRECISION NOT NULL,
    last_error_code BIGINT,
    UNIQUE (item_hash, sender, signature)
);
CREATE INDEX pending_next_attempt ON pending_messages (next_attempt, id);
CREATE INDEX pending_item_hash ON pending_messages (item_hash);

-- Aggregates: every element, and the merged value per (owner, key).
CREATE TABLE aggregate_elements (
    item_hash TEXT PRIMARY KEY NOT NULL,
    owner     TEXT NOT NULL,
    key       TEXT NOT NULL,
    time      DOUBLE PRECISION NOT NULL,
    content   TEXT NOT NULL
);
CREATE INDEX aggregate_elements_owner_key ON aggregate_elements (owner, key, time, item_hash);

CREATE TABLE aggregates (
    owner                 TEXT NOT NULL,
    key                   TEXT NOT NULL,
    content               TEXT NOT NULL,
    created               DOUBLE PRECISION NOT NULL,
    last_updated          DOUBLE PRECISION NOT NULL,
    original_item_hash    TEXT NOT NULL,
    last_update_item_hash TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX aggregates_key ON aggregates (key);
CREATE INDEX aggregates_updated ON aggregates (last_updated);

-- A FORGET naming a whole aggregate key: elements up to its time are forgotten, including
-- ones that arrive after it (order independence).
CREATE TABLE aggregate_tombstones (
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    forget_hash TEXT NOT NULL,
    time        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (owner, key, forget_hash)
);

-- Posts: originals (amends NULL) and amends (amends = original's hash).
CREATE TABLE posts (
    item_hash    TEXT PRIMARY KEY NOT NULL,
    owner        TEXT NOT NULL,
    post_type    TEXT NOT NULL,
    ref          TEXT,
    amends       TEXT,
    channel      TEXT,
    time         DOUBLE PRECISION NOT NULL,
    latest_amend TEXT
);
CREATE INDEX posts_amends ON posts (amends);
CREATE INDEX posts_owner ON posts (owner, time);
CREATE INDEX posts_time ON posts (time, item_hash);
