//! File transfers: hashing a file the way the node will (sha256 for `storage`, the `ipfs add`
//! CID for `ipfs`), uploading it by streaming with its signed STORE message in one multipart
//! request, and downloading by streaming. Never holds a whole file in memory.

use std::{io::Read, path::Path, sync::Arc};

use alephd_message::{IncomingMessage, ItemHash};
use alephd_storage::{CidHasher, Layout};
use futures::StreamExt;
use reqwest::{Method, StatusCode, multipart};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{AlephClient, Composer, SdkError, SubmitResult, client::error_for, compose::StoreSpec};

/// Read size while hashing and uploading.
const BUFFER: usize = 256 * 1024;

/// Where a file is stored: the node's sha256 store, or IPFS (CIDv0, as `ipfs add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEngine {
    Storage,
    Ipfs,
}

impl FileEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::Ipfs => "ipfs",
        }
    }

    fn upload_path(self) -> &'static str {
        match self {
            Self::Storage => "/api/v0/storage/add_file",
            Self::Ipfs => "/api/v0/ipfs/add_file",
        }
    }
}

impl std::str::FromStr for FileEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "storage" => Ok(Self::Storage),
            "ipfs" => Ok(Self::Ipfs),
            other => Err(format!("unknown engine {other:?} (use storage or ipfs)")),
        }
    }
}

/// Which step of a transfer is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferPhase {
    Hashing,
    Uploading,
    Downloading,
}

/// Told how a transfer advances (a progress bar, a log line, nothing).
pub trait TransferProgress: Send + Sync {
    /// A phase starts; `total` bytes when known.
    fn begin(&self, phase: TransferPhase, total: Option<u64>);
    /// `bytes` more bytes were processed.
    fn advance(&self, bytes: u64);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn begin(&self, _: TransferPhase, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// A file's item hash under an engine, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub hash: ItemHash,
    pub size: u64,
}

/// Hashes `path` as the node will for `engine` (on a blocking thread).
pub async fn digest_file(
    path: &Path,
    engine: FileEngine,
    progress: Arc<dyn TransferProgress>,
) -> Result<FileDigest, SdkError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || digest_blocking(&owned, engine, &*progress))
        .await
        .map_err(|e| io_error(path, std::io::Error::other(e.to_string())))?
}

fn digest_blocking(
    path: &Path,
    engine: FileEngine,
    progress: &dyn TransferProgress,
) -> Result<FileDigest, SdkError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let total = file.metadata().map_err(|e| io_error(path, e))?.len();
    progress.begin(TransferPhase::Hashing, Some(total));
    let mut sha = Sha256::new();
    let mut cid = CidHasher::new(Layout::V0);
    let mut buffer = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        match engine {
            FileEngine::Storage => sha.update(&buffer[..n]),
            FileEngine::Ipfs => cid.update(&buffer[..n]),
        }
        size += n as u64;
        progress.advance(n as u64);
    }
    let hash = match engine {
        FileEngine::Storage => ItemHash::from_sha256_digest(sha.finalize().into()),
        FileEngine::Ipfs => ItemHash::parse(&cid.finish().cid.to_string())
            .map_err(|e| io_error(path, std::io::Error::other(e.to_string())))?,
    };
    Ok(FileDigest { hash, size })
}

fn io_error(path: &Path, source: std::io::Error) -> SdkError {
    SdkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What to say about an uploaded file.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// `metadata.name` of the STORE (default: the file name).
    pub name: Option<String>,
    /// `ref` of the STORE: an earlier STORE's hash or a tag, to version the file.
    pub reference: Option<String>,
}

/// An upload the node accepted.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub engine: FileEngine,
    pub file_hash: ItemHash,
    pub size: u64,
    /// The signed STORE message that pins the file.
    pub message: IncomingMessage,
    /// The node's answer about that message (`processed`, or `pending` on a slow node).
    pub result: SubmitResult,
}

/// A finished download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    /// Whether the bytes were checked against the hash here (sha256 items always; CIDs are
    /// checked block by block by the node's store).
    pub verified: bool,
}

