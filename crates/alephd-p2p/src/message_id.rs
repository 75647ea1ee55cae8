//! Aleph's gossipsub message id: what its sidecar computes, so IHAVE/IWANT and duplicate
//! detection line up with upstream nodes (`aleph-protocol.md` §6).
//!
//! Upstream feeds the payload, as a `Vec<u8>`, to std's `DefaultHasher::new()` and prints the
//! `u64` in decimal. std does not promise that algorithm forever, so we pin it explicitly:
//! SipHash-1-3 with zero keys over `len as u64 (little endian) ++ bytes` (the `Hash` impl of a
//! slice writes its length first).

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The decimal message id Aleph nodes give to a gossip payload.
pub fn aleph_message_id(data: &[u8]) -> String {
    let mut hasher = SipHasher13::new_with_keys(0, 0);
    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
    hasher.write(&len.to_le_bytes());
    hasher.write(data);
    hasher.finish().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    #[allow(deprecated)] // the point is to compare with what std computes today
    fn std_default_hasher(data: &[u8]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        data.to_vec().hash(&mut h);
        h.finish().to_string()
    }

    #[test]
    fn matches_std_default_hasher_over_vec() {
        for data in [&b""[..], b"a", b"{\"item_hash\":\"x\"}", &[0u8; 1000][..]] {
            assert_eq!(aleph_message_id(data), std_default_hasher(data));
        }
    }

    #[test]
    fn differs_between_payloads() {
        assert_ne!(aleph_message_id(b"a"), aleph_message_id(b"b"));
    }
}
