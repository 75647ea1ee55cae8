//! Several alephd-p2p services in one process on 127.0.0.1: gossip, content, catch-up,
//! hostile peers, partitions.

#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "network/harness.rs"]
mod harness;

#[path = "network/content.rs"]
mod content;
#[path = "network/gossip.rs"]
mod gossip;
#[path = "network/hostile.rs"]
mod hostile;
#[path = "network/partition.rs"]
mod partition;
