//! Uploads that carry their own signed STORE message (multipart `metadata` part, spec §5.3):
//! the signature is checked (403), the file must hash to the message's `item_hash` (422,
//! nothing stored), the owner must afford it (402), then the message is processed like a
//! `POST /messages` and the answer follows its status (200 processed, 202 pending, 422).
//!
//! Without metadata the file is stored under a grace pin, as before.

use std::time::Duration;

use alephd_db::MessageStatus;
use alephd_message::{
    IncomingMessage, ItemType, MessageContent, MessageType,
    content::{PaymentType, StoreContent},
};
use alephd_processor::{Origin, SubmitOutcome, WaitOutcome, billing};
use alephd_storage::{AddOptions, Added, ContentRef, Engine, PinMode, PinOwner, Store};
use axum::{
    Json,
    extract::Multipart,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{ApiState, storage::StorageApiError};

/// Largest `metadata` part (a STORE message is a few KiB).
const MAX_METADATA: usize = 256 * 1024;
/// How long `sync: true` waits for the processing result.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The signed STORE message of an upload, checked as far as possible before the file.
pub(crate) struct UploadMessage {
    message: IncomingMessage,
    content: StoreContent,
    sync: bool,
}

/// What a multipart upload produced.
pub(crate) struct Upload {
    pub(crate) added: Added,
    pub(crate) name: Option<String>,
    pub(crate) message: Option<UploadMessage>,
}

fn bad(e: axum::extract::multipart::MultipartError) -> StorageApiError {
    StorageApiError::BadRequest(e.body_text())
}

/// Reads `metadata` (when it comes before the file, as every client sends it) and `file`.
/// `limits` = (without a message, with a message).
pub(crate) async fn read_upload(
    state: &ApiState,
    store: &Store,
    mut multipart: Multipart,
    engine: Engine,
    limits: (u64, u64),
    declared_len: Option<u64>,
) -> Result<Upload, StorageApiError> {
    let mut message = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("metadata") => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if bytes.len() + chunk.len() > MAX_METADATA {
                        return Err(StorageApiError::TooLarge(MAX_METADATA as u64));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let parsed = parse_metadata(&bytes, engine)?;
                check_affordable(state, &parsed, declared_len).await?;
                message = Some(parsed);
            }
            Some("file") => {
                let name = field.file_name().map(str::to_owned);
                let mut opts = AddOptions::new(engine, limits.0);
                if let Some(m) = &message {
                    opts.max_size = limits.1;
                    opts.expect = Some(expected(&m.content)?);
                    // Kept for its message: processing pins it under the same owner, a
                    // rejection turns this pin into a grace pin.
                    let owner = PinOwner::new(m.message.item_hash().as_str())
                        .map_err(|e| StorageApiError::BadRequest(e.to_string()))?;
                    opts.pin = PinMode::Owner(owner);
                }
                let mut session = store.add_session(opts)?;
                let mut file = session.file(None)?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    file.write(chunk).await?;
                }
                file.finish().await?;
                let added = session
                    .commit()
                    .await?
                    .pop()
                    .ok_or(StorageApiError::Internal)?;
                drop(field); // the multipart stream is locked while a field lives
                if message.is_none() {
                    message = trailing_metadata(state, &mut multipart, &added, engine).await?;
                }
                return Ok(Upload {
                    added,
                    name,
                    message,
                });
            }
            _ => {}
        }
    }
    Err(StorageApiError::BadRequest("missing `file` part".into()))
}

