//! Cost of a STORE, PROGRAM or INSTANCE (spec §10): one line per component, each with its
//! hold, stream (per second) and credit (per second) price. The total a message pays is the
//! sum of the column of its payment type.

use alephd_db::{Conn, CostLine, DbError, ops};
use alephd_message::{
    MessageContent, MessageType,
    content::{
        InstanceContent, MachineResources, MachineVolume, PaymentType, ProgramContent, StoreContent,
    },
};
use serde_json::{Map, Value};

use super::{BillingConfig, HOUR, MIB, Pricing, ProductPrice, format_cost, payment_name};

/// Smallest size a credit-paid STORE is billed for (MiB).
const MIN_CREDIT_STORE_MIB: f64 = 25.0;

/// What a cost is computed from.
pub(crate) struct CostInput<'a> {
    pub(crate) item_hash: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) content: &'a MessageContent,
    /// The raw content object: `estimated_size_mib` hints of estimation requests.
    pub(crate) object: &'a Map<String, Value>,
    /// For a STORE being applied: the file's measured size (bytes).
    pub(crate) store_size: Option<u64>,
}

/// The payment type of a content (hold unless it says credit or superfluid).
pub(crate) fn payment_of(content: &MessageContent) -> PaymentType {
    let payment = match content {
        MessageContent::Store(c) => c.payment.as_ref(),
        MessageContent::Program(c) => c.payment.as_ref(),
        MessageContent::Instance(c) => c.payment.as_ref(),
        _ => None,
    };
    payment.map_or(PaymentType::Hold, |p| p.payment_type)
}

/// The cost lines of a resource.
pub(crate) async fn compute_costs(
    conn: &mut Conn,
    pricing: &Pricing,
    input: &CostInput<'_>,
) -> Result<Vec<CostLine>, DbError> {
    let payment = payment_name(payment_of(input.content)).to_owned();
    let line = |cost_type: &str,
                name: &str,
                reference: Option<&str>,
                hold: f64,
                stream: f64,
                credit: f64| CostLine {
        item_hash: input.item_hash.to_owned(),
        owner: input.owner.to_owned(),
        cost_type: cost_type.to_owned(),
        name: name.to_owned(),
        reference: reference.map(str::to_owned),
        payment_type: payment.clone(),
        cost_hold: hold,
        cost_stream: stream,
        cost_credit: credit,
    };
    match input.content {
        MessageContent::Store(store) => {
            let price = pricing.product("storage");
            let Some(mut mib) = store_mib(conn, store, input).await? else {
                return Ok(Vec::new());
            };
            if store.payment_type() == PaymentType::Credit && mib < MIN_CREDIT_STORE_MIB {
                mib = MIN_CREDIT_STORE_MIB;
            }
            let (h, s, c) = storage_costs(&price, mib);
            Ok(vec![line(
                "STORAGE",
                "STORAGE",
                Some(input.item_hash),
                h,
                s,
                c,
            )])
        }
        MessageContent::Program(program) => {
            let product = if program.on.persistent == Some(true) {
                "program_persistent"
            } else {
                "program"
            };
            let price = pricing.product(product);
            let multiplier = if program.on.persistent != Some(true) && program.environment.internet
            {
                2.0
            } else {
                1.0
            };
            let units = compute_units(&program.resources, &price) * multiplier;
            let mut lines = vec![execution_line(&line, product, &price, units)];
            let volumes = program_volumes(conn, program, input.object).await?;
            add_volumes(&mut lines, &line, &price, units / multiplier, volumes);
            Ok(lines)
        }
        MessageContent::Instance(instance) => {
            let (product, units) = instance_product(pricing, instance);
            let price = pricing.product(product);
            let mut lines = vec![execution_line(&line, product, &price, units)];
            let volumes = instance_volumes(conn, instance, input.object).await?;
            let storage_price = if instance
                .requirements
                .as_ref()
                .is_some_and(|r| !r.gpus().is_empty())
            {
                pricing.product("instance_gpu_premium")
            } else {
                price
            };
            let base_units = compute_units(&instance.resources, &storage_price);
            add_volumes(&mut lines, &line, &storage_price, base_units, volumes);
            Ok(lines)
        }
        _ => Ok(Vec::new()),
    }
}