impl AlephClient {
    /// Hashes, signs a STORE for, and uploads the file at `path` in one streamed multipart
    /// request (the node checks the bytes against the signed hash). Waits for the STORE to be
    /// processed; a rejection is [`SdkError::Rejected`], a file over the node's limit
    /// [`SdkError::TooLarge`].
    pub async fn upload_file(
        &self,
        composer: &Composer<'_>,
        path: &Path,
        engine: FileEngine,
        options: &UploadOptions,
        progress: Arc<dyn TransferProgress>,
    ) -> Result<Uploaded, SdkError> {
        let digest = digest_file(path, engine, progress.clone()).await?;
        let name = options
            .name
            .clone()
            .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()));
        let message = composer.store(&StoreSpec {
            file_hash: digest.hash.clone(),
            size: Some(digest.size),
            reference: options.reference.clone(),
            name: name.clone(),
        })?;
        let metadata = json!({"message": message.to_wire_value(), "sync": true}).to_string();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| io_error(path, e))?;
        progress.begin(TransferPhase::Uploading, Some(digest.size));
        let counter = progress.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, BUFFER).inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    counter.advance(bytes.len() as u64);
                }
            });
        let file_part =
            multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), digest.size)
                .file_name(name.unwrap_or_else(|| "file".into()))
                .mime_str("application/octet-stream")
                .expect("a valid MIME type");
        let metadata_part = multipart::Part::text(metadata)
            .mime_str("application/json")
            .expect("a valid MIME type");
        let form = multipart::Form::new()
            .part("metadata", metadata_part)
            .part("file", file_part);
        let route = engine.upload_path();
        let response = self
            .long_request(Method::POST, route)?
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let result = match status {
            StatusCode::OK | StatusCode::ACCEPTED | StatusCode::UNPROCESSABLE_ENTITY
                if body.get("message_status").is_some() =>
            {
                SubmitResult {
                    http_status: status.as_u16(),
                    message_status: body["message_status"].as_str().unwrap_or("").to_owned(),
                    body,
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                let reason = body.get("error").cloned().unwrap_or(Value::String(text));
                return Err(SdkError::rejected(
                    message.item_hash().as_str(),
                    None,
                    reason,
                ));
            }
            _ => return Err(error_for("POST", route, status, text)),
        };
        if result.http_status == 422 || result.message_status == "rejected" {
            return Err(self.rejection(message.item_hash(), &result).await);
        }
        Ok(Uploaded {
            engine,
            file_hash: digest.hash,
            size: digest.size,
            message,
            result,
        })
    }

    /// Streams the file `hash` into `out` (`/api/v0/storage/raw/{hash}`, or the IPFS gateway
    /// for CIDs too large for it); sha256 items are verified on the way.
    pub async fn download<W: AsyncWrite + Unpin>(
        &self,
        hash: &ItemHash,
        out: &mut W,
        progress: &dyn TransferProgress,
    ) -> Result<Downloaded, SdkError> {
        let raw = format!("/api/v0/storage/raw/{hash}");
        let mut response = self.get_stream(&raw).await;
        if matches!(response, Err(SdkError::TooLarge { .. }))
            && hash.item_type() == alephd_message::ItemType::Ipfs
        {
            response = self.get_stream(&format!("/ipfs/{hash}")).await;
        }
        let response = response?;
        progress.begin(TransferPhase::Downloading, response.content_length());
        let check = hash.sha256_digest();
        let mut sha = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            if check.is_some() {
                sha.update(&chunk);
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| io_error(Path::new("output"), e))?;
            size += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        out.flush()
            .await
            .map_err(|e| io_error(Path::new("output"), e))?;
        if let Some(expected) = check {
            let got: [u8; 32] = sha.finalize().into();
            if got != expected {
                return Err(SdkError::Decode {
                    path: raw,
                    reason: format!("downloaded bytes hash to {}, not {hash}", hex::encode(got)),
                });
            }
        }
        Ok(Downloaded {
            size,
            verified: check.is_some(),
        })
    }

    async fn get_stream(&self, path: &str) -> Result<reqwest::Response, SdkError> {
        let response = self
            .long_request(Method::GET, path)?
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(error_for("GET", path, status, text));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_match_the_storage_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(BUFFER * 3 + 5)).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let storage = digest_file(&path, FileEngine::Storage, Arc::new(NoProgress))
            .await
            .unwrap();
        assert_eq!(storage.hash, ItemHash::sha256_of(&data));
        assert_eq!(storage.size, data.len() as u64);
        let ipfs = digest_file(&path, FileEngine::Ipfs, Arc::new(NoProgress))
            .await
            .unwrap();
        let expected = alephd_storage::hash_bytes(&data, Layout::V0)
            .cid
            .to_string();
        assert_eq!(ipfs.hash.as_str(), expected);
        let missing = digest_file(
            &dir.path().join("nope"),
            FileEngine::Storage,
            Arc::new(NoProgress),
        )
        .await
        .unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
