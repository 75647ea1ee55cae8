//! Message routes against an in-process node: submit (sync/async), every status shape,
//! listing filters and pagination, and bad input rejected with the right code.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/node.rs"]
mod node;
#[path = "../../alephd-processor/tests/support/signer.rs"]
mod signer;

use axum::http::StatusCode;
use node::Node;
use serde_json::{Value, json};
use signer::{Signer, amend, forged, forget, hash_of, post};

#[tokio::test]
async fn async_submit_is_202_then_processed_with_api_shape() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let m = post(&alice, "note", json!({"body": "hello"}), 1_700_000_000.5);
    let (status, body) = node.submit(&m, false).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body["publication_status"],
        json!({"status": "success", "failed": []})
    );
    assert_eq!(body["message_status"], "pending");
    let hash = hash_of(&m);
    assert_eq!(node.wait_settled(&hash).await, "processed");

    let (status, body) = node.get(&format!("/api/v0/messages/{hash}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "processed");
    assert!(body["reception_time"].as_str().unwrap().ends_with('Z'));
    let msg = &body["message"];
    for field in [
        "sender",
        "chain",
        "signature",
        "type",
        "item_type",
        "item_content",
        "item_hash",
        "time",
        "channel",
    ] {
        assert_eq!(msg[field], m[field], "{field}");
    }
    assert_eq!(msg["content"]["content"], json!({"body": "hello"}));
    assert_eq!(msg["confirmed"], false);
    assert_eq!(msg["confirmations"], json!([]));

    let (_, content) = node.get(&format!("/api/v0/messages/{hash}/content")).await;
    assert_eq!(content, json!({"body": "hello"}));
    // Submitting again is harmless and reports the known status.
    let (status, body) = node.submit(&m, true).await;
    assert_eq!(
        (status, body["message_status"].clone()),
        (StatusCode::OK, json!("processed"))
    );
}

#[tokio::test]
async fn sync_submit_reports_rejection_codes() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let carol = Signer::sol(3);
    let original = post(&alice, "note", json!({}), 10.0);
    node.publish(&original).await;

    let cases: Vec<(Value, i64)> = vec![
        (forged(&post(&alice, "note", json!({"x": 1}), 11.0), &carol), 1),
        (forged(&post(&carol, "note", json!({"x": 2}), 11.0), &Signer::sol(4)), 1),
        (carol.message("POST", json!({"type": "amend", "ref": hash_of(&original), "address": alice.address(), "content": {}}), 12.0, "TEST"), 2),
        (carol.message("AGGREGATE", json!({"key": "k", "address": alice.address(), "content": {}}), 13.0, "TEST"), 2),
        (forget(&carol, &[hash_of(&original)], &[], 14.0), 2),
        (alice.message("POST", json!({"type": "amend", "content": {}}), 15.0, "TEST"), 100),
        (forget(&alice, &[], &[], 16.0), 500),
    ];
    for (message, code) in cases {
        let (status, body) = node.submit(&message, true).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["message_status"], "rejected");
        assert_eq!(body["error_code"], code, "{message}");
        let (status, body) = node
            .get(&format!("/api/v0/messages/{}", hash_of(&message)))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "rejected");
        assert_eq!(body["error_code"], code);
        assert_eq!(body["message"]["signature"], message["signature"]);
    }
    // Nothing was applied: the original is intact and un-amended.
    let (_, body) = node.get("/api/v0/posts.json").await;
    assert_eq!(body["posts"].as_array().unwrap().len(), 1);
    assert_eq!(body["posts"][0]["item_hash"], hash_of(&original));
    let (status, _) = node
        .get(&format!("/api/v0/aggregates/{}.json", alice.address()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_submissions_are_422_and_nothing_is_queued() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let good = post(&alice, "note", json!({}), 1.0);
    let mut wrong_hash = good.clone();
    wrong_hash["item_hash"] = json!("00".repeat(32));
    let mut unknown_chain = good.clone();
    unknown_chain["chain"] = json!("NOPE");
    let huge = post(&alice, "note", json!({"blob": "x".repeat(200_001)}), 2.0);
    let mut bad_content = good.clone();
    bad_content["item_content"] = json!("{not json");
    bad_content["item_hash"] = json!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"{not json"
    )));
    for message in [
        wrong_hash,
        unknown_chain,
        huge,
        bad_content,
        json!("a string"),
        json!({}),
    ] {
        let (status, body) = node.submit(&message, false).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message:.200}: {body}"
        );
    }
    let (status, _) = node
        .request("POST", "/api/v0/messages", Some(b"{oops".to_vec()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = node.post("/api/v0/messages", &json!({"sync": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, body) = node.get("/api/v0/messages/hashes?status=pending").await;
    assert_eq!(body["pagination_total"], 0);
    let (status, _) = node.get("/api/v0/messages/not-a-hash").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = node
        .get(&format!("/api/v0/messages/{}", "ab".repeat(32)))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pending_and_forgotten_shapes() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let orphan = amend(&alice, &"ef".repeat(32), json!({}), 1.0);
    let (status, body) = node.submit(&orphan, true).await;
    assert_eq!(
        (status, body["message_status"].clone()),
        (StatusCode::ACCEPTED, json!("pending"))
    );
    assert_eq!(body["error_code"], 101);
    let (_, body) = node
        .get(&format!("/api/v0/messages/{}", hash_of(&orphan)))
        .await;
    assert_eq!(body["status"], "pending");
    assert_eq!(body["messages"][0]["item_hash"], hash_of(&orphan));
    assert_eq!(body["messages"][0]["content"], Value::Null);

    let p = post(&alice, "note", json!({}), 2.0);
    node.publish(&p).await;
    let f = forget(&alice, &[hash_of(&p)], &[], 3.0);
    node.publish(&f).await;
    let (_, body) = node.get(&format!("/api/v0/messages/{}", hash_of(&p))).await;
    assert_eq!(body["status"], "forgotten");
    assert_eq!(body["forgotten_by"], json!([hash_of(&f)]));
    assert_eq!(body["message"]["sender"], alice.address());
    assert!(body["message"].get("content").is_none());
    let (status, body) = node.submit(&p, true).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(504))
    );
    let (status, _) = node
        .get(&format!("/api/v0/messages/{}/content", hash_of(&p)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn messages_json_filters_sorts_pages_and_cursors() {
    let node = Node::start().await;
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let mut hashes = Vec::new();
    for i in 0..25 {
        let signer = if i % 2 == 0 { &alice } else { &bob };
        let m = if i % 5 == 0 {
            signer.message(
                "AGGREGATE",
                json!({"key": format!("k{i}"), "content": {"i": i}}),
                100.0 + f64::from(i),
                "AGG",
            )
        } else {
            post(
                signer,
                if i % 3 == 0 { "blog" } else { "note" },
                json!({"i": i, "tags": [format!("t{}", i % 4)]}),
                100.0 + f64::from(i),
            )
        };
        hashes.push(hash_of(&m));
        node.publish(&m).await;
    }
    let (status, body) = node.get("/api/v0/messages.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pagination_total"], 25);
    assert_eq!(body["pagination_per_page"], 20);
    assert_eq!(body["pagination_page"], 1);
    assert_eq!(body["pagination_item"], "messages");
    assert_eq!(body["messages"].as_array().unwrap().len(), 20);
    assert_eq!(body["messages"][0]["item_hash"], hashes[24], "newest first");

    let (_, body) = node.get("/api/v0/messages/page/2.json?pagination=10").await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 10);
    assert_eq!(body["messages"][0]["item_hash"], hashes[14]);

    let count = |body: &Value| body["pagination_total"].as_i64().unwrap();
    let (_, body) = node
        .get(&format!(
            "/api/v0/messages.json?addresses={}",
            bob.address()
        ))
        .await;
    assert_eq!(count(&body), 12);
    let (_, body) = node.get("/api/v0/messages.json?msgTypes=AGGREGATE").await;
    assert_eq!(count(&body), 5);
    let (_, body) = node
        .get("/api/v0/messages.json?msg_type=POST&channels=TEST")
        .await;
    assert_eq!(count(&body), 20);
    let (_, body) = node.get("/api/v0/messages.json?contentTypes=blog").await;
    assert_eq!(count(&body), 7);
    let (_, body) = node.get("/api/v0/messages.json?contentKeys=k5,k10").await;
    assert_eq!(count(&body), 2);
    let (_, body) = node.get("/api/v0/messages.json?tags=t1").await;
    assert_eq!(count(&body), 5);
    let (_, body) = node
        .get("/api/v0/messages.json?startDate=110&endDate=115")
        .await;
    assert_eq!(count(&body), 5);
    let (_, body) = node
        .get(&format!(
            "/api/v0/messages.json?hashes={},{}&sortOrder=1",
            hashes[3], hashes[1]
        ))
        .await;
    assert_eq!(body["messages"][0]["item_hash"], hashes[1]);
    let (_, body) = node
        .get("/api/v0/messages.json?chains=SOL&sort_order=1&pagination=0")
        .await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 12);
    let (_, body) = node.get("/api/v0/messages.json?msgStatuses=rejected").await;
    assert_eq!(count(&body), 0);
    for bad in [
        "msgTypes=NOPE",
        "sortOrder=2",
        "page=0",
        "pagination=-1",
        "chains=XX",
        "cursor=zz",
    ] {
        let (status, _) = node.get(&format!("/api/v0/messages.json?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    // Cursor mode walks everything once.
    let mut seen = Vec::new();
    let mut uri = "/api/v0/messages.json?cursor=&pagination=7".to_owned();
    loop {
        let (_, body) = node.get(&uri).await;
        seen.extend(
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["item_hash"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v0/messages.json?cursor={c}&pagination=7"),
            None => break,
        }
    }
    let mut expected = hashes.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let (_, body) = node.get("/api/v0/messages/hashes?pagination=5").await;
    assert_eq!(body["pagination_total"], 25);
    assert_eq!(body["hashes"].as_array().unwrap().len(), 5);
    assert!(body["hashes"][0].is_string());
}

#[tokio::test]
async fn legacy_pubsub_publish() {
    let node = Node::start().await;
    let m = post(&Signer::sol(5), "note", json!({}), 1.0);
    let (status, _) = node
        .post(
            "/api/v0/ipfs/pubsub/pub",
            &json!({"topic": "OTHER", "data": m.to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = node
        .post(
            "/api/v0/p2p/pubsub/pub",
            &json!({"topic": "ALEPH-TEST", "data": m.to_string()}),
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("success"))
    );
    assert_eq!(node.wait_settled(&hash_of(&m)).await, "processed");
}