type LineFn<'a> = dyn Fn(&str, &str, Option<&str>, f64, f64, f64) -> CostLine + 'a;

fn execution_line(line: &LineFn<'_>, product: &str, price: &ProductPrice, units: f64) -> CostLine {
    line(
        "EXECUTION",
        product,
        None,
        units * price.cu_hold,
        units * price.cu_payg / HOUR,
        units * price.cu_credit / HOUR,
    )
}

/// Volume lines, then the discount for the disk included with the compute units.
fn add_volumes(
    lines: &mut Vec<CostLine>,
    line: &LineFn<'_>,
    price: &ProductPrice,
    units: f64,
    volumes: Vec<Volume>,
) {
    let (mut hold, mut stream, mut credit) = (0.0, 0.0, 0.0);
    for v in volumes {
        let (h, s, c) = storage_costs(price, v.mib);
        hold += h;
        stream += s;
        credit += c;
        lines.push(line(v.cost_type, &v.name, v.reference.as_deref(), h, s, c));
    }
    let included = price.cu_disk_mib * units;
    let (max_h, max_s, max_c) = storage_costs(price, included);
    lines.push(line(
        "EXECUTION_VOLUME_DISCOUNT",
        "EXECUTION_VOLUME_DISCOUNT",
        None,
        -hold.min(max_h),
        -stream.min(max_s),
        -credit.min(max_c),
    ));
}

fn storage_costs(price: &ProductPrice, mib: f64) -> (f64, f64, f64) {
    (
        mib * price.storage_hold,
        mib * price.storage_payg / HOUR,
        mib * price.storage_credit / HOUR,
    )
}

/// max(vcpus, ceil(memory / CU memory)).
fn compute_units(resources: &MachineResources, price: &ProductPrice) -> f64 {
    let memory = (resources.memory as f64 / price.cu_memory_mib).ceil();
    (f64::from(resources.vcpus) / price.cu_vcpus)
        .ceil()
        .max(memory)
}

/// Product and compute units of an instance: GPU tiers count their own units.
fn instance_product(pricing: &Pricing, instance: &InstanceContent) -> (&'static str, f64) {
    let gpus = instance
        .requirements
        .as_ref()
        .map(|r| r.gpus())
        .unwrap_or(&[]);
    if gpus.is_empty() {
        let product = if instance.is_confidential() {
            "instance_confidential"
        } else {
            "instance"
        };
        return (
            product,
            compute_units(&instance.resources, &pricing.product(product)),
        );
    }
    let mut best = ("instance_gpu_standard", 0.0);
    for gpu in gpus {
        for product in ["instance_gpu_premium", "instance_gpu_standard"] {
            let tiers = pricing
                .table()
                .get(product)
                .and_then(|p| p.get("tiers"))
                .and_then(Value::as_array);
            let tier = tiers.into_iter().flatten().find(|t| {
                t.get("model")
                    .and_then(Value::as_str)
                    .is_some_and(|m| gpu.device_name.contains(m))
            });
            if let Some(units) = tier
                .and_then(|t| t.get("compute_units"))
                .and_then(Value::as_f64)
            {
                best = (product, best.1 + units);
                break;
            }
        }
    }
    if best.1 == 0.0 {
        best.1 = compute_units(&instance.resources, &pricing.product(best.0));
    }
    best
}

struct Volume {
    cost_type: &'static str,
    name: String,
    reference: Option<String>,
    mib: f64,
}

/// `estimated_size_mib` of an object, when positive.
fn estimated(value: Option<&Value>) -> Option<f64> {
    value?
        .get("estimated_size_mib")?
        .as_f64()
        .filter(|v| *v > 0.0)
}

/// The size (MiB) of the STORE named by `reference` (by hash, or by tag when `use_latest`).
async fn ref_mib(
    conn: &mut Conn,
    reference: &str,
    use_latest: bool,
) -> Result<Option<f64>, DbError> {
    let pin = if use_latest {
        ops::tag_latest(conn, reference, None).await?
    } else {
        ops::file_pin(conn, reference).await?
    };
    Ok(pin.map(|p| p.size as f64 / MIB))
}

