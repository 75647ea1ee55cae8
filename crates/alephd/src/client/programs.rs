//! `alephd program deploy|call|list|logs|update`: code uploaded as a STORE, PROGRAM messages
//! (updates are new PROGRAMs that `replace` the original), calls through `/vm/{hash}/…` and
//! execution logs from `/api/v0/compute/{hash}/executions`.

use std::{io::Write, path::Path};

use alephd_message::{ItemHash, content::WASM_RUNTIME_REF, signature::Signer};
use alephd_sdk::{Account, FileEngine, ProgramSpec, UploadOptions};
use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{
    Ctx, Output,
    args::{ChannelArg, Interface, ProgramCommand, ProgramSettings},
    composer, parse_hash, progress, published,
};

pub(crate) async fn run(ctx: &Ctx, command: ProgramCommand) -> anyhow::Result<Output> {
    match command {
        ProgramCommand::Deploy {
            path,
            entrypoint,
            runtime,
            interface,
            settings,
            immutable,
            channel,
        } => {
            let account = ctx.account()?;
            let code = CodeFile::of(&path)?;
            let wasm = is_component(code.path());
            let runtime = match runtime.as_deref() {
                Some("wasm") => WASM_RUNTIME_REF.to_owned(),
                Some(runtime) => runtime.to_owned(),
                None if wasm => WASM_RUNTIME_REF.to_owned(),
                None => alephd_sdk::DEFAULT_RUNTIME.to_owned(),
            };
            let entrypoint = match (entrypoint, runtime == WASM_RUNTIME_REF) {
                (Some(entrypoint), _) => entrypoint,
                // Aleph's schema wants one; the Wasm runtime serves the component's export.
                (None, true) => "wasi:http/proxy".to_owned(),
                (None, false) => bail!("--entrypoint is required for a Linux program"),
            };
            let code_ref = upload_code(ctx, &account, code.path(), &channel).await?;
            let mut spec = ProgramSpec::new(code_ref.clone(), parse_hash(&runtime)?, &entrypoint);
            spec.encoding = code.encoding().into();
            spec.interface = interface.map(interface_name);
            spec.allow_amend = !immutable;
            apply(&mut spec, &settings)?;
            let message = composer(&account, &channel)?.program(&spec)?;
            let result = ctx.client.send(&message).await?;
            let mut output = published(&message, &result);
            if let Some(value) = output.json.as_mut() {
                value["code_ref"] = json!(code_ref);
            }
            output.text = format!(
                "{}code STORE {code_ref}\ncall it: alephd program call {} /\n",
                output.text,
                message.item_hash()
            );
            Ok(output)
        }
        ProgramCommand::Call { hash, path, data } => {
            let hash = parse_hash(&hash)?;
            let (status, body) = ctx
                .client
                .call_program(&hash, &path, data.map(String::into_bytes))
                .await?;
            if ctx.args.json {
                let text = String::from_utf8_lossy(&body).into_owned();
                let value = json!({"status": status, "body": text});
                return Ok(Output::new(value, String::new()));
            }
            std::io::stdout()
                .write_all(&body)
                .context("cannot write the response")?;
            if !(200..300).contains(&status) {
                bail!("the program answered HTTP {status}");
            }
            Ok(Output::printed())
        }
        ProgramCommand::List { filter } => {
            let mut query = vec![
                ("msgTypes", "PROGRAM".to_owned()),
                ("pagination", filter.limit.to_string()),
                ("page", filter.page.max(1).to_string()),
            ];
            if let Some(address) = ctx.address_filter(filter.address.clone()) {
                query.push(("addresses", address));
            }
            let body = ctx.client.messages(&query).await?;
            let mut text = String::new();
            for m in body["messages"].as_array().into_iter().flatten() {
                let content = &m["content"];
                text.push_str(&format!(
                    "{}  {}  {}{}\n",
                    m["item_hash"].as_str().unwrap_or("?"),
                    content["metadata"]["name"].as_str().unwrap_or("-"),
                    content["code"]["entrypoint"].as_str().unwrap_or("?"),
                    content["replaces"]
                        .as_str()
                        .map(|r| format!("  replaces {r}"))
                        .unwrap_or_default(),
                ));
            }
            if text.is_empty() {
                text = "no programs\n".into();
            }
            Ok(Output::new(body, text))
        }
        ProgramCommand::Logs { hash, limit } => {
            let hash = parse_hash(&hash)?;
            let body = ctx
                .client
                .get_json(
                    &format!("/api/v0/compute/{hash}/executions"),
                    &[("limit", limit.to_string())],
                )
                .await?;
            let mut text = String::new();
            for e in body["executions"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "{} {} {} http={} {}ms\n",
                    e["started_at"].as_str().unwrap_or("?"),
                    e["trigger"].as_str().unwrap_or("?"),
                    e["status"].as_str().unwrap_or("?"),
                    e["http_status"],
                    e["duration_ms"],
                ));
                for (stream, prefix) in [("stdout", "  | "), ("stderr", "  ! ")] {
                    for line in e[stream].as_str().unwrap_or("").lines() {
                        text.push_str(&format!("{prefix}{line}\n"));
                    }
                }
                if let Some(error) = e["error"].as_str() {
                    text.push_str(&format!("  error: {error}\n"));
                }
            }
            if text.is_empty() {
                text = "no executions yet\n".into();
            }
            Ok(Output::new(body, text))
        }
        ProgramCommand::Update {
            hash,
            code,
            entrypoint,
            runtime,
            settings,
            channel,
        } => {
            let account = ctx.account()?;
            let target = parse_hash(&hash)?;
            let (original, current) = current_version(ctx, &target, account.address()).await?;
            let mut spec = spec_of(&current)?;
            spec.replaces = Some(original.clone());
            if let Some(path) = &code {
                let code = CodeFile::of(path)?;
                spec.code_ref = upload_code(ctx, &account, code.path(), &channel).await?;
                spec.encoding = code.encoding().into();
            }
            if let Some(entrypoint) = entrypoint {
                spec.entrypoint = entrypoint;
            }
            if let Some(runtime) = runtime {
                spec.runtime_ref = match runtime.as_str() {
                    "wasm" => parse_hash(WASM_RUNTIME_REF)?,
                    other => parse_hash(other)?,
                };
            }
            apply(&mut spec, &settings)?;
            let message = composer(&account, &channel)?.program(&spec)?;
            let result = ctx.client.send(&message).await?;
            let mut output = published(&message, &result);
            if let Some(value) = output.json.as_mut() {
                value["replaces"] = json!(original);
            }
            Ok(output)
        }
    }
}

