//! The pipeline and its handlers on real signed messages and a real database.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/harness.rs"]
mod harness;
#[path = "support/signer.rs"]
mod signer;

use alephd_db::{MessageStatus, ops};
use alephd_processor::ProcessorConfig;
use harness::Harness;
use serde_json::json;
use signer::{Signer, aggregate, amend, forged, forget, hash_of, post};

async fn code(h: &Harness, hash: &str) -> i64 {
    assert_eq!(
        h.status(hash).await,
        Some(MessageStatus::Rejected),
        "{hash} should be rejected"
    );
    h.rejection(hash).await.unwrap().error_code
}

#[tokio::test]
async fn posts_amends_and_their_codes() {
    let h = Harness::new().await;
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let original = post(&alice, "note", json!({"v": 0}), 10.0);
    let a1 = amend(&alice, &hash_of(&original), json!({"v": 1}), 20.0);
    let a_old = amend(&alice, &hash_of(&original), json!({"v": "old"}), 15.0);
    let no_ref = alice.message(
        "POST",
        json!({"type": "amend", "content": {}}),
        21.0,
        "TEST",
    );
    let of_amend = amend(&alice, &hash_of(&a1), json!({}), 22.0);
    let by_bob = bob.message("POST", json!({"type": "amend", "ref": hash_of(&original), "address": alice.address(), "content": {}}), 23.0, "TEST");
    // The amend first: it waits for its target (101) and is applied once the original lands.
    h.settle(&[
        a1.clone(),
        original.clone(),
        a_old.clone(),
        no_ref.clone(),
        of_amend.clone(),
        by_bob.clone(),
    ])
    .await;

    for m in [&original, &a1, &a_old] {
        assert_eq!(h.status(&hash_of(m)).await, Some(MessageStatus::Processed));
    }
    assert_eq!(code(&h, &hash_of(&no_ref)).await, 100);
    assert_eq!(code(&h, &hash_of(&of_amend)).await, 102);
    assert_eq!(code(&h, &hash_of(&by_bob)).await, 2);
    let mut conn = h.db.read().await.unwrap();
    let row = ops::post(&mut conn, &hash_of(&original))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.latest_amend.as_deref(),
        Some(hash_of(&a1).as_str()),
        "newest content.time wins"
    );
}

#[tokio::test]
async fn amend_target_missing_is_retried_then_rejected_with_101() {
    let h = Harness::with_config(ProcessorConfig {
        max_retries: 3,
        verify_threads: 1,
        ..Default::default()
    })
    .await;
    let alice = Signer::eth(1);
    let orphan = amend(&alice, &"ab".repeat(32), json!({}), 1.0);
    h.deliver(std::slice::from_ref(&orphan)).await;
    h.run(1.0).await;
    assert_eq!(
        h.status(&hash_of(&orphan)).await,
        Some(MessageStatus::Pending)
    );
    h.drain().await;
    assert_eq!(code(&h, &hash_of(&orphan)).await, 101);
    assert_eq!(h.pending().await, 0);
}

#[tokio::test]
async fn aggregates_merge_by_time_with_hash_tie_break() {
    let h = Harness::new().await;
    let alice = Signer::sol(7);
    let a = alice.address();
    let g1 = aggregate(&alice, None, "profile", json!({"a": 1, "b": 1}), 10.0);
    let g2 = aggregate(&alice, None, "profile", json!({"b": 2}), 20.0);
    let g3 = aggregate(&alice, None, "profile", json!({"b": 3, "c": 3}), 20.0);
    let not_object = alice.message(
        "AGGREGATE",
        json!({"key": "profile", "content": [1]}),
        1.0,
        "TEST",
    );
    h.settle(&[g3.clone(), g2.clone(), g1.clone(), not_object.clone()])
        .await;
    let later = if hash_of(&g2) > hash_of(&g3) { 2 } else { 3 };
    assert_eq!(
        h.aggregate(&a, "profile").await.unwrap(),
        json!({"a": 1, "b": later, "c": 3})
    );
    assert_eq!(code(&h, &hash_of(&not_object)).await, 0);
}

#[tokio::test]
async fn security_delegation_with_filters_and_late_grant() {
    let h = Harness::new().await;
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let shared = aggregate(
        &bob,
        Some(&alice.address()),
        "shared",
        json!({"x": 1}),
        30.0,
    );
    let other_key = aggregate(
        &bob,
        Some(&alice.address()),
        "profile",
        json!({"evil": 1}),
        31.0,
    );
    let steal_security = aggregate(
        &bob,
        Some(&alice.address()),
        "security",
        json!({"authorizations": []}),
        32.0,
    );
    // Delegated messages first: rejected with 2, then re-queued by the grant.
    h.settle(&[shared.clone(), other_key.clone(), steal_security.clone()])
        .await;
    assert_eq!(code(&h, &hash_of(&shared)).await, 2);
    let grant = json!({"authorizations": [{"address": bob.address(), "types": ["AGGREGATE"], "aggregate_keys": ["shared", "security", "profile-not"]}]});
    h.settle(&[aggregate(&alice, None, "security", grant, 5.0)])
        .await;
    h.drain().await;
    assert_eq!(
        h.status(&hash_of(&shared)).await,
        Some(MessageStatus::Processed)
    );
    assert_eq!(
        h.aggregate(&alice.address(), "shared").await.unwrap(),
        json!({"x": 1})
    );
    assert_eq!(code(&h, &hash_of(&other_key)).await, 2);
    assert_eq!(
        code(&h, &hash_of(&steal_security)).await,
        2,
        "delegates never rewrite delegations"
    );
}

