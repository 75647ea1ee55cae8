//! Measures the message-model hot paths on the real vectors: envelope parse (incl. the
//! inline sha256), content parse, and the worst case (a 200 000-character inline message).
//!
//!     cargo run --release -p alephd-message --example parse_throughput

use std::hint::black_box;
use std::time::{Duration, Instant};

use alephd_message::{IncomingMessage, ItemHash};
use serde_json::{Value, json};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors");

fn main() -> anyhow::Result<()> {
    let messages = real_messages()?;
    println!("{} parseable vector messages", messages.len());

    let per_message = time_per_item(&messages, |bytes| {
        black_box(IncomingMessage::from_json(bytes).ok());
    });
    println!("envelope parse:            {per_message:>10.2?} / message");

    let parsed: Vec<IncomingMessage> = messages
        .iter()
        .filter_map(|b| IncomingMessage::from_json(b).ok())
        .collect();
    let inline: Vec<&IncomingMessage> = parsed
        .iter()
        .filter(|m| m.item_content().is_some())
        .collect();
    let per_content = time_per_item(&inline, |m| {
        black_box(m.parse_inline_content());
    });
    println!("inline content parse:      {per_content:>10.2?} / message");

    let big_content = json!({"type": "t", "content": "x".repeat(199_950)}).to_string();
    let big = serde_json::to_vec(&json!({
        "sender": "0x1", "chain": "ETH", "signature": "0x", "type": "POST",
        "item_content": big_content, "item_hash": ItemHash::sha256_of(&big_content),
        "time": 1.0, "channel": "TEST",
    }))?;
    let per_big = time_per_item(&[big.as_slice()], |bytes| {
        black_box(IncomingMessage::from_json(bytes).ok());
    });
    let mib_s = big.len() as f64 / per_big.as_secs_f64() / (1024.0 * 1024.0);
    println!("200 000-char inline parse: {per_big:>10.2?} / message ({mib_s:.0} MiB/s)");
    Ok(())
}

fn real_messages() -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(VECTORS)? {
        let text = std::fs::read_to_string(entry?.path())?;
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for vector in list {
            if let Some(message) = vector.get("message") {
                let bytes = serde_json::to_vec(message)?;
                if IncomingMessage::from_json(&bytes).is_ok() {
                    out.push(bytes);
                }
            }
        }
    }
    Ok(out)
}

/// Runs `f` over all items repeatedly for about a second; returns the mean time per item.
fn time_per_item<T>(items: &[T], mut f: impl FnMut(&T)) -> Duration {
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        items.iter().for_each(&mut f);
        rounds += 1;
    }
    start.elapsed() / (rounds * items.len().max(1) as u32)
}