async fn upload_code(
    ctx: &Ctx,
    account: &Account,
    path: &Path,
    channel: &ChannelArg,
) -> anyhow::Result<ItemHash> {
    let uploaded = ctx
        .client
        .upload_file(
            &composer(account, channel)?,
            path,
            FileEngine::Storage,
            &UploadOptions::default(),
            progress::for_stderr(),
        )
        .await
        .with_context(|| format!("cannot upload the code {}", path.display()))?;
    Ok(uploaded.message.item_hash().clone())
}

/// The code to upload: the file given, or a zip made of the directory given (what `aleph
/// program upload` does with a directory).
enum CodeFile<'a> {
    File(&'a Path),
    Zipped(tempfile::NamedTempFile),
}

impl<'a> CodeFile<'a> {
    fn of(path: &'a Path) -> anyhow::Result<Self> {
        if !path.is_dir() {
            return Ok(Self::File(path));
        }
        let zipped = tempfile::Builder::new()
            .suffix(".zip")
            .tempfile()
            .context("cannot create a temporary zip")?;
        let mut writer = zip::ZipWriter::new(zipped.reopen().context("cannot open the zip")?);
        add_dir(&mut writer, path, "").with_context(|| format!("cannot zip {}", path.display()))?;
        writer.finish().context("cannot finish the zip")?;
        Ok(Self::Zipped(zipped))
    }

