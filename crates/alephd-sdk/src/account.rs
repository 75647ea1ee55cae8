//! An account that signs messages: an ETH (secp256k1) or SOL (ed25519) key, and the key-file
//! formats people bring (the `aleph` CLI's raw 32-byte files, hex, Solana keypairs).
//!
//! The crypto lives in `alephd-message`; this module only picks the key type and decodes files.

use alephd_message::{
    Chain,
    signature::{EthAccount, SignError, Signer, SolAccount},
};

/// Which kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// secp256k1, signs for ETH (and every EVM chain).
    Eth,
    /// ed25519, signs for SOL.
    Sol,
}

impl KeyKind {
    /// `eth` / `sol`, as in file names and `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eth => "eth",
            Self::Sol => "sol",
        }
    }

    /// The chain messages signed with this key name.
    pub fn chain(self) -> Chain {
        match self {
            Self::Eth => Chain::ETH,
            Self::Sol => Chain::SOL,
        }
    }
}

impl std::str::FromStr for KeyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eth" | "evm" | "ethereum" => Ok(Self::Eth),
            "sol" | "solana" => Ok(Self::Sol),
            other => Err(format!("unknown key kind {other:?} (use eth or sol)")),
        }
    }
}

/// An account of either kind; signs like its inner key.
#[derive(Debug, Clone)]
pub enum Account {
    Eth(EthAccount),
    Sol(SolAccount),
}

impl Account {
    /// A fresh random key.
    pub fn generate(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Eth => Self::Eth(EthAccount::generate()),
            KeyKind::Sol => Self::Sol(SolAccount::generate()),
        }
    }

    /// The account of a 32-byte secret (an ETH secret key or an ed25519 seed), or of a 64-byte
    /// Solana keypair.
    pub fn from_secret(kind: KeyKind, secret: &[u8]) -> Result<Self, SignError> {
        match kind {
            KeyKind::Eth => EthAccount::from_secret(secret).map(Self::Eth),
            KeyKind::Sol => SolAccount::from_secret(secret).map(Self::Sol),
        }
    }

    /// The account of a key file's bytes. Accepted: the `aleph` CLI's raw 32-byte file, a hex
    /// string (with or without `0x`), a Solana keypair as 64 raw bytes, a JSON array of bytes
    /// (`solana-keygen`) or base58 (wallet exports).
    pub fn from_key_file(kind: KeyKind, bytes: &[u8]) -> Result<Self, SignError> {
        let secret = decode_key_file(bytes).ok_or(SignError::InvalidKey(
            "key file: 32 raw bytes, hex, a 64-byte Solana keypair, a JSON byte array or base58",
        ))?;
        Self::from_secret(kind, &secret)
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Eth(_) => KeyKind::Eth,
            Self::Sol(_) => KeyKind::Sol,
        }
    }

    /// The 32 secret bytes, as the `aleph` CLI stores them (ETH secret, ed25519 seed).
    pub fn secret_bytes(&self) -> [u8; 32] {
        match self {
            Self::Eth(a) => a.secret_bytes(),
            Self::Sol(a) => {
                let pair = a.keypair_bytes();
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&pair[..32]);
                seed
            }
        }
    }

    fn signer(&self) -> &dyn Signer {
        match self {
            Self::Eth(a) => a,
            Self::Sol(a) => a,
        }
    }
}

impl Signer for Account {
    fn chain(&self) -> Chain {
        self.signer().chain()
    }

    fn address(&self) -> &str {
        self.signer().address()
    }

    fn sign_buffer(&self, buffer: &str) -> Result<String, SignError> {
        self.signer().sign_buffer(buffer)
    }
}

/// The secret in a key file, in any accepted encoding.
fn decode_key_file(bytes: &[u8]) -> Option<Vec<u8>> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Some(secret) = decode_key_text(text.trim())
    {
        return Some(secret);
    }
    matches!(bytes.len(), 32 | 64).then(|| bytes.to_vec())
}

fn decode_key_text(text: &str) -> Option<Vec<u8>> {
    if text.starts_with('[') {
        let bytes: Vec<u8> = serde_json::from_str(text).ok()?;
        return matches!(bytes.len(), 32 | 64).then_some(bytes);
    }
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    if matches!(hex_text.len(), 64 | 128) && hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(hex_text).ok();
    }
    if (32..=100).contains(&text.len()) {
        let bytes = bs58::decode(text).into_vec().ok()?;
        return matches!(bytes.len(), 32 | 64).then_some(bytes);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANVIL0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn every_key_file_encoding_gives_the_same_account() {
        let raw = hex::decode(ANVIL0).unwrap();
        let expected = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        for file in [
            raw.clone(),
            ANVIL0.as_bytes().to_vec(),
            format!("0x{ANVIL0}\n").into_bytes(),
            serde_json::to_vec(&raw).unwrap(),
        ] {
            let account = Account::from_key_file(KeyKind::Eth, &file).unwrap();
            assert_eq!(account.address(), expected);
            assert_eq!(account.secret_bytes().to_vec(), raw);
        }
    }

    #[test]
    fn solana_keypairs_and_seeds_agree() {
        let account = Account::generate(KeyKind::Sol);
        let Account::Sol(sol) = &account else {
            panic!("not sol")
        };
        let pair = sol.keypair_bytes();
        let from_pair = Account::from_key_file(KeyKind::Sol, &pair).unwrap();
        let from_seed = Account::from_key_file(KeyKind::Sol, &account.secret_bytes()).unwrap();
        let from_b58 =
            Account::from_key_file(KeyKind::Sol, bs58::encode(pair).into_string().as_bytes())
                .unwrap();
        for other in [from_pair, from_seed, from_b58] {
            assert_eq!(other.address(), account.address());
        }
        assert_eq!(account.chain(), Chain::SOL);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b""[..], b"hello", &[0u8; 31], &[0u8; 32]] {
            assert!(Account::from_key_file(KeyKind::Eth, bad).is_err());
        }
        assert!("btc".parse::<KeyKind>().is_err());
    }
}
