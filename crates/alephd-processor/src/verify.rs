//! Signature checks for a batch, spread over a few threads (the CPU-heavy step). The
//! per-chain verifiers are `alephd_message::signature`'s.

use alephd_message::{IncomingMessage, signature::SignedFields};

/// Verifies every message's signature; `None` entries (unparsable) count as invalid.
pub(crate) fn verify_batch(messages: &[Option<IncomingMessage>], threads: usize) -> Vec<bool> {
    let chunk = messages.len().div_ceil(threads.max(1)).max(1);
    if messages.len() <= 16 || threads <= 1 {
        return messages.iter().map(verify_one).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = messages
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(verify_one).collect::<Vec<bool>>()))
            .collect();
        // A panicking verifier is a bug in that verifier: count its messages as invalid.
        handles
            .into_iter()
            .zip(messages.chunks(chunk))
            .flat_map(|(h, part)| h.join().unwrap_or_else(|_| vec![false; part.len()]))
            .collect()
    })
}

fn verify_one(message: &Option<IncomingMessage>) -> bool {
    message
        .as_ref()
        .and_then(IncomingMessage::signed_fields)
        .is_some_and(|f| verify_fields(&f))
}

pub(crate) fn verify_fields(fields: &SignedFields<'_>) -> bool {
    alephd_message::signature::verify(fields).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(file: &str) -> Vec<serde_json::Value> {
        let path = format!(
            "{}/../../fixtures/vectors/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn eth_and_sol_vectors_verify_as_checked_upstream() {
        let mut checked = 0;
        for v in vectors("messages-eth.json")
            .into_iter()
            .chain(vectors("messages-sol.json"))
        {
            let Some(expected) = v["signature_valid_checked_locally"].as_bool() else {
                continue;
            };
            let m = &v["message"];
            let signature = match &m["signature"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let (Some(chain), Some(message_type)) = (m["chain"].as_str(), m["type"].as_str())
            else {
                continue;
            };
            let fields = SignedFields {
                chain: chain.parse().unwrap(),
                sender: m["sender"].as_str().unwrap(),
                message_type: serde_json::from_value(serde_json::json!(message_type)).unwrap(),
                item_hash: m["item_hash"].as_str().unwrap(),
                signature: &signature,
                time: 0.0,
            };
            assert_eq!(verify_fields(&fields), expected, "{}", v["name"]);
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} vectors checked");
    }
}
