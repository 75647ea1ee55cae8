//! Differential test against aleph-message (the Python schemas pyaleph validates with):
//! the same content objects, mutated field by field, must get the same accept / reject
//! verdict from both, and item-hash shapes must be classified alike. Known, deliberate
//! differences are listed in `KNOWN_DIFFERENCES` with the reason.
//!
//! Needs the test venv (`scripts/test-env.sh`): `ALEPHD_TEST_PYTHON`, else `<repo>/.venv`.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is a test failure.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use alephd_message::{ItemHash, MessageContent, MessageType, compact_ascii_json};
use serde_json::{Map, Value, json};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

const PYTHON_CHECKER: &str = r#"
import json, sys
from aleph_message.models import (PostContent, AggregateContent, StoreContent, ProgramContent,
    InstanceContent, ForgetContent, ItemType)
classes = {"POST": PostContent, "AGGREGATE": AggregateContent, "STORE": StoreContent,
           "PROGRAM": ProgramContent, "INSTANCE": InstanceContent, "FORGET": ForgetContent}
req = json.load(sys.stdin)
def accepts(t, obj):
    try:
        classes[t].model_validate(obj)
        return True
    except Exception:
        return False
def shape(h):
    try:
        return ItemType.from_hash(h).value
    except Exception:
        return None
json.dump({
    "contents": [accepts(t, obj) for t, obj in req["contents"]],
    "hashes": [shape(h) for h in req["hashes"]],
    "dumps": [json.dumps(v, separators=(",", ":"), sort_keys=True) for v in req["dumps"]],
}, sys.stdout)
"#;

/// (message type, JSON pointer of the mutated field, mutation) where we knowingly differ.
const KNOWN_DIFFERENCES: &[(&str, &str, &str, &str)] = &[
    // A real mainnet PROGRAM from 2022 has `"metadata": []`; the fixtures must stay readable.
    (
        "PROGRAM",
        "/metadata",
        "list",
        "legacy mainnet messages carry an empty list",
    ),
    (
        "INSTANCE",
        "/metadata",
        "list",
        "same rule as PROGRAM (shared executable fields)",
    ),
    // aleph-message lets a STORE declare `ipfs` with a sha256 hash; pyaleph's store handler
    // then refuses it as INVALID_FORMAT. We refuse it when parsing, with the same code.
    (
        "STORE",
        "/item_hash",
        "string hash",
        "pyaleph rejects it later with the same code 0",
    ),
];

fn python() -> PathBuf {
    let path = std::env::var_os("ALEPHD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(REPO).join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python test environment missing at {path:?}: run scripts/test-env.sh \
         (or set ALEPHD_TEST_PYTHON)"
    );
    path
}

