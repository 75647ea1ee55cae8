//! PROGRAM and INSTANCE: every STORE they reference must be known (code, runtime — except the
//! built-in Wasm runtime's well-known ref — data,
//! volumes, parents: 301, retried; `use_latest` resolves through the file tag), persistent
//! volumes must hold their parent (304); `replaces` must name a known VM (300) of the same
//! owner that allows amends (302) and is not itself a replacement (303); the cost must be
//! covered (5, 6, 202). Applying records the VM, its references and its costs.

use alephd_db::{Conn, FilePin, MessageRecord, VmRecord, ops};
use alephd_message::{
    ErrorCode, IncomingMessage, MessageContent,
    content::{InstanceContent, MachineVolume, ProgramContent, WASM_RUNTIME_REF},
};
use serde_json::Value;

use super::{Ctx, Disposition};
use crate::{
    ProcessingError,
    billing::{self, CostInput, MIB, Pricing},
    content::{Body, Content},
    pipeline::ApplyError,
};

/// One STORE reference of a VM.
struct Ref {
    reference: String,
    use_latest: bool,
    /// Persistent volume size that must hold the parent (MiB).
    holds_mib: Option<u64>,
}

pub(crate) async fn process(
    conn: &mut Conn,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
) -> Result<Disposition, ApplyError> {
    let (typed, vm) = match &content.body {
        Body::Program(p) => (
            MessageContent::Program(p.clone()),
            program_record(p, record),
        ),
        Body::Instance(i) => (
            MessageContent::Instance(i.clone()),
            instance_record(i, record),
        ),
        _ => return Err(ProcessingError::format("not a PROGRAM or INSTANCE content").into()),
    };
    let payment = billing::payment_of(&typed);
    let needs_cutoff = vm.vm_type == "INSTANCE" || vm.persistent;
    billing::check_payment_method(ctx.billing, payment, false, needs_cutoff, message.time())?;
    let refs = match &content.body {
        Body::Program(p) => program_refs(p),
        Body::Instance(i) => instance_refs(i),
        _ => Vec::new(),
    };
    for r in &refs {
        check_ref(conn, r).await?;
    }
    if let Some(target) = &vm.replaces {
        check_replaces(conn, target, &record.owner).await?;
    }
    let pricing = Pricing::load(conn, ctx.billing).await?;
    let object = match serde_json::from_str::<Value>(&record.content) {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    let input = CostInput {
        item_hash: &record.item_hash,
        owner: &record.owner,
        content: &typed,
        object: &object,
        store_size: None,
    };
    let mut lines = billing::compute_costs(conn, &pricing, &input).await?;
    if vm.vm_type == "PROGRAM" && message.time() < ctx.billing.free_before {
        for line in &mut lines {
            line.cost_hold = 0.0;
        }
    }
    let total = billing::total_of(&lines, billing::payment_name(payment));
    billing::check_balance(conn, ctx.billing, &record.owner, payment, total, ctx.now).await?;
    let stored: Vec<(String, bool)> = refs
        .iter()
        .map(|r| (r.reference.clone(), r.use_latest))
        .collect();
    ops::insert_vm(conn, &vm, &stored).await?;
    ops::insert_costs(conn, &lines).await?;
    Ok(Disposition::Processed)
}

fn program_record(p: &ProgramContent, record: &MessageRecord) -> VmRecord {
    VmRecord {
        item_hash: record.item_hash.clone(),
        owner: record.owner.clone(),
        vm_type: "PROGRAM".into(),
        allow_amend: p.allow_amend,
        replaces: p.replaces.clone(),
        persistent: p.on.persistent == Some(true),
        on_message: p
            .on
            .message
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_default()),
        time: p.time,
    }
}

fn instance_record(i: &InstanceContent, record: &MessageRecord) -> VmRecord {
    VmRecord {
        item_hash: record.item_hash.clone(),
        owner: record.owner.clone(),
        vm_type: "INSTANCE".into(),
        allow_amend: i.allow_amend,
        replaces: i.replaces.clone(),
        persistent: true,
        on_message: None,
        time: i.time,
    }
}

