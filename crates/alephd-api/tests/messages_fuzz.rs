//! Property test over `POST /api/v0/messages` bodies: arbitrary bytes, and valid messages
//! with random mutations. The node never answers 5xx and never panics; only well-formed
//! messages are accepted (202), everything else is a 422; mutated copies of a signed
//! message never get processed under the original's hash with other content.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/node.rs"]
mod node;
#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use axum::http::StatusCode;
use node::Node;
use proptest::prelude::*;
use serde_json::{Value, json};
use signer::{Signer, post};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const FIELDS: [&str; 9] = [
    "sender",
    "chain",
    "signature",
    "type",
    "item_type",
    "item_content",
    "item_hash",
    "time",
    "channel",
];

fn mutation() -> impl Strategy<Value = (usize, Value)> {
    let values = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,80}".prop_map(|s| json!(s)),
        Just(json!({"nested": [1, 2]})),
        Just(json!("ETH")),
        Just(json!("storage")),
        Just(json!("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")),
    ];
    (0..FIELDS.len(), values)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_are_422_never_5xx(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let rt = runtime();
        rt.block_on(async {
            let node = Node::start().await;
            let (status, _) = node.request("POST", "/api/v0/messages", Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        });
    }

    #[test]
    fn mutated_messages_are_rejected_or_harmless(mutations in proptest::collection::vec(mutation(), 1..4), sync in any::<bool>()) {
        let rt = runtime();
        rt.block_on(async {
            let node = Node::start().await;
            let signer = Signer::eth(1);
            let original = post(&signer, "note", json!({"v": 1}), 1.0);
            let mut m = original.clone();
            for (field, value) in &mutations {
                m[FIELDS[*field]] = value.clone();
            }
            let (status, body) = node.submit(&m, sync).await;
            assert!(
                [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::UNPROCESSABLE_ENTITY].contains(&status),
                "{status}: {body}"
            );
            // Whatever was accepted must not be a processed forgery.
            if m != original
                && sync
                && status != StatusCode::UNPROCESSABLE_ENTITY
                && let Some(hash) = m["item_hash"].as_str()
            {
                let (_, got) = node.get(&format!("/api/v0/messages/{hash}")).await;
                if got["status"] == "processed" {
                    assert_eq!(got["message"]["item_content"], m["item_content"]);
                    assert_eq!(got["message"]["sender"].as_str().map(str::to_lowercase), Some(signer.address()));
                }
            }
        });
    }
}
