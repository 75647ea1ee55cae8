//! pydantic's "lax mode" scalars, so the node accepts exactly what pyaleph accepts.
//!
//! aleph-message validates content with pydantic models in lax mode: a bool field takes
//! `0`/`1`/`"yes"`, an int field takes `1.0`/`"12"`/`true`, and a struct field takes only
//! an object (serde would also take a JSON array as a tuple struct). A node that is stricter
//! or looser than the others disagrees on which messages exist, so these helpers copy
//! pydantic's rules; `tests/python_differential.rs` checks them against aleph-message.

use serde::de::{DeserializeOwned, Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => n
            .as_f64()
            .map_or(Unexpected::Other("number"), Unexpected::Float),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

fn lax_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn lax_int(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // Whole floats only, within i64 (the cast is exact for such values).
            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lax_float(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(d)?;
    lax_bool(&value).ok_or_else(|| D::Error::invalid_type(unexpected(&value), &"a boolean"))
}

pub(super) fn option_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => lax_bool(&value)
            .map(Some)
            .ok_or_else(|| D::Error::invalid_type(unexpected(&value), &"a boolean")),
    }
}

pub(super) fn int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = Value::deserialize(d)?;
    let int =
        lax_int(&value).ok_or_else(|| D::Error::invalid_type(unexpected(&value), &"an integer"))?;
    T::try_from(int).map_err(|_| D::Error::invalid_value(Unexpected::Signed(int), &"in range"))
}

pub(super) fn option_int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => int(value).map(Some).map_err(D::Error::custom),
    }
}

pub(super) fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = Value::deserialize(d)?;
    lax_float(&value).ok_or_else(|| D::Error::invalid_type(unexpected(&value), &"a number"))
}

/// A nested model: only a JSON object, never an array.
pub(super) fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    if !value.is_object() {
        return Err(D::Error::invalid_type(unexpected(&value), &"an object"));
    }
    T::deserialize(value).map_err(D::Error::custom)
}

pub(super) fn option_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => object(value).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_follow_pydantic_lax_mode() {
        for (input, expected) in [
            (json!(true), Some(true)),
            (json!(0), Some(false)),
            (json!(1.0), Some(true)),
            (json!("Yes"), Some(true)),
            (json!("off"), Some(false)),
            (json!(2), None),
            (json!("x"), None),
            (json!(null), None),
        ] {
            assert_eq!(lax_bool(&input), expected, "{input}");
        }
        for (input, expected) in [
            (json!(12), Some(12)),
            (json!(12.0), Some(12)),
            (json!(" 12 "), Some(12)),
            (json!(true), Some(1)),
            (json!(1.5), None),
            (json!("1e3"), None),
            (json!(1e300), None),
        ] {
            assert_eq!(lax_int(&input), expected, "{input}");
        }
        assert_eq!(lax_float(&json!("1.5")), Some(1.5));
        assert_eq!(lax_float(&json!([])), None);
    }
}
