//! `/api/v0/storage/*`: sha256-addressed uploads and downloads (spec §5.3), plus the helpers
//! the IPFS routes share (errors, uploads from bodies/multipart, ranged file responses).
//!
//! Bodies are streamed into the store; size limits are enforced while reading (413).

use alephd_storage::{
    AddError, AddOptions, Added, CarError, Cid, ContentRef, Engine, EntryKind, Store, StoreError,
};
use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use futures::StreamExt;
use serde_json::json;

use crate::{ApiState, upload};

/// Why a storage request failed; never leaks internals.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StorageApiError {
    #[error("storage is not enabled on this node")]
    Unavailable,
    #[error("not found")]
    NotFound,
    #[error("payload too large (limit {0} bytes)")]
    TooLarge(u64),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PaymentRequired(String),
    #[error("internal error")]
    Internal,
}

impl IntoResponse for StorageApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

impl From<AddError> for StorageApiError {
    fn from(err: AddError) -> Self {
        match err {
            AddError::TooLarge { limit } => Self::TooLarge(limit),
            AddError::Body(_)
            | AddError::InvalidPath(_)
            | AddError::Mismatch { .. }
            | AddError::Empty => Self::BadRequest(err.to_string()),
            other => {
                tracing::error!(err = %other, "upload failed");
                Self::Internal
            }
        }
    }
}

impl From<StoreError> for StorageApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => Self::NotFound,
            other => {
                tracing::error!(err = %other, "storage read failed");
                Self::Internal
            }
        }
    }
}

impl From<CarError> for StorageApiError {
    fn from(err: CarError) -> Self {
        match err {
            CarError::TooLarge { limit } => Self::TooLarge(limit),
            CarError::Io(_) | CarError::Task(_) => Self::Internal,
            CarError::Commit(alephd_storage::CommitError::Store(_)) => Self::Internal,
            other => Self::BadRequest(other.to_string()),
        }
    }
}

pub(crate) fn store(state: &ApiState) -> Result<&Store, StorageApiError> {
    state.storage.as_ref().ok_or(StorageApiError::Unavailable)
}

/// Refuses early when the declared length is already over the limit.
pub(crate) fn check_length(headers: &HeaderMap, limit: u64) -> Result<(), StorageApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit + 64 * 1024 && !is_multipart(headers) => {
            Err(StorageApiError::TooLarge(limit))
        }
        Some(len) if len > limit + 1024 * 1024 => Err(StorageApiError::TooLarge(limit)),
        _ => Ok(()),
    }
}

pub(crate) fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// Adds the body as one file.
pub(crate) async fn add_body(
    store: &Store,
    body: Body,
    opts: AddOptions,
) -> Result<Added, StorageApiError> {
    Ok(store.add_stream(body.into_data_stream(), opts).await?)
}

/// A single `Range: bytes=…` request resolved against `size`: Ok(None) = whole file.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = value.strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Ok(None); // multiple ranges: serve the whole file, as allowed by RFC 9110
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            (size.saturating_sub(n), size)
        }
        (s, "") => (s.parse().map_err(|_| ())?, size),
        (s, e) => (
            s.parse().map_err(|_| ())?,
            e.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size),
        ),
    };
    if start >= end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves the file at `cid` (`size` bytes) with Content-Length, Range and HEAD support.
pub(crate) fn serve_file(
    store: &Store,
    cid: Cid,
    size: u64,
    method: &Method,
    headers: &HeaderMap,
    mime: &str,
) -> Response {
    let (status, start, end) = match parse_range(headers, size) {
        Ok(None) => (StatusCode::OK, 0, size),
        Ok(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Err(()) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let body = match *method == Method::HEAD {
        true => Body::empty(),
        false => Body::from_stream(store.read_cid(cid, start..end)),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{cid}\"")) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

pub(crate) fn parse_ref(hash: &str) -> Result<ContentRef, StorageApiError> {
    hash.parse().map_err(|_| StorageApiError::NotFound)
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/storage/add_json", post(add_json))
        .route("/api/v0/storage/add_file", post(add_file))
        .route("/api/v0/storage/raw/{hash}", get(raw))
        .route("/api/v0/storage/count/{hash}", get(count))
        .route("/api/v0/storage/{hash}", get(base64_content))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(crate::linger::lingering_body))
}

fn success(added: &Added) -> Json<serde_json::Value> {
    Json(json!({"status": "success", "hash": added.content.to_string()}))
}

/// A JSON document upload (`storage/add_json`, `ipfs/add_json`): at most the unauthenticated
/// limit, must parse as JSON, stored as given (grace-pinned) under `engine`.
pub(crate) async fn add_json_document(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
    engine: Engine,
) -> Result<Added, StorageApiError> {
    let store = store(state)?;
    let limit = store.config().max_unauthenticated_upload;
    check_length(headers, limit)?;
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| StorageApiError::TooLarge(limit))?;
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|e| StorageApiError::BadRequest(e.to_string()))?;
    Ok(store
        .add_bytes(bytes, AddOptions::new(engine, limit))
        .await?)
}

