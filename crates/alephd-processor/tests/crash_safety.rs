//! Crash safety: a child process submits 10,000 messages and prints every acknowledgement;
//! it is killed with SIGKILL mid-stream. After reopening the database, every acknowledged
//! message is there (processed, or queued and then processed), and nothing is applied twice.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[path = "support/signer.rs"]
mod signer;

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::Arc,
};

use alephd_db::{Db, MessageFilter, MessageStatus, ops};
use alephd_message::IncomingMessage;
use alephd_processor::{NoContentStore, Origin, Pipeline, Processor, ProcessorConfig};
use serde_json::json;
use signer::{Signer, post};
use tokio_util::sync::CancellationToken;

const CHILD_ENV: &str = "ALEPHD_CRASH_CHILD_DB";
const MESSAGES: usize = 10_000;

/// The child: submits everything with 32 concurrent clients, printing `ACK <hash>` after
/// each submit returned (i.e. when a 202 would have been sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by kill_9_during_ingest_loses_no_acknowledged_message as a child process"]
async fn crash_child_submitter() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(std::path::Path::new(&path)).await.unwrap();
    let (handle, _task) = Processor::spawn(
        db,
        ProcessorConfig::default(),
        Arc::new(NoContentStore),
        CancellationToken::new(),
    );
    let signers: Vec<Signer> = (1..=4u8).map(Signer::sol).collect();
    let messages: Vec<IncomingMessage> = (0..MESSAGES)
        .map(|i| {
            post(
                &signers[i % 4],
                "crash",
                json!({"i": i}),
                1_000.0 + i as f64,
            )
        })
        .map(|m| IncomingMessage::from_value(m).unwrap())
        .collect();
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let tasks: Vec<_> = (0..32)
        .map(|k| {
            let handle = handle.clone();
            let out = Arc::clone(&out);
            let mine: Vec<IncomingMessage> = messages.iter().skip(k).step_by(32).cloned().collect();
            tokio::spawn(async move {
                for m in mine {
                    let hash = m.item_hash().as_str().to_owned();
                    handle.submit(m, Origin::Http).await.unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ACK {hash}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn kill_9_during_ingest_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alephd.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_submitter",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = HashSet::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(hash) = line.strip_prefix("ACK ") {
            acked.insert(hash.to_owned());
            if acked.len() >= MESSAGES / 3 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no graceful shutdown.
    child.wait().unwrap();
    // Acknowledgements printed before the kill landed but not yet read are still valid.
    for line in lines.map_while(Result::ok) {
        if let Some(hash) = line.strip_prefix("ACK ") {
            acked.insert(hash.to_owned());
        }
    }
    assert!(
        acked.len() >= MESSAGES / 3,
        "the child acknowledged only {}",
        acked.len()
    );

    let db = Db::open(&path).await.unwrap();
    let (events, _) = tokio::sync::broadcast::channel(16);
    let pipeline = Pipeline::new(
        db.clone(),
        Arc::new(NoContentStore),
        ProcessorConfig::default(),
        events,
    );
    while pipeline.run_batch(f64::MAX).await.unwrap() > 0 {}
    let mut conn = db.read().await.unwrap();
    assert_eq!(ops::pending_count(&mut conn).await.unwrap(), 0);
    for hash in &acked {
        let status = ops::status(&mut conn, hash)
            .await
            .unwrap()
            .map(|s| s.status);
        assert_eq!(
            status,
            Some(MessageStatus::Processed),
            "{hash} was acknowledged"
        );
    }
    // Nothing twice: one message row and one post row per processed message.
    let processed = ops::find_hashes(
        &mut conn,
        Some(MessageStatus::Processed),
        None,
        None,
        Default::default(),
        0,
        1,
    )
    .await
    .unwrap()
    .1;
    let rows = ops::count_messages(&mut conn, &MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(rows, processed);
    let posts = ops::list_posts(
        &mut conn,
        &alephd_db::PostFilter {
            per_page: 1,
            page: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .1;
    assert_eq!(posts, processed);
    assert!(processed as usize >= acked.len());
}
