//! Content schemas: field rules, limits, defaults, and which extras are refused.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is a test failure.

use alephd_message::content::{
    AggregateKey, Interface, MachineVolume, PaymentType, PostRef, VolumePersistence,
};
use alephd_message::{
    Address, ContentError, ErrorCode, MessageContent, MessageType, ParsedContent, parse_content,
};
use serde_json::{Value, json};

const SENDER: &str = "0xB68B9D4f3771c246233823ed1D3Add451055F9Ef";
const HASH: &str = "7eb2eca2378ea8855336ed76c8b26219f1cb90234d04441de9cf8cb1c649d003";
const CID0: &str = "QmYULJoNGPDmoRq4WNWTDTUvJGJv1hosox8H6vVd1kCsY8";

fn parse(message_type: MessageType, content: &Value) -> Result<ParsedContent, ContentError> {
    let json = serde_json::to_vec(content).unwrap();
    parse_content(message_type, &json, &Address::new(SENDER), 1700000000.5)
}

fn ok(message_type: MessageType, content: Value) -> MessageContent {
    parse(message_type, &content)
        .unwrap_or_else(|e| panic!("{content}: {e}"))
        .content
}

fn schema_err(message_type: MessageType, content: Value) -> String {
    match parse(message_type, &content) {
        Err(ContentError::Schema { reason, .. }) => reason,
        other => panic!("{content}: expected a schema error, got {other:?}"),
    }
}

fn program() -> Value {
    json!({
        "type": "vm-function", "allow_amend": false,
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": HASH},
        "runtime": {"ref": HASH, "comment": "python"},
        "on": {"http": true},
        "environment": {"internet": true},
        "resources": {"vcpus": 1, "memory": 128, "seconds": 30},
    })
}

fn instance() -> Value {
    json!({
        "allow_amend": false,
        "environment": {"hypervisor": "qemu"},
        "resources": {"vcpus": 2, "memory": 2048},
        "rootfs": {"parent": {"ref": HASH}, "persistence": "host", "size_mib": 20480},
    })
}

fn set(mut value: Value, pointer: &str, field: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    value.pointer_mut(parent).unwrap()[key] = field;
    value
}

#[test]
fn address_and_time_come_from_the_envelope_when_absent() {
    let parsed = parse(MessageType::Post, &json!({"type": "note"})).unwrap();
    assert_eq!(parsed.content.address().as_str(), SENDER);
    assert_eq!(parsed.content.time(), 1700000000.5);
    assert_eq!(parsed.object["address"], SENDER);
    assert_eq!(parsed.object["time"], 1700000000.5);
    assert!(parsed.filled_defaults);

    let nulls = parse(
        MessageType::Post,
        &json!({"type": "n", "address": null, "time": null}),
    );
    let nulls = nulls.unwrap();
    assert_eq!(nulls.content.address().as_str(), SENDER);
    assert_eq!(nulls.object["time"], 1700000000.5);

    let own = json!({"type": "note", "address": "0xowner", "time": 12});
    let parsed = parse(MessageType::Post, &own).unwrap();
    assert_eq!(parsed.content.address().as_str(), "0xowner");
    assert_eq!(parsed.content.time(), 12.0);
    assert_eq!(
        parsed.object["time"], 12,
        "the served content keeps what was sent"
    );
}

#[test]
fn content_level_errors() {
    assert_eq!(
        parse(MessageType::Post, &json!([1])).unwrap_err(),
        ContentError::NotAnObject
    );
    let nul = parse_content(
        MessageType::Post,
        br#"{"type":"\u0000"}"#,
        &Address::new(SENDER),
        1.0,
    );
    assert_eq!(nul.unwrap_err(), ContentError::NullCharacter);
    let bad_utf8 = parse_content(
        MessageType::Post,
        b"{\"type\":\"\xff\"}",
        &Address::new(SENDER),
        1.0,
    );
    assert!(matches!(bad_utf8, Err(ContentError::NotJson(_))));
    for time in [json!(-0.5), json!(9_223_372_037.0)] {
        let err = parse(MessageType::Post, &json!({"type": "t", "time": time})).unwrap_err();
        assert!(matches!(err, ContentError::TimeOutOfRange(_)), "{err:?}");
    }
    let err = parse(MessageType::Post, &json!({"type": "t", "time": "now"})).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::InvalidFormat);
}