async fn add_json(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, StorageApiError> {
    let added = add_json_document(&state, &headers, body, Engine::Storage).await?;
    Ok(success(&added).into_response())
}

/// Raw body, or multipart `file` with an optional `metadata` part carrying the signed STORE
/// message (see [`crate::upload`]).
async fn add_file(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?.clone();
    let limits = (
        store.config().max_unauthenticated_upload,
        store.config().max_file_size,
    );
    if !is_multipart(&headers) {
        check_length(&headers, limits.0)?;
        let added = add_body(
            &store,
            request.into_body(),
            AddOptions::new(Engine::Storage, limits.0),
        )
        .await?;
        return Ok(success(&added).into_response());
    }
    check_length(&headers, limits.1)?;
    let multipart = <Multipart as axum::extract::FromRequest<()>>::from_request(request, &())
        .await
        .map_err(|e| StorageApiError::BadRequest(e.body_text()))?;
    let upload = upload::read_upload(
        &state,
        &store,
        multipart,
        Engine::Storage,
        limits,
        declared_length(&headers),
    )
    .await?;
    let body = json!({"status": "success", "hash": upload.added.content.to_string()});
    upload::respond(&state, upload, body).await
}

/// The request's Content-Length, when declared.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

async fn raw(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let item = parse_ref(&hash)?;
    let stat = store.stat(&item).await?.ok_or(StorageApiError::NotFound)?;
    if stat.kind == EntryKind::Directory {
        return Err(StorageApiError::BadRequest(
            "directories are served by /ipfs/{cid}".into(),
        ));
    }
    if stat.size > store.config().max_file_size {
        return Err(StorageApiError::TooLarge(store.config().max_file_size));
    }
    Ok(serve_file(
        store,
        stat.cid,
        stat.size,
        &method,
        &headers,
        "application/octet-stream",
    ))
}

async fn count(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<u64>, StorageApiError> {
    let store = store(&state)?;
    let stat = store.stat(&parse_ref(&hash)?).await?;
    Ok(Json(stat.map_or(0, |s| s.pins)))
}

/// `{"status","hash","engine","content": base64}`, streamed: base64 of 3-byte-aligned pieces.
async fn base64_content(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let item = parse_ref(&hash)?;
    let stat = store.stat(&item).await?.ok_or(StorageApiError::NotFound)?;
    if stat.kind == EntryKind::Directory || stat.size > store.config().max_file_size {
        return Err(StorageApiError::TooLarge(store.config().max_file_size));
    }
    let head = format!(
        r#"{{"status":"success","hash":"{item}","engine":"{}","content":""#,
        item.engine()
    );
    let mut carry = Vec::new();
    let bytes = store.read_cid(stat.cid, 0..stat.size).map(move |chunk| {
        let chunk = chunk?;
        carry.extend_from_slice(&chunk);
        let whole = carry.len() / 3 * 3;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&carry[..whole]);
        carry.drain(..whole);
        Ok::<_, alephd_storage::ReadError>(bytes::Bytes::from(encoded))
    });
    // The final (1–2 byte) remainder is re-read: cheaper than threading state out of the map.
    let tail_start = stat.size / 3 * 3;
    let tail = store
        .read_cid(stat.cid, tail_start..stat.size)
        .collect::<Vec<_>>();
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(head)) })
        .chain(bytes)
        .chain(futures::stream::once(async move {
            let rest: Vec<u8> = tail
                .await
                .into_iter()
                .filter_map(Result::ok)
                .flat_map(|b| b.to_vec())
                .collect();
            Ok(bytes::Bytes::from(format!(
                "{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(rest)
            )))
        }));
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
