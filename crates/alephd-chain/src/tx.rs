//! Legacy (EIP-155) transaction signing: RLP encoding and a recoverable secp256k1 signature.

use k256::ecdsa::SigningKey;

use crate::abi::keccak256;

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("invalid private key")]
    BadKey,
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A writer key and its address.
#[derive(Clone)]
pub struct Wallet {
    key: SigningKey,
    address: [u8; 20],
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wallet({})", crate::abi::address_hex(&self.address))
    }
}

impl Wallet {
    /// From a 32-byte hex private key (with or without `0x`).
    pub fn from_hex(hex_key: &str) -> Result<Self, TxError> {
        let raw = hex::decode(hex_key.trim().strip_prefix("0x").unwrap_or(hex_key.trim()))
            .map_err(|_| TxError::BadKey)?;
        let key = SigningKey::from_slice(&raw).map_err(|_| TxError::BadKey)?;
        let point = key.verifying_key().to_encoded_point(false);
        let h = keccak256(&point.as_bytes()[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&h[12..]);
        Ok(Self { key, address })
    }

    pub fn address(&self) -> [u8; 20] {
        self.address
    }
}

/// Fields of a legacy contract call.
#[derive(Debug, Clone)]
pub struct LegacyTx {
    pub nonce: u64,
    pub gas_price: u128,
    pub gas: u64,
    /// `None` creates a contract from `data`.
    pub to: Option<[u8; 20]>,
    pub data: Vec<u8>,
    pub chain_id: u64,
}

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_len(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

fn rlp_len(out: &mut Vec<u8>, len: usize, base: u8) {
    if len < 56 {
        out.push(base + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(base + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_uint(out: &mut Vec<u8>, v: u128) {
    let be = v.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    rlp_bytes(out, &be[skip..]);
}

fn rlp_uint_bytes(out: &mut Vec<u8>, be: &[u8]) {
    let skip = be.iter().take_while(|b| **b == 0).count();
    rlp_bytes(out, &be[skip..]);
}

fn rlp_list(items: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.len() + 9);
    rlp_len(&mut out, items.len(), 0xc0);
    out.extend_from_slice(items);
    out
}

fn fields(tx: &LegacyTx) -> Vec<u8> {
    let mut body = Vec::new();
    rlp_uint(&mut body, tx.nonce.into());
    rlp_uint(&mut body, tx.gas_price);
    rlp_uint(&mut body, tx.gas.into());
    rlp_bytes(&mut body, tx.to.as_ref().map_or(&[][..], |a| &a[..]));
    rlp_uint(&mut body, 0);
    rlp_bytes(&mut body, &tx.data);
    body
}

/// Raw signed transaction bytes for `eth_sendRawTransaction`.
pub fn sign_legacy(tx: &LegacyTx, wallet: &Wallet) -> Result<Vec<u8>, TxError> {
    let mut unsigned = fields(tx);
    rlp_uint(&mut unsigned, tx.chain_id.into());
    rlp_uint(&mut unsigned, 0);
    rlp_uint(&mut unsigned, 0);
    let hash = keccak256(&rlp_list(&unsigned));
    let (sig, recid) = wallet
        .key
        .sign_prehash_recoverable(&hash)
        .map_err(|e| TxError::Sign(e.to_string()))?;
    let v = u128::from(recid.to_byte()) + u128::from(tx.chain_id) * 2 + 35;
    let rs = sig.to_bytes();
    let mut signed = fields(tx);
    rlp_uint(&mut signed, v);
    rlp_uint_bytes(&mut signed, &rs[..32]);
    rlp_uint_bytes(&mut signed, &rs[32..]);
    Ok(rlp_list(&signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anvil_key_address() {
        let w =
            Wallet::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap();
        assert_eq!(
            crate::abi::address_hex(&w.address()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert!(Wallet::from_hex("zz").is_err());
        assert!(Wallet::from_hex(&"00".repeat(32)).is_err());
    }

    #[test]
    fn eip155_example() {
        // The worked example from EIP-155.
        let w = Wallet::from_hex(&"46".repeat(32)).unwrap();
        let mut to = [0u8; 20];
        to.copy_from_slice(&hex::decode("3535353535353535353535353535353535353535").unwrap());
        let tx = LegacyTx {
            nonce: 9,
            gas_price: 20_000_000_000,
            gas: 21000,
            to: Some(to),
            data: vec![],
            chain_id: 1,
        };
        // Value is 10^18 in the EIP; ours is always 0, so check only the structure and v.
        let raw = sign_legacy(&tx, &w).unwrap();
        assert_eq!(raw[0], 0xf8);
        let v_pos = raw.len() - 67;
        assert!(raw[v_pos] == 37 || raw[v_pos] == 38);
    }
}
