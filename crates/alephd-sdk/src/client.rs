//! The HTTP client for a node's REST API (`/api/v0`): messages, posts, aggregates, prices and
//! balances, JSON uploads. File transfers are in `transfer.rs`, the websocket in `watch.rs`.

use std::time::Duration;

use alephd_message::{IncomingMessage, ItemHash};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::SdkError;

/// Default time a request may take, file transfers excepted.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the node said about a submitted message.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitResult {
    /// HTTP status: 200 processed, 202 pending, 422 rejected.
    pub http_status: u16,
    /// `message_status`: `processed`, `pending`, `rejected`, …
    pub message_status: String,
    /// The whole body, for callers that want `publication_status`.
    pub body: Value,
}

impl SubmitResult {
    /// pyaleph's `error_code` when the node gave one.
    pub fn error_code(&self) -> Option<i32> {
        self.body["error_code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
    }
}

/// A cheap-clone client for one node.
#[derive(Debug, Clone)]
pub struct AlephClient {
    pub(crate) http: reqwest::Client,
    base: Url,
}

impl AlephClient {
    /// A client for the node at `base_url` (e.g. `http://127.0.0.1:4024`).
    pub fn new(base_url: &str) -> Result<Self, SdkError> {
        let invalid = |reason: String| SdkError::InvalidUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("scheme must be http or https".to_owned()));
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(invalid("no host".to_owned()));
        }
        // No client-wide timeout: uploads of large files take as long as they take. Every other
        // request sets REQUEST_TIMEOUT.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("alephd-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { http, base })
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /api/v0/version`.
    pub async fn version(&self) -> Result<String, SdkError> {
        let body = self.get_json("/api/v0/version", &[]).await?;
        body["version"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| decode("/api/v0/version", "no `version` string"))
    }

    /// `POST /api/v0/messages`. A rejection (422) is returned as a result with
    /// `message_status == "rejected"`, not an error: the caller decides. See [`send`](Self::send).
    pub async fn submit(
        &self,
        message: &IncomingMessage,
        sync: bool,
    ) -> Result<SubmitResult, SdkError> {
        self.submit_value(&message.to_wire_value(), sync).await
    }

    /// Submits and waits for the processing result (up to the node's 30 s); a rejection is an
    /// [`SdkError::Rejected`] with the node's error code, its meaning and details.
    pub async fn send(&self, message: &IncomingMessage) -> Result<SubmitResult, SdkError> {
        let result = self.submit(message, true).await?;
        if result.http_status == 422 || result.message_status == "rejected" {
            return Err(self.rejection(message.item_hash(), &result).await);
        }
        Ok(result)
    }

    /// The rejection error for a 422 answer: the code from the answer, details from the
    /// message's status document when the node keeps one.
    pub(crate) async fn rejection(&self, item_hash: &ItemHash, result: &SubmitResult) -> SdkError {
        let mut code = result.error_code();
        let mut details = result.body.get("error").cloned().unwrap_or(Value::Null);
        if let Ok(Some(status)) = self.message(item_hash).await
            && status["status"] == "rejected"
        {
            code = code.or_else(|| {
                status["error_code"]
                    .as_i64()
                    .and_then(|c| i32::try_from(c).ok())
            });
            if !status["details"].is_null() {
                details = status["details"].clone();
            }
        }
        if code.is_none() && details.is_null() {
            details = result.body.clone();
        }
        SdkError::rejected(item_hash.as_str(), code, details)
    }

    /// Like [`submit`](Self::submit), for a message already in wire JSON form.
    pub async fn submit_value(
        &self,
        message: &Value,
        sync: bool,
    ) -> Result<SubmitResult, SdkError> {
        let path = "/api/v0/messages";
        let response = self
            .request(Method::POST, path)?
            .json(&json!({ "sync": sync, "message": message }))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        if !matches!(
            status,
            StatusCode::OK | StatusCode::ACCEPTED | StatusCode::UNPROCESSABLE_ENTITY
        ) {
            return Err(error_for("POST", path, status, text));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let message_status = body["message_status"]
            .as_str()
            .unwrap_or(if status == StatusCode::UNPROCESSABLE_ENTITY {
                "rejected"
            } else {
                "pending"
            })
            .to_owned();
        Ok(SubmitResult {
            http_status: status.as_u16(),
            message_status,
            body,
        })
    }

    /// `GET /api/v0/messages/{hash}`: the status document (every status shape), or `None` when
    /// the node does not know the hash.
    pub async fn message(&self, item_hash: &ItemHash) -> Result<Option<Value>, SdkError> {
        let path = format!("/api/v0/messages/{item_hash}");
        self.get_json_opt(&path, &[]).await
    }

    /// Waits until the message is no longer pending (or `timeout` passes) and returns its
    /// status document.
    pub async fn wait_message(
        &self,
        item_hash: &ItemHash,
        timeout: Duration,
    ) -> Result<Option<Value>, SdkError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.message(item_hash).await?;
            let pending = status.as_ref().is_none_or(|s| s["status"] == "pending");
            if !pending || tokio::time::Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /api/v0/messages.json` with query parameters as the API names them (`addresses`,
    /// `msgTypes`, `channels`, `refs`, `contentTypes`, `pagination`, `page`, …).
    pub async fn messages(&self, query: &[(&str, String)]) -> Result<Value, SdkError> {
        self.get_json("/api/v0/messages.json", query).await
    }

    /// `GET /api/v1/posts.json`: posts with amends merged (latest content, original identity).
    pub async fn posts(&self, query: &[(&str, String)]) -> Result<Value, SdkError> {
        self.get_json("/api/v1/posts.json", query).await
    }

    /// `GET /api/v0/aggregates/{address}.json`; `None` when the address has none (404).
    pub async fn aggregates(
        &self,
        address: &str,
        keys: &[&str],
    ) -> Result<Option<Value>, SdkError> {
        let path = format!("/api/v0/aggregates/{address}.json");
        let query: Vec<(&str, String)> = if keys.is_empty() {
            Vec::new()
        } else {
            vec![("keys", keys.join(","))]
        };
        Ok(self
            .get_json_opt(&path, &query)
            .await?
            .map(|body| body["data"].clone()))
    }

    /// One aggregate's merged value; `None` when the address has no such key.
    pub async fn aggregate(&self, address: &str, key: &str) -> Result<Option<Value>, SdkError> {
        Ok(self
            .aggregates(address, &[key])
            .await?
            .and_then(|data| data.get(key).cloned()))
    }

    /// `POST /api/v0/price/estimate`: what the message would cost (signature not checked).
    pub async fn price_estimate(&self, message: &IncomingMessage) -> Result<Value, SdkError> {
        let mut wire = message.to_wire_value();
        if let Some(text) = message.item_content()
            && let Ok(content) = serde_json::from_str::<Value>(text)
        {
            wire["content"] = content;
        }
        self.price_estimate_value(&wire).await
    }

    /// `POST /api/v0/price/estimate` for a message in wire form (unsigned is fine; contents
    /// may carry `estimated_size_mib` hints).
    pub async fn price_estimate_value(&self, message: &Value) -> Result<Value, SdkError> {
        self.post_json("/api/v0/price/estimate", &json!({ "message": message }))
            .await
    }

    /// `GET /api/v0/price/{hash}`: the recorded cost of a STORE, PROGRAM or INSTANCE.
    pub async fn price(&self, item_hash: &ItemHash) -> Result<Value, SdkError> {
        self.get_json(&format!("/api/v0/price/{item_hash}"), &[])
            .await
    }

    /// `GET /api/v0/addresses/{address}/balance`.
    pub async fn balance(&self, address: &str) -> Result<Value, SdkError> {
        self.get_json(&format!("/api/v0/addresses/{address}/balance"), &[])
            .await
    }

    /// `GET /api/v0/addresses/{address}/files`.
    pub async fn address_files(&self, address: &str) -> Result<Value, SdkError> {
        self.get_json(&format!("/api/v0/addresses/{address}/files"), &[])
            .await
    }

    /// `GET /api/v0/info/public.json` (the node's multiaddrs and peer id); `None` on a node
    /// without the network routes.
    pub async fn public_info(&self) -> Result<Option<Value>, SdkError> {
        self.get_json_opt("/api/v0/info/public.json", &[]).await
    }

    /// `POST /api/v0/storage/add_json`: stores a JSON document, returns its sha256 item hash.
    pub async fn storage_add_json(&self, document: &Value) -> Result<ItemHash, SdkError> {
        let path = "/api/v0/storage/add_json";
        let body = self.post_json(path, document).await?;
        body["hash"]
            .as_str()
            .and_then(|h| ItemHash::parse(h).ok())
            .ok_or_else(|| decode(path, &format!("no valid `hash` in {body}")))
    }

    /// An HTTP call to a program: `GET` (or `POST` with `body`) `/vm/{hash}{path}`. Returns the
    /// status and the body, whatever the status.
    pub async fn call_program(
        &self,
        hash: &ItemHash,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), SdkError> {
        let path = format!("/vm/{hash}/{}", path.trim_start_matches('/'));
        let request = match body {
            Some(body) => self.request(Method::POST, &path)?.body(body),
            None => self.request(Method::GET, &path)?,
        };
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        Ok((status, bytes.to_vec()))
    }

    /// A GET of any JSON route under the node (e.g. `/api/v0/compute/{hash}/executions`).
    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, SdkError> {
        let response = self
            .request(Method::GET, path)?
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.json_body("GET", path, response).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, SdkError> {
        let response = self
            .request(Method::POST, path)?
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.json_body("POST", path, response).await
    }

    async fn get_json_opt(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Value>, SdkError> {
        match self.get_json(path, query).await {
            Err(SdkError::NotFound { .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// A request with the default timeout.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, SdkError> {
        Ok(self.long_request(method, path)?.timeout(REQUEST_TIMEOUT))
    }

    /// A request without a total timeout (file transfers).
    pub(crate) fn long_request(
        &self,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, SdkError> {
        let url = self.url(path)?;
        Ok(self.http.request(method, url))
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, SdkError> {
        self.base.join(path).map_err(|e| SdkError::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    async fn json_body(
        &self,
        method: &'static str,
        path: &str,
        response: reqwest::Response,
    ) -> Result<Value, SdkError> {
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(error_for(method, path, status, text));
        }
        serde_json::from_str(&text).map_err(|e| decode(path, &e.to_string()))
    }

    pub(crate) fn unreachable(&self, source: reqwest::Error) -> SdkError {
        SdkError::Unreachable {
            url: self.base.to_string(),
            source,
        }
    }
}

fn decode(path: &str, reason: &str) -> SdkError {
    SdkError::Decode {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The typed error for an error status: 404, 413 (with the limit the node states), 402, 403.
pub(crate) fn error_for(
    method: &'static str,
    path: &str,
    status: StatusCode,
    body: String,
) -> SdkError {
    let reason = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(500).collect());
    match status {
        StatusCode::NOT_FOUND => SdkError::NotFound {
            what: path.to_owned(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => SdkError::TooLarge {
            limit: stated_limit(&reason).unwrap_or(0),
        },
        StatusCode::PAYMENT_REQUIRED => SdkError::PaymentRequired { reason },
        StatusCode::FORBIDDEN => SdkError::Forbidden { reason },
        _ => SdkError::Http {
            method,
            path: path.to_owned(),
            status: status.as_u16(),
            body: reason,
        },
    }
}

/// `N` in the node's "payload too large (limit N bytes)".
fn stated_limit(text: &str) -> Option<u64> {
    let rest = &text[text.find("limit ")? + "limit ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_urls() {
        for bad in ["not a url", "ftp://x", "http://"] {
            assert!(
                matches!(AlephClient::new(bad), Err(SdkError::InvalidUrl { .. })),
                "{bad}"
            );
        }
        assert!(AlephClient::new("http://127.0.0.1:4024").is_ok());
    }

    #[test]
    fn error_statuses_become_typed_errors() {
        let too_large = error_for(
            "POST",
            "/x",
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"error":"payload too large (limit 26214400 bytes)"}"#.into(),
        );
        assert!(matches!(too_large, SdkError::TooLarge { limit: 26214400 }));
        assert!(matches!(
            error_for("GET", "/x", StatusCode::NOT_FOUND, String::new()),
            SdkError::NotFound { .. }
        ));
        let paid = error_for(
            "POST",
            "/x",
            StatusCode::PAYMENT_REQUIRED,
            r#"{"error":"balance 0 is below the 3 required"}"#.into(),
        );
        assert!(paid.to_string().contains("balance 0 is below"), "{paid}");
    }

    #[tokio::test]
    async fn unreachable_node_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens there.
        let client = AlephClient::new("http://127.0.0.1:9").unwrap();
        let err = client.version().await.unwrap_err();
        assert!(matches!(err, SdkError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("node unreachable"), "{err}");
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    }
}
