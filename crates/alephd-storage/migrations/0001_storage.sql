-- Blocks on disk: `refs` counts parent links plus one per root row; `links` is the
-- concatenation of the children's 32-byte digests (NULL for leaves), so GC never reads disk.
CREATE TABLE blocks (
    digest BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    links BLOB
) WITHOUT ROWID;

-- Roots of added content; each holds one reference on its block while it exists.
CREATE TABLE roots (
    digest BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- What keeps a root alive: a message (owner = its item hash) or the grace pin (with expiry).
CREATE TABLE pins (
    digest BLOB NOT NULL,
    owner TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (digest, owner)
) WITHOUT ROWID;
CREATE INDEX pins_expiry ON pins (expires_at) WHERE expires_at IS NOT NULL;

-- Roots that lost their last pin: the GC's work list (so GC cost follows the garbage).
CREATE TABLE gc_queue (
    digest BLOB PRIMARY KEY
) WITHOUT ROWID;

-- `storage` items: sha256 of the file bytes -> root of its DAG.
CREATE TABLE storage_items (
    sha256 BLOB PRIMARY KEY,
    root BLOB NOT NULL,
    codec INTEGER NOT NULL,
    size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX storage_items_root ON storage_items (root);
