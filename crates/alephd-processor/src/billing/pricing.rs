//! The price table: the pricing owner's `pricing` aggregate merged over the built-in
//! defaults (the network's published prices, spec §10).

use alephd_db::{Conn, DbError, ops};
use serde_json::{Map, Value, json};

use super::BillingConfig;

/// Key of the price aggregate.
pub(crate) const PRICING_KEY: &str = "pricing";

/// Prices of every product, by product name (`storage`, `program`, `instance`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    table: Map<String, Value>,
}

/// One product's prices. Hold prices are tokens held; payg and credit prices are per hour.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProductPrice {
    pub storage_hold: f64,
    pub storage_payg: f64,
    pub storage_credit: f64,
    pub cu_hold: f64,
    pub cu_payg: f64,
    pub cu_credit: f64,
    pub cu_vcpus: f64,
    pub cu_memory_mib: f64,
    pub cu_disk_mib: f64,
}

impl Pricing {
    /// The built-in prices.
    pub fn defaults() -> Self {
        let Value::Object(table) = default_table() else {
            return Self { table: Map::new() };
        };
        Self { table }
    }

    /// The defaults with `aggregate` merged over them (objects merge key by key).
    pub fn with_overrides(aggregate: &Value) -> Self {
        let mut merged = default_table();
        deep_merge(&mut merged, aggregate);
        match merged {
            Value::Object(table) => Self { table },
            _ => Self::defaults(),
        }
    }

    /// The current prices: the pricing aggregate if the owner published one.
    pub async fn load(conn: &mut Conn, config: &BillingConfig) -> Result<Self, DbError> {
        Ok(
            match ops::aggregate(conn, &config.pricing_owner, PRICING_KEY).await? {
                Some(a) => match serde_json::from_str::<Value>(&a.content) {
                    Ok(value) => Self::with_overrides(&value),
                    Err(_) => Self::defaults(),
                },
                None => Self::defaults(),
            },
        )
    }

    /// The prices of `product`; missing fields count as 0 (a free component).
    pub fn product(&self, product: &str) -> ProductPrice {
        let p = self.table.get(product).unwrap_or(&Value::Null);
        let num = |path: &[&str]| -> f64 {
            let mut v = p;
            for key in path {
                v = v.get(key).unwrap_or(&Value::Null);
            }
            match v {
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                Value::String(s) => s.parse().unwrap_or(0.0),
                _ => 0.0,
            }
        };
        ProductPrice {
            storage_hold: num(&["price", "storage", "holding"]),
            storage_payg: num(&["price", "storage", "payg"]),
            storage_credit: num(&["price", "storage", "credit"]),
            cu_hold: num(&["price", "compute_unit", "holding"]),
            cu_payg: num(&["price", "compute_unit", "payg"]),
            cu_credit: num(&["price", "compute_unit", "credit"]),
            cu_vcpus: num(&["compute_unit", "vcpus"]).max(1.0),
            cu_memory_mib: positive_or(num(&["compute_unit", "memory_mib"]), 2048.0),
            cu_disk_mib: num(&["compute_unit", "disk_mib"]),
        }
    }

    /// The whole table (served by the API).
    pub fn table(&self) -> &Map<String, Value> {
        &self.table
    }
}

fn positive_or(v: f64, default: f64) -> f64 {
    if v > 0.0 { v } else { default }
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                deep_merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn tiers() -> Value {
    json!([
        {"id": "tier-1", "compute_units": 1}, {"id": "tier-2", "compute_units": 2},
        {"id": "tier-3", "compute_units": 4}, {"id": "tier-4", "compute_units": 6},
        {"id": "tier-5", "compute_units": 8}, {"id": "tier-6", "compute_units": 12},
    ])
}

/// The network's published default prices (aleph.cloud pricing, 2026).
fn default_table() -> Value {
    const STORAGE_CREDIT: &str = "0.17967489030626108";
    let vm = |cu: Value, storage_credit: &str, disk: u64| {
        json!({
            "price": {
                "storage": {"payg": "0.000000977", "holding": "0.05", "credit": storage_credit},
                "compute_unit": cu,
            },
            "tiers": tiers(),
            "compute_unit": {"vcpus": 1, "disk_mib": disk, "memory_mib": 2048},
        })
    };
    json!({
        "program": vm(json!({"payg": "0.011", "holding": "200", "credit": "11000"}), "0.977", 2048),
        "program_persistent": vm(json!({"payg": "0.055", "holding": "1000", "credit": "55000"}), "0.977", 20480),
        "instance": vm(json!({"payg": "0.055", "holding": "1000", "credit": "14250"}), STORAGE_CREDIT, 20480),
        "instance_confidential": vm(json!({"payg": "0.11", "holding": "2000", "credit": "28500"}), STORAGE_CREDIT, 20480),
        "instance_gpu_premium": {
            "price": {
                "storage": {"payg": "0.000000977", "credit": STORAGE_CREDIT},
                "compute_unit": {"payg": "0.56", "holding": "560", "credit": "86250"},
            },
            "tiers": [
                {"id": "tier-1", "vram": 81920, "model": "A100", "compute_units": 16},
                {"id": "tier-2", "vram": 81920, "model": "H100", "compute_units": 24},
            ],
            "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144},
        },
        "instance_gpu_standard": {
            "price": {
                "storage": {"payg": "0.000000977", "credit": STORAGE_CREDIT},
                "compute_unit": {"payg": "0.28", "holding": "280", "credit": "43125"},
            },
            "tiers": [
                {"id": "tier-1", "vram": 20480, "model": "RTX 4000 ADA", "compute_units": 3},
                {"id": "tier-2", "vram": 24576, "model": "RTX 3090", "compute_units": 4},
                {"id": "tier-3", "vram": 24576, "model": "RTX 4090", "compute_units": 6},
                {"id": "tier-4", "vram": 49152, "model": "L40S", "compute_units": 12},
            ],
            "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144},
        },
        "storage": {"price": {"storage": {"holding": "0.333333333", "credit": STORAGE_CREDIT}}},
        "web3_hosting": {"price": {"fixed": 50, "storage": {"holding": "0.333333333", "credit": STORAGE_CREDIT}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_overrides_merge_into_defaults() {
        let p =
            Pricing::with_overrides(&json!({"storage": {"price": {"storage": {"holding": "1"}}}}));
        let storage = p.product("storage");
        assert_eq!(storage.storage_hold, 1.0);
        assert!((storage.storage_credit - 0.179_674_890_306_261_08).abs() < 1e-12);
        assert_eq!(p.product("instance").cu_hold, 1000.0);
        assert_eq!(p.product("nothing").cu_hold, 0.0);
    }
}