async fn store_mib(
    conn: &mut Conn,
    store: &StoreContent,
    input: &CostInput<'_>,
) -> Result<Option<f64>, DbError> {
    if let Some(mib) = estimated(Some(&Value::Object(input.object.clone()))) {
        return Ok(Some(mib));
    }
    if let Some(size) = input.store_size {
        return Ok(Some(size as f64 / MIB));
    }
    Ok(ops::pins_of_file(conn, store.item_hash.as_str())
        .await?
        .first()
        .map(|p| p.size as f64 / MIB))
}

async fn ref_volume(
    conn: &mut Conn,
    cost_type: &'static str,
    name: String,
    reference: &str,
    use_latest: bool,
    hint: Option<&Value>,
) -> Result<Option<Volume>, DbError> {
    let mib = match estimated(hint) {
        Some(mib) => Some(mib),
        // Legacy volumes may name missing files: they cost nothing (as upstream).
        None => ref_mib(conn, reference, use_latest).await?,
    };
    Ok(mib.map(|mib| Volume {
        cost_type,
        name,
        reference: Some(reference.to_owned()),
        mib,
    }))
}

async fn program_volumes(
    conn: &mut Conn,
    program: &ProgramContent,
    object: &Map<String, Value>,
) -> Result<Vec<Volume>, DbError> {
    let mut out = Vec::new();
    let code = ref_volume(
        conn,
        "EXECUTION_PROGRAM_VOLUME_CODE",
        "EXECUTION_PROGRAM_VOLUME_CODE".into(),
        program.code.reference.as_str(),
        program.code.use_latest,
        object.get("code"),
    )
    .await?;
    out.extend(code);
    let runtime = ref_volume(
        conn,
        "EXECUTION_PROGRAM_VOLUME_RUNTIME",
        "EXECUTION_PROGRAM_VOLUME_RUNTIME".into(),
        program.runtime.reference.as_str(),
        program.runtime.use_latest,
        object.get("runtime"),
    )
    .await?;
    out.extend(runtime);
    if let Some(data) = &program.data {
        let v = ref_volume(
            conn,
            "EXECUTION_PROGRAM_VOLUME_DATA",
            "EXECUTION_PROGRAM_VOLUME_DATA".into(),
            data.reference.as_str(),
            data.use_latest.unwrap_or(false),
            object.get("data"),
        )
        .await?;
        out.extend(v);
    }
    out.extend(machine_volumes(conn, &program.volumes, object).await?);
    Ok(out)
}

async fn instance_volumes(
    conn: &mut Conn,
    instance: &InstanceContent,
    object: &Map<String, Value>,
) -> Result<Vec<Volume>, DbError> {
    let mut out = vec![Volume {
        cost_type: "EXECUTION_INSTANCE_VOLUME_ROOTFS",
        name: "EXECUTION_INSTANCE_VOLUME_ROOTFS".into(),
        reference: Some(instance.rootfs.parent.reference.as_str().to_owned()),
        mib: instance.rootfs.size_mib as f64,
    }];
    out.extend(machine_volumes(conn, &instance.volumes, object).await?);
    Ok(out)
}

async fn machine_volumes(
    conn: &mut Conn,
    volumes: &[MachineVolume],
    object: &Map<String, Value>,
) -> Result<Vec<Volume>, DbError> {
    let hints = object.get("volumes").and_then(Value::as_array);
    let mut out = Vec::new();
    for (i, volume) in volumes.iter().enumerate() {
        let hint = hints.and_then(|h| h.get(i));
        match volume {
            MachineVolume::Immutable(v) => {
                let name = format!(
                    "#{i}:{}",
                    v.mount.as_deref().unwrap_or("EXECUTION_VOLUME_INMUTABLE")
                );
                out.extend(
                    ref_volume(
                        conn,
                        "EXECUTION_VOLUME_INMUTABLE",
                        name,
                        v.reference.as_str(),
                        v.use_latest,
                        hint,
                    )
                    .await?,
                );
            }
            MachineVolume::Ephemeral(v) => out.push(Volume {
                cost_type: "EXECUTION_VOLUME_PERSISTENT",
                name: format!(
                    "#{i}:{}",
                    v.mount.as_deref().unwrap_or("EXECUTION_VOLUME_PERSISTENT")
                ),
                reference: None,
                mib: v.size_mib as f64,
            }),
            MachineVolume::Persistent(v) => out.push(Volume {
                cost_type: "EXECUTION_VOLUME_PERSISTENT",
                name: format!(
                    "#{i}:{}",
                    v.mount.as_deref().unwrap_or("EXECUTION_VOLUME_PERSISTENT")
                ),
                reference: None,
                mib: v.size_mib as f64,
            }),
        }
    }
    Ok(out)
}

