//! HTTP routes of the compute side: programs on `/vm/{item_hash}/{path}` and on the host
//! `<base32(item_hash)>.<domain>` (any method, request and response streamed), the
//! executions list, and a program's executions (its logs).

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{self, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use serde::Deserialize;
use serde_json::json;

use crate::supervisor::{Supervisor, error_response};

/// Most executions one logs request returns.
const MAX_LIMIT: usize = crate::supervisor::EXECUTIONS_KEPT;

/// The compute routes. Host-name routing is a layer: [`host_route`].
pub fn router(supervisor: Supervisor) -> Router {
    Router::new()
        .route("/vm/{item_hash}", any(vm_root))
        .route("/vm/{item_hash}/", any(vm_root))
        .route("/vm/{item_hash}/{*path}", any(vm_path))
        .route("/about/executions/list", get(executions_list))
        .route("/v2/about/executions/list", get(executions_list))
        .route("/api/v0/compute/{item_hash}/executions", get(executions))
        .with_state(supervisor)
}

async fn vm_root(
    State(sup): State<Supervisor>,
    Path(item_hash): Path<String>,
    request: Request,
) -> Response {
    forward(&sup, &item_hash, "", request).await
}

async fn vm_path(
    State(sup): State<Supervisor>,
    Path((item_hash, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward(&sup, &item_hash, &path, request).await
}

/// Hands `request` to the program with its URI rewritten to `/{path}?{query}`.
async fn forward(sup: &Supervisor, item_hash: &str, path: &str, request: Request) -> Response {
    if !is_item_hash(item_hash) {
        return (StatusCode::NOT_FOUND, "not a program hash").into_response();
    }
    let (mut parts, body) = request.into_parts();
    let inner = match parts.uri.query() {
        Some(q) => format!("/{path}?{q}"),
        None => format!("/{path}"),
    };
    match inner.parse::<Uri>() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad path").into_response(),
    }
    sup.serve(item_hash, http::Request::from_parts(parts, body))
        .await
}

/// Middleware: a request whose `Host` is `<base32(hash)>.<domain>` (the configured domain, or
/// any when none is set) goes to that program with its path unchanged.
pub async fn host_route(State(sup): State<Supervisor>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .map(str::to_owned);
    if let Some(hash) = host
        .as_deref()
        .and_then(|h| program_of_host(h, sup.domain()))
    {
        return sup.serve(&hash, request).await;
    }
    next.run(request).await
}

/// The program a host name addresses: its first label is the base32 of a 32-byte item hash
/// and the rest is `domain` (when set).
pub fn program_of_host(host: &str, domain: Option<&str>) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let (label, rest) = host.split_once('.')?;
    if let Some(domain) = domain
        && rest != domain
    {
        return None;
    }
    let bytes = base32_decode(label)?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

/// The host label of a program: RFC 4648 base32 of its hash bytes, lowercase, unpadded (a
/// 64-character hex hash does not fit a 63-character DNS label; these 52 characters do).
pub fn host_label(item_hash: &str) -> Option<String> {
    let bytes = hex::decode(item_hash).ok()?;
    Some(base32_encode(&bytes))
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    // Leftover bits must be padding zeros, or the text is not a canonical encoding.
    (buffer == 0).then_some(out)
}

fn is_item_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn executions_list(State(sup): State<Supervisor>) -> Response {
    Json(sup.programs()).into_response()
}

#[derive(Debug, Deserialize)]
struct ExecutionsQuery {
    limit: Option<usize>,
}

async fn executions(
    State(sup): State<Supervisor>,
    Path(item_hash): Path<String>,
    Query(query): Query<ExecutionsQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
    match sup.executions(&item_hash, limit).await {
        Ok((stats, executions)) => Json(json!({
            "item_hash": item_hash,
            "program": stats,
            "executions": executions,
        }))
        .into_response(),
        Err(err) => error_response(&item_hash, &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lowercased, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn host_names_address_programs() {
        let hash = "7f27f1b0b4ab2f3b4b1e1d3b3e8ac6c0e4f5a7b3c2d1e0f9a8b7c6d5e4f3a2b1";
        let label = host_label(hash).unwrap();
        assert_eq!(label.len(), 52);
        let host = format!("{label}.aleph.example:4024");
        assert_eq!(program_of_host(&host, None).as_deref(), Some(hash));
        assert_eq!(
            program_of_host(&host, Some("aleph.example")).as_deref(),
            Some(hash)
        );
        assert_eq!(program_of_host(&host, Some("other.example")), None);
        assert_eq!(program_of_host("127.0.0.1:4024", None), None);
        assert_eq!(program_of_host("localhost", None), None);
        // Not canonical base32 (trailing bits set), or not 32 bytes.
        let mut bad = label.clone();
        bad.pop();
        bad.push('7');
        assert_eq!(program_of_host(&format!("{bad}.x"), None), None);
        assert_eq!(program_of_host("mzxw6ytboi.x", None), None);
    }
}