/// A `metadata` part sent after the file (clients send it first): the file was stored under
/// a grace pin; the message must still verify and name exactly these bytes (422 otherwise).
async fn trailing_metadata(
    state: &ApiState,
    multipart: &mut Multipart,
    added: &Added,
    engine: Engine,
) -> Result<Option<UploadMessage>, StorageApiError> {
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("metadata") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if bytes.len() + chunk.len() > MAX_METADATA {
                return Err(StorageApiError::TooLarge(MAX_METADATA as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        let parsed = parse_metadata(&bytes, engine)?;
        if expected(&parsed.content)? != added.content {
            return Err(StorageApiError::BadRequest(format!(
                "the STORE message names {} but the file is {}",
                parsed.content.item_hash, added.content
            )));
        }
        check_affordable(state, &parsed, Some(added.size)).await?;
        return Ok(Some(parsed));
    }
    Ok(None)
}

/// `{"message": {...}, "sync": bool}` with a signed STORE for this engine.
fn parse_metadata(bytes: &[u8], engine: Engine) -> Result<UploadMessage, StorageApiError> {
    let unprocessable = |m: String| StorageApiError::BadRequest(m);
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| unprocessable(format!("metadata is not valid JSON: {e}")))?;
    let sync = value.get("sync").and_then(Value::as_bool).unwrap_or(false);
    let raw = value
        .get("message")
        .cloned()
        .ok_or_else(|| unprocessable("metadata.message is required".into()))?;
    let message = IncomingMessage::from_value(raw).map_err(|e| unprocessable(e.to_string()))?;
    if message.message_type() != MessageType::Store {
        return Err(unprocessable(
            "metadata.message must be a STORE message".into(),
        ));
    }
    let verified = message
        .signed_fields()
        .is_some_and(|f| alephd_message::signature::verify(&f).is_ok());
    if !verified {
        return Err(StorageApiError::Forbidden("invalid signature".into()));
    }
    let content = match message.parse_inline_content() {
        Some(Ok(parsed)) => match parsed.content {
            MessageContent::Store(c) => c,
            _ => return Err(unprocessable("not a STORE content".into())),
        },
        Some(Err(e)) => return Err(unprocessable(e.to_string())),
        None => return Err(unprocessable("the STORE message must be inline".into())),
    };
    let engine_type = match engine {
        Engine::Storage => ItemType::Storage,
        Engine::Ipfs(_) => ItemType::Ipfs,
    };
    if content.item_type != engine_type {
        return Err(unprocessable(format!(
            "the STORE message is for {} but this endpoint stores {engine_type}",
            content.item_type
        )));
    }
    Ok(UploadMessage {
        message,
        content,
        sync,
    })
}

fn expected(content: &StoreContent) -> Result<ContentRef, StorageApiError> {
    content.item_hash.as_str().parse().map_err(|_| {
        StorageApiError::BadRequest(format!("{} is not a file hash", content.item_hash))
    })
}

/// 402 when the owner cannot pay for a file of the declared size (before reading it).
async fn check_affordable(
    state: &ApiState,
    upload: &UploadMessage,
    declared_len: Option<u64>,
) -> Result<(), StorageApiError> {
    let Some(core) = state.core.as_ref() else {
        return Ok(());
    };
    let config = core.processor.billing();
    let payment = upload.content.payment_type();
    let size_mib = declared_len.unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let time = upload.message.time();
    if payment != PaymentType::Hold
        || time < config.free_before
        || (size_mib <= config.free_store_mib && time < config.credit_only_from)
    {
        return Ok(());
    }
    let mut conn = core
        .db
        .read()
        .await
        .map_err(|_| StorageApiError::Internal)?;
    let mut value = upload.message.to_wire_value();
    // Price the declared size: the estimate reads `content` when there is no item_content.
    if let Some(object) = value.as_object_mut() {
        object.remove("item_content");
    }
    value["content"] = json!({
        "address": upload.content.address.as_str(), "time": upload.content.time,
        "item_type": upload.content.item_type.as_str(), "item_hash": upload.content.item_hash.as_str(),
        "estimated_size_mib": size_mib.ceil(),
    });
    let estimate = billing::estimate(&mut conn, config, &value)
        .await
        .map_err(|_| StorageApiError::Internal)?;
    let owner = upload.content.address.as_str();
    let existing = alephd_db::ops::owner_cost_total(&mut conn, owner, "hold")
        .await
        .map_err(|_| StorageApiError::Internal)?;
    let balance = billing::token_balance(&mut conn, owner)
        .await
        .map_err(|_| StorageApiError::Internal)?;
    if balance < existing + estimate.total {
        return Err(StorageApiError::PaymentRequired(format!(
            "balance {balance} is below the {} required",
            existing + estimate.total
        )));
    }
    Ok(())
}

/// Processes the upload's message and answers with the file hash and the message's status.
pub(crate) async fn respond(
    state: &ApiState,
    upload: Upload,
    mut body: Value,
) -> Result<Response, StorageApiError> {
    let Some(m) = upload.message else {
        return Ok(Json(body).into_response());
    };
    let core = state.core.as_ref().ok_or(StorageApiError::Unavailable)?;
    let failed = |e: alephd_processor::SubmitError| {
        tracing::error!(error = %e, "could not queue an uploaded STORE message");
        StorageApiError::Internal
    };
    let status = if m.sync {
        match core
            .processor
            .submit_and_wait(m.message, Origin::Http, SYNC_TIMEOUT)
            .await
            .map_err(failed)?
        {
            WaitOutcome::Done(event) => {
                if let Some(code) = event.error_code {
                    body["error_code"] = json!(code);
                }
                event.status
            }
            WaitOutcome::Known(status) => status,
            WaitOutcome::TimedOut => MessageStatus::Pending,
        }
    } else {
        match core
            .processor
            .submit(m.message, Origin::Http)
            .await
            .map_err(failed)?
        {
            SubmitOutcome::Queued => MessageStatus::Pending,
            SubmitOutcome::Known(status) => status,
        }
    };
    body["message_status"] = json!(status.as_str());
    let http = match status {
        MessageStatus::Processed | MessageStatus::Removing => StatusCode::OK,
        MessageStatus::Pending => StatusCode::ACCEPTED,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok((http, Json(body)).into_response())
}
