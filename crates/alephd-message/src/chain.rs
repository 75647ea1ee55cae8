//! Chains a message can be signed on, and which signature scheme each one uses.

use serde::{Deserialize, Serialize};

/// The signature family a chain's messages are verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// EIP-191 `personal_sign` over secp256k1, address recovered and compared case-insensitively.
    Evm,
    /// ed25519 over the raw buffer; signature is JSON `{signature, publicKey}` in base58.
    Solana,
    /// sr25519 (Substrate), JSON `{curve, data}`.
    Substrate,
    /// Cosmos SDK amino sign-doc, secp256k1 + sha256.
    Cosmos,
    /// Tezos keys (ed25519 / secp256k1 / p256), raw or micheline-wrapped.
    Tezos,
    /// Avalanche recoverable secp256k1 in cb58.
    Avalanche,
    /// NULS 2 recoverable secp256k1 in base64.
    Nuls2,
    /// NULS 1 (legacy) signature struct.
    Nuls,
}

macro_rules! chains {
    ($($variant:ident => $scheme:expr),* $(,)?) => {
        /// A chain, by its wire name (`"ETH"`, `"SOL"`, …).
        ///
        /// Unknown names do not deserialize: pyaleph rejects them as INVALID_FORMAT.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Chain {
            $($variant),*
        }

        impl Chain {
            /// Every chain this node knows.
            pub const ALL: &'static [Chain] = &[$(Chain::$variant),*];

            /// The wire name, as signed in the verification buffer.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Chain::$variant => stringify!($variant)),*
                }
            }

            /// How this chain's signatures are verified; `None` for chains that exist in the
            /// enum but have no verifier upstream (their messages are rejected).
            pub const fn signature_scheme(self) -> Option<SignatureScheme> {
                match self {
                    $(Chain::$variant => $scheme),*
                }
            }
        }
    };
}

use SignatureScheme::*;

chains! {
    ETH => Some(Evm),
    ETHERLINK => Some(Evm),
    ARB => Some(Evm),
    AURORA => None,
    AVAX => Some(Avalanche),
    BASE => Some(Evm),
    BLAST => Some(Evm),
    BOB => Some(Evm),
    BSC => Some(Evm),
    CSDK => Some(Cosmos),
    CYBER => Some(Evm),
    DOT => Some(Substrate),
    ES => Some(Solana),
    FRAX => Some(Evm),
    HYPE => Some(Evm),
    INK => Some(Evm),
    LENS => Some(Evm),
    LINEA => Some(Evm),
    LISK => Some(Evm),
    METIS => Some(Evm),
    MODE => Some(Evm),
    NEO => Some(Evm),
    NULS => Some(Nuls),
    NULS2 => Some(Nuls2),
    OP => Some(Evm),
    POL => Some(Evm),
    SOL => Some(Solana),
    SONIC => Some(Evm),
    STT => None,
    TEZOS => Some(Tezos),
    UNICHAIN => Some(Evm),
    WLD => Some(Evm),
    ZORA => Some(Evm),
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Chain {
    type Err = UnknownChain;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Chain::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChain(s.chars().take(64).collect()))
    }
}

/// A chain name this node does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain {0:?}")]
pub struct UnknownChain(pub String);
