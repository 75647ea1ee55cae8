//! STORE, PROGRAM and INSTANCE through the pipeline with the real storage engine: file pins
//! and tags, VM references, balances and costs, and the removal of unpaid resources.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

#[path = "support/signer.rs"]
mod signer;

use std::sync::Arc;

use alephd_db::{Db, MessageStatus, NewPending, ops};
use alephd_processor::{
    Pipeline, ProcessorConfig, StoreFetcher,
    billing::{self, BillingConfig},
    lifecycle,
};
use alephd_storage::{AddOptions, ContentRef, Engine, StorageConfig, Store};
use serde_json::{Value, json};
use signer::{Signer, forget, hash_of};

/// Message time: after costs started, before the credit-only cutoff.
const T: f64 = 1_790_000_000.0;
const MIB: usize = 1024 * 1024;

struct Node {
    _dir: tempfile::TempDir,
    db: Db,
    store: Store,
    pipeline: Pipeline,
    billing: BillingConfig,
}

impl Node {
    async fn new(billing: BillingConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store"), StorageConfig::default())
            .await
            .unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let config = ProcessorConfig {
            verify_threads: 2,
            max_retries: 3,
            billing: billing.clone(),
            ..Default::default()
        };
        let pipeline = Pipeline::new(
            db.clone(),
            Arc::new(StoreFetcher::new(store.clone())),
            config,
            events,
        );
        Self {
            _dir: dir,
            db,
            store,
            pipeline,
            billing,
        }
    }

    /// Stores bytes as an upload without a message would (grace pin); returns the sha256.
    async fn upload(&self, bytes: Vec<u8>) -> String {
        let added = self
            .store
            .add_bytes(bytes.into(), AddOptions::new(Engine::Storage, 1 << 30))
            .await
            .unwrap();
        added.content.to_string()
    }