#[test]
fn post_fields() {
    let MessageContent::Post(post) = ok(MessageType::Post, json!({"type": "amend", "ref": HASH}))
    else {
        panic!()
    };
    assert!(post.is_amend());
    assert_eq!(post.ref_target(), Some(HASH));

    let chain_ref = json!({"type": "amend", "ref": {
        "chain": "ETH", "item_content": "{}", "item_hash": HASH, "item_type": "inline",
        "sender": SENDER, "signature": "0x", "time": 1.0, "type": "POST"}});
    let MessageContent::Post(post) = ok(MessageType::Post, chain_ref) else {
        panic!()
    };
    assert!(matches!(post.reference, Some(PostRef::Chain(_))));
    assert_eq!(post.ref_target(), Some(HASH));

    let MessageContent::Post(post) = ok(MessageType::Post, json!({"type": "note", "ref": ""}))
    else {
        panic!()
    };
    assert_eq!(post.ref_target(), None, "an empty ref is no target");
    // aleph-message refuses amends without a target in the schema (code 0, not 100).
    for no_target in [
        json!({"type": "amend"}),
        json!({"type": "amend", "ref": ""}),
    ] {
        assert!(schema_err(MessageType::Post, no_target).contains("ref"));
    }

    assert!(schema_err(MessageType::Post, json!({"type": "t", "tags": []})).contains("tags"));
    assert!(schema_err(MessageType::Post, json!({"content": 1})).contains("type"));
}

#[test]
fn aggregate_fields() {
    let MessageContent::Aggregate(a) =
        ok(MessageType::Aggregate, json!({"key": "k", "content": {}}))
    else {
        panic!()
    };
    assert_eq!(a.key_name(), "k");
    let legacy = json!({"key": {"name": "profile"}, "content": {"a": 1}});
    let MessageContent::Aggregate(a) = ok(MessageType::Aggregate, legacy) else {
        panic!()
    };
    assert!(matches!(a.key, AggregateKey::Legacy(_)));
    assert_eq!(a.key_name(), "profile");
    schema_err(MessageType::Aggregate, json!({"key": "k", "content": [1]}));
    schema_err(
        MessageType::Aggregate,
        json!({"key": "k", "content": "text"}),
    );
    schema_err(
        MessageType::Aggregate,
        json!({"key": {"name": "k", "x": 1}, "content": {}}),
    );
    schema_err(MessageType::Aggregate, json!({"key": "k"}));
}

#[test]
fn store_fields() {
    let sdk = json!({"item_type": "storage", "item_hash": HASH, "mime_type": "text/plain"});
    let MessageContent::Store(store) = ok(MessageType::Store, sdk) else {
        panic!()
    };
    assert_eq!(
        store.payment_type(),
        PaymentType::Hold,
        "extras ignored, payment defaults"
    );
    let ipfs = json!({"item_type": "ipfs", "item_hash": CID0, "payment": {"type": "credit"}});
    let MessageContent::Store(store) = ok(MessageType::Store, ipfs) else {
        panic!()
    };
    assert_eq!(store.payment_type(), PaymentType::Credit);

    assert!(
        schema_err(
            MessageType::Store,
            json!({"item_type": "ipfs", "item_hash": HASH})
        )
        .contains("item_type")
    );
    schema_err(
        MessageType::Store,
        json!({"item_type": "inline", "item_hash": HASH}),
    );
    schema_err(
        MessageType::Store,
        json!({"item_type": "storage", "item_hash": "nothash"}),
    );
    let stream =
        json!({"item_type": "storage", "item_hash": HASH, "payment": {"type": "superfluid"}});
    assert!(schema_err(MessageType::Store, stream).contains("payment"));
}

