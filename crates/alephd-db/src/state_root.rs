//! The state root: a sha256 over the canonical applied state, so two nodes (or two delivery
//! orders) can prove they agree.
//!
//! Covered, each family sorted by its key: applied message hashes (M), forgotten message
//! hashes (F; not `forgotten_by`, which records which FORGETs happened to reach a target first), merged aggregate values in canonical JSON (A) and each original
//! post's current amend (P). Pending and rejected messages are not state: they are how a node
//! got there. Every field is length-prefixed so no two states share an encoding.

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Conn, DbError};

/// The root and what it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateRoot {
    /// Lowercase hex sha256.
    pub root: String,
    pub messages: u64,
    pub forgotten: u64,
    pub aggregates: u64,
    pub posts: u64,
}

struct Hasher(Sha256);

impl Hasher {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }
}

/// Computes the root by streaming every table once.
pub async fn state_root(conn: &mut Conn) -> Result<StateRoot, DbError> {
    let mut h = Hasher(Sha256::new());
    let mut root = StateRoot {
        root: String::new(),
        messages: 0,
        forgotten: 0,
        aggregates: 0,
        posts: 0,
    };
    {
        let mut rows =
            sqlx::query_scalar::<_, String>("SELECT item_hash FROM messages ORDER BY item_hash")
                .fetch(&mut *conn);
        while let Some(hash) = rows.try_next().await? {
            h.field(b"M");
            h.field(hash.as_bytes());
            root.messages += 1;
        }
    }
    {
        let mut rows = sqlx::query_scalar::<_, String>(
            "SELECT item_hash FROM forgotten_messages ORDER BY item_hash",
        )
        .fetch(&mut *conn);
        while let Some(hash) = rows.try_next().await? {
            h.field(b"F");
            h.field(hash.as_bytes());
            root.forgotten += 1;
        }
    }
    {
        let mut rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT owner, key, content FROM aggregates ORDER BY owner, key",
        )
        .fetch(&mut *conn);
        while let Some((owner, key, content)) = rows.try_next().await? {
            let value: Value =
                serde_json::from_str(&content).map_err(|source| DbError::StoredJson {
                    column: "aggregates.content",
                    source,
                })?;
            h.field(b"A");
            h.field(owner.as_bytes());
            h.field(key.as_bytes());
            h.field(canonical_json(&value).as_bytes());
            root.aggregates += 1;
        }
    }
    {
        let mut rows = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT item_hash, latest_amend FROM posts WHERE amends IS NULL ORDER BY item_hash",
        )
        .fetch(&mut *conn);
        while let Some((hash, latest)) = rows.try_next().await? {
            h.field(b"P");
            h.field(hash.as_bytes());
            h.field(latest.unwrap_or_default().as_bytes());
            root.posts += 1;
        }
    }
    root.root = hex::encode(h.0.finalize());
    Ok(root)
}

/// JSON with object keys sorted at every level, whatever the map's own order.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[{"d":1,"c":2}],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#
        );
    }
}
