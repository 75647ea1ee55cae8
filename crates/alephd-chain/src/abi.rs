//! Minimal Solidity ABI coding for the AlephSync contract: calldata of `doEmit`/`doMessage`
//! and decoding of `SyncEvent`/`MessageEvent` data. Decoding is bounds-checked throughout:
//! log data comes from the chain and anyone can emit from a contract at any address.

use sha3::{Digest, Keccak256};

pub const SYNC_EVENT_SIG: &str = "SyncEvent(uint256,address,string)";
pub const MESSAGE_EVENT_SIG: &str = "MessageEvent(uint256,address,string,string)";
pub const DO_EMIT_SIG: &str = "doEmit(string)";
pub const DO_MESSAGE_SIG: &str = "doMessage(string,string)";

/// Largest string we accept inside an event (archive references are ~100 bytes).
const MAX_STRING: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    #[error("log data too short: need {need} bytes, have {have}")]
    Short { need: usize, have: usize },
    #[error("value in word {0} does not fit (non-zero high bytes)")]
    Overflow(usize),
    #[error("string too long ({0} bytes)")]
    TooLong(usize),
    #[error("string is not UTF-8")]
    NotUtf8,
}

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

pub fn selector(sig: &str) -> [u8; 4] {
    let h = keccak256(sig.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

pub fn topic(sig: &str) -> [u8; 32] {
    keccak256(sig.as_bytes())
}

fn word_usize(v: usize) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&(v as u64).to_be_bytes());
    w
}

fn padded_len(n: usize) -> usize {
    n.div_ceil(32) * 32
}

/// Calldata for a function taking only `string` arguments.
pub fn encode_strings_call(sig: &str, args: &[&str]) -> Vec<u8> {
    let mut out = selector(sig).to_vec();
    let mut offset = 32 * args.len();
    for a in args {
        out.extend_from_slice(&word_usize(offset));
        offset += 32 + padded_len(a.len());
    }
    for a in args {
        out.extend_from_slice(&word_usize(a.len()));
        out.extend_from_slice(a.as_bytes());
        out.resize(out.len() + padded_len(a.len()) - a.len(), 0);
    }
    out
}

fn word(data: &[u8], index: usize) -> Result<&[u8], AbiError> {
    let start = index.checked_mul(32).ok_or(AbiError::Overflow(index))?;
    data.get(start..start + 32).ok_or(AbiError::Short {
        need: start + 32,
        have: data.len(),
    })
}

