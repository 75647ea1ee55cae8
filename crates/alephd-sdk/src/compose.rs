//! Building and signing messages of every type a user sends: POST (and amends), AGGREGATE,
//! STORE, FORGET and PROGRAM. Contents are written in the field names aleph-message parses;
//! each built content is also checked by our own parser, so a message that the node would
//! reject as malformed is refused here, before it is signed.

use std::collections::BTreeMap;

use alephd_message::{
    Address, Channel, IncomingMessage, ItemHash, MessageType, UnsignedMessage, signature::Signer,
};
use serde_json::{Map, Value, json};

use crate::SdkError;

/// The runtime aleph-client uses for Python programs (Debian 12 + Python).
pub const DEFAULT_RUNTIME: &str =
    "63f07193e6ee9d207b7d1fcf8286f9aee34e6f12f101d2ec77c1229f92964696";

/// Now, as the UNIX time in seconds that messages carry.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Signs messages for one account on one channel.
pub struct Composer<'a> {
    signer: &'a dyn Signer,
    channel: Option<Channel>,
}

impl<'a> Composer<'a> {
    pub fn new(signer: &'a dyn Signer) -> Self {
        Self {
            signer,
            channel: None,
        }
    }

    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The signer's address (the `address` of every content built here).
    pub fn address(&self) -> &str {
        self.signer.address()
    }

    /// A POST of `post_type` with any JSON content; `reference` is the optional `ref`.
    pub fn post(
        &self,
        post_type: &str,
        content: Value,
        reference: Option<&str>,
    ) -> Result<IncomingMessage, SdkError> {
        let mut body = self.base();
        body.insert("type".into(), json!(post_type));
        body.insert("content".into(), content);
        if let Some(reference) = reference {
            body.insert("ref".into(), json!(reference));
        }
        self.sign(MessageType::Post, body)
    }

    /// An amend: replaces the content of the post `original` (which must not be an amend).
    pub fn amend(&self, original: &ItemHash, content: Value) -> Result<IncomingMessage, SdkError> {
        self.post("amend", content, Some(original.as_str()))
    }

    /// An AGGREGATE element: `content` is merged (top-level keys) into the key's value.
    pub fn aggregate(
        &self,
        key: &str,
        content: Map<String, Value>,
    ) -> Result<IncomingMessage, SdkError> {
        let mut body = self.base();
        body.insert("key".into(), json!(key));
        body.insert("content".into(), Value::Object(content));
        self.sign(MessageType::Aggregate, body)
    }

    /// A STORE of the file `file_hash` (sha256 → storage engine, CID → ipfs), paid by holding.
    pub fn store(&self, file: &StoreSpec) -> Result<IncomingMessage, SdkError> {
        let mut body = self.base();
        body.insert("item_type".into(), json!(file.file_hash.item_type()));
        body.insert("item_hash".into(), json!(file.file_hash));
        if let Some(size) = file.size {
            body.insert("size".into(), json!(size));
        }
        if let Some(reference) = &file.reference {
            body.insert("ref".into(), json!(reference));
        }
        if let Some(name) = &file.name {
            body.insert("metadata".into(), json!({ "name": name }));
        }
        body.insert(
            "payment".into(),
            json!({"chain": self.signer.chain(), "type": "hold"}),
        );
        self.sign(MessageType::Store, body)
    }

    /// A FORGET of messages (`hashes`) and/or whole aggregates (`aggregates`, by key).
    pub fn forget(
        &self,
        hashes: &[ItemHash],
        aggregates: &[String],
        reason: Option<&str>,
    ) -> Result<IncomingMessage, SdkError> {
        let mut body = self.base();
        body.insert("hashes".into(), json!(hashes));
        body.insert("aggregates".into(), json!(aggregates));
        if let Some(reason) = reason {
            body.insert("reason".into(), json!(reason));
        }
        self.sign(MessageType::Forget, body)
    }

    /// A PROGRAM (`vm-function`) running the zip or squashfs `code_ref` on `runtime_ref`.
    pub fn program(&self, spec: &ProgramSpec) -> Result<IncomingMessage, SdkError> {
        let mut body = self.base();
        body.insert("type".into(), json!("vm-function"));
        body.insert("allow_amend".into(), json!(spec.allow_amend));
        let mut code = json!({
            "encoding": spec.encoding,
            "entrypoint": spec.entrypoint,
            "ref": spec.code_ref,
            "use_latest": false,
        });
        if let Some(interface) = &spec.interface {
            code["interface"] = json!(interface);
        }
        body.insert("code".into(), code);
        body.insert(
            "runtime".into(),
            json!({"ref": spec.runtime_ref, "use_latest": true, "comment": ""}),
        );
        body.insert(
            "on".into(),
            match spec.subscriptions.is_empty() {
                true => json!({"http": true, "persistent": spec.persistent}),
                false => json!({"http": true, "persistent": spec.persistent,
                                "message": spec.subscriptions}),
            },
        );
        body.insert(
            "environment".into(),
            json!({"reproducible": false, "internet": spec.internet, "aleph_api": true,
                   "shared_cache": false}),
        );
        body.insert(
            "resources".into(),
            json!({"vcpus": spec.vcpus, "memory": spec.memory_mib, "seconds": spec.timeout_seconds}),
        );
        body.insert("volumes".into(), json!(spec.volumes));
        if !spec.variables.is_empty() {
            body.insert("variables".into(), json!(spec.variables));
        }
        if let Some(name) = &spec.name {
            body.insert("metadata".into(), json!({ "name": name }));
        }
        if let Some(replaces) = &spec.replaces {
            body.insert("replaces".into(), json!(replaces));
        }
        body.insert(
            "payment".into(),
            json!({"chain": self.signer.chain(), "type": "hold"}),
        );
        self.sign(MessageType::Program, body)
    }

