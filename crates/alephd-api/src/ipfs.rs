//! IPFS surfaces: Aleph's `/api/v0/ipfs/*` uploads, the gateway `/ipfs/{cid}[/path]`, and the
//! Kubo RPC subset (`/api/v0/add`, `/api/v0/cat`, `/api/v0/dag/export`) so IPFS tools can use
//! a node. CIDs are the ones `ipfs add` gives (see alephd-storage).

use std::collections::HashMap;

use alephd_storage::{AddOptions, Cid, ContentRef, Engine, EntryKind, Layout, PinMode, Store};
use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Multipart, Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use crate::{
    ApiState,
    storage::{self, StorageApiError, check_length, declared_length, serve_file, store},
    upload,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/ipfs/add_file", post(add_file))
        .route("/api/v0/ipfs/add_json", post(add_json))
        .route("/api/v0/ipfs/add_car", post(add_car))
        .route("/api/v0/add", post(kubo_add))
        .route("/api/v0/cat", post(kubo_cat))
        .route("/api/v0/dag/export", post(kubo_dag_export))
        .route("/ipfs/{cid}", get(gateway_root))
        .route("/ipfs/{cid}/", get(gateway_root))
        .route("/ipfs/{cid}/{*path}", get(gateway_path))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(crate::linger::lingering_body))
}

/// Multipart `file`, with an optional `metadata` part carrying the signed STORE message.
async fn add_file(
    State(state): State<ApiState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?.clone();
    let limits = (
        store.config().max_unauthenticated_upload,
        store.config().max_ipfs_file_size,
    );
    check_length(&headers, limits.1)?;
    let upload = upload::read_upload(
        &state,
        &store,
        multipart,
        Engine::Ipfs(Layout::V0),
        limits,
        declared_length(&headers),
    )
    .await?;
    let body = json!({
        "status": "success", "hash": upload.added.cid.to_string(), "name": upload.name,
        "size": upload.added.size,
    });
    upload::respond(&state, upload, body).await
}

async fn add_json(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, StorageApiError> {
    let added =
        storage::add_json_document(&state, &headers, body, Engine::Ipfs(Layout::V0)).await?;
    Ok(Json(json!({"status": "success", "hash": added.cid.to_string()})).into_response())
}

async fn add_car(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    check_length(&headers, store.config().max_car_size)?;
    let roots = store
        .import_car(body.into_data_stream(), PinMode::Grace)
        .await?;
    let roots: Vec<String> = roots.iter().map(Cid::to_string).collect();
    Ok(Json(json!({"status": "success", "hash": roots.first(), "roots": roots})).into_response())
}

fn flag(
    query: &HashMap<String, String>,
    name: &str,
    default: bool,
) -> Result<bool, StorageApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(default),
        Some("" | "true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(StorageApiError::BadRequest(format!(
            "invalid {name}={other}"
        ))),
    }
}

/// Kubo's `add`: every multipart file (paths in file names), NDJSON `{Name, Hash, Size}` lines.
async fn kubo_add(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let limit = store.config().max_ipfs_file_size;
    check_length(&headers, limit)?;
    let cid_v1 = match query.get("cid-version").map(String::as_str) {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(StorageApiError::BadRequest(format!(
                "invalid cid-version={other}"
            )));
        }
    };
    let raw_leaves = flag(&query, "raw-leaves", cid_v1)?;
    let layout = Layout {
        cid_v0: !cid_v1,
        raw_leaves,
        ..Layout::V0
    };
    let mut opts = AddOptions::new(Engine::Ipfs(layout), limit);
    opts.only_hash = flag(&query, "only-hash", false)?;
    // Without a message, "pin" means the grace pin; pin=false leaves it to the next GC.
    opts.pin = if flag(&query, "pin", true)? {
        PinMode::Grace
    } else {
        PinMode::None
    };
    let mut session = store.add_session(opts)?;
    let bad =
        |e: axum::extract::multipart::MultipartError| StorageApiError::BadRequest(e.body_text());
    let mut any = false;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field
            .file_name()
            .map(|n| n.trim_matches('/').to_owned())
            .filter(|n| !n.is_empty());
        let is_dir = field.content_type() == Some("application/x-directory");
        if is_dir {
            if let Some(name) = &name {
                session.directory(name)?;
            }
            continue;
        }
        let mut file = session.file(name.as_deref())?;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            file.write(chunk).await?;
        }
        file.finish().await?;
        any = true;
    }
    if !any {
        return Err(StorageApiError::BadRequest("no file in the request".into()));
    }
    let added = session.commit().await?;
    let mut lines = String::new();
    for entry in added {
        let name = if entry.path.is_empty() {
            entry.cid.to_string()
        } else {
            entry.path
        };
        lines.push_str(
            &json!({"Name": name, "Hash": entry.cid.to_string(), "Size": entry.tsize.to_string()})
                .to_string(),
        );
        lines.push('\n');
    }
    let mut response = lines.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("x-chunked-output", HeaderValue::from_static("1"));
    Ok(response)
}

