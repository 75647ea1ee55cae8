//! `/api/ws0/messages` over a real loopback socket: history, then filtered live messages.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/node.rs"]
mod node;
#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use std::time::Duration;

use futures::StreamExt;
use node::Node;
use serde_json::{Value, json};
use signer::{Signer, hash_of, post};
use tokio_tungstenite::tungstenite::Message;

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn history_then_filtered_live_messages() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let old: Vec<Value> = (0..3)
        .map(|i| post(&alice, "note", json!({"i": i}), 10.0 + f64::from(i)))
        .collect();
    for m in &old {
        node.publish(m).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = node.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = format!(
        "ws://{addr}/api/ws0/messages?addresses={}&history=2",
        alice.address()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // The two most recent matching messages, oldest first.
    assert_eq!(next_json(&mut ws).await["item_hash"], hash_of(&old[1]));
    assert_eq!(next_json(&mut ws).await["item_hash"], hash_of(&old[2]));

    let ignored = post(&bob, "note", json!({}), 20.0);
    let wanted = post(&alice, "note", json!({"live": true}), 21.0);
    node.publish(&ignored).await;
    node.publish(&wanted).await;
    let live = next_json(&mut ws).await;
    assert_eq!(
        live["item_hash"],
        hash_of(&wanted),
        "bob's message is filtered out"
    );
    assert_eq!(live["content"]["content"], json!({"live": true}));

    let refused =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws0/messages?history=500")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 422)
        }
        other => panic!("history=500 should be refused, got {other:?}"),
    }
}
