//! The HTTP client for a node's REST API (`/api/v0`).

use std::time::Duration;

use alephd_message::{IncomingMessage, ItemHash};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::SdkError;

/// Default time a request may take, uploads excepted.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A cheap-clone client for one node.
#[derive(Debug, Clone)]
pub struct AlephClient {
    http: reqwest::Client,
    base: Url,
}

impl AlephClient {
    /// A client for the node at `base_url` (e.g. `http://127.0.0.1:4024`).
    pub fn new(base_url: &str) -> Result<Self, SdkError> {
        let base = Url::parse(base_url).map_err(|e| SdkError::InvalidUrl {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SdkError::InvalidUrl {
                url: base_url.to_owned(),
                reason: "scheme must be http or https".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| SdkError::InvalidUrl {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
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
            .ok_or_else(|| SdkError::Decode {
                path: "/api/v0/version".to_owned(),
                reason: "no `version` string".to_owned(),
            })
    }

    /// `POST /api/v0/messages`. A rejection (422) is returned as a result with
    /// `message_status == "rejected"`, not an error: the caller decides.
    pub async fn submit(
        &self,
        message: &IncomingMessage,
        sync: bool,
    ) -> Result<SubmitResult, SdkError> {
        self.submit_value(&message.to_wire_value(), sync).await
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
            return Err(SdkError::Http {
                method: "POST",
                path: path.to_owned(),
                status: status.as_u16(),
                body: text,
            });
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

    /// `GET /api/v0/messages.json` with query parameters as the API names them.
    pub async fn messages(&self, query: &[(&str, String)]) -> Result<Value, SdkError> {
        self.get_json("/api/v0/messages.json", query).await
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

    /// `POST /api/v0/storage/add_json`: stores a JSON document, returns its sha256 item hash.
    pub async fn storage_add_json(&self, document: &Value) -> Result<ItemHash, SdkError> {
        let path = "/api/v0/storage/add_json";
        let response = self
            .request(Method::POST, path)?
            .json(document)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let body = self.json_body("POST", path, response).await?;
        body["hash"]
            .as_str()
            .and_then(|h| ItemHash::parse(h).ok())
            .ok_or_else(|| SdkError::Decode {
                path: path.to_owned(),
                reason: format!("no valid `hash` in {body}"),
            })
    }

    async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, SdkError> {
        let response = self
            .request(Method::GET, path)?
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.json_body("GET", path, response).await
    }

    async fn get_json_opt(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Value>, SdkError> {
        let response = self
            .request(Method::GET, path)?
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.json_body("GET", path, response).await.map(Some)
    }

    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, SdkError> {
        let url = self.base.join(path).map_err(|e| SdkError::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })?;
        Ok(self.http.request(method, url))
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
            return Err(SdkError::Http {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|e| SdkError::Decode {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    fn unreachable(&self, source: reqwest::Error) -> SdkError {
        SdkError::Unreachable {
            url: self.base.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_urls() {
        assert!(matches!(
            AlephClient::new("not a url"),
            Err(SdkError::InvalidUrl { .. })
        ));
        assert!(matches!(
            AlephClient::new("ftp://x"),
            Err(SdkError::InvalidUrl { .. })
        ));
        assert!(AlephClient::new("http://127.0.0.1:4024").is_ok());
    }

    #[tokio::test]
    async fn unreachable_node_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens there.
        let client = AlephClient::new("http://127.0.0.1:9").unwrap();
        let err = client.version().await.unwrap_err();
        assert!(matches!(err, SdkError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("node unreachable"), "{err}");
    }
}