/// `arg` = `<cid>[/path]`: the CID and the file it names.
async fn resolve_arg(store: &Store, arg: &str) -> Result<Cid, StorageApiError> {
    let arg = arg.trim_start_matches("/ipfs/");
    let (cid, path) = arg.split_once('/').unwrap_or((arg, ""));
    let root = match cid.parse::<ContentRef>() {
        Ok(ContentRef::Ipfs(cid)) => cid,
        _ => return Err(StorageApiError::BadRequest(format!("invalid CID {cid}"))),
    };
    store
        .root_of(&ContentRef::Ipfs(root))
        .await?
        .ok_or(StorageApiError::NotFound)?;
    store
        .resolve_path(root, path)
        .await?
        .ok_or(StorageApiError::NotFound)
}

async fn kubo_cat(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let arg = query
        .get("arg")
        .ok_or_else(|| StorageApiError::BadRequest("missing arg".into()))?;
    let cid = resolve_arg(store, arg).await?;
    let stat = store
        .stat(&ContentRef::Ipfs(cid))
        .await?
        .ok_or(StorageApiError::NotFound)?;
    if stat.kind == EntryKind::Directory {
        return Err(StorageApiError::BadRequest(
            "this dag node is a directory".into(),
        ));
    }
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<u64>().ok());
    let start = number("offset").unwrap_or(0).min(stat.size);
    let end = number("length").map_or(stat.size, |l| start.saturating_add(l).min(stat.size));
    let mut response = Response::new(Body::from_stream(store.read_cid(cid, start..end)));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn kubo_dag_export(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let arg = query
        .get("arg")
        .ok_or_else(|| StorageApiError::BadRequest("missing arg".into()))?;
    let cid = resolve_arg(store, arg).await?;
    car_response(store, cid)
}

fn car_response(store: &Store, cid: Cid) -> Result<Response, StorageApiError> {
    let mut response = Response::new(Body::from_stream(store.export_car(cid)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.ipld.car"),
    );
    Ok(response)
}

async fn gateway_root(
    state: State<ApiState>,
    Path(cid): Path<String>,
    query: Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, StorageApiError> {
    gateway(state, cid, String::new(), query, method, headers).await
}

async fn gateway_path(
    state: State<ApiState>,
    Path((cid, path)): Path<(String, String)>,
    query: Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, StorageApiError> {
    gateway(state, cid, path, query, method, headers).await
}

async fn gateway(
    State(state): State<ApiState>,
    cid: String,
    path: String,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, StorageApiError> {
    let store = store(&state)?;
    let target = resolve_arg(store, &format!("{cid}/{path}")).await?;
    if query.get("format").map(String::as_str) == Some("car") {
        return car_response(store, target);
    }
    let stat = store
        .stat(&ContentRef::Ipfs(target))
        .await?
        .ok_or(StorageApiError::NotFound)?;
    if stat.kind == EntryKind::File {
        return Ok(serve_file(
            store,
            target,
            stat.size,
            &method,
            &headers,
            mime_of(&path),
        ));
    }
    let entries = store.list(target).await?;
    if let Some(index) = entries.iter().find(|e| e.name == "index.html") {
        let index_stat = store
            .stat(&ContentRef::Ipfs(index.cid))
            .await?
            .ok_or(StorageApiError::NotFound)?;
        if index_stat.kind == EntryKind::File {
            return Ok(serve_file(
                store,
                index.cid,
                index_stat.size,
                &method,
                &headers,
                "text/html; charset=utf-8",
            ));
        }
    }
    let base = format!("/ipfs/{cid}/{}", path.trim_matches('/'));
    let base = base.trim_end_matches('/');
    let mut html = format!("<!doctype html><title>{}</title><ul>", escape(base));
    for entry in &entries {
        let href = format!("{base}/{}", entry.name);
        html.push_str(&format!(
            "<li><a href=\"{}\">{}</a> {} bytes</li>",
            escape(&href),
            escape(&entry.name),
            entry.tsize
        ));
    }
    html.push_str("</ul>");
    Ok(Html(html).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn mime_of(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
