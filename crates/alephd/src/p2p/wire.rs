//! Messages as they travel between nodes: the nine wire fields of an applied message, and the
//! decoding of what peers send (JSON, or URL-quoted JSON, which Aleph nodes tolerate).

use alephd_db::MessageRecord;
use alephd_message::{IncomingMessage, MessageError};
use bytes::Bytes;
use serde_json::json;

/// The wire JSON of an applied message. Every node builds the same bytes from the same
/// message, so gossip ids (a hash of the payload) match and duplicates are dropped.
pub(crate) fn wire_json(record: &MessageRecord) -> Bytes {
    let value = json!({
        "sender": record.sender,
        "chain": record.chain,
        "signature": record.signature,
        "type": record.message_type,
        "item_type": record.item_type,
        "item_content": record.item_content,
        "item_hash": record.item_hash,
        "time": record.time,
        "channel": record.channel,
    });
    Bytes::from(value.to_string())
}

/// Parses a message received from a peer.
pub(crate) fn decode(data: &[u8]) -> Result<IncomingMessage, MessageError> {
    let trimmed = data.trim_ascii_start();
    if trimmed.first() == Some(&b'%') {
        let unquoted = percent_decode(trimmed)
            .ok_or_else(|| MessageError::InvalidJson("bad URL quoting".to_owned()))?;
        return IncomingMessage::from_json(&unquoted);
    }
    IncomingMessage::from_json(data)
}

/// `%XX` escapes (and `+` as a space, as Python's `unquote_plus`); `None` on a broken escape.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex_value(*bytes.next()?)?;
                let lo = hex_value(*bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"%7B%22a%22%3A1%7D").unwrap(), br#"{"a":1}"#);
        assert_eq!(percent_decode(b"a+b").unwrap(), b"a b");
        assert!(percent_decode(b"%7").is_none());
        assert!(percent_decode(b"%zz").is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [
            &b""[..],
            b"%",
            b"%%%%",
            b"{",
            b"[1]",
            b"\xff\xfe",
            b"%7B%ff%7D",
        ] {
            assert!(decode(data).is_err());
        }
    }
}
