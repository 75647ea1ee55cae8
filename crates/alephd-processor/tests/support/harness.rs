#![allow(unreachable_pub, dead_code, clippy::unwrap_used)] // shared test support: not every test uses every helper

//! A pipeline over a real SQLite file, driven by hand: deliver messages, run batches at a
//! chosen clock, read the outcome.

use std::sync::Arc;

use alephd_db::{Db, MessageStatus, NewPending, RejectedRecord, StateRoot, ops};
use alephd_processor::{MemoryContent, MessageEvent, Pipeline, ProcessorConfig};
use serde_json::Value;
use tokio::sync::broadcast;

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub db: Db,
    pub pipeline: Pipeline,
    pub content: MemoryContent,
    pub events: broadcast::Receiver<MessageEvent>,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(ProcessorConfig {
            verify_threads: 2,
            ..Default::default()
        })
        .await
    }

    pub async fn with_config(config: ProcessorConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("alephd.db")).await.unwrap();
        let content = MemoryContent::default();
        let (tx, events) = broadcast::channel(100_000);
        let pipeline = Pipeline::new(db.clone(), Arc::new(content.clone()), config, tx);
        Self {
            _dir: dir,
            db,
            pipeline,
            content,
            events,
        }
    }

    /// Queues wire messages as received at time 0 (due at once).
    pub async fn deliver(&self, messages: &[Value]) {
        let mut tx = self.db.begin().await.unwrap();
        for m in messages {
            let text = m.to_string();
            let signature = m["signature"].as_str().unwrap_or_default().to_owned();
            let pending = NewPending {
                item_hash: m["item_hash"].as_str().unwrap_or_default(),
                sender: m["sender"].as_str().unwrap_or_default(),
                signature: &signature,
                message: &text,
                origin: "test",
                reception_time: 0.0,
            };
            ops::enqueue(&mut tx, &pending).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Runs batches at `now` until nothing is due.
    pub async fn run(&self, now: f64) {
        while self.pipeline.run_batch(now).await.unwrap() > 0 {}
    }

    /// Delivers then processes everything, moving the clock past every backoff.
    pub async fn settle(&self, messages: &[Value]) {
        self.deliver(messages).await;
        self.drain().await;
    }

    /// Moves the clock past every backoff until the queue is empty (bounded rounds).
    pub async fn drain(&self) {
        let mut now = 1.0;
        for _ in 0..12 {
            self.run(now).await;
            if self.pending().await == 0 {
                return;
            }
            now += 1000.0;
        }
    }

    /// A fresh subscription to the pipeline's events.
    pub fn pipeline_events(&self) -> broadcast::Receiver<MessageEvent> {
        self.events.resubscribe()
    }

    pub async fn pending(&self) -> i64 {
        ops::pending_count(&mut self.db.read().await.unwrap())
            .await
            .unwrap()
    }

    pub async fn status(&self, hash: &str) -> Option<MessageStatus> {
        ops::status(&mut self.db.read().await.unwrap(), hash)
            .await
            .unwrap()
            .map(|s| s.status)
    }

    pub async fn rejection(&self, hash: &str) -> Option<RejectedRecord> {
        ops::rejected(&mut self.db.read().await.unwrap(), hash)
            .await
            .unwrap()
    }

    pub async fn aggregate(&self, owner: &str, key: &str) -> Option<Value> {
        let a = ops::aggregate(&mut self.db.read().await.unwrap(), owner, key)
            .await
            .unwrap()?;
        Some(serde_json::from_str(&a.content).unwrap())
    }

    pub async fn root(&self) -> StateRoot {
        ops::state_root(&mut self.db.read().await.unwrap())
            .await
            .unwrap()
    }
}