fn word_u64(data: &[u8], index: usize) -> Result<u64, AbiError> {
    let w = word(data, index)?;
    if w[..24].iter().any(|b| *b != 0) {
        return Err(AbiError::Overflow(index));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    Ok(u64::from_be_bytes(b))
}

fn word_address(data: &[u8], index: usize) -> Result<[u8; 20], AbiError> {
    let w = word(data, index)?;
    if w[..12].iter().any(|b| *b != 0) {
        return Err(AbiError::Overflow(index));
    }
    let mut a = [0u8; 20];
    a.copy_from_slice(&w[12..]);
    Ok(a)
}

fn string_at(data: &[u8], head_index: usize) -> Result<String, AbiError> {
    let offset =
        usize::try_from(word_u64(data, head_index)?).map_err(|_| AbiError::Overflow(head_index))?;
    let len_end = offset
        .checked_add(32)
        .ok_or(AbiError::Overflow(head_index))?;
    let len_word = data.get(offset..len_end).ok_or(AbiError::Short {
        need: len_end,
        have: data.len(),
    })?;
    if len_word[..24].iter().any(|b| *b != 0) {
        return Err(AbiError::Overflow(head_index));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&len_word[24..]);
    let len = usize::try_from(u64::from_be_bytes(b)).map_err(|_| AbiError::Overflow(head_index))?;
    if len > MAX_STRING {
        return Err(AbiError::TooLong(len));
    }
    let bytes = data.get(len_end..len_end + len).ok_or(AbiError::Short {
        need: len_end + len,
        have: data.len(),
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| AbiError::NotUtf8)
}

/// A decoded AlephSync event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncContractEvent {
    Sync {
        timestamp: u64,
        addr: [u8; 20],
        message: String,
    },
    Message {
        timestamp: u64,
        addr: [u8; 20],
        msgtype: String,
        msgcontent: String,
    },
}

impl SyncContractEvent {
    pub fn addr(&self) -> [u8; 20] {
        match self {
            Self::Sync { addr, .. } | Self::Message { addr, .. } => *addr,
        }
    }
}

pub fn decode_sync_event(data: &[u8]) -> Result<SyncContractEvent, AbiError> {
    Ok(SyncContractEvent::Sync {
        timestamp: word_u64(data, 0)?,
        addr: word_address(data, 1)?,
        message: string_at(data, 2)?,
    })
}

pub fn decode_message_event(data: &[u8]) -> Result<SyncContractEvent, AbiError> {
    Ok(SyncContractEvent::Message {
        timestamp: word_u64(data, 0)?,
        addr: word_address(data, 1)?,
        msgtype: string_at(data, 2)?,
        msgcontent: string_at(data, 3)?,
    })
}

/// ERC-20 `Transfer(address indexed from, address indexed to, uint256 value)`.
pub const TRANSFER_EVENT_SIG: &str = "Transfer(address,address,uint256)";
pub const BALANCE_OF_SIG: &str = "balanceOf(address)";
pub const DECIMALS_SIG: &str = "decimals()";

/// Calldata for a function taking one `address`.
pub fn encode_address_call(sig: &str, addr: &[u8; 20]) -> Vec<u8> {
    let mut out = selector(sig).to_vec();
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(addr);
    out
}

/// The address in an indexed-address topic (`None` if its high bytes are set).
pub fn topic_address(topic: &[u8; 32]) -> Option<[u8; 20]> {
    word_address(topic, 0).ok()
}

/// A returned `uint256` (the first word) divided by `10^decimals`, as a float: balances
/// are compared against prices, never summed back into exact amounts.
pub fn uint256_scaled(data: &[u8], decimals: u8) -> Result<f64, AbiError> {
    let w = word(data, 0)?;
    let raw = w.iter().fold(0f64, |acc, b| acc * 256.0 + f64::from(*b));
    Ok(raw / 10f64.powi(i32::from(decimals)))
}

/// A returned small unsigned integer (`uint8 decimals`).
pub fn uint_small(data: &[u8]) -> Result<u8, AbiError> {
    u8::try_from(word_u64(data, 0)?).map_err(|_| AbiError::Overflow(0))
}

/// `0x`-prefixed lowercase hex of an address.
pub fn address_hex(a: &[u8; 20]) -> String {
    format!("0x{}", hex::encode(a))
}

pub fn parse_address(s: &str) -> Option<[u8; 20]> {
    let raw = hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok()?;
    <[u8; 20]>::try_from(raw.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_selector() {
        // transfer(address,uint256) is the textbook selector a9059cbb.
        assert_eq!(
            hex::encode(selector("transfer(address,uint256)")),
            "a9059cbb"
        );
    }

    #[test]
    fn encode_then_decode_round_trip() {
        let call = encode_strings_call(
            DO_MESSAGE_SIG,
            &["POST", "héllo world, a string longer than 32 bytes"],
        );
        // Build event data the way the contract does: ts, addr, then the same tail.
        let mut data = word_usize(7).to_vec();
        let mut addr = [0u8; 32];
        addr[31] = 9;
        data.extend_from_slice(&addr);
        let tail = &call[4..];
        // Shift offsets by two head words.
        data.extend_from_slice(&word_usize(word_u64(tail, 0).unwrap() as usize + 64));
        data.extend_from_slice(&word_usize(word_u64(tail, 1).unwrap() as usize + 64));
        data.extend_from_slice(&tail[64..]);
        let ev = decode_message_event(&data).unwrap();
        match ev {
            SyncContractEvent::Message {
                timestamp,
                msgtype,
                msgcontent,
                addr,
                ..
            } => {
                assert_eq!(timestamp, 7);
                assert_eq!(addr[19], 9);
                assert_eq!(msgtype, "POST");
                assert_eq!(msgcontent, "héllo world, a string longer than 32 bytes");
            }
            SyncContractEvent::Sync { .. } => panic!("wrong kind"),
        }
    }

    #[test]
    fn erc20_helpers() {
        let addr = [7u8; 20];
        let call = encode_address_call(BALANCE_OF_SIG, &addr);
        assert_eq!(hex::encode(&call[..4]), "70a08231");
        assert_eq!(&call[16..], &addr);
        let mut topic = [0u8; 32];
        topic[12..].copy_from_slice(&addr);
        assert_eq!(topic_address(&topic), Some(addr));
        topic[0] = 1;
        assert_eq!(topic_address(&topic), None);
        let mut amount = [0u8; 32];
        // 1.5 * 10^18
        amount[24..].copy_from_slice(&1_500_000_000_000_000_000u64.to_be_bytes());
        assert!((uint256_scaled(&amount, 18).unwrap() - 1.5).abs() < 1e-12);
        assert!(uint256_scaled(&amount[..31], 18).is_err());
        assert_eq!(uint_small(&word_usize(18)).unwrap(), 18);
        assert!(uint_small(&word_usize(300)).is_err());
    }

    #[test]
    fn malformed_data_is_an_error_not_a_panic() {
        assert!(decode_sync_event(&[]).is_err());
        let mut data = vec![0u8; 96];
        data[95] = 0xff; // offset far outside
        assert!(decode_sync_event(&data).is_err());
        let mut huge = vec![0u8; 96];
        huge[64] = 0xff; // offset with high bytes set
        assert!(matches!(
            decode_sync_event(&huge),
            Err(AbiError::Overflow(2))
        ));
        let mut len_huge = vec![0u8; 128];
        len_huge[95] = 96;
        len_huge[100] = 0xff;
        assert!(decode_sync_event(&len_huge).is_err());
    }
}
