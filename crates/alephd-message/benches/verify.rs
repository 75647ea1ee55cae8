//! Signature verification throughput: EVM (ecrecover: libsecp256k1 as `verify` does, and
//! pure-Rust k256 for comparison), Solana (strict, as `verify` does, against bare
//! ed25519-dalek), on one core and on every core. Solana is not batch-verified: see
//! `signature/solana.rs`.
//!
//! `cargo bench -p alephd-message --bench verify`

#![allow(clippy::unwrap_used, missing_docs)] // a benchmark: fail loudly

use alephd_message::{
    Chain, MessageType,
    signature::{EthAccount, SignedFields, Signer, SolAccount, verification_buffer, verify},
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 256;

struct Signed {
    chain: Chain,
    sender: String,
    hash: String,
    signature: String,
}

impl Signed {
    fn fields(&self) -> SignedFields<'_> {
        SignedFields {
            chain: self.chain,
            sender: &self.sender,
            message_type: MessageType::Post,
            item_hash: &self.hash,
            signature: &self.signature,
            time: 0.0,
        }
    }
}

fn sign_all(signer: &dyn Signer) -> Vec<Signed> {
    (0..BATCH)
        .map(|i| {
            let hash = format!("{i:064x}");
            let buffer =
                verification_buffer(signer.chain(), signer.address(), MessageType::Post, &hash);
            Signed {
                chain: signer.chain(),
                sender: signer.address().to_owned(),
                signature: signer.sign_buffer(&buffer).unwrap(),
                hash,
            }
        })
        .collect()
}

/// Verifies `items` split over `threads` threads.
fn parallel(items: &[Signed], threads: usize, f: impl Fn(&[Signed]) + Sync) {
    std::thread::scope(|s| {
        for part in items.chunks(items.len().div_ceil(threads)) {
            let f = &f;
            s.spawn(move || f(part));
        }
    });
}

/// Pure-Rust k256 recovery of the same EIP-191 signatures, for comparison with the
/// libsecp256k1 path that `verify` uses.
fn k256_recover(items: &[Signed]) {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    use sha3::{Digest, Keccak256};
    for item in items {
        let bytes = hex::decode(&item.signature[2..]).unwrap();
        let recid = RecoveryId::from_byte(bytes[64] - 27).unwrap();
        let sig = Signature::from_slice(&bytes[..64]).unwrap();
        let buffer = item.fields().verification_buffer();
        let mut hasher = Keccak256::new();
        hasher.update(format!("\x19Ethereum Signed Message:\n{}", buffer.len()).as_bytes());
        hasher.update(buffer.as_bytes());
        let digest = hasher.finalize();
        let key = VerifyingKey::recover_from_prehash(&digest, &sig, recid).unwrap();
        let point = key.to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        assert!(
            item.sender
                .to_lowercase()
                .ends_with(&hex::encode(&hash[12..]))
        );
    }
}

/// Bare ed25519-dalek verification of the same buffers (keys and signatures decoded up front):
/// the ceiling the Solana path is compared with, measured under the same machine load.
fn dalek_ceiling(
    items: &[Signed],
) -> Vec<(
    ed25519_dalek::VerifyingKey,
    ed25519_dalek::Signature,
    String,
)> {
    items
        .iter()
        .map(|item| {
            let parsed: serde_json::Value = serde_json::from_str(&item.signature).unwrap();
            let key = bs58::decode(parsed["publicKey"].as_str().unwrap())
                .into_vec()
                .unwrap();
            let sig = bs58::decode(parsed["signature"].as_str().unwrap())
                .into_vec()
                .unwrap();
            (
                ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap()).unwrap(),
                ed25519_dalek::Signature::from_slice(&sig).unwrap(),
                item.fields().verification_buffer(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let eth = sign_all(&EthAccount::generate());
    let sol = sign_all(&SolAccount::generate());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("evm_libsecp256k1_1core", |b| {
        b.iter(|| eth.iter().for_each(|s| verify(&s.fields()).unwrap()))
    });
    group.bench_function("evm_k256_1core", |b| b.iter(|| k256_recover(&eth)));
    group.bench_function(format!("evm_libsecp256k1_{threads}cores"), |b| {
        b.iter(|| {
            parallel(&eth, threads, |p| {
                p.iter().for_each(|s| verify(&s.fields()).unwrap())
            })
        })
    });
    group.bench_function("sol_single_1core", |b| {
        b.iter(|| sol.iter().for_each(|s| verify(&s.fields()).unwrap()))
    });
    group.bench_function(format!("sol_single_{threads}cores"), |b| {
        b.iter(|| {
            parallel(&sol, threads, |p| {
                p.iter().for_each(|s| verify(&s.fields()).unwrap())
            })
        })
    });
    let raw = dalek_ceiling(&sol);
    group.bench_function("sol_bare_dalek_1core", |b| {
        b.iter(|| {
            raw.iter()
                .for_each(|(k, s, m)| k.verify_strict(m.as_bytes(), s).unwrap())
        })
    });
    group.bench_function("sol_bare_dalek_nonstrict_1core", |b| {
        b.iter(|| {
            raw.iter()
                .for_each(|(k, s, m)| ed25519_dalek::Verifier::verify(k, m.as_bytes(), s).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