    async fn deliver(&self, messages: &[Value]) {
        let mut tx = self.db.begin().await.unwrap();
        for m in messages {
            let text = m.to_string();
            let pending = NewPending {
                item_hash: m["item_hash"].as_str().unwrap(),
                sender: m["sender"].as_str().unwrap(),
                signature: m["signature"].as_str().unwrap(),
                message: &text,
                origin: "test",
                reception_time: 0.0,
            };
            ops::enqueue(&mut tx, &pending).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// One pass at time `now` (retries not yet due stay queued).
    async fn run(&self, now: f64) {
        while self.pipeline.run_batch(now).await.unwrap() > 0 {}
    }

    /// Delivers and processes with the clock moved past every backoff.
    async fn settle(&self, messages: &[Value]) {
        self.deliver(messages).await;
        let mut now = 1.0;
        for _ in 0..6 {
            self.run(now).await;
            now += 1000.0;
        }
    }

    async fn status(&self, m: &Value) -> Option<MessageStatus> {
        let mut conn = self.db.read().await.unwrap();
        ops::status(&mut conn, &hash_of(m))
            .await
            .unwrap()
            .map(|s| s.status)
    }

    async fn code(&self, m: &Value) -> i64 {
        assert_eq!(self.status(m).await, Some(MessageStatus::Rejected), "{m}");
        let mut conn = self.db.read().await.unwrap();
        ops::rejected(&mut conn, &hash_of(m))
            .await
            .unwrap()
            .unwrap()
            .error_code
    }

    async fn pins(&self, file: &str) -> Option<u64> {
        let target: ContentRef = file.parse().unwrap();
        self.store.stat(&target).await.unwrap().map(|s| s.pins)
    }
}

fn store_msg(signer: &Signer, file: &str, extra: Value, time: f64) -> Value {
    let mut content = json!({"item_type": "storage", "item_hash": file, "time": time});
    if let (Some(c), Value::Object(e)) = (content.as_object_mut(), extra) {
        c.extend(e);
    }
    signer.message("STORE", content, time, "TEST")
}

fn balances(oracle: &Signer, address: &str, amount: f64, height: i64, time: f64) -> Value {
    oracle.message(
        "POST",
        json!({"type": "balances-update", "content": {"chain": "ETH", "main_height": height,
               "balances": {address: amount}}}),
        time,
        "TEST",
    )
}

fn program(signer: &Signer, code: &str, runtime: &str, extra: Value, time: f64) -> Value {
    let mut content = json!({
        "type": "vm-function", "allow_amend": true, "time": time,
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": code, "use_latest": false},
        "runtime": {"ref": runtime, "use_latest": true, "comment": "test runtime"},
        "on": {"http": true, "message": [{"sender": "0xabc"}]},
        "environment": {"internet": false},
        "resources": {"vcpus": 1, "memory": 2048, "seconds": 30},
        "volumes": [],
    });
    if let (Some(c), Value::Object(e)) = (content.as_object_mut(), extra) {
        c.extend(e);
    }
    signer.message("PROGRAM", content, time, "TEST")
}

#[tokio::test]
async fn store_pins_its_file_tags_versions_and_forget_releases_it() {
    let node = Node::new(BillingConfig::default()).await;
    let alice = Signer::eth(1);
    let bob = Signer::eth(2);
    let v1 = node.upload(b"version one".to_vec()).await;
    let v2 = node.upload(b"version two".to_vec()).await;
    let s1 = store_msg(&alice, &v1, json!({}), T);
    let s2 = store_msg(&alice, &v2, json!({"ref": hash_of(&s1)}), T + 1.0);
    let s3 = store_msg(&alice, &v2, json!({"ref": hash_of(&s2)}), T + 2.0);
    let by_bob = store_msg(&bob, &v2, json!({"ref": hash_of(&s1)}), T + 3.0);
    let unknown_ref = store_msg(&alice, &v2, json!({"ref": "a".repeat(64)}), T + 4.0);
    // The update first: it waits for the STORE it versions (200), then applies.
    node.settle(&[
        s2.clone(),
        s1.clone(),
        s3.clone(),
        by_bob.clone(),
        unknown_ref.clone(),
    ])
    .await;
    assert_eq!(node.status(&s1).await, Some(MessageStatus::Processed));
    assert_eq!(node.status(&s2).await, Some(MessageStatus::Processed));
    assert_eq!(node.code(&s3).await, 201);
    assert_eq!(node.code(&by_bob).await, 2);
    assert_eq!(node.code(&unknown_ref).await, 200);
    let mut conn = node.db.read().await.unwrap();
    let latest = ops::tag_latest(&mut conn, &hash_of(&s1), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.item_hash, hash_of(&s2));
    let pin = ops::file_pin(&mut conn, &hash_of(&s1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pin.size, 11);
    let message = ops::message(&mut conn, &hash_of(&s1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.size, 11, "a STORE's size is its file's");
    drop(conn);
    // Upload grace pin + the message's pin.
    assert_eq!(node.pins(&v1).await, Some(2));

    let f = forget(&alice, &[hash_of(&s1)], &[], T + 10.0);
    node.settle(std::slice::from_ref(&f)).await;
    assert_eq!(node.status(&s1).await, Some(MessageStatus::Forgotten));
    assert_eq!(node.pins(&v1).await, Some(1), "only the grace pin is left");
    let mut conn = node.db.read().await.unwrap();
    assert!(
        ops::file_pin(&mut conn, &hash_of(&s1))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn store_of_an_absent_file_waits_and_applies_once_it_arrives() {
    let node = Node::new(BillingConfig::default()).await;
    let alice = Signer::eth(1);
    let bytes = b"arrives late".to_vec();
    let file = alephd_message::ItemHash::sha256_of(&bytes)
        .as_str()
        .to_owned();
    let s = store_msg(&alice, &file, json!({}), T);
    node.deliver(std::slice::from_ref(&s)).await;
    node.run(1.0).await;
    assert_eq!(node.status(&s).await, Some(MessageStatus::Pending));
    let mut conn = node.db.read().await.unwrap();
    let queued = ops::pending_for_hash(&mut conn, &hash_of(&s))
        .await
        .unwrap();
    assert_eq!(queued[0].last_error_code, Some(4));
    drop(conn);
    node.upload(bytes).await;
    node.run(1000.0).await;
    assert_eq!(node.status(&s).await, Some(MessageStatus::Processed));
}

#[tokio::test]
async fn vm_references_replaces_and_forget_rules() {
    let oracle = Signer::eth(9);
    let node = Node::new(paid_config(&oracle)).await;
    let alice = Signer::eth(1);
    node.settle(&[balances(&oracle, &alice.address(), 10_000.0, 1, T)])
        .await;
    let code_file = node.upload(vec![1; 1000]).await;
    let runtime_file = node.upload(vec![2; 3 * MIB]).await;
    let code = store_msg(&alice, &code_file, json!({}), T);
    let runtime = store_msg(&alice, &runtime_file, json!({}), T);
    let p = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({}),
        T + 1.0,
    );
    let missing = program(
        &alice,
        &"b".repeat(64),
        &hash_of(&runtime),
        json!({}),
        T + 2.0,
    );
    let locked = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"allow_amend": false}),
        T + 3.0,
    );
    let update = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"replaces": hash_of(&p)}),
        T + 4.0,
    );
    let update_of_update = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"replaces": hash_of(&update)}),
        T + 5.0,
    );
    let of_locked = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"replaces": hash_of(&locked)}),
        T + 6.0,
    );
    let of_unknown = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"replaces": "c".repeat(64)}),
        T + 7.0,
    );
    let too_small = program(
        &alice,
        &hash_of(&code),
        &hash_of(&runtime),
        json!({"volumes": [
        {"name": "data", "mount": "/data", "size_mib": 1, "persistence": "host",
         "parent": {"ref": hash_of(&runtime), "use_latest": false}}]}),
        T + 8.0,
    );
    // The program before its STOREs: it waits (301) and applies when they arrive.
    node.settle(&[p.clone(), code.clone(), runtime.clone()])
        .await;
    assert_eq!(node.status(&p).await, Some(MessageStatus::Processed));
    node.settle(&[missing.clone(), locked.clone()]).await;
    node.settle(std::slice::from_ref(&update)).await;
    node.settle(&[
        update_of_update.clone(),
        of_locked.clone(),
        of_unknown.clone(),
        too_small.clone(),
    ])
    .await;
    assert_eq!(node.code(&missing).await, 301);
    assert_eq!(node.status(&update).await, Some(MessageStatus::Processed));
    assert_eq!(node.code(&update_of_update).await, 303);
    assert_eq!(node.code(&of_locked).await, 302);
    assert_eq!(node.code(&of_unknown).await, 300);
    assert_eq!(node.code(&too_small).await, 304);

    // The code STORE is used by live programs: it cannot be forgotten (503).
    let f = forget(&alice, &[hash_of(&code)], &[], T + 20.0);
    node.settle(std::slice::from_ref(&f)).await;
    assert_eq!(node.code(&f).await, 503);
    assert_eq!(node.status(&code).await, Some(MessageStatus::Processed));

    // A program's recorded cost: 1 CU × 200 held; volumes within the included disk.
    let mut conn = node.db.read().await.unwrap();
    let lines = ops::costs_of(&mut conn, &hash_of(&p)).await.unwrap();
    assert_eq!(billing::total_of(&lines, "hold"), 200.0);
    let on_message = ops::programs_on_message(&mut conn).await.unwrap();
    assert!(on_message.iter().any(|v| v.item_hash == hash_of(&update)));
}

