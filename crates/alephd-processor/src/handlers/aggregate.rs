//! AGGREGATE: the value of `(owner, key)` is the shallow merge of every element's object in
//! `(content.time, item_hash)` order. Appending a newer element merges on top; anything else
//! recomputes from all elements, so the value never depends on arrival order.

use alephd_db::{AggregateElement, AggregateRecord, Conn, MessageRecord, ops};
use serde_json::{Map, Value};

use super::{Disposition, version_cmp};
use crate::{
    ProcessingError,
    content::{Body, Content},
    permissions::SECURITY_KEY,
    pipeline::{ApplyError, Effects},
    staged::Staged,
};

pub(crate) async fn process(
    conn: &mut Conn,
    staged: &mut Staged,
    content: &Content,
    record: &MessageRecord,
    effects: &mut Effects,
) -> Result<Disposition, ApplyError> {
    let Body::Aggregate { key, value } = &content.body else {
        return Err(ProcessingError::format("not an aggregate content").into());
    };
    let owner = content.address.as_str();
    let forgotten_by = staged.tombstones(conn, owner, key, content.time).await?;
    if !forgotten_by.is_empty() {
        return Ok(Disposition::ForgottenOnArrival { forgotten_by });
    }
    let element = AggregateElement {
        item_hash: record.item_hash.clone(),
        owner: owner.to_owned(),
        key: key.clone(),
        time: content.time,
        content: Value::Object(value.clone()).to_string(),
    };
    let merged = match staged.aggregate(conn, owner, key).await? {
        Some(current) => merge_into(conn, staged, current, &element, value).await?,
        // No value means no element is stored (the last one's FORGET deletes the value):
        // this element alone is the value.
        None => AggregateRecord {
            owner: owner.to_owned(),
            key: key.clone(),
            content: element.content.clone(),
            created: element.time,
            last_updated: element.time,
            original_item_hash: element.item_hash.clone(),
            last_update_item_hash: element.item_hash.clone(),
        },
    };
    staged.put_aggregate(merged);
    staged.insert_element(element);
    if key == SECURITY_KEY {
        effects.security_changed.push(owner.to_owned());
    }
    Ok(Disposition::Processed)
}

/// Adds one element to an existing value. The merged value of a top-level field is that of
/// the newest element having it, so only the elements newer than this one are read; there
/// are none when it is newer than the value's last update (the common, in-order case), and
/// then nothing is read at all.
async fn merge_into(
    conn: &mut Conn,
    staged: &mut Staged,
    current: AggregateRecord,
    element: &AggregateElement,
    value: &Map<String, Value>,
) -> Result<AggregateRecord, ApplyError> {
    let newest = version_cmp(
        (element.time, &element.item_hash),
        (current.last_updated, &current.last_update_item_hash),
    )
    .is_gt();
    let newer = if newest {
        Vec::new()
    } else {
        staged.flush_elements(conn).await?;
        ops::elements_after(
            conn,
            &element.owner,
            &element.key,
            element.time,
            &element.item_hash,
        )
        .await?
    };
    let shadowed: Vec<Map<String, Value>> =
        newer.iter().map(|e| parse_object(&e.content)).collect();
    let mut merged = parse_object(&current.content);
    for (field, v) in value {
        if !shadowed.iter().any(|newer| newer.contains_key(field)) {
            merged.insert(field.clone(), v.clone());
        }
    }
    let mut updated = AggregateRecord {
        content: Value::Object(merged).to_string(),
        ..current
    };
    if newer.is_empty() {
        updated.last_updated = element.time;
        updated.last_update_item_hash = element.item_hash.clone();
    }
    if version_cmp(
        (element.time, &element.item_hash),
        (updated.created, &updated.original_item_hash),
    )
    .is_lt()
    {
        updated.created = element.time;
        updated.original_item_hash = element.item_hash.clone();
    }
    Ok(updated)
}

/// Rebuilds `(owner, key)` from its elements; deletes it when none are left.
pub(crate) async fn recompute(conn: &mut Conn, owner: &str, key: &str) -> Result<(), ApplyError> {
    let elements = ops::elements(conn, owner, key).await?;
    let (Some(first), Some(last)) = (elements.first(), elements.last()) else {
        ops::delete_aggregate(conn, owner, key).await?;
        return Ok(());
    };
    let mut merged = Map::new();
    for e in &elements {
        merged.extend(parse_object(&e.content));
    }
    let record = AggregateRecord {
        owner: owner.to_owned(),
        key: key.to_owned(),
        content: Value::Object(merged).to_string(),
        created: first.time,
        last_updated: last.time,
        original_item_hash: first.item_hash.clone(),
        last_update_item_hash: last.item_hash.clone(),
    };
    ops::upsert_aggregate(conn, &record).await?;
    Ok(())
}

/// Stored objects were written by this module; anything else reads as empty.
fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