    fn base(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("address".into(), json!(self.signer.address()));
        body.insert("time".into(), json!(now()));
        body
    }

    fn sign(
        &self,
        message_type: MessageType,
        body: Map<String, Value>,
    ) -> Result<IncomingMessage, SdkError> {
        let content = Value::Object(body);
        let time = content["time"].as_f64().unwrap_or_else(now);
        let mut unsigned = UnsignedMessage::inline(
            self.signer.chain(),
            Address::new(self.signer.address()),
            message_type,
            &content,
            time,
        )?;
        if let Some(channel) = &self.channel {
            unsigned = unsigned.with_channel(channel.clone());
        }
        let message = self.signer.sign_message(unsigned)?;
        if let Some(parsed) = message.parse_inline_content() {
            parsed?;
        }
        Ok(message)
    }
}

/// The file a STORE message pins.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    pub file_hash: ItemHash,
    pub size: Option<u64>,
    /// `ref`: an earlier STORE's hash, or a free tag, to version the file.
    pub reference: Option<String>,
    /// `metadata.name` (the CLI puts the file name there).
    pub name: Option<String>,
}

/// What a PROGRAM message says. [`ProgramSpec::new`] has aleph-client's defaults.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    pub code_ref: ItemHash,
    pub runtime_ref: ItemHash,
    /// `zip`, `squashfs` or `plain`.
    pub encoding: String,
    /// `module:app` for ASGI, a command for `binary`.
    pub entrypoint: String,
    /// `asgi` or `binary`; `None` lets the node infer it from the entrypoint.
    pub interface: Option<String>,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub timeout_seconds: u64,
    pub internet: bool,
    pub persistent: bool,
    pub allow_amend: bool,
    pub variables: BTreeMap<String, String>,
    pub name: Option<String>,
    /// The program this one replaces (an update).
    pub replaces: Option<ItemHash>,
    /// `on.message`: run on each processed message matching one of these field filters.
    pub subscriptions: Vec<Map<String, Value>>,
    /// `volumes`, as Aleph's schema writes them (`{"ephemeral": true, "mount", "size_mib"}`,
    /// `{"persistence": "host", "name", "mount", "size_mib"}`, `{"ref", "mount", ...}`).
    pub volumes: Vec<Value>,
}

impl ProgramSpec {
    pub fn new(code_ref: ItemHash, runtime_ref: ItemHash, entrypoint: &str) -> Self {
        Self {
            code_ref,
            runtime_ref,
            encoding: "zip".into(),
            entrypoint: entrypoint.into(),
            interface: None,
            memory_mib: 128,
            vcpus: 1,
            timeout_seconds: 30,
            internet: false,
            persistent: false,
            allow_amend: true,
            variables: BTreeMap::new(),
            name: None,
            replaces: None,
            subscriptions: Vec::new(),
            volumes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use alephd_message::{MessageContent, signature};

    use super::*;
    use crate::{Account, KeyKind};

    fn verified(message: &IncomingMessage) -> MessageContent {
        signature::verify(&message.signed_fields().unwrap()).unwrap();
        message.parse_inline_content().unwrap().unwrap().content
    }

    #[test]
    fn every_type_signs_and_parses_for_both_key_kinds() {
        for kind in [KeyKind::Eth, KeyKind::Sol] {
            let account = Account::generate(kind);
            let composer = Composer::new(&account).with_channel(Channel::new("TEST").unwrap());
            let post = composer
                .post("note", json!({"body": "héllo"}), None)
                .unwrap();
            assert!(matches!(verified(&post), MessageContent::Post(_)));
            let amend = composer
                .amend(post.item_hash(), json!({"body": "v2"}))
                .unwrap();
            let MessageContent::Post(p) = verified(&amend) else {
                panic!("not a post")
            };
            assert_eq!(p.post_type, "amend");
            let mut map = Map::new();
            map.insert("a".into(), json!(1));
            assert!(matches!(
                verified(&composer.aggregate("profile", map).unwrap()),
                MessageContent::Aggregate(_)
            ));
            let file = ItemHash::sha256_of("file");
            let store = composer
                .store(&StoreSpec {
                    file_hash: file.clone(),
                    size: Some(4),
                    reference: None,
                    name: Some("f.txt".into()),
                })
                .unwrap();
            assert!(matches!(verified(&store), MessageContent::Store(_)));
            let forget = composer
                .forget(&[post.item_hash().clone()], &[], Some("test"))
                .unwrap();
            assert!(matches!(verified(&forget), MessageContent::Forget(_)));
            let mut spec = ProgramSpec::new(
                store.item_hash().clone(),
                ItemHash::parse(DEFAULT_RUNTIME).unwrap(),
                "main:app",
            );
            spec.variables.insert("K".into(), "V".into());
            spec.replaces = Some(file);
            assert!(matches!(
                verified(&composer.program(&spec).unwrap()),
                MessageContent::Program(_)
            ));
        }
    }

    #[test]
    fn oversized_content_is_refused_before_signing() {
        let account = Account::generate(KeyKind::Eth);
        let big = json!("x".repeat(alephd_message::MAX_INLINE_CHARS));
        assert!(matches!(
            Composer::new(&account).post("note", big, None),
            Err(SdkError::Message(_))
        ));
    }
}