fn paid_config(oracle: &Signer) -> BillingConfig {
    BillingConfig {
        balance_senders: vec![oracle.address()],
        credit_senders: vec![oracle.address()],
        credit_channels: vec![],
        free_store_mib: 0.0,
        ..Default::default()
    }
}

#[tokio::test]
async fn balances_and_costs_gate_new_resources() {
    let oracle = Signer::eth(9);
    let node = Node::new(paid_config(&oracle)).await;
    let alice = Signer::eth(1);
    let file = node.upload(vec![7; 3 * MIB]).await; // 3 MiB × 1/3 token = ~1 token held
    let poor = store_msg(&alice, &file, json!({}), T);
    node.settle(std::slice::from_ref(&poor)).await;
    assert_eq!(node.code(&poor).await, 5);
    let mut conn = node.db.read().await.unwrap();
    let details = ops::rejected(&mut conn, &hash_of(&poor))
        .await
        .unwrap()
        .unwrap()
        .details
        .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        details["errors"][0]["account_balance"],
        "0.000000000000000000"
    );
    assert_eq!(
        details["errors"][0]["required_balance"],
        "0.999999999000000000"
    );
    drop(conn);

    // A stranger's balances-update changes nothing; the oracle's does.
    let fake = balances(&alice, &alice.address(), 1e9, 1, T);
    let real = balances(&oracle, &alice.address(), 5.0, 1, T);
    let paid = store_msg(&alice, &file, json!({}), T + 1.0);
    node.settle(&[fake]).await;
    let mut conn = node.db.read().await.unwrap();
    assert_eq!(
        billing::token_balance(&mut conn, &alice.address())
            .await
            .unwrap(),
        0.0
    );
    drop(conn);
    node.settle(&[real]).await;
    node.settle(std::slice::from_ref(&paid)).await;
    assert_eq!(node.status(&paid).await, Some(MessageStatus::Processed));

    // After the hold cutoff an INSTANCE cannot hold (202); with credits it needs a day's
    // worth (6), then passes once credits are distributed.
    let rootfs = store_msg(&alice, &node.upload(vec![3; 1000]).await, json!({}), T);
    node.settle(std::slice::from_ref(&rootfs)).await;
    let instance = |payment: &str, time: f64| {
        alice.message(
            "INSTANCE",
            json!({
                "allow_amend": false, "time": time,
                "environment": {"internet": true, "aleph_api": true},
                "resources": {"vcpus": 1, "memory": 2048, "seconds": 30},
                "payment": {"chain": "ETH", "type": payment},
                "requirements": {"node": {"node_hash": "d".repeat(64)}},
                "rootfs": {"parent": {"ref": hash_of(&rootfs), "use_latest": false},
                           "persistence": "host", "size_mib": 20480},
                "volumes": [],
            }),
            time,
            "TEST",
        )
    };
    let held = instance("hold", T + 2.0);
    let credit = instance("credit", T + 3.0);
    node.settle(&[held.clone(), credit.clone()]).await;
    assert_eq!(node.code(&held).await, 202);
    assert_eq!(node.code(&credit).await, 6);
    let credits = oracle.message("POST", json!({"type": "aleph_credit_distribution",
        "content": {"distribution": {"credits": [{"address": alice.address(), "amount": 1_000_000_000,
            "price": "1", "tx_hash": "0x1", "provider": "test"}]}}}), T + 4.0, "ALEPH_CREDIT");
    let credit2 = instance("credit", T + 5.0);
    node.settle(&[credits, credit2.clone()]).await;
    assert_eq!(node.status(&credit2).await, Some(MessageStatus::Processed));
    let mut conn = node.db.read().await.unwrap();
    // 1 CU at 14 250 credits/hour; the rootfs fits in the included 20 GiB.
    let lines = ops::costs_of(&mut conn, &hash_of(&credit2)).await.unwrap();
    let per_second = billing::total_of(&lines, "credit");
    assert!(
        (per_second - 14_250.0 / 3600.0).abs() < 1e-9,
        "{per_second}"
    );
}