#[test]
fn forget_limits_and_targets() {
    let hashes = |n: usize| json!(vec![HASH; n]);
    let MessageContent::Forget(f) = ok(MessageType::Forget, json!({"hashes": hashes(1000)})) else {
        panic!()
    };
    assert_eq!(f.hashes.len(), 1000);
    assert!(f.ensure_has_targets().is_ok());
    schema_err(MessageType::Forget, json!({"hashes": hashes(1001)}));
    schema_err(
        MessageType::Forget,
        json!({"hashes": [], "aggregates": hashes(1001)}),
    );
    let reason = |n: usize| json!("é".repeat(n));
    ok(
        MessageType::Forget,
        json!({"hashes": [HASH], "reason": reason(1000)}),
    );
    schema_err(
        MessageType::Forget,
        json!({"hashes": [HASH], "reason": reason(1001)}),
    );
    schema_err(MessageType::Forget, json!({"aggregates": [HASH]}));
    schema_err(MessageType::Forget, json!({"hashes": ["not-a-hash"]}));

    let MessageContent::Forget(empty) = ok(MessageType::Forget, json!({"hashes": []})) else {
        panic!()
    };
    let err = empty.ensure_has_targets().unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::ForgetNoTarget);
    assert_eq!(err.error_code().code(), 500);
}

#[test]
fn program_fields_and_defaults() {
    let MessageContent::Program(p) = ok(MessageType::Program, program()) else {
        panic!()
    };
    assert_eq!(p.code.inferred_interface(), Interface::Asgi);
    assert!(
        p.runtime.use_latest && !p.code.use_latest,
        "aleph-message defaults"
    );
    assert!(p.environment.internet && !p.environment.aleph_api);
    assert!(p.volumes.is_empty());

    let binary = set(program(), "/code/entrypoint", json!("run.sh"));
    let MessageContent::Program(p) = ok(MessageType::Program, binary) else {
        panic!()
    };
    assert_eq!(p.code.inferred_interface(), Interface::Binary);

    let defaults = set(program(), "/resources", json!({}));
    let MessageContent::Program(p) = ok(MessageType::Program, defaults) else {
        panic!()
    };
    assert_eq!(
        (p.resources.vcpus, p.resources.memory, p.resources.seconds),
        (1, 128, 1)
    );

    assert!(
        schema_err(
            MessageType::Program,
            set(program(), "/resources/vcpus", json!(0))
        )
        .contains("vcpus")
    );
    schema_err(
        MessageType::Program,
        set(program(), "/resources/vcpus", json!(257)),
    );
    schema_err(
        MessageType::Program,
        set(program(), "/resources/memory", json!(1024 * 1024 + 1)),
    );
    schema_err(
        MessageType::Program,
        set(program(), "/type", json!("vm-instance")),
    );
    schema_err(MessageType::Program, set(program(), "/surprise", json!(1)));
    schema_err(
        MessageType::Program,
        set(program(), "/on/surprise", json!(1)),
    );
    schema_err(
        MessageType::Program,
        set(program(), "/code/ref", json!("0xnothash")),
    );
    schema_err(
        MessageType::Program,
        set(program(), "/replaces", json!("r".repeat(129))),
    );
    schema_err(
        MessageType::Program,
        set(program(), "/metadata", json!("text")),
    );
    let variables = json!({"K".repeat(129): "v"});
    schema_err(
        MessageType::Program,
        set(program(), "/variables", variables),
    );
    // Extras are ignored where aleph-message ignores them.
    ok(
        MessageType::Program,
        set(program(), "/environment/hypervisor", json!("qemu")),
    );
}

