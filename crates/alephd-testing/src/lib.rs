//! Test support for alephd (dev-dependency only): launch real `alephd daemon` processes on
//! loopback, find the Python/Node environments with the real Aleph clients, locate fixtures.
//!
//! Nothing here is a mock: it starts the real binary and the real client tools.

mod anvil;
mod daemon;
mod env;
mod sandbox;

pub use anvil::{ANVIL_CHAIN_ID, ANVIL_KEYS, Anvil};
pub use daemon::{Daemon, DaemonBuilder, free_port, http_get};
pub use env::{fixtures_dir, node_modules, python, repo_root};
pub use sandbox::{
    sandbox_hello_binary, sandbox_runtime, wasm_hello_component, wasm_js_component,
    wasm_ticker_command,
};