#[tokio::test]
async fn estimates_follow_the_spec_formulas_on_real_messages() {
    let node = Node::new(BillingConfig::default()).await;
    let vectors = |file: &str| -> Vec<Value> {
        let path = format!(
            "{}/../../fixtures/vectors/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let program = vectors("messages-program.json")
        .into_iter()
        .find(|v| v["name"] == "aleph-rs:program.json")
        .unwrap()["message"]
        .clone();
    let mut conn = node.db.read().await.unwrap();
    let estimate = billing::estimate(&mut conn, &node.billing, &program)
        .await
        .unwrap();
    // 2 vCPU / 4 GiB → 2 CU, ×2 for an on-demand program with internet, 200 held per CU.
    assert_eq!(estimate.payment_type, "hold");
    assert_eq!(estimate.total, 800.0);
    assert_eq!(estimate.to_json()["cost"], "800.000000000000000000");

    let instance = vectors("messages-instance.json")
        .into_iter()
        .find(|v| v["name"] == "aleph-rs:instance-gpu-payg.json")
        .unwrap()["message"]
        .clone();
    let estimate = billing::estimate(&mut conn, &node.billing, &instance)
        .await
        .unwrap();
    // An L40S is 12 GPU-standard CUs at 0.28/hour streamed; the 720 GiB rootfs is within the
    // 12 × 60 GiB included disk.
    assert_eq!(estimate.payment_type, "superfluid");
    assert!(
        (estimate.total - 12.0 * 0.28 / 3600.0).abs() < 1e-12,
        "{}",
        estimate.total
    );

    // A STORE estimate with the CLI's `estimated_size_mib` hint: 30 MiB × 0.333333333.
    let store = json!({"type": "STORE", "sender": "0xWeDoNotNeedARealAddress", "content": {
        "address": "0xWeDoNotNeedARealAddress", "time": T, "item_type": "storage",
        "estimated_size_mib": 30, "item_hash": "e".repeat(64)}});
    let estimate = billing::estimate(&mut conn, &node.billing, &store)
        .await
        .unwrap();
    assert!(
        (estimate.total - 9.99999999).abs() < 1e-9,
        "{}",
        estimate.total
    );

    // The vector PROGRAM's refs are not on this node: it waits for them (301).
    drop(conn);
    node.deliver(std::slice::from_ref(&program)).await;
    node.run(1.0).await;
    let mut conn = node.db.read().await.unwrap();
    let queued = ops::pending_for_hash(&mut conn, &hash_of(&program))
        .await
        .unwrap();
    assert_eq!(queued[0].last_error_code, Some(301));
}

#[tokio::test]
async fn unpaid_files_go_removing_then_removed_and_paid_ones_stay() {
    let oracle = Signer::eth(9);
    let node = Node::new(paid_config(&oracle)).await;
    let alice = Signer::eth(1);
    let bob = Signer::eth(2);
    let alice_file = node.upload(vec![1; 3 * MIB]).await;
    let bob_file = node.upload(vec![2; 3 * MIB]).await;
    node.settle(&[
        balances(&oracle, &alice.address(), 10.0, 1, T),
        balances(&oracle, &bob.address(), 10.0, 1, T),
    ])
    .await;
    let a = store_msg(&alice, &alice_file, json!({}), T);
    let b = store_msg(&bob, &bob_file, json!({}), T);
    node.settle(&[a.clone(), b.clone()]).await;
    // Uploads' grace pins expire: only the messages keep the files now.
    node.store.gc_at(i64::MAX / 2).await.unwrap();
    assert_eq!(node.pins(&alice_file).await, Some(1));

    let config = node.billing.clone();
    let now = T + 100.0;
    // Alice's balance drops below what her file costs.
    node.settle(&[balances(&oracle, &alice.address(), 0.5, 2, T + 50.0)])
        .await;
    let report = lifecycle::balance_sweep(&node.db, &config, now)
        .await
        .unwrap();
    assert_eq!(report.to_removing, 1);
    assert_eq!(node.status(&a).await, Some(MessageStatus::Removing));
    assert_eq!(node.status(&b).await, Some(MessageStatus::Processed));

    // Topped up in time: back to processed; nothing removed at any time.
    node.settle(&[balances(&oracle, &alice.address(), 2.0, 3, T + 60.0)])
        .await;
    let report = lifecycle::balance_sweep(&node.db, &config, now + 10.0)
        .await
        .unwrap();
    assert_eq!(report.to_processed, 1);
    assert_eq!(node.status(&a).await, Some(MessageStatus::Processed));
    let removed = lifecycle::removal_pass(&node.db, Some(&node.store), &config, now + 1e9)
        .await
        .unwrap();
    assert_eq!(removed.removed, 0);
    assert_eq!(node.pins(&alice_file).await, Some(1));

    // Drops again: removing, still served before the grace period ends, removed after.
    node.settle(&[balances(&oracle, &alice.address(), 0.0, 4, T + 70.0)])
        .await;
    lifecycle::balance_sweep(&node.db, &config, now + 20.0)
        .await
        .unwrap();
    let early = lifecycle::removal_pass(
        &node.db,
        Some(&node.store),
        &config,
        now + 20.0 + config.removal_grace_secs - 1.0,
    )
    .await
    .unwrap();
    assert_eq!(early.removed, 0);
    assert_eq!(node.pins(&alice_file).await, Some(1));
    let late = lifecycle::removal_pass(
        &node.db,
        Some(&node.store),
        &config,
        now + 20.0 + config.removal_grace_secs,
    )
    .await
    .unwrap();
    assert_eq!(late.removed, 1);
    assert_eq!(node.status(&a).await, Some(MessageStatus::Removed));
    assert_eq!(
        node.pins(&alice_file).await,
        None,
        "the unpaid file is gone from the store"
    );
    assert_eq!(node.pins(&bob_file).await, Some(1), "the paid file stays");
    assert_eq!(node.status(&b).await, Some(MessageStatus::Processed));
}

#[tokio::test]
async fn credit_posts_move_credits_and_unfunded_credit_resources_go_removing() {
    let oracle = Signer::eth(9);
    let node = Node::new(paid_config(&oracle)).await;
    let alice = Signer::eth(1);
    let bob = Signer::eth(2);
    let credits = |signer: &Signer,
                   post_type: &str,
                   key: &str,
                   to: &str,
                   amount: i64,
                   time: f64| {
        signer.message(
            "POST",
            json!({"type": post_type, "content": {key: {"credits": [
                {"address": to, "amount": amount, "price": "1", "tx_hash": "0x1", "provider": "t"}]}}}),
            time,
            "ALEPH_CREDIT",
        )
    };
    let balance = |address: String| {
        let db = node.db.clone();
        async move {
            let mut conn = db.read().await.unwrap();
            billing::credit_balance(&mut conn, &address, T)
                .await
                .unwrap()
        }
    };
    let distribution = credits(
        &oracle,
        "aleph_credit_distribution",
        "distribution",
        &alice.address(),
        1_000_000,
        T,
    );
    let fake = credits(
        &bob,
        "aleph_credit_distribution",
        "distribution",
        &bob.address(),
        1_000_000,
        T,
    );
    node.settle(&[distribution, fake]).await;
    assert_eq!(balance(alice.address()).await, 1_000_000);
    assert_eq!(
        balance(bob.address()).await,
        0,
        "only credit senders distribute"
    );

    let transfer = credits(
        &alice,
        "aleph_credit_transfer",
        "transfer",
        &bob.address(),
        300_000,
        T + 1.0,
    );
    let overspend = credits(
        &alice,
        "aleph_credit_transfer",
        "transfer",
        &bob.address(),
        5_000_000,
        T + 2.0,
    );
    let to_self = credits(
        &alice,
        "aleph_credit_transfer",
        "transfer",
        &alice.address(),
        1,
        T + 3.0,
    );
    let expense = credits(
        &oracle,
        "aleph_credit_expense",
        "expense",
        &alice.address(),
        100_000,
        T + 4.0,
    );
    node.settle(std::slice::from_ref(&transfer)).await;
    node.settle(&[overspend.clone(), to_self.clone(), expense])
        .await;
    assert_eq!(node.status(&transfer).await, Some(MessageStatus::Processed));
    assert_eq!(node.code(&overspend).await, 6);
    assert_eq!(node.code(&to_self).await, 0);
    assert_eq!(balance(alice.address()).await, 600_000);
    assert_eq!(balance(bob.address()).await, 300_000);

    // A credit STORE (billed as 25 MiB at least) that the credits stop covering.
    let file = node.upload(vec![5; 1000]).await;
    let paid = store_msg(
        &bob,
        &file,
        json!({"payment": {"chain": "ETH", "type": "credit"}}),
        T + 5.0,
    );
    node.settle(std::slice::from_ref(&paid)).await;
    assert_eq!(node.status(&paid).await, Some(MessageStatus::Processed));
    let spend = credits(
        &oracle,
        "aleph_credit_expense",
        "expense",
        &bob.address(),
        300_000,
        T + 6.0,
    );
    node.settle(&[spend]).await;
    let report = lifecycle::balance_sweep(&node.db, &node.billing, T + 10.0)
        .await
        .unwrap();
    assert_eq!(report.to_removing, 1);
    assert_eq!(node.status(&paid).await, Some(MessageStatus::Removing));
    let mut conn = node.db.read().await.unwrap();
    let removal = ops::removal(&mut conn, &hash_of(&paid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removal.reason, "credit_insufficient");
}