#[test]
fn volumes_are_told_apart_like_aleph_message() {
    let volumes = json!([
        {"mount": "/opt/venv", "ref": HASH, "use_latest": false},
        {"mount": "/var/cache", "ephemeral": true, "size_mib": 5},
        {"mount": "/var/cache2", "size_mib": 5},
        {"mount": "/data", "name": "data", "persistence": "store", "size_mib": 10},
        {"name": "seeded", "parent": {"ref": HASH}, "size_mib": 100},
    ]);
    let MessageContent::Program(p) = ok(MessageType::Program, set(program(), "/volumes", volumes))
    else {
        panic!()
    };
    let kinds: Vec<_> = p
        .volumes
        .iter()
        .map(|v| match v {
            MachineVolume::Immutable(_) => "immutable",
            MachineVolume::Ephemeral(_) => "ephemeral",
            MachineVolume::Persistent(_) => "persistent",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "immutable",
            "ephemeral",
            "ephemeral",
            "persistent",
            "persistent"
        ]
    );
    assert!(p.volumes[0].is_read_only() && !p.volumes[1].is_read_only());
    let MachineVolume::Persistent(data) = &p.volumes[3] else {
        panic!()
    };
    assert_eq!(data.persistence, Some(VolumePersistence::Store));

    for bad in [
        json!({"ephemeral": true, "size_mib": 1001}),
        json!({"ephemeral": false, "size_mib": 5}),
        json!({"ephemeral": true, "size_mib": 5.5}),
        json!({"name": "big", "size_mib": 2048 * 1024 + 1}),
        json!({"ref": HASH, "extra": 1}),
        json!({"mount": "m".repeat(257), "ref": HASH}),
        json!({"mount": "/nothing"}),
    ] {
        schema_err(
            MessageType::Program,
            set(program(), "/volumes", json!([bad])),
        );
    }
}

#[test]
fn instance_cross_field_rules() {
    let MessageContent::Instance(i) = ok(MessageType::Instance, instance()) else {
        panic!()
    };
    assert_eq!(i.rootfs.size_mib, 20480);
    assert!(i.rootfs.parent.use_latest);
    assert!(!i.is_confidential());

    let payg = set(
        instance(),
        "/payment",
        json!({"type": "superfluid", "chain": "BASE"}),
    );
    let payg = set(
        payg,
        "/requirements",
        json!({"cpu": {"architecture": "x86_64"}}),
    );
    assert!(schema_err(MessageType::Instance, payg.clone()).contains("PAYG"));
    ok(
        MessageType::Instance,
        set(payg, "/requirements/node", json!({"node_hash": HASH})),
    );

    let gpu = json!([{"vendor": "NVIDIA", "device_name": "H100", "device_class": "0302",
                      "device_id": "10de:2504"}]);
    let with_gpu = set(
        instance(),
        "/requirements",
        json!({"gpu": gpu, "node": {"node_hash": HASH}}),
    );
    ok(MessageType::Instance, with_gpu.clone());
    let firecracker = set(
        with_gpu.clone(),
        "/environment/hypervisor",
        json!("firecracker"),
    );
    assert!(schema_err(MessageType::Instance, firecracker).contains("QEmu"));
    let bad_class = set(with_gpu, "/requirements/gpu/0/device_class", json!("0200"));
    schema_err(MessageType::Instance, bad_class);

    let tee = json!({"firmware": HASH, "policy": 1});
    let confidential = set(instance(), "/environment/trusted_execution", tee);
    let MessageContent::Instance(i) = ok(MessageType::Instance, confidential.clone()) else {
        panic!()
    };
    assert!(i.is_confidential());
    let no_qemu = set(confidential, "/environment/hypervisor", Value::Null);
    assert!(schema_err(MessageType::Instance, no_qemu).contains("Trusted"));

    let terms = set(
        instance(),
        "/requirements",
        json!({"node": {"terms_and_conditions": HASH}}),
    );
    assert!(schema_err(MessageType::Instance, terms).contains("node_hash"));
    schema_err(
        MessageType::Instance,
        set(instance(), "/rootfs/size_mib", json!(0)),
    );
    schema_err(MessageType::Instance, set(instance(), "/code", json!({})));
}
