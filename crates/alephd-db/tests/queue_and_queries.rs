#![allow(clippy::unwrap_used)] // tests may unwrap

//! The database against a real SQLite file: queue semantics, message queries, state root.

use alephd_db::{
    Cursor, Db, EnqueueOutcome, MessageFilter, MessageRecord, MessageStatus, NewPending, SortOrder,
    ops,
};

async fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
    (dir, db)
}

fn record(hash: &str, sender: &str, time: f64, message_type: &str, channel: &str) -> MessageRecord {
    MessageRecord {
        item_hash: hash.into(),
        sender: sender.into(),
        chain: "ETH".into(),
        signature: Some("0xsig".into()),
        message_type: message_type.into(),
        item_type: "inline".into(),
        item_content: Some("{}".into()),
        content: format!(r#"{{"address":"{sender}","time":{time},"type":"note"}}"#),
        time,
        channel: Some(channel.into()),
        owner: sender.into(),
        content_type: Some("note".into()),
        content_key: None,
        content_ref: None,
        content_item_hash: None,
        payment_type: None,
        size: 2,
        reception_time: time,
    }
}

fn pending<'a>(hash: &'a str, signature: &'a str) -> NewPending<'a> {
    NewPending {
        item_hash: hash,
        sender: "0xA",
        signature,
        message: "{}",
        origin: "http",
        reception_time: 100.0,
    }
}

#[tokio::test]
async fn queue_dedups_and_respects_final_statuses() {
    let (_dir, db) = open().await;
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        ops::enqueue(&mut tx, &pending("h1", "s")).await.unwrap(),
        EnqueueOutcome::Queued
    );
    assert_eq!(
        ops::enqueue(&mut tx, &pending("h1", "s")).await.unwrap(),
        EnqueueOutcome::Queued
    );
    assert_eq!(
        ops::enqueue(&mut tx, &pending("h1", "other"))
            .await
            .unwrap(),
        EnqueueOutcome::Queued
    );
    assert_eq!(
        ops::pending_count(&mut tx).await.unwrap(),
        2,
        "same triple is one row"
    );
    ops::set_status(&mut tx, "h2", MessageStatus::Processed, 1.0)
        .await
        .unwrap();
    assert_eq!(
        ops::enqueue(&mut tx, &pending("h2", "s")).await.unwrap(),
        EnqueueOutcome::Known(MessageStatus::Processed)
    );
    ops::set_status(&mut tx, "h3", MessageStatus::Rejected, 1.0)
        .await
        .unwrap();
    assert_eq!(
        ops::enqueue(&mut tx, &pending("h3", "s")).await.unwrap(),
        EnqueueOutcome::Queued
    );
    assert_eq!(
        ops::status(&mut tx, "h3").await.unwrap().unwrap().status,
        MessageStatus::Pending
    );
    assert_eq!(
        ops::status(&mut tx, "h3")
            .await
            .unwrap()
            .unwrap()
            .reception_time,
        1.0,
        "first reception kept"
    );
    tx.commit().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    let ready = ops::take_ready(&mut tx, 100.0, 10, &[]).await.unwrap();
    assert_eq!(ready.len(), 3);
    ops::reschedule(&mut tx, ready[0].id, 1, 500.0, 3)
        .await
        .unwrap();
    ops::delete_pending(&mut tx, ready[1].id).await.unwrap();
    let left = ops::take_ready(&mut tx, 100.0, 10, &[]).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ready[2].id);
    // A batch in flight is skipped; other ids are not.
    let skipped = ops::take_ready(&mut tx, 100.0, 10, &[left[0].id])
        .await
        .unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let other = ops::take_ready(&mut tx, 100.0, 10, &[ready[1].id])
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(ops::next_attempt(&mut tx).await.unwrap(), Some(100.0));
    let later = ops::take_ready(&mut tx, 1000.0, 10, &[]).await.unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(
        later.iter().find(|p| p.id == ready[0].id).unwrap().retries,
        1
    );
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn queue_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alephd.db");
    {
        let db = Db::open(&path).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        ops::enqueue(&mut tx, &pending("h1", "s")).await.unwrap();
        tx.commit().await.unwrap();
        // Dropped without close: like a killed process, only committed data counts.
    }
    let db = Db::open(&path).await.unwrap();
    let mut conn = db.read().await.unwrap();
    assert_eq!(ops::pending_count(&mut conn).await.unwrap(), 1);
}

