//! Shared pieces of the core node's routes (messages, aggregates, posts, …): the state they
//! need, their error type, query-string parsing with Aleph's aliases, and the API form of a
//! stored message.

use std::collections::HashMap;

use alephd_db::{Conn, Db, DbError, MessageRecord, ReadConn};
use alephd_processor::ProcessorHandle;
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{json, value::RawValue};

/// The core node's handles: the state database (reads) and the processor (submissions).
#[derive(Clone, Debug)]
pub struct CoreApi {
    pub db: Db,
    pub processor: ProcessorHandle,
}

impl CoreApi {
    pub fn new(db: Db, processor: ProcessorHandle) -> Self {
        Self { db, processor }
    }

    pub(crate) async fn read(&self) -> Result<ReadConn, ApiError> {
        Ok(self.db.read().await?)
    }
}

/// Errors of the core routes, mapped to Aleph's status codes. Internal causes are logged,
/// never sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("the core node is not running")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::InvalidCursor => Self::Unprocessable("invalid cursor".into()),
            other => {
                tracing::error!(error = %other, "database error in an API handler");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// Query parameters, looked up by any of their accepted spellings.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

/// Longest list a filter accepts (each value is bound as one SQL parameter).
const MAX_LIST: usize = 500;

impl Params {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    pub(crate) fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.0.get(*n))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter as sent, even when empty.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A comma-separated list (empty when absent).
    pub(crate) fn list(&self, names: &[&str]) -> Result<Vec<String>, ApiError> {
        let values: Vec<String> = self
            .get(names)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if values.len() > MAX_LIST {
            return Err(ApiError::Unprocessable(format!(
                "{} accepts at most {MAX_LIST} values",
                names[0]
            )));
        }
        Ok(values)
    }

    pub(crate) fn int(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        self.get(names)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::Unprocessable(format!("{} must be an integer", names[0]))
                })
            })
            .transpose()
    }

    pub(crate) fn float(&self, names: &[&str]) -> Result<Option<f64>, ApiError> {
        self.get(names)
            .map(|v| match v.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(f),
                _ => Err(ApiError::Unprocessable(format!(
                    "{} must be a number",
                    names[0]
                ))),
            })
            .transpose()
    }

    pub(crate) fn bool(&self, names: &[&str]) -> Result<Option<bool>, ApiError> {
        self.get(names)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ApiError::Unprocessable(format!(
                    "{} must be a boolean",
                    names[0]
                ))),
            })
            .transpose()
    }

    /// `(per_page, page)`: `pagination` (default `default`, 0 = all, ≤ `max` when set) and
    /// `page` (≥ 1, default 1).
    pub(crate) fn pagination(
        &self,
        default: i64,
        max: Option<i64>,
    ) -> Result<(i64, i64), ApiError> {
        let per_page = self.int(&["pagination"])?.unwrap_or(default);
        if per_page < 0 || max.is_some_and(|m| per_page > m || per_page == 0) {
            return Err(ApiError::Unprocessable("invalid pagination".into()));
        }
        let page = self.int(&["page"])?.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::Unprocessable("page must be at least 1".into()));
        }
        Ok((per_page, page))
    }
}

/// `"12.json"` → `"12"`; other suffixes are not routes.
pub(crate) fn strip_json(segment: &str) -> Result<&str, ApiError> {
    segment
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::NotFound("not found".into()))
}

/// A chain confirmation as served.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConfirmationView {
    pub(crate) chain: String,
    pub(crate) height: i64,
    pub(crate) hash: String,
}

/// The API form of an applied message (what `messages.json`, `GET /messages/{h}` and the
/// websocket serve; aleph-message parses it).
#[derive(Debug, Serialize)]
pub(crate) struct MessageView<'a> {
    sender: &'a str,
    chain: &'a str,
    signature: Option<&'a str>,
    #[serde(rename = "type")]
    message_type: &'a str,
    item_type: &'a str,
    item_content: Option<&'a str>,
    item_hash: &'a str,
    time: f64,
    channel: Option<&'a str>,
    content: &'a RawValue,
    confirmed: bool,
    confirmations: Vec<ConfirmationView>,
    size: i64,
}

/// Stored content is JSON written by the processor; a corrupt row serves `null`.
fn raw_content(text: &str) -> &RawValue {
    serde_json::from_str::<&RawValue>(text).unwrap_or(RawValue::NULL)
}

impl<'a> MessageView<'a> {
    pub(crate) fn new(m: &'a MessageRecord, confirmations: Vec<ConfirmationView>) -> Self {
        Self {
            sender: &m.sender,
            chain: &m.chain,
            signature: m.signature.as_deref(),
            message_type: &m.message_type,
            item_type: &m.item_type,
            item_content: m.item_content.as_deref(),
            item_hash: &m.item_hash,
            time: m.time,
            channel: m.channel.as_deref(),
            content: raw_content(&m.content),
            confirmed: !confirmations.is_empty(),
            confirmations,
            size: m.size,
        }
    }
}

/// Confirmations of one message.
pub(crate) async fn confirmations(
    conn: &mut Conn,
    item_hash: &str,
) -> Result<Vec<ConfirmationView>, ApiError> {
    Ok(alephd_db::ops::confirmations(conn, item_hash)
        .await?
        .into_iter()
        .map(|(chain, height, hash)| ConfirmationView {
            chain,
            height,
            hash,
        })
        .collect())
}

/// Float UNIX seconds as ISO 8601 UTC with microseconds (`2023-04-26T19:48:54.592513Z`).
pub(crate) fn iso8601(t: f64) -> String {
    let micros = (t * 1e6).round() as i64;
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_python() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000000Z");
        // datetime.fromtimestamp(1682538534.592513, timezone.utc)
        assert_eq!(
            iso8601(1_682_538_534.592_513),
            "2023-04-26T19:48:54.592513Z"
        );
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn params_lists_and_aliases() {
        let p = Params::new(vec![
            ("msg_types".into(), "POST, AGGREGATE,".into()),
            ("page".into(), "x".into()),
        ]);
        assert_eq!(
            p.list(&["msgTypes", "msg_types"]).unwrap(),
            vec!["POST", "AGGREGATE"]
        );
        assert!(p.int(&["page"]).is_err());
        assert!(p.list(&["channels"]).unwrap().is_empty());
    }
}
