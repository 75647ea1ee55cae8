//! Property tests: serde of the wire and API forms, and item hashes, round-trip exactly.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is a test failure.

use alephd_message::{
    ApiMessage, Chain, Confirmation, IncomingMessage, ItemHash, ItemHashKind, MessageType,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

fn arb_chain() -> impl Strategy<Value = Chain> {
    prop::sample::select(Chain::ALL.to_vec())
}

fn arb_type() -> impl Strategy<Value = MessageType> {
    prop::sample::select(vec![
        MessageType::Post,
        MessageType::Aggregate,
        MessageType::Store,
        MessageType::Program,
        MessageType::Instance,
        MessageType::Forget,
    ])
}

fn arb_cid() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            42usize..=44,
            prop::collection::vec(prop::sample::select(BASE58.to_vec()), 44)
        )
            .prop_map(|(n, chars)| format!(
                "Qm{}",
                String::from_utf8(chars[..n].to_vec()).unwrap()
            )),
        prop::collection::vec(prop::sample::select(BASE32.to_vec()), 55)
            .prop_map(|chars| format!("bafy{}", String::from_utf8(chars).unwrap())),
    ]
}

/// Inline content (any JSON text, including non-ASCII) or a storage / ipfs hash.
fn arb_item() -> impl Strategy<Value = (Option<String>, String)> {
    prop_oneof![
        ("[^\x00]{0,60}", any::<i64>()).prop_map(|(text, n)| {
            let content = json!({"type": text, "n": n}).to_string();
            let hash = ItemHash::sha256_of(&content).into_string();
            (Some(content), hash)
        }),
        any::<[u8; 16]>().prop_map(|b| (None, ItemHash::sha256_of(b).into_string())),
        arb_cid().prop_map(|cid| (None, cid)),
    ]
}

fn arb_message() -> impl Strategy<Value = Value> {
    (
        ".{1,50}",
        arb_chain(),
        prop::option::of(".{0,140}"),
        arb_type(),
        arb_item(),
        any::<bool>(),
        prop_oneof![
            (0.0f64..=9_223_372_036.0).prop_map(Value::from),
            any::<u32>().prop_map(Value::from)
        ],
        prop::option::of(".{0,128}"),
    )
        .prop_map(
            |(sender, chain, signature, ty, (content, hash), declare, time, channel)| {
                let mut message = json!({
                    "sender": sender, "chain": chain, "signature": signature, "type": ty,
                    "item_content": content, "item_hash": hash, "time": time, "channel": channel,
                });
                if declare {
                    let item_type = if content.is_some() {
                        "inline".to_owned()
                    } else {
                        ItemHash::parse(&hash).unwrap().item_type().to_string()
                    };
                    message["item_type"] = json!(item_type);
                }
                message
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn wire_messages_round_trip(value in arb_message()) {
        let message = IncomingMessage::from_value(value.clone()).unwrap();
        let text = serde_json::to_string(&message).unwrap();
        let again: IncomingMessage = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&again, &message);
        prop_assert_eq!(message.item_content(), value["item_content"].as_str());
        prop_assert_eq!(message.raw(), value.as_object().unwrap());
        prop_assert_eq!(message.time(), value["time"].as_f64().unwrap());
    }

    #[test]
    fn api_messages_round_trip(
        value in arb_message(),
        heights in prop::collection::vec((arb_chain(), any::<u64>(), "0x[0-9a-f]{64}"), 0..3),
    ) {
        let message = IncomingMessage::from_value(value).unwrap();
        let content = json!({"address": message.sender(), "time": message.time()});
        let confirmations = heights
            .into_iter()
            .map(|(chain, height, hash)| Confirmation { chain, height, hash })
            .collect();
        let Value::Object(content) = content else { unreachable!() };
        let api = ApiMessage::new(&message, content, confirmations);
        let text = serde_json::to_string(&api).unwrap();
        let again: ApiMessage = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&again, &api);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert!(reparsed["time"].is_f64());
    }

    #[test]
    fn sha256_hashes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let hash = ItemHash::sha256_of(&bytes);
        prop_assert_eq!(hash.kind(), ItemHashKind::Sha256);
        prop_assert_eq!(hash.as_str().parse::<ItemHash>().unwrap(), hash.clone());
        let digest = hash.sha256_digest().unwrap();
        prop_assert_eq!(ItemHash::from_sha256_digest(digest), hash.clone());
        let json = serde_json::to_string(&hash).unwrap();
        prop_assert_eq!(serde_json::from_str::<ItemHash>(&json).unwrap(), hash);
    }

    #[test]
    fn cids_round_trip(cid in arb_cid()) {
        let hash = ItemHash::parse(&cid).unwrap();
        prop_assert_eq!(hash.as_str(), cid.as_str());
        prop_assert!(matches!(hash.kind(), ItemHashKind::CidV0 | ItemHashKind::CidV1));
        prop_assert_eq!(hash.to_string().parse::<ItemHash>().unwrap(), hash);
    }

    #[test]
    fn arbitrary_strings_parse_only_when_well_shaped(s in ".{0,70}") {
        if let Ok(hash) = ItemHash::parse(&s) {
            let ok = match hash.kind() {
                ItemHashKind::Sha256 => s.len() == 64,
                ItemHashKind::CidV0 => s.starts_with("Qm"),
                ItemHashKind::CidV1 => s.starts_with("bafy"),
            };
            prop_assert!(ok);
        }
    }
}
