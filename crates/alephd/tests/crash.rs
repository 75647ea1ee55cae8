//! Crash safety of the whole daemon: kill -9 while 10,000 signed messages are being posted
//! over HTTP. After a restart on the same data dir, every message that was answered 200/202
//! is there and processed, and none is there twice.

#![allow(clippy::unwrap_used)] // a failed step should fail the test loudly

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alephd_message::{
    Address, Channel, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer, SolAccount},
};
use alephd_sdk::AlephClient;
use alephd_testing::DaemonBuilder;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_alephd");
const MESSAGES: usize = 10_000;
const CLIENTS: usize = 32;
const CHANNEL: &str = "CRASH-TEST";

fn signed_posts() -> Vec<Value> {
    let eth = EthAccount::generate();
    let sol = SolAccount::generate();
    (0..MESSAGES)
        .map(|i| {
            let signer: &dyn Signer = if i % 2 == 0 { &eth } else { &sol };
            let time = 1_700_000_000.0 + i as f64;
            let content = json!({"address": signer.address(), "time": time, "type": "crash", "content": {"i": i}});
            let unsigned =
                UnsignedMessage::inline(signer.chain(), Address::new(signer.address()), MessageType::Post, &content, time)
                    .unwrap()
                    .with_channel(Channel::new(CHANNEL).unwrap());
            signer.sign_message(unsigned).unwrap().to_wire_value()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_posting_loses_no_acknowledged_message() {
    let messages = Arc::new(signed_posts());
    let data = tempfile::tempdir().unwrap();
    let mut daemon = DaemonBuilder::new(BIN)
        .data_dir(data.path())
        .start()
        .unwrap();
    let client = AlephClient::new(&daemon.api_url()).unwrap();

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut posters = Vec::new();
    for _ in 0..CLIENTS {
        let (client, messages, acked, next) = (
            client.clone(),
            messages.clone(),
            acked.clone(),
            next.clone(),
        );
        posters.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(message) = messages.get(i) else {
                    return;
                };
                match client.submit_value(message, false).await {
                    Ok(r) if matches!(r.http_status, 200 | 202) => {
                        acked
                            .lock()
                            .unwrap()
                            .push(message["item_hash"].as_str().unwrap().to_owned());
                    }
                    Ok(r) => panic!("valid message refused: {r:?}"),
                    Err(_) => return, // the node is gone: this message was never acknowledged
                }
            }
        }));
    }
    // Kill mid-stream, once a good share has been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < MESSAGES / 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.kill9().unwrap();
    for poster in posters {
        poster.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        acked.len() >= MESSAGES / 3,
        "only {} acknowledged before the deadline",
        acked.len()
    );
    assert!(
        acked.len() < MESSAGES,
        "the daemon was killed after everything was posted"
    );

    let daemon = DaemonBuilder::new(BIN)
        .data_dir(data.path())
        .start()
        .unwrap();
    let client = AlephClient::new(&daemon.api_url()).unwrap();
    let listed = wait_for_processed(&client, acked.len()).await;
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a message was applied twice");
    let missing: Vec<&String> = acked.iter().filter(|h| !unique.contains(h)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
}

/// Polls `messages.json` until at least `expected` messages of the test channel are processed.
async fn wait_for_processed(client: &AlephClient, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = client
            .messages(&[
                ("channels", CHANNEL.to_owned()),
                ("pagination", "0".to_owned()),
            ])
            .await
            .unwrap();
        let hashes: Vec<String> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["item_hash"].as_str().unwrap().to_owned())
            .collect();
        if hashes.len() >= expected || Instant::now() > deadline {
            return hashes;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