    fn path(&self) -> &Path {
        match self {
            Self::File(path) => path,
            Self::Zipped(file) => file.path(),
        }
    }

    fn encoding(&self) -> &'static str {
        encoding_of(self.path())
    }
}

/// Adds `dir`'s files under `prefix`, in name order (the same directory always makes the same
/// zip bytes apart from timestamps, which are fixed too).
fn add_dir(
    writer: &mut zip::ZipWriter<std::fs::File>,
    dir: &Path,
    prefix: &str,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("{:?} is not UTF-8", entry.path()))?;
        let inner = format!("{prefix}{name}");
        let kind = entry.file_type()?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        if kind.is_dir() {
            if name == "__pycache__" {
                continue;
            }
            writer.add_directory(format!("{inner}/"), options)?;
            add_dir(writer, &entry.path(), &format!("{inner}/"))?;
        } else if kind.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = entry.metadata()?.permissions().mode();
            writer.start_file(inner, options.unix_permissions(mode & 0o777))?;
            std::io::copy(&mut std::fs::File::open(entry.path())?, writer)?;
        }
        // Symlinks and special files are not code: skipped.
    }
    Ok(())
}

/// Whether `path` is a WebAssembly component (magic and the component layer).
fn is_component(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head[..4] == b"\0asm" && head[6..8] == [1, 0])
}

fn encoding_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("squashfs" | "sqsh") => "squashfs",
        Some("zip") => "zip",
        _ => "plain",
    }
}

fn interface_name(interface: Interface) -> String {
    match interface {
        Interface::Asgi => "asgi".into(),
        Interface::Binary => "binary".into(),
    }
}

fn apply(spec: &mut ProgramSpec, settings: &ProgramSettings) -> anyhow::Result<()> {
    if let Some(memory) = settings.memory {
        spec.memory_mib = memory;
    }
    if let Some(vcpus) = settings.vcpus {
        spec.vcpus = vcpus;
    }
    if let Some(timeout) = settings.timeout {
        spec.timeout_seconds = timeout;
    }
    if settings.internet {
        spec.internet = true;
    }
    if settings.persistent {
        spec.persistent = true;
    }
    for var in &settings.vars {
        let Some((key, value)) = var.split_once('=') else {
            bail!("--var {var:?} is not K=V");
        };
        spec.variables.insert(key.to_owned(), value.to_owned());
    }
    if let Some(name) = &settings.name {
        spec.name = Some(name.clone());
    }
    if !settings.persistent_volumes.is_empty() || !settings.ephemeral_volumes.is_empty() {
        spec.volumes = volumes(settings)?;
    }
    if !settings.on_message.is_empty() {
        spec.subscriptions = settings
            .on_message
            .iter()
            .map(|text| match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(filter)) if !filter.is_empty() => Ok(filter),
                _ => bail!("--on-message {text:?} is not a non-empty JSON object"),
            })
            .collect::<anyhow::Result<_>>()?;
    }
    Ok(())
}

