-- Peers the node heard of on ALIVE: one row per (peer, address kind), bounded by pruning the
-- least recently seen. P2P addresses seen in the last day are dialled again at start.
CREATE TABLE peers (
    peer_id   TEXT NOT NULL,
    peer_type TEXT NOT NULL,
    address   TEXT NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (peer_id, peer_type)
);
CREATE INDEX peers_last_seen ON peers (last_seen);