/// The total of `lines` in the column of `payment`.
pub fn total_of(lines: &[CostLine], payment: &str) -> f64 {
    lines
        .iter()
        .map(|l| match payment {
            "credit" => l.cost_credit,
            "superfluid" => l.cost_stream,
            _ => l.cost_hold,
        })
        .sum()
}

/// A price estimate (`POST /price/estimate`, `GET /price/{hash}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub payment_type: String,
    pub total: f64,
    pub lines: Vec<CostLine>,
}

impl Estimate {
    pub fn new(payment_type: String, lines: Vec<CostLine>) -> Self {
        let total = total_of(&lines, &payment_type);
        Self {
            payment_type,
            total,
            lines,
        }
    }

    /// The response body pyaleph serves.
    pub fn to_json(&self) -> Value {
        let detail: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "type": l.cost_type, "name": l.name, "ref": l.reference,
                    "cost_hold": format_cost(l.cost_hold), "cost_stream": format_cost(l.cost_stream),
                    "cost_credit": format_cost(l.cost_credit),
                })
            })
            .collect();
        serde_json::json!({
            "required_tokens": self.total,
            "payment_type": self.payment_type,
            "cost": format_cost(self.total),
            "detail": detail,
        })
    }
}

/// Estimates the cost of a message dict (`{type, content | item_content, …}`), signature
/// unchecked. Errors are what is wrong with the message, for a 422.
pub async fn estimate(
    conn: &mut Conn,
    config: &BillingConfig,
    message: &Value,
) -> Result<Estimate, EstimateError> {
    let message_type = match message.get("type").and_then(Value::as_str) {
        Some("STORE") => MessageType::Store,
        Some("PROGRAM") => MessageType::Program,
        Some("INSTANCE") => MessageType::Instance,
        other => {
            return Err(EstimateError::Invalid(format!(
                "cannot price a message of type {other:?}"
            )));
        }
    };
    // The signed `item_content` is the truth (clients' `content` may omit hints such as
    // `estimated_size_mib`); `content` serves when there is no inline text.
    let inline = message.get("item_content").and_then(Value::as_str);
    let mut object = match (inline, message.get("content")) {
        (Some(text), _) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => o,
            _ => {
                return Err(EstimateError::Invalid(
                    "item_content is not a JSON object".into(),
                ));
            }
        },
        (None, Some(Value::Object(o))) => o.clone(),
        _ => return Err(EstimateError::Invalid("the message has no content".into())),
    };
    let sender = message
        .get("sender")
        .and_then(Value::as_str)
        .unwrap_or_default();
    object
        .entry("address")
        .or_insert_with(|| Value::String(sender.to_owned()));
    let time = message.get("time").cloned().unwrap_or(Value::from(0.0));
    object.entry("time").or_insert(time);
    let mut typed_object = Value::Object(object.clone());
    strip_estimates(&mut typed_object);
    let Value::Object(typed_object) = typed_object else {
        return Err(EstimateError::Invalid("content must be an object".into()));
    };
    let content = MessageContent::from_object(message_type, &typed_object)
        .map_err(|e| EstimateError::Invalid(e.to_string()))?;
    let pricing = Pricing::load(conn, config).await?;
    let item_hash = message
        .get("item_hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let input = CostInput {
        item_hash,
        owner: content.address().as_str(),
        content: &content,
        object: &object,
        store_size: None,
    };
    let lines = compute_costs(conn, &pricing, &input).await?;
    Ok(Estimate::new(
        payment_name(payment_of(&content)).to_owned(),
        lines,
    ))
}

/// Removes `estimated_size_mib` hints (not part of the message schemas) everywhere.
fn strip_estimates(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                o.remove("estimated_size_mib");
                stack.extend(o.values_mut());
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
}

/// Why an estimate failed.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}