/// The volume flags as Aleph's volume objects.
fn volumes(settings: &ProgramSettings) -> anyhow::Result<Vec<Value>> {
    let size = |text: Option<&str>, flag: &str| -> anyhow::Result<u64> {
        match text {
            None => Ok(64),
            Some(mib) => mib
                .parse()
                .ok()
                .filter(|&m| m > 0)
                .with_context(|| format!("{flag}: {mib:?} is not a size in MiB")),
        }
    };
    let mut out = Vec::new();
    for flag in &settings.persistent_volumes {
        let mut parts = flag.splitn(3, ':');
        let (Some(name), Some(mount)) = (parts.next(), parts.next()) else {
            bail!("--persistent-volume {flag:?} is not NAME:MOUNT[:SIZE_MIB]");
        };
        if name.is_empty() || !mount.starts_with('/') {
            bail!("--persistent-volume {flag:?}: a name and an absolute mount point");
        }
        let size_mib = size(parts.next(), "--persistent-volume")?;
        out.push(json!({"persistence": "host", "name": name, "mount": mount,
                        "size_mib": size_mib}));
    }
    for flag in &settings.ephemeral_volumes {
        let (mount, mib) = match flag.split_once(':') {
            Some((mount, mib)) => (mount, Some(mib)),
            None => (flag.as_str(), None),
        };
        if !mount.starts_with('/') {
            bail!("--ephemeral-volume {flag:?}: an absolute mount point");
        }
        let size_mib = size(mib, "--ephemeral-volume")?;
        out.push(json!({"ephemeral": true, "mount": mount, "size_mib": size_mib}));
    }
    Ok(out)
}

/// The original program of `target` and the content of its newest version by `sender`.
async fn current_version(
    ctx: &Ctx,
    target: &ItemHash,
    sender: &str,
) -> anyhow::Result<(ItemHash, Value)> {
    let status = ctx
        .client
        .message(target)
        .await?
        .ok_or_else(|| super::ClientError::NotFound(format!("no program {target}")))?;
    let content = status["message"]["content"].clone();
    if status["message"]["type"] != "PROGRAM" {
        bail!(
            "{target} is not a PROGRAM message (status {})",
            status["status"]
        );
    }
    let original = match content["replaces"].as_str() {
        Some(r) => parse_hash(r)?,
        None => target.clone(),
    };
    let versions = ctx
        .client
        .messages(&[
            ("msgTypes", "PROGRAM".into()),
            ("addresses", sender.into()),
            ("pagination", "200".into()),
        ])
        .await?;
    let newest = versions["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["content"]["replaces"].as_str() == Some(original.as_str()))
        .max_by(|a, b| {
            let t = |m: &Value| m["content"]["time"].as_f64().unwrap_or(0.0);
            t(a).total_cmp(&t(b))
        })
        .map(|m| m["content"].clone());
    Ok((original, newest.unwrap_or(content)))
}

/// A spec that reproduces a PROGRAM content (then changed by the update's options).
fn spec_of(content: &Value) -> anyhow::Result<ProgramSpec> {
    let hash = |v: &Value, what: &str| {
        v.as_str()
            .context(format!("the program has no {what}"))
            .and_then(parse_hash)
    };
    let code = &content["code"];
    let mut spec = ProgramSpec::new(
        hash(&code["ref"], "code.ref")?,
        hash(&content["runtime"]["ref"], "runtime.ref")?,
        code["entrypoint"].as_str().unwrap_or_default(),
    );
    spec.encoding = code["encoding"].as_str().unwrap_or("zip").to_owned();
    spec.interface = code["interface"].as_str().map(str::to_owned);
    let resources = &content["resources"];
    spec.memory_mib = resources["memory"].as_u64().unwrap_or(spec.memory_mib);
    spec.vcpus = resources["vcpus"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(spec.vcpus);
    spec.timeout_seconds = resources["seconds"]
        .as_u64()
        .unwrap_or(spec.timeout_seconds);
    spec.internet = content["environment"]["internet"]
        .as_bool()
        .unwrap_or(false);
    spec.persistent = content["on"]["persistent"].as_bool().unwrap_or(false);
    if let Some(vars) = content["variables"].as_object() {
        for (k, v) in vars {
            if let Some(v) = v.as_str() {
                spec.variables.insert(k.clone(), v.to_owned());
            }
        }
    }
    spec.name = content["metadata"]["name"].as_str().map(str::to_owned);
    spec.volumes = content["volumes"].as_array().cloned().unwrap_or_default();
    spec.subscriptions = content["on"]["message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_object().cloned())
        .collect();
    Ok(spec)
}
