//! `alephd file add|get|pin|forget`: streamed uploads with their STORE message, verified
//! downloads, pins of files the node has, forgets by message or file hash.

use std::{path::Path, time::Instant};

use alephd_message::{ItemHash, MessageType, signature::Signer};
use alephd_sdk::{NoProgress, StoreSpec, UploadOptions};
use anyhow::Context;
use serde_json::json;

use super::{
    ClientError, Ctx, Output, args::FileCommand, composer, parse_hash, progress, published,
};

pub(crate) async fn run(ctx: &Ctx, command: FileCommand) -> anyhow::Result<Output> {
    match command {
        FileCommand::Add {
            path,
            engine,
            name,
            reference,
            channel,
        } => {
            let account = ctx.account()?;
            let composer = composer(&account, &channel)?;
            let started = Instant::now();
            let uploaded = ctx
                .client
                .upload_file(
                    &composer,
                    &path,
                    engine,
                    &UploadOptions { name, reference },
                    progress::for_stderr(),
                )
                .await
                .with_context(|| format!("cannot add {}", path.display()))?;
            let seconds = started.elapsed().as_secs_f64();
            let value = json!({
                "file_hash": uploaded.file_hash,
                "engine": uploaded.engine.as_str(),
                "size": uploaded.size,
                "item_hash": uploaded.message.item_hash(),
                "sender": account.address(),
                "status": uploaded.result.message_status,
            });
            let text = format!(
                "{}  {} bytes ({})  STORE {} {}  {:.1} MiB/s\n",
                uploaded.file_hash,
                uploaded.size,
                uploaded.engine.as_str(),
                uploaded.message.item_hash(),
                uploaded.result.message_status,
                uploaded.size as f64 / (1024.0 * 1024.0) / seconds.max(1e-3),
            );
            Ok(Output::new(value, text))
        }
        FileCommand::Get { hash, output } => {
            let hash = parse_hash(&hash)?;
            match output {
                Some(path) => download_to_file(ctx, &hash, &path).await,
                None => {
                    let mut stdout = tokio::io::stdout();
                    ctx.client.download(&hash, &mut stdout, &NoProgress).await?;
                    Ok(Output::printed())
                }
            }
        }
        FileCommand::Pin {
            hash,
            reference,
            channel,
        } => {
            let file_hash = parse_hash(&hash)?;
            let account = ctx.account()?;
            let message = composer(&account, &channel)?.store(&StoreSpec {
                file_hash,
                size: None,
                reference,
                name: None,
            })?;
            let result = ctx.client.send(&message).await?;
            Ok(published(&message, &result))
        }
        FileCommand::Forget {
            hash,
            reason,
            channel,
        } => {
            let hash = parse_hash(&hash)?;
            let account = ctx.account()?;
            let targets = store_messages(ctx, &hash, account.address()).await?;
            let message = composer(&account, &channel)?.forget(&targets, &[], reason.as_deref())?;
            let result = ctx.client.send(&message).await?;
            let mut output = published(&message, &result);
            if let Some(value) = output.json.as_mut() {
                value["forgotten"] = json!(targets);
            }
            Ok(output)
        }
    }
}

/// Downloads into `<path>.part`, then renames: a failed download leaves no partial file.
async fn download_to_file(ctx: &Ctx, hash: &ItemHash, path: &Path) -> anyhow::Result<Output> {
    let partial = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.part", ext.to_string_lossy()),
        None => "part".into(),
    });
    let mut file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let started = Instant::now();
    let progress = progress::for_stderr();
    let result = ctx.client.download(hash, &mut file, &*progress).await;
    drop(progress);
    let downloaded = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e.into());
        }
    };
    file.sync_all().await.context("cannot flush the download")?;
    tokio::fs::rename(&partial, path)
        .await
        .with_context(|| format!("cannot move the download to {}", path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let value = json!({
        "hash": hash, "size": downloaded.size, "path": path, "verified": downloaded.verified,
    });
    let text = format!(
        "{}  {} bytes -> {}{}  {:.1} MiB/s\n",
        hash,
        downloaded.size,
        path.display(),
        if downloaded.verified {
            " (verified)"
        } else {
            ""
        },
        downloaded.size as f64 / (1024.0 * 1024.0) / seconds.max(1e-3),
    );
    Ok(Output::new(value, text))
}

/// The STORE messages to forget: `hash` itself when it is a STORE message, else the sender's
/// STORE messages pinning the file `hash`.
async fn store_messages(ctx: &Ctx, hash: &ItemHash, sender: &str) -> anyhow::Result<Vec<ItemHash>> {
    if let Some(status) = ctx.client.message(hash).await? {
        let message = &status["message"];
        if message["type"] == MessageType::Store.to_string().as_str() {
            return Ok(vec![hash.clone()]);
        }
    }
    let body = ctx
        .client
        .messages(&[
            ("msgTypes", "STORE".into()),
            ("addresses", sender.into()),
            ("contentHashes", hash.to_string()),
            ("pagination", "200".into()),
        ])
        .await?;
    let hashes: Vec<ItemHash> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["item_hash"].as_str())
        .filter_map(|h| ItemHash::parse(h).ok())
        .collect();
    if hashes.is_empty() {
        return Err(ClientError::NotFound(format!(
            "{hash} is neither a STORE message nor a file stored by {sender}"
        ))
        .into());
    }
    Ok(hashes)
}
