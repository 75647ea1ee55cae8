//! A small Ethereum JSON-RPC client over HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// Largest JSON-RPC answer read (a `eth_getLogs` over a wide range of busy blocks is big).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("rpc error {code}: {message}")]
    Node { code: i64, message: String },
    #[error("malformed response to {method}: {detail}")]
    Malformed {
        method: &'static str,
        detail: String,
    },
}

impl RpcError {
    /// Whether the node refused a log query for its size (shrink the block range).
    pub fn is_too_many_results(&self) -> bool {
        match self {
            Self::Node { code, message } => {
                let m = message.to_ascii_lowercase();
                *code == -32005
                    || m.contains("too many")
                    || m.contains("limit exceeded")
                    || m.contains("block range")
                    || m.contains("range is too")
            }
            _ => false,
        }
    }
}

/// One raw log entry.
#[derive(Debug, Clone)]
pub struct RawLog {
    pub topic0: Option<[u8; 32]>,
    /// Every topic, the first one included (indexed event arguments follow it).
    pub topics: Vec<[u8; 32]>,
    pub data: Vec<u8>,
    pub block_number: u64,
    pub log_index: u64,
    pub tx_hash: String,
    pub removed: bool,
}

/// What a mined transaction's receipt tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub block: u64,
    /// `status` 1 (or absent, before Byzantium).
    pub success: bool,
    /// Set for a contract creation.
    pub contract_address: Option<[u8; 20]>,
}

#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    next_id: AtomicU64,
}

pub(crate) fn parse_quantity(v: &Value, method: &'static str) -> Result<u64, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::Malformed {
        method,
        detail: format!("not a quantity: {v}"),
    })?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| RpcError::Malformed {
        method,
        detail: format!("{s}: {e}"),
    })
}

fn parse_quantity_u128(v: &Value, method: &'static str) -> Result<u128, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::Malformed {
        method,
        detail: format!("not a quantity: {v}"),
    })?;
    u128::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| RpcError::Malformed {
        method,
        detail: format!("{s}: {e}"),
    })
}

fn hex_bytes(v: &Value, method: &'static str) -> Result<Vec<u8>, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::Malformed {
        method,
        detail: "not hex".into(),
    })?;
    hex::decode(s.trim_start_matches("0x")).map_err(|e| RpcError::Malformed {
        method,
        detail: e.to_string(),
    })
}

