//! Order independence: the same set of valid and invalid messages (posts, amends with equal
//! times, aggregates with equal times, a late security grant, forgets before their targets,
//! key forgets, forgeries, duplicates) delivered in any order, in any chunking, gives the
//! same state root.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/harness.rs"]
mod harness;
#[path = "support/signer.rs"]
mod signer;

use harness::Harness;
use proptest::prelude::*;
use serde_json::{Value, json};
use signer::{Signer, aggregate, amend, forged, forget, hash_of, post};

fn message_set() -> Vec<Value> {
    let alice = Signer::eth(1);
    let bob = Signer::sol(2);
    let carol = Signer::eth(3);
    let a = alice.address();
    let p1 = post(&alice, "note", json!({"v": 0, "tags": ["t"]}), 10.0);
    let p2 = post(&bob, "note", json!({"bob": true}), 40.0);
    let p3 = post(&carol, "note", json!({"carol": 1}), 10.0);
    let p4 = post(&alice, "blog", json!({"v": 0}), 15.0);
    let a4 = amend(&alice, &hash_of(&p1), json!({"v": 4}), 25.0);
    let g4 = aggregate(&carol, None, "k", json!({"v": 1}), 10.0);
    vec![
        p1.clone(),
        amend(&alice, &hash_of(&p1), json!({"v": 1}), 20.0),
        amend(&alice, &hash_of(&p1), json!({"v": 2}), 20.0),
        // Not the owner of the original: always PERMISSION_DENIED.
        amend(&bob, &hash_of(&p1), json!({"v": "bob"}), 30.0),
        a4.clone(),
        forget(&alice, &[hash_of(&a4)], &[], 70.0),
        aggregate(&alice, None, "profile", json!({"a": 1, "b": 1}), 10.0),
        aggregate(&alice, None, "profile", json!({"b": 2}), 20.0),
        aggregate(&alice, None, "profile", json!({"b": 3, "c": 3}), 20.0),
        aggregate(
            &alice,
            None,
            "security",
            json!({"authorizations": [{"address": bob.address(), "types": ["AGGREGATE", "POST"], "aggregate_keys": ["shared"]}]}),
            5.0,
        ),
        aggregate(&bob, Some(&a), "shared", json!({"x": 1}), 30.0),
        aggregate(&bob, Some(&a), "profile", json!({"evil": 1}), 31.0),
        bob.message(
            "POST",
            json!({"type": "delegated", "address": a, "content": {"by": "bob"}}),
            32.0,
            "TEST",
        ),
        p2.clone(),
        forget(&bob, &[hash_of(&p2)], &[], 50.0),
        p3.clone(),
        forget(&alice, &[hash_of(&p3)], &[], 60.0),
        g4.clone(),
        aggregate(&carol, None, "k", json!({"v": 2}), 100.0),
        forget(&carol, &[], &["k"], 50.0),
        p4.clone(),
        amend(&alice, &hash_of(&p4), json!({"v": 1}), 16.0),
        forget(&alice, &[hash_of(&p4)], &[], 80.0),
        forged(&p1, &carol),
        forged(&g4, &alice),
    ]
}

fn root_of(order: &[usize], duplicates: &[usize], chunk: usize) -> (String, u64, u64) {
    let set = message_set();
    let mut delivery: Vec<Value> = order.iter().map(|&i| set[i].clone()).collect();
    for &d in duplicates {
        let at = (d * 7) % (delivery.len() + 1);
        delivery.insert(at, set[d % set.len()].clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Harness::new().await;
        // Chunks are processed as they arrive: later chunks see earlier results.
        for part in delivery.chunks(chunk.max(1)) {
            h.deliver(part).await;
            h.run(1.0).await;
        }
        h.drain().await;
        assert_eq!(h.pending().await, 0, "everything settles");
        let root = h.root().await;
        (root.root, root.messages, root.aggregates)
    })
}

#[test]
fn in_order_delivery_applies_what_it_should() {
    let n = message_set().len();
    let (_, messages, aggregates) = root_of(&(0..n).collect::<Vec<_>>(), &[], n);
    // Applied: p1, 2 amends, 3 profile elements, security, shared, delegated post,
    // 3 forgets by their owners (a4, p2, p4 + its amend forgotten), carol's p3 (alice may
    // not forget it), carol's k@100 and her key forget.
    assert_eq!(messages, 15);
    // profile, security, shared (alice), k (carol).
    assert_eq!(aggregates, 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_gives_the_same_state_root(
        order in Just((0..message_set().len()).collect::<Vec<usize>>()).prop_shuffle(),
        duplicates in proptest::collection::vec(0..message_set().len(), 0..6),
        chunk in 1usize..8,
    ) {
        let n = message_set().len();
        let reference = root_of(&(0..n).collect::<Vec<_>>(), &[], n);
        let shuffled = root_of(&order, &duplicates, chunk);
        prop_assert_eq!(shuffled, reference);
    }
}
