-- STORE files, executables, costs, balances and the removal lifecycle (issue 5).

-- One row per applied STORE message: the file it pins, as the node measured it.
CREATE TABLE file_pins (
    item_hash TEXT PRIMARY KEY NOT NULL,
    owner     TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    engine    TEXT NOT NULL,
    size      BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    ref       TEXT,
    time      DOUBLE PRECISION NOT NULL
);
CREATE INDEX file_pins_owner ON file_pins (owner, time, item_hash);
CREATE INDEX file_pins_file ON file_pins (file_hash);
CREATE INDEX file_pins_ref ON file_pins (ref, owner, time);

-- Applied PROGRAM and INSTANCE messages: what the compute side runs and what pins files.
CREATE TABLE vms (
    item_hash   TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    vm_type     TEXT NOT NULL,
    allow_amend BOOLEAN NOT NULL,
    replaces    TEXT,
    persistent  BOOLEAN NOT NULL,
    on_message  TEXT,
    time        DOUBLE PRECISION NOT NULL
);
CREATE INDEX vms_replaces ON vms (replaces);
CREATE INDEX vms_owner ON vms (owner);

-- Every STORE reference of a VM (code, runtime, data, volumes, parents).
CREATE TABLE vm_refs (
    vm_hash    TEXT NOT NULL,
    ref        TEXT NOT NULL,
    use_latest BOOLEAN NOT NULL,
    PRIMARY KEY (vm_hash, ref, use_latest)
);
CREATE INDEX vm_refs_ref ON vm_refs (ref);

-- Costs of each live resource, one line per component (execution, volumes, storage).
CREATE TABLE message_costs (
    item_hash    TEXT NOT NULL,
    owner        TEXT NOT NULL,
    cost_type    TEXT NOT NULL,
    name         TEXT NOT NULL,
    ref          TEXT,
    payment_type TEXT NOT NULL,
    cost_hold    DOUBLE PRECISION NOT NULL,
    cost_stream  DOUBLE PRECISION NOT NULL,
    cost_credit  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (item_hash, cost_type, name)
);
CREATE INDEX message_costs_owner ON message_costs (owner, payment_type);

-- Token balances from trusted `balances-update` posts: the newest post per
-- (address, chain, dapp) wins.
CREATE TABLE balances (
    address   TEXT NOT NULL,
    chain     TEXT NOT NULL,
    dapp      TEXT NOT NULL,
    balance   DOUBLE PRECISION NOT NULL,
    height    BIGINT NOT NULL,
    item_hash TEXT NOT NULL,
    time      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (address, chain, dapp)
);
CREATE INDEX balances_address ON balances (lower(address));

-- Credit movements from credit posts (positive: distribution/transfer in; negative: expense
-- or transfer out). The balance is the sum of unexpired rows.
CREATE TABLE credit_entries (
    item_hash  TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    address    TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    expiration DOUBLE PRECISION,
    time       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (item_hash, idx)
);
CREATE INDEX credit_entries_address ON credit_entries (lower(address));

-- Resources whose owner can no longer pay: `removing` since `since`; removed after the grace
-- period unless the balance recovers.
CREATE TABLE removals (
    item_hash TEXT PRIMARY KEY NOT NULL,
    owner     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    since     DOUBLE PRECISION NOT NULL
);