impl RpcClient {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RpcError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RpcError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            url: url.to_owned(),
            next_id: AtomicU64::new(1),
        })
    }

    pub async fn call(&self, method: &'static str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| RpcError::Transport(format!("{method}: {e}")))?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| RpcError::Transport(format!("{method}: {e}")))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(RpcError::Transport(format!(
                    "{method}: response over {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            RpcError::Transport(format!("{method}: HTTP {status}, not JSON-RPC: {text}"))
        })?;
        if v.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(RpcError::Malformed {
                method,
                detail: format!("answer to another request (id {})", v["id"]),
            });
        }
        if let Some(err) = v.get("error") {
            return Err(RpcError::Node {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            });
        }
        v.get("result").cloned().ok_or(RpcError::Malformed {
            method,
            detail: "no result".into(),
        })
    }

    pub async fn block_number(&self) -> Result<u64, RpcError> {
        parse_quantity(
            &self.call("eth_blockNumber", json!([])).await?,
            "eth_blockNumber",
        )
    }

    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        parse_quantity(&self.call("eth_chainId", json!([])).await?, "eth_chainId")
    }

    pub async fn gas_price(&self) -> Result<u128, RpcError> {
        parse_quantity_u128(&self.call("eth_gasPrice", json!([])).await?, "eth_gasPrice")
    }

    pub async fn nonce(&self, addr: &[u8; 20]) -> Result<u64, RpcError> {
        let v = self
            .call(
                "eth_getTransactionCount",
                json!([crate::abi::address_hex(addr), "pending"]),
            )
            .await?;
        parse_quantity(&v, "eth_getTransactionCount")
    }

    pub async fn estimate_gas(
        &self,
        from: &[u8; 20],
        to: Option<&[u8; 20]>,
        data: &[u8],
    ) -> Result<u64, RpcError> {
        let mut call = json!({"from": crate::abi::address_hex(from),
            "data": format!("0x{}", hex::encode(data))});
        if let Some(to) = to {
            call["to"] = json!(crate::abi::address_hex(to));
        }
        parse_quantity(
            &self.call("eth_estimateGas", json!([call])).await?,
            "eth_estimateGas",
        )
    }

    pub async fn send_raw(&self, raw: &[u8]) -> Result<String, RpcError> {
        let v = self
            .call(
                "eth_sendRawTransaction",
                json!([format!("0x{}", hex::encode(raw))]),
            )
            .await?;
        v.as_str().map(str::to_owned).ok_or(RpcError::Malformed {
            method: "eth_sendRawTransaction",
            detail: v.to_string(),
        })
    }

    /// The receipt once the transaction is mined, `None` before.
    pub async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, RpcError> {
        const M: &str = "eth_getTransactionReceipt";
        let v = self.call(M, json!([tx_hash])).await?;
        if v.is_null() {
            return Ok(None);
        }
        let block = parse_quantity(&v["blockNumber"], M)?;
        let success = v.get("status").map(|s| parse_quantity(s, M)).transpose()? != Some(0);
        let contract_address = v
            .get("contractAddress")
            .and_then(Value::as_str)
            .and_then(crate::abi::parse_address);
        Ok(Some(Receipt {
            block,
            success,
            contract_address,
        }))
    }

    pub async fn block_time(&self, height: u64) -> Result<u64, RpcError> {
        let v = self
            .call(
                "eth_getBlockByNumber",
                json!([format!("0x{height:x}"), false]),
            )
            .await?;
        parse_quantity(&v["timestamp"], "eth_getBlockByNumber")
    }

    pub async fn get_logs(
        &self,
        address: &[u8; 20],
        topics: &[[u8; 32]],
        from: u64,
        to: u64,
    ) -> Result<Vec<RawLog>, RpcError> {
        let t: Vec<String> = topics
            .iter()
            .map(|t| format!("0x{}", hex::encode(t)))
            .collect();
        let filter = json!({"address": crate::abi::address_hex(address), "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"), "topics": [t]});
        let v = self.call("eth_getLogs", json!([filter])).await?;
        let arr = v.as_array().ok_or(RpcError::Malformed {
            method: "eth_getLogs",
            detail: "not an array".into(),
        })?;
        let mut logs = Vec::with_capacity(arr.len());
        for l in arr {
            let mut topics = Vec::new();
            for t in l["topics"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .take(4)
            {
                let b = hex_bytes(t, "eth_getLogs")?;
                topics.push(<[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
                    RpcError::Malformed {
                        method: "eth_getLogs",
                        detail: "topic is not 32 bytes".into(),
                    }
                })?);
            }
            logs.push(RawLog {
                topic0: topics.first().copied(),
                topics,
                data: hex_bytes(&l["data"], "eth_getLogs")?,
                block_number: parse_quantity(&l["blockNumber"], "eth_getLogs")?,
                log_index: parse_quantity(&l["logIndex"], "eth_getLogs")?,
                tx_hash: l["transactionHash"]
                    .as_str()
                    .ok_or(RpcError::Malformed {
                        method: "eth_getLogs",
                        detail: "log without transactionHash".into(),
                    })?
                    .to_owned(),
                removed: l["removed"].as_bool().unwrap_or(false),
            });
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        Ok(logs)
    }

    /// Logs of `address` from `from` up to at most `safe`, in one range of at most `*range`
    /// blocks; `*range` is halved for as long as the node refuses the query for its size.
    /// Returns the last block covered and the logs.
    pub async fn logs_from(
        &self,
        address: &[u8; 20],
        topics: &[[u8; 32]],
        from: u64,
        safe: u64,
        range: &mut u64,
    ) -> Result<(u64, Vec<RawLog>), RpcError> {
        loop {
            let to = safe.min(from.saturating_add(range.saturating_sub(1)));
            match self.get_logs(address, topics, from, to).await {
                Ok(logs) => return Ok((to, logs)),
                Err(e) if e.is_too_many_results() && *range > 1 => {
                    *range = (*range / 2).max(1);
                    tracing::info!(from, to, range = *range, error = %e, "chain: node refused the log range, shrinking it");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `eth_call` of `data` on `to` at block `height`.
    pub async fn call_at(
        &self,
        to: &[u8; 20],
        data: &[u8],
        height: u64,
    ) -> Result<Vec<u8>, RpcError> {
        let call =
            json!({"to": crate::abi::address_hex(to), "data": format!("0x{}", hex::encode(data))});
        let v = self
            .call("eth_call", json!([call, format!("0x{height:x}")]))
            .await?;
        hex_bytes(&v, "eth_call")
    }
}