#[tokio::test]
async fn forget_before_target_tombstones_and_duplicates() {
    let h = Harness::new().await;
    let alice = Signer::eth(1);
    let carol = Signer::eth(3);
    let p = post(&alice, "note", json!({"v": 1}), 10.0);
    let a = amend(&alice, &hash_of(&p), json!({"v": 2}), 11.0);
    let f = forget(&alice, &[hash_of(&p)], &[], 20.0);
    let not_owner = forget(&carol, &[hash_of(&p)], &[], 21.0);
    let empty = forget(&alice, &[], &[], 22.0);
    let forget_forget = forget(&alice, &[hash_of(&f)], &[], 23.0);
    h.settle(&[f.clone(), not_owner.clone(), p.clone(), a.clone()])
        .await;
    assert_eq!(code(&h, &hash_of(&not_owner)).await, 2);
    h.settle(&[empty.clone(), forget_forget.clone()]).await;
    assert_eq!(code(&h, &hash_of(&empty)).await, 500);
    assert_eq!(code(&h, &hash_of(&forget_forget)).await, 502);
    assert_eq!(h.status(&hash_of(&p)).await, Some(MessageStatus::Forgotten));
    assert_eq!(
        h.status(&hash_of(&a)).await,
        Some(MessageStatus::Forgotten),
        "amends follow their original"
    );
    let mut conn = h.db.read().await.unwrap();
    let tomb = ops::forgotten(&mut conn, &hash_of(&p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.forgotten_by_list().unwrap(), vec![hash_of(&f)]);
    assert!(
        ops::message(&mut conn, &hash_of(&p))
            .await
            .unwrap()
            .is_none(),
        "content dropped"
    );
    assert!(ops::post(&mut conn, &hash_of(&p)).await.unwrap().is_none());
    drop(conn);
    // Submitted again: not even queued, it stays forgotten (the API answers 504).
    h.deliver(std::slice::from_ref(&p)).await;
    assert_eq!(h.pending().await, 0);
    assert_eq!(h.status(&hash_of(&p)).await, Some(MessageStatus::Forgotten));
}

#[tokio::test]
async fn forget_of_aggregate_key_covers_late_elements_up_to_its_time() {
    let h = Harness::new().await;
    let carol = Signer::sol(3);
    let old = aggregate(&carol, None, "k", json!({"v": 1, "old": true}), 10.0);
    let new = aggregate(&carol, None, "k", json!({"v": 2}), 100.0);
    let f = forget(&carol, &[], &["k"], 50.0);
    h.settle(&[new.clone(), f.clone()]).await;
    h.settle(std::slice::from_ref(&old)).await;
    assert_eq!(
        h.status(&hash_of(&old)).await,
        Some(MessageStatus::Forgotten)
    );
    assert_eq!(
        h.aggregate(&carol.address(), "k").await.unwrap(),
        json!({"v": 2})
    );
}

#[tokio::test]
async fn forged_signature_is_rejected_with_1_and_real_one_still_applies() {
    let h = Harness::new().await;
    let alice = Signer::eth(1);
    let p = post(&alice, "note", json!({}), 1.0);
    let fake = forged(&p, &Signer::eth(9));
    h.settle(std::slice::from_ref(&fake)).await;
    assert_eq!(code(&h, &hash_of(&p)).await, 1);
    h.settle(std::slice::from_ref(&p)).await;
    assert_eq!(h.status(&hash_of(&p)).await, Some(MessageStatus::Processed));
    let sol = Signer::sol(4);
    let q = post(&sol, "note", json!({}), 2.0);
    let mut tampered = q.clone();
    tampered["sender"] = json!(Signer::sol(5).address());
    h.settle(&[tampered]).await;
    assert_eq!(code(&h, &hash_of(&q)).await, 1);
}

#[tokio::test]
async fn non_inline_content_is_fetched_and_checked() {
    let h = Harness::new().await;
    let alice = Signer::eth(1);
    let content =
        json!({"address": alice.address(), "time": 5.0, "key": "big", "content": {"n": 1}});
    let hash = h
        .content
        .insert_sha256(content.to_string().into_bytes())
        .await;
    let buffer = format!("ETH\n{}\nAGGREGATE\n{}", alice.address(), hash.as_str());
    let message = json!({
        "sender": alice.address(), "chain": "ETH", "signature": alice.sign(&buffer), "type": "AGGREGATE",
        "item_type": "storage", "item_hash": hash.as_str(), "time": 5.0, "channel": "TEST",
    });
    let missing_hash = "cd".repeat(32);
    let buffer = format!("ETH\n{}\nPOST\n{missing_hash}", alice.address());
    let missing = json!({
        "sender": alice.address(), "chain": "ETH", "signature": alice.sign(&buffer), "type": "POST",
        "item_type": "storage", "item_hash": missing_hash, "time": 5.0, "channel": "TEST",
    });
    h.deliver(&[message.clone(), missing.clone()]).await;
    h.run(1.0).await;
    assert_eq!(
        h.aggregate(&alice.address(), "big").await.unwrap(),
        json!({"n": 1})
    );
    assert_eq!(
        h.status(&missing_hash).await,
        Some(MessageStatus::Pending),
        "content unavailable: retried (3)"
    );
    let p = ops::pending_for_hash(&mut h.db.read().await.unwrap(), &missing_hash)
        .await
        .unwrap();
    assert_eq!(p[0].last_error_code, Some(3));
}
