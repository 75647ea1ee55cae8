//! Round trip with the real Python SDK: messages alephd signs verify in aleph-sdk-python
//! (and parse in aleph-message), and messages the SDK signs verify in alephd.

#![allow(clippy::unwrap_used)] // a failed step should fail the test loudly

use alephd_message::{
    Address, Chain, IncomingMessage, MessageType, UnsignedMessage,
    signature::{EthAccount, Signer, SolAccount, verify},
};
use serde_json::{Value, json};

fn sign_some(signer: &dyn Signer, count: usize) -> Vec<IncomingMessage> {
    (0..count)
        .map(|i| {
            let content = json!({
                "address": signer.address(),
                "time": 1_700_000_000.5 + i as f64,
                "type": "alephd-signed",
                "content": {"i": i, "text": "héllo ✓"},
            });
            let unsigned = UnsignedMessage::inline(
                signer.chain(),
                Address::new(signer.address()),
                MessageType::Post,
                &content,
                1_700_000_001.25 + i as f64,
            )
            .unwrap();
            signer.sign_message(unsigned).unwrap()
        })
        .collect()
}

#[test]
fn signatures_round_trip_with_the_python_sdk() {
    let eth = EthAccount::generate();
    let sol = SolAccount::generate();
    let mut ours: Vec<Value> = sign_some(&eth, 3)
        .iter()
        .map(IncomingMessage::to_wire_value)
        .collect();
    ours.extend(
        sign_some(&sol, 3)
            .iter()
            .map(IncomingMessage::to_wire_value),
    );
    // A forged one: Python must say no too, or the test proves nothing.
    let mut forged = ours[0].clone();
    forged["sender"] = json!(sol.address());
    forged["chain"] = json!("SOL");
    ours.push(forged);

    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.json"), dir.path().join("out.json"));
    std::fs::write(&input, serde_json::to_vec(&ours).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/signature_roundtrip.py"
    );
    let run = std::process::Command::new(alephd_testing::python())
        .arg(script)
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();

    let verdicts = result["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 7);
    for (i, v) in verdicts[..6].iter().enumerate() {
        assert_eq!(
            v, "valid",
            "message {i} signed by alephd rejected by the Python SDK"
        );
    }
    assert_ne!(
        verdicts[6], "valid",
        "the Python SDK accepted a forged message"
    );

    let signed = result["signed"].as_array().unwrap();
    assert_eq!(signed.len(), 6);
    for message in signed {
        let parsed = IncomingMessage::from_value(message.clone()).unwrap();
        let fields = parsed.signed_fields().unwrap();
        verify(&fields).unwrap_or_else(|e| panic!("Python-signed {message} rejected: {e}"));
        assert!(matches!(parsed.chain(), Chain::ETH | Chain::SOL));
        let mut tampered = message.clone();
        tampered["type"] = json!("AGGREGATE");
        let tampered = IncomingMessage::from_value(tampered).unwrap();
        assert!(verify(&tampered.signed_fields().unwrap()).is_err());
    }
}
