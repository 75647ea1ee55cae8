//! POSTs the node itself consumes: `balances-update` from balance senders, and credit posts
//! (`aleph_credit_distribution`, `aleph_credit_expense` from credit senders;
//! `aleph_credit_transfer` from anyone, moving their own credits).

use alephd_db::{BalanceRecord, Conn, CreditEntry, ops};
use alephd_message::ErrorCode;
use serde_json::Value;

use super::{BillingConfig, credit_balance};
use crate::{ProcessingError, pipeline::ApplyError};

/// Credit amounts before this time are in the old unit (×10 000 since 2026-02-02).
const CREDIT_PRECISION_CUTOFF: f64 = 1_769_990_400.0;
const CREDIT_PRECISION_MULTIPLIER: i64 = 10_000;

/// A POST the node acts on, as the pipeline sees it.
pub(crate) struct TrustedPost<'a> {
    pub(crate) item_hash: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) owner: &'a str,
    pub(crate) channel: Option<&'a str>,
    pub(crate) post_type: &'a str,
    pub(crate) body: Option<&'a Value>,
    pub(crate) time: f64,
}

/// Applies the balance or credit effects of a POST, if it has any.
pub(crate) async fn apply_trusted_post(
    conn: &mut Conn,
    config: &BillingConfig,
    post: &TrustedPost<'_>,
    now: f64,
) -> Result<(), ApplyError> {
    let Some(body) = post.body else {
        return Ok(());
    };
    match post.post_type {
        "balances-update" if config.is_balance_sender(post.sender) => {
            balances_update(conn, post, body).await
        }
        "aleph_credit_distribution" | "aleph_credit_expense"
            if config.is_credit_sender(post.sender) && on_credit_channel(config, post) =>
        {
            let key = if post.post_type == "aleph_credit_expense" {
                "expense"
            } else {
                "distribution"
            };
            let sign = if key == "expense" { -1 } else { 1 };
            let entries = credit_list(post, body.get(key), sign)?;
            ops::insert_credit_entries(conn, &entries).await?;
            Ok(())
        }
        "aleph_credit_transfer" if on_credit_channel(config, post) => {
            transfer(conn, post, body, now).await
        }
        _ => Ok(()),
    }
}

fn on_credit_channel(config: &BillingConfig, post: &TrustedPost<'_>) -> bool {
    config.credit_channels.is_empty()
        || post
            .channel
            .is_some_and(|c| config.credit_channels.iter().any(|x| x == c))
}

async fn balances_update(
    conn: &mut Conn,
    post: &TrustedPost<'_>,
    body: &Value,
) -> Result<(), ApplyError> {
    let chain = body.get("chain").and_then(Value::as_str).unwrap_or("ETH");
    let dapp = body.get("dapp").and_then(Value::as_str).unwrap_or("");
    let height = body.get("main_height").and_then(Value::as_i64).unwrap_or(0);
    let Some(balances) = body.get("balances").and_then(Value::as_object) else {
        return Err(ProcessingError::format("balances-update needs a balances object").into());
    };
    for (address, amount) in balances {
        let balance = match amount {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s.parse().unwrap_or(0.0),
            _ => continue,
        };
        let record = BalanceRecord {
            address: address.clone(),
            chain: chain.to_owned(),
            dapp: dapp.to_owned(),
            balance,
            height,
            item_hash: post.item_hash.to_owned(),
            time: post.time,
        };
        ops::upsert_balance(conn, &record).await?;
    }
    Ok(())
}

/// `{credits: [{address, amount, expiration?}]}` as signed movements.
fn credit_list(
    post: &TrustedPost<'_>,
    section: Option<&Value>,
    sign: i64,
) -> Result<Vec<CreditEntry>, ApplyError> {
    let credits = section
        .and_then(|s| s.get("credits"))
        .and_then(Value::as_array)
        .ok_or_else(|| ProcessingError::format("credit post needs a credits list"))?;
    let multiplier = if post.time < CREDIT_PRECISION_CUTOFF {
        CREDIT_PRECISION_MULTIPLIER
    } else {
        1
    };
    let mut out = Vec::with_capacity(credits.len());
    for (idx, entry) in credits.iter().enumerate() {
        let address = entry.get("address").and_then(Value::as_str);
        let amount = entry.get("amount").and_then(|a| match a {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let (Some(address), Some(amount)) = (address, amount) else {
            return Err(
                ProcessingError::format("credit entries need an address and an amount").into(),
            );
        };
        let expiration = entry.get("expiration").and_then(Value::as_f64).map(|e| {
            // Milliseconds when it is too large for seconds.
            if e > 1e11 { e / 1000.0 } else { e }
        });
        out.push(CreditEntry {
            item_hash: post.item_hash.to_owned(),
            idx: idx as i64,
            address: address.to_owned(),
            amount: sign * amount.saturating_abs().saturating_mul(multiplier),
            expiration,
            time: post.time,
        });
    }
    Ok(out)
}

async fn transfer(
    conn: &mut Conn,
    post: &TrustedPost<'_>,
    body: &Value,
    now: f64,
) -> Result<(), ApplyError> {
    let mut entries = credit_list(post, body.get("transfer"), 1)?;
    let total: i64 = entries.iter().map(|e| e.amount).sum();
    if entries
        .iter()
        .any(|e| e.address.eq_ignore_ascii_case(post.owner))
    {
        return Err(ProcessingError::format("a credit transfer cannot target its sender").into());
    }
    if credit_balance(conn, post.owner, now).await? < total {
        return Err(ProcessingError::new(
            ErrorCode::CreditInsufficient,
            format!("{} cannot transfer {total} credits", post.owner),
        )
        .into());
    }
    let idx = entries.len() as i64;
    entries.push(CreditEntry {
        item_hash: post.item_hash.to_owned(),
        idx,
        address: post.owner.to_owned(),
        amount: -total,
        expiration: None,
        time: post.time,
    });
    ops::insert_credit_entries(conn, &entries).await?;
    Ok(())
}