fn plain(reference: &alephd_message::ItemHash, use_latest: bool) -> Ref {
    Ref {
        reference: reference.as_str().to_owned(),
        use_latest,
        holds_mib: None,
    }
}

fn program_refs(p: &ProgramContent) -> Vec<Ref> {
    let mut refs = vec![plain(&p.code.reference, p.code.use_latest)];
    // The Wasm runtime is built into the node: no STORE backs its well-known ref.
    if p.runtime.reference.as_str() != WASM_RUNTIME_REF {
        refs.push(plain(&p.runtime.reference, p.runtime.use_latest));
    }
    if let Some(data) = &p.data {
        refs.push(plain(&data.reference, data.use_latest.unwrap_or(false)));
    }
    refs.extend(volume_refs(&p.volumes));
    refs
}

fn instance_refs(i: &InstanceContent) -> Vec<Ref> {
    let mut refs = vec![Ref {
        reference: i.rootfs.parent.reference.as_str().to_owned(),
        use_latest: i.rootfs.parent.use_latest,
        holds_mib: Some(i.rootfs.size_mib),
    }];
    refs.extend(volume_refs(&i.volumes));
    refs
}

fn volume_refs(volumes: &[MachineVolume]) -> Vec<Ref> {
    volumes
        .iter()
        .filter_map(|v| match v {
            MachineVolume::Immutable(v) => Some(plain(&v.reference, v.use_latest)),
            MachineVolume::Persistent(v) => v.parent.as_ref().map(|parent| Ref {
                reference: parent.reference.as_str().to_owned(),
                use_latest: parent.use_latest,
                holds_mib: Some(v.size_mib),
            }),
            MachineVolume::Ephemeral(_) => None,
        })
        .collect()
}

/// The STORE a reference names now: the tag's latest version, or the STORE itself.
async fn resolve(conn: &mut Conn, r: &Ref) -> Result<Option<FilePin>, ApplyError> {
    if r.use_latest
        && let Some(pin) = ops::tag_latest(conn, &r.reference, None).await?
    {
        return Ok(Some(pin));
    }
    Ok(ops::file_pin(conn, &r.reference).await?)
}

async fn check_ref(conn: &mut Conn, r: &Ref) -> Result<(), ApplyError> {
    let Some(pin) = resolve(conn, r).await? else {
        return Err(ProcessingError::new(
            ErrorCode::VmVolumeNotFound,
            format!("STORE {} is not known yet", r.reference),
        )
        .into());
    };
    if let Some(mib) = r.holds_mib
        && (mib as f64) * MIB < pin.size as f64
    {
        return Err(ProcessingError::new(
            ErrorCode::VmVolumeTooSmall,
            format!(
                "a volume of {mib} MiB cannot hold {} ({} bytes)",
                r.reference, pin.size
            ),
        )
        .into());
    }
    Ok(())
}

async fn check_replaces(conn: &mut Conn, target: &str, owner: &str) -> Result<(), ApplyError> {
    let Some(original) = ops::vm(conn, target).await? else {
        return Err(ProcessingError::new(
            ErrorCode::VmRefNotFound,
            format!("VM {target} is not known yet"),
        )
        .into());
    };
    if original.replaces.is_some() {
        return Err(ProcessingError::new(
            ErrorCode::VmUpdateUpdate,
            format!("{target} is itself a replacement"),
        )
        .into());
    }
    if !original.allow_amend {
        return Err(ProcessingError::new(
            ErrorCode::VmAmendNotAllowed,
            format!("{target} does not allow amends"),
        )
        .into());
    }
    if !original.owner.eq_ignore_ascii_case(owner) {
        return Err(
            ProcessingError::denied(format!("{target} belongs to {}", original.owner)).into(),
        );
    }
    Ok(())
}
