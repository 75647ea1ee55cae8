//! Aggregate routes: per-address (keys, limit, with_info, value_only, 404) and the list.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/node.rs"]
mod node;
#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use axum::http::StatusCode;
use node::Node;
use serde_json::json;
use signer::{Signer, aggregate, hash_of};

#[tokio::test]
async fn address_aggregates_keys_info_value_only_and_404() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let a = alice.address();
    let (status, _) = node.get(&format!("/api/v0/aggregates/{a}.json")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "SDK relies on 404 when empty"
    );

    let first = aggregate(
        &alice,
        None,
        "settings",
        json!({"theme": "dark", "n": 1}),
        10.0,
    );
    let second = aggregate(&alice, None, "settings", json!({"n": 2}), 20.0);
    let other = aggregate(&alice, None, "profile", json!({"name": "node1"}), 15.0);
    for m in [&second, &first, &other] {
        node.publish(m).await;
    }
    let (status, body) = node.get(&format!("/api/v0/aggregates/{a}.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["address"], a);
    assert_eq!(
        body["data"],
        json!({"settings": {"theme": "dark", "n": 2}, "profile": {"name": "node1"}})
    );
    assert!(body.get("info").is_none());

    let (_, body) = node
        .get(&format!(
            "/api/v0/aggregates/{a}.json?keys=settings&with_info=true"
        ))
        .await;
    assert_eq!(body["data"], json!({"settings": {"theme": "dark", "n": 2}}));
    let info = &body["info"]["settings"];
    assert_eq!(info["original_item_hash"], hash_of(&first));
    assert_eq!(info["last_update_item_hash"], hash_of(&second));
    assert_eq!(info["created"], "1970-01-01T00:00:10.000000Z");

    let (_, body) = node
        .get(&format!(
            "/api/v0/aggregates/{a}.json?keys=profile&value_only=true"
        ))
        .await;
    assert_eq!(body, json!({"name": "node1"}));
    let (_, body) = node
        .get(&format!("/api/v0/aggregates/{a}.json?limit=1"))
        .await;
    assert_eq!(body["data"].as_object().unwrap().len(), 1);
    let (status, _) = node
        .get(&format!("/api/v0/aggregates/{a}.json?keys=missing"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = node.get(&format!("/api/v0/aggregates/{a}.txt")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let bob = Signer::sol(2);
    node.publish(&aggregate(&bob, None, "settings", json!({"b": true}), 30.0))
        .await;
    let (_, body) = node.get("/api/v0/aggregates.json?keys=settings").await;
    assert_eq!(body["pagination_total"], 2);
    assert_eq!(body["pagination_item"], "aggregates");
    assert_eq!(
        body["aggregates"][0]["address"],
        bob.address(),
        "last modified first"
    );
    let (_, body) = node
        .get(&format!("/api/v0/aggregates?addresses={a}&sortOrder=1"))
        .await;
    assert_eq!(body["aggregates"][0]["key"], "profile");
    assert_eq!(body["aggregates"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn delegations_are_listed_both_ways() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let grant = json!({"authorizations": [{"address": bob.address(), "channels": ["TEST"]}]});
    node.publish(&aggregate(&alice, None, "security", grant, 1.0))
        .await;
    let (_, body) = node
        .get(&format!(
            "/api/v0/authorizations/granted/{}.json",
            alice.address()
        ))
        .await;
    assert_eq!(body["authorizations"][0]["address"], bob.address());
    let (_, body) = node
        .get(&format!(
            "/api/v0/authorizations/received/{}.json",
            bob.address()
        ))
        .await;
    assert_eq!(body["authorizations"][0]["owner"], alice.address());
    assert_eq!(body["authorizations"][0]["channels"], json!(["TEST"]));
    // The delegate can now post for alice.
    let m = bob.message(
        "POST",
        json!({"type": "note", "address": alice.address(), "content": {}}),
        2.0,
        "TEST",
    );
    node.publish(&m).await;
    let (_, body) = node
        .get(&format!("/api/v0/messages.json?owners={}", alice.address()))
        .await;
    assert_eq!(body["pagination_total"], 2);
}
