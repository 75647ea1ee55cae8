//! Every CID in fixtures/vectors/cids.json, v0 and v1, reproduced from the generated files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use alephd_storage::{Layout, hash_bytes};
use sha2::{Digest, Sha256};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/vectors/cids.json"
);

/// The fixture's generator: sha256(b"alephd-vector:" || k as u64 LE) for k = 0.., truncated.
fn generate(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut k: u64 = 0;
    while out.len() < size {
        let mut hasher = Sha256::new();
        hasher.update(b"alephd-vector:");
        hasher.update(k.to_le_bytes());
        out.extend_from_slice(&hasher.finalize());
        k += 1;
    }
    out.truncate(size);
    out
}

#[test]
fn fixture_cids_are_reproduced() -> anyhow::Result<()> {
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(VECTORS)?)?;
    let files = vectors["files"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no files"))?;
    assert!(files.len() >= 10);
    for file in files {
        let size = file["size"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("size"))? as usize;
        let data = generate(size);
        assert_eq!(
            hex::encode(Sha256::digest(&data)),
            file["sha256"],
            "generator, size {size}"
        );
        let v0 = hash_bytes(&data, Layout::V0);
        assert_eq!(v0.cid.to_string(), file["cid_v0"], "CIDv0 of {size} bytes");
        assert_eq!(v0.filesize, size as u64);
        let v1 = hash_bytes(&data, Layout::V1);
        assert_eq!(
            v1.cid.to_string(),
            file["cid_v1_raw_leaves"],
            "CIDv1 of {size} bytes"
        );
    }
    Ok(())
}