fn run_python(request: &Value) -> Value {
    let mut child = Command::new(python())
        .args(["-c", PYTHON_CHECKER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python checker failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

struct Case {
    message_type: MessageType,
    label: String,
    content: Value,
}

const HASH: &str = "7eb2eca2378ea8855336ed76c8b26219f1cb90234d04441de9cf8cb1c649d003";
const CID0: &str = "QmYULJoNGPDmoRq4WNWTDTUvJGJv1hosox8H6vVd1kCsY8";

fn bases() -> Vec<(MessageType, Value)> {
    let common = |mut v: Value| {
        v["address"] = json!("0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba");
        v["time"] = json!(1619017773.8950517);
        v
    };
    let mut bases = vec![
        (
            MessageType::Post,
            common(json!({"type": "note", "content": {"a": 1}, "ref": HASH})),
        ),
        (
            MessageType::Aggregate,
            common(json!({"key": "profile", "content": {"name": "x"}})),
        ),
        (
            MessageType::Aggregate,
            common(json!({"key": {"name": "legacy"}, "content": {}})),
        ),
        (
            MessageType::Store,
            common(
                json!({"item_type": "storage", "item_hash": HASH, "size": 12,
                          "metadata": {"name": "f"}, "payment": {"type": "credit", "chain": "ETH"}}),
            ),
        ),
        (
            MessageType::Store,
            common(json!({"item_type": "ipfs", "item_hash": CID0, "ref": "tag"})),
        ),
        (
            MessageType::Forget,
            common(json!({"hashes": [HASH], "aggregates": [HASH], "reason": "spam"})),
        ),
    ];
    // The schema fixtures carry complete PROGRAM and INSTANCE contents.
    for file in ["messages-program.json", "messages-instance.json"] {
        let path = format!("{REPO}/fixtures/vectors/{file}");
        let vectors: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for vector in vectors {
            let message = &vector["message"];
            let message_type: MessageType =
                serde_json::from_value(message["type"].clone()).unwrap();
            if let Some(Value::Object(content)) = message.get("content") {
                if content.get("metadata").is_some_and(Value::is_array) {
                    continue; // the legacy `metadata: []` program: see KNOWN_DIFFERENCES
                }
                bases.push((message_type, Value::Object(content.clone())));
            }
        }
    }
    bases
}

/// Every field (three levels deep, up to five elements of arrays) removed, nulled, retyped,
/// pushed out of range, plus an unknown key added to every object.
fn mutations(message_type: MessageType, base: &Value) -> Vec<Case> {
    let mut cases = vec![Case {
        message_type,
        label: "base".into(),
        content: base.clone(),
    }];
    let mut pointers = Vec::new();
    collect_pointers(base, String::new(), 0, &mut pointers);
    for pointer in pointers {
        let replacements: [(&str, Option<Value>); 18] = [
            ("removed", None),
            ("null", Some(Value::Null)),
            ("int 0", Some(json!(0))),
            ("int 1", Some(json!(1))),
            ("int -1", Some(json!(-1))),
            ("int 7", Some(json!(7))),
            ("huge", Some(json!(10_000_000_000_000u64))),
            ("float", Some(json!(1.5))),
            ("whole float", Some(json!(2.0))),
            ("bool", Some(json!(true))),
            ("string", Some(json!("x"))),
            ("string yes", Some(json!("yes"))),
            ("string number", Some(json!(" 12 "))),
            ("string float", Some(json!("1.5"))),
            ("string hash", Some(json!(HASH))),
            ("list", Some(json!([]))),
            ("list of object", Some(json!([{}]))),
            ("object", Some(json!({}))),
        ];
        for (what, replacement) in replacements {
            let mut content = base.clone();
            if set_pointer(&mut content, &pointer, replacement) {
                cases.push(Case {
                    message_type,
                    label: format!("{pointer} {what}"),
                    content,
                });
            }
        }
    }
    let mut objects = Vec::new();
    collect_objects(base, String::new(), &mut objects);
    for pointer in objects {
        let mut content = base.clone();
        let target = if pointer.is_empty() {
            &mut content
        } else {
            content.pointer_mut(&pointer).unwrap()
        };
        target
            .as_object_mut()
            .unwrap()
            .insert("zz_extra".into(), json!(1));
        cases.push(Case {
            message_type,
            label: format!("{pointer}/zz_extra added"),
            content,
        });
    }
    cases
}

fn collect_pointers(value: &Value, at: String, depth: usize, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if depth < 3 => {
            for (key, child) in map {
                let pointer = format!("{at}/{key}");
                out.push(pointer.clone());
                collect_pointers(child, pointer, depth + 1, out);
            }
        }
        Value::Array(list) if depth < 3 => {
            for (i, child) in list.iter().enumerate().take(5) {
                let pointer = format!("{at}/{i}");
                out.push(pointer.clone());
                collect_pointers(child, pointer, depth + 1, out);
            }
        }
        _ => {}
    }
}

fn collect_objects(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.push(at.clone());
            for (key, child) in map {
                collect_objects(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                collect_objects(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn set_pointer(root: &mut Value, pointer: &str, replacement: Option<Value>) -> bool {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let Some(parent) = root.pointer_mut(parent) else {
        return false;
    };
    match (parent, replacement) {
        (Value::Object(map), None) => map.remove(key).is_some(),
        (Value::Object(map), Some(v)) => map.insert(key.to_owned(), v).is_some(),
        (Value::Array(list), None) => {
            list.remove(key.parse().unwrap());
            true
        }
        (Value::Array(list), Some(v)) => {
            list[key.parse::<usize>().unwrap()] = v;
            true
        }
        _ => false,
    }
}

fn ours(case: &Case) -> bool {
    let Value::Object(object) = &case.content else {
        return false;
    };
    MessageContent::from_object(case.message_type, object).is_ok()
}

fn known(case: &Case) -> bool {
    KNOWN_DIFFERENCES.iter().any(|(t, pointer, what, _why)| {
        case.message_type.as_str() == *t && case.label == format!("{pointer} {what}")
    })
}

#[test]
fn content_verdicts_match_aleph_message() {
    let cases: Vec<Case> = bases()
        .iter()
        .flat_map(|(t, base)| mutations(*t, base))
        .collect();
    let hashes = hash_cases();
    let dumps = dump_cases();
    let request = json!({
        "contents": cases.iter().map(|c| json!([c.message_type, c.content])).collect::<Vec<_>>(),
        "hashes": hashes,
        "dumps": dumps,
    });
    let reply = run_python(&request);

    let theirs = reply["contents"].as_array().unwrap();
    assert_eq!(theirs.len(), cases.len());
    let mut differences = Vec::new();
    for (case, theirs) in cases.iter().zip(theirs) {
        let (ours, theirs) = (ours(case), theirs.as_bool().unwrap());
        if ours != theirs && !known(case) {
            differences.push(format!(
                "{} {}: ours={ours} aleph-message={theirs}",
                case.message_type, case.label
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} verdicts differ:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
    assert!(cases.len() > 500, "only {} cases", cases.len());

    for (hash, theirs) in hashes.iter().zip(reply["hashes"].as_array().unwrap()) {
        let ours = ItemHash::parse(hash)
            .ok()
            .map(|h| h.item_type().to_string());
        assert_eq!(ours.as_deref(), theirs.as_str(), "hash shape of {hash:?}");
    }
    for (value, theirs) in dumps.iter().zip(reply["dumps"].as_array().unwrap()) {
        assert_eq!(
            compact_ascii_json(value),
            theirs.as_str().unwrap(),
            "json.dumps of {value}"
        );
    }
}

fn hash_cases() -> Vec<String> {
    let mut hashes = vec![
        HASH.to_owned(),
        HASH.to_uppercase(),
        HASH[..63].to_owned(),
        CID0.to_owned(),
        CID0[..44].to_owned(),
        CID0[..43].to_owned(),
        format!("{CID0}1"),
        CID0.replace('Y', "0"),
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi".to_owned(),
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzd1".to_owned(),
        "bafkreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi".to_owned(),
        String::new(),
        "0x9319Ad3B7A8E0eE24f2E639c40D8eD124C5520Ba".to_owned(),
    ];
    hashes.push("é".repeat(32));
    hashes.push(format!("Qm{}", "é".repeat(22)));
    hashes
}

fn dump_cases() -> Vec<Value> {
    vec![
        json!({"b": 1, "a": [true, null, "x"]}),
        json!({"text": "héllo wörld 🌍 \u{7f} \u{1} \n\t\"\\ /"}),
        json!({"nested": {"z": {"y": "日本語"}}, "n": -12}),
        json!(["\u{2028}", "\u{fffd}", "\u{10ffff}"]),
    ]
}

#[test]
fn checker_sees_a_broken_base() {
    // Guards the harness itself: a clearly invalid content must be refused by both sides.
    let request = json!({"contents": [["POST", {"address": "a"}]], "hashes": [], "dumps": []});
    assert_eq!(run_python(&request)["contents"], json!([false]));
    let object: Map<String, Value> = serde_json::from_value(json!({"address": "a"})).unwrap();
    assert!(MessageContent::from_object(MessageType::Post, &object).is_err());
}
