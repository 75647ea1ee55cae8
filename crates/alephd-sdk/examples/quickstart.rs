//! A tour of the SDK against a running node: a new key, a post and its amend, an aggregate,
//! a file uploaded with its STORE and read back, then a FORGET.
//!
//! ```sh
//! alephd daemon &                      # or any Aleph-compatible node
//! cargo run -p alephd-sdk --example quickstart -- http://127.0.0.1:4024
//! ```

use std::sync::Arc;

use alephd_message::signature::Signer;
use alephd_sdk::{Account, AlephClient, Composer, FileEngine, KeyKind, NoProgress, UploadOptions};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let api = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4024".to_owned());
    let client = AlephClient::new(&api)?;
    println!("node {} at {api}", client.version().await?);

    // A throwaway key; `Account::from_key_file` reads the `aleph` CLI's key files.
    let account = Account::generate(KeyKind::Eth);
    let composer = Composer::new(&account);
    println!("signing as {}", account.address());

    // `send` submits and waits for the result; a rejection is `SdkError::Rejected` with the
    // node's error code and what it means.
    let post = composer.post("note", json!({"body": "hello"}), None)?;
    client.send(&post).await?;
    let amend = composer.amend(post.item_hash(), json!({"body": "hello, amended"}))?;
    client.send(&amend).await?;
    let posts = client
        .posts(&[("hashes", post.item_hash().to_string())])
        .await?;
    println!("post now reads {}", posts["posts"][0]["content"]["body"]);

    let mut settings = serde_json::Map::new();
    settings.insert("theme".into(), json!("dark"));
    client
        .send(&composer.aggregate("settings", settings)?)
        .await?;
    println!(
        "aggregate settings = {}",
        client
            .aggregate(account.address(), "settings")
            .await?
            .unwrap_or_default()
    );

    // Files are hashed first (the CID `ipfs add` would give), then streamed with their STORE.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hello.txt");
    std::fs::write(&path, b"hello from the SDK\n")?;
    let uploaded = client
        .upload_file(
            &composer,
            &path,
            FileEngine::Ipfs,
            &UploadOptions::default(),
            Arc::new(NoProgress),
        )
        .await?;
    let mut back = Vec::new();
    client
        .download(&uploaded.file_hash, &mut back, &NoProgress)
        .await?;
    println!(
        "file {} ({} bytes) reads back {:?}",
        uploaded.file_hash,
        uploaded.size,
        String::from_utf8_lossy(&back).trim_end()
    );

    let forget = composer.forget(&[post.item_hash().clone()], &[], Some("tour over"))?;
    client.send(&forget).await?;
    println!("post forgotten by {}", forget.item_hash());
    Ok(())
}