#[tokio::test]
async fn message_filters_pages_and_cursors() {
    let (_dir, db) = open().await;
    let mut tx = db.begin().await.unwrap();
    for i in 0..30 {
        let hash = format!("{i:064x}");
        let sender = if i % 2 == 0 { "0xEven" } else { "0xOdd" };
        let kind = if i % 3 == 0 { "AGGREGATE" } else { "POST" };
        let tags = if i == 7 {
            vec!["seven".to_owned()]
        } else {
            vec![]
        };
        ops::insert_message(
            &mut tx,
            &record(&hash, sender, 1000.0 + f64::from(i), kind, "TEST"),
            &tags,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut conn = db.read().await.unwrap();

    let all = MessageFilter::default();
    let page1 = ops::find_messages(&mut conn, &all, 20, 1, None)
        .await
        .unwrap();
    assert_eq!(page1.len(), 20);
    assert_eq!(page1[0].time, 1029.0, "newest first by default");
    let page2 = ops::find_messages(&mut conn, &all, 20, 2, None)
        .await
        .unwrap();
    assert_eq!(page2.len(), 10);
    assert_eq!(ops::count_messages(&mut conn, &all).await.unwrap(), 30);

    let evens = MessageFilter {
        addresses: vec!["0xEven".into()],
        ..Default::default()
    };
    assert_eq!(ops::count_messages(&mut conn, &evens).await.unwrap(), 15);
    let even_posts = MessageFilter {
        message_types: vec!["POST".into()],
        ..evens.clone()
    };
    assert_eq!(
        ops::count_messages(&mut conn, &even_posts).await.unwrap(),
        10
    );
    let window = MessageFilter {
        start_date: Some(1010.0),
        end_date: Some(1020.0),
        ..Default::default()
    };
    assert_eq!(
        ops::count_messages(&mut conn, &window).await.unwrap(),
        10,
        "start inclusive, end exclusive"
    );
    let tagged = MessageFilter {
        tags: vec!["seven".into()],
        ..Default::default()
    };
    let found = ops::find_messages(&mut conn, &tagged, 0, 1, None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].time, 1007.0);

    // Cursor pages cover everything exactly once, in order.
    let asc = MessageFilter {
        sort_order: SortOrder::Ascending,
        ..Default::default()
    };
    let mut cursor: Option<Cursor> = None;
    let mut seen = Vec::new();
    loop {
        let rows = ops::find_messages(&mut conn, &asc, 7, 1, cursor.as_ref())
            .await
            .unwrap();
        if rows.is_empty() {
            break;
        }
        let last = rows.last().unwrap();
        cursor = Some(
            Cursor::decode(
                &Cursor {
                    time: last.time,
                    item_hash: last.item_hash.clone(),
                }
                .encode(),
            )
            .unwrap(),
        );
        seen.extend(rows.into_iter().map(|r| r.time));
    }
    assert_eq!(
        seen,
        (0..30).map(|i| 1000.0 + f64::from(i)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn state_root_depends_on_content_not_insertion_order() {
    let (_d1, a) = open().await;
    let (_d2, b) = open().await;
    let hashes: Vec<String> = (0..5).map(|i| format!("{i:064x}")).collect();
    for (db, order) in [(&a, vec![0, 1, 2, 3, 4]), (&b, vec![4, 2, 0, 3, 1])] {
        let mut tx = db.begin().await.unwrap();
        for i in order {
            ops::insert_message(
                &mut tx,
                &record(&hashes[i], "0xA", i as f64, "POST", "T"),
                &[],
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let ra = ops::state_root(&mut a.read().await.unwrap()).await.unwrap();
    let rb = ops::state_root(&mut b.read().await.unwrap()).await.unwrap();
    assert_eq!(ra, rb);
    assert_eq!(ra.messages, 5);
    let mut tx = b.begin().await.unwrap();
    ops::delete_message(&mut tx, &hashes[0]).await.unwrap();
    tx.commit().await.unwrap();
    let rb = ops::state_root(&mut b.read().await.unwrap()).await.unwrap();
    assert_ne!(ra.root, rb.root);
}
