//! Posts v0 and v1 with amends merged, channels, per-address views, stats and state root.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/node.rs"]
mod node;
#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use node::Node;
use serde_json::json;
use signer::{Signer, amend, hash_of, post};

#[tokio::test]
async fn posts_v0_and_v1_merge_amends() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let original = post(
        &alice,
        "blog",
        json!({"title": "v0", "tags": ["rust"]}),
        100.0,
    );
    let edit = amend(
        &alice,
        &hash_of(&original),
        json!({"title": "v1", "tags": ["rust"]}),
        200.0,
    );
    let other = post(&alice, "note", json!({"n": 1}), 150.0);
    for m in [&original, &edit, &other] {
        node.publish(m).await;
    }
    let (_, body) = node.get("/api/v0/posts.json?types=blog").await;
    assert_eq!(body["pagination_total"], 1);
    assert_eq!(body["pagination_item"], "posts");
    let p = &body["posts"][0];
    assert_eq!(p["item_hash"], hash_of(&edit));
    assert_eq!(p["original_item_hash"], hash_of(&original));
    assert_eq!(p["hash"], hash_of(&original));
    assert_eq!(p["content"], json!({"title": "v1", "tags": ["rust"]}));
    assert_eq!(p["type"], "blog");
    assert_eq!(p["address"], alice.address());
    let expected_keys = [
        "chain",
        "item_hash",
        "sender",
        "type",
        "channel",
        "confirmed",
        "content",
        "item_content",
        "item_type",
        "signature",
        "size",
        "time",
        "confirmations",
        "original_item_hash",
        "original_signature",
        "original_type",
        "hash",
        "address",
        "ref",
    ];
    let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = expected_keys.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "the SDK's Post model forbids extra fields");

    let (_, body) = node.get("/api/v1/posts.json?tags=rust").await;
    let p = &body["posts"][0];
    assert_eq!(p["item_hash"], hash_of(&edit));
    assert_eq!(p["content"]["title"], "v1");
    assert_eq!(p["created"], "1970-01-01T00:01:40.000000Z");
    assert_eq!(p["last_updated"], "1970-01-01T00:03:20.000000Z");
    let (_, body) = node
        .get("/api/v1/posts/page/1.json?pagination=1&sortOrder=1")
        .await;
    assert_eq!(body["pagination_total"], 2);
    assert_eq!(body["posts"][0]["original_item_hash"], hash_of(&original));
    let (_, body) = node
        .get(&format!("/api/v0/posts.json?hashes={}", hash_of(&other)))
        .await;
    assert_eq!(body["posts"][0]["content"], json!({"n": 1}));

    let (_, body) = node.get("/api/v0/channels/list.json").await;
    assert_eq!(body["channels"], json!(["TEST"]));
    let (_, body) = node
        .get(&format!("/api/v0/addresses/{}/post_types", alice.address()))
        .await;
    assert_eq!(body["post_types"], json!(["blog", "note"]));
    let (_, body) = node
        .get(&format!("/api/v0/addresses/{}/channels", alice.address()))
        .await;
    assert_eq!(body["channels"], json!(["TEST"]));
    let (_, body) = node.get("/api/v1/addresses/stats.json").await;
    assert_eq!(body["data"][alice.address()]["post"], 3);
    assert_eq!(body["data"][alice.address()]["messages"], 3);

    let (_, root) = node.get("/api/v0/state_root.json").await;
    assert_eq!(root["messages"], 3);
    assert_eq!(root["posts"], 2);
    assert_eq!(root["root"].as_str().unwrap().len(), 64);
}
