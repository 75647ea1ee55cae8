//! Prices, balances and costs: `POST /api/v0/price/estimate`, `GET /api/v0/price/{hash}`,
//! `GET /api/v0/addresses/{address}/balance`, `/api/v0/balances`, `/api/v0/credit_balances`
//! and `/api/v0/costs`, in the shapes aleph-sdk-python and the `aleph` CLI parse.

use std::collections::BTreeMap;

use alephd_db::ops;
use alephd_processor::billing::{self, Estimate, EstimateError, format_cost};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::{
    ApiState,
    core::{ApiError, Params, iso8601},
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v0/price/estimate", post(estimate))
        .route("/api/v0/price/{hash}", get(price))
        .route("/api/v0/addresses/{address}/balance", get(balance))
        .route("/api/v0/balances", get(balances))
        .route("/api/v0/credit_balances", get(credit_balances))
        .route("/api/v0/costs", get(costs))
}

/// `{"message": {...}}`: the cost the message would have (signature not checked).
async fn estimate(State(state): State<ApiState>, body: Bytes) -> Result<Response, ApiError> {
    let core = state.core()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Unprocessable(format!("request body is not valid JSON: {e}")))?;
    let message = body
        .get("message")
        .ok_or_else(|| ApiError::Unprocessable("field \"message\" is required".into()))?;
    let mut conn = core.read().await?;
    match billing::estimate(&mut conn, core.processor.billing(), message).await {
        Ok(estimate) => Ok(Json(estimate.to_json()).into_response()),
        Err(EstimateError::Invalid(reason)) => Err(ApiError::Unprocessable(reason)),
        Err(EstimateError::Db(e)) => Err(e.into()),
    }
}

/// The recorded cost of an applied STORE, PROGRAM or INSTANCE.
async fn price(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    alephd_message::ItemHash::parse(&hash).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut conn = state.core()?.read().await?;
    let status = ops::status(&mut conn, &hash).await?;
    if !status.is_some_and(|s| s.status.is_live()) {
        return Err(ApiError::NotFound(format!("no live message {hash}")));
    }
    let message = ops::message(&mut conn, &hash)
        .await?
        .ok_or(ApiError::Internal)?;
    if !matches!(
        message.message_type.as_str(),
        "STORE" | "PROGRAM" | "INSTANCE"
    ) {
        return Err(ApiError::BadRequest(format!(
            "a {} message has no price",
            message.message_type
        )));
    }
    let lines = ops::costs_of(&mut conn, &hash).await?;
    let payment = message.payment_type.unwrap_or_else(|| "hold".into());
    Ok(Json(Estimate::new(payment, lines).to_json()).into_response())
}

async fn balance(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let chain = params.get(&["chain"]).map(str::to_owned);
    let with_credits = params.bool(&["include_credit_details"])?.unwrap_or(false);
    let mut conn = state.core()?.read().await?;
    let lines = ops::balances_of(&mut conn, &address, chain.as_deref()).await?;
    let mut details: BTreeMap<String, f64> = BTreeMap::new();
    for line in &lines {
        *details.entry(line.chain.clone()).or_default() += line.balance;
    }
    let total: f64 = details.values().sum();
    let locked = ops::owner_cost_total(&mut conn, &address, "hold").await?;
    let now = alephd_processor::now();
    let entries = ops::credit_entries_of(&mut conn, &address, now).await?;
    let credits = entries.iter().map(|e| e.amount).sum::<i64>().max(0);
    let mut body = json!({
        "address": address,
        "balance": total,
        "details": details,
        "locked_amount": locked,
        "credit_balance": credits,
    });
    if with_credits {
        let expiring: Vec<Value> = entries
            .iter()
            .filter(|e| e.amount > 0)
            .map(|e| json!({"expiration_date": e.expiration.map(iso8601), "amount": e.amount}))
            .collect();
        body["credit_balance_details"] = json!(expiring);
    }
    Ok(Json(body).into_response())
}

async fn balances(
    State(state): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let chains = params.list(&["chains"])?;
    let min_balance = params.float(&["min_balance"])?.unwrap_or(0.0);
    let (per_page, page) = params.pagination(100, Some(10_000))?;
    let mut conn = state.core()?.read().await?;
    let (rows, total) = ops::list_balances(
        &mut conn,
        &chains,
        min_balance,
        per_page,
        per_page.saturating_mul(page - 1),
    )
    .await?;
    let chain = (chains.len() == 1).then(|| chains[0].clone());
    let balances: Vec<Value> = rows
        .iter()
        .map(|(address, balance)| json!({"address": address, "balance": balance, "chain": chain}))
        .collect();
    Ok(Json(json!({
        "balances": balances, "pagination_page": page, "pagination_total": total,
        "pagination_per_page": per_page, "pagination_item": "balances",
    }))
    .into_response())
}

async fn credit_balances(
    State(state): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let (per_page, page) = params.pagination(100, Some(10_000))?;
    let mut conn = state.core()?.read().await?;
    let (rows, total) = ops::list_credit_balances(
        &mut conn,
        alephd_processor::now(),
        per_page,
        per_page.saturating_mul(page - 1),
    )
    .await?;
    let balances: Vec<Value> = rows
        .iter()
        .map(|(address, credits)| json!({"address": address, "credits": credits}))
        .collect();
    Ok(Json(json!({
        "credit_balances": balances, "pagination_page": page, "pagination_total": total,
        "pagination_per_page": per_page, "pagination_item": "credit_balances",
    }))
    .into_response())
}

async fn costs(
    State(state): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(q);
    let address = params.get(&["address", "addresses"]).map(str::to_owned);
    let payment = params.get(&["payment_type"]).map(str::to_owned);
    let (per_page, page) = params.pagination(100, Some(10_000))?;
    let mut conn = state.core()?.read().await?;
    let lines = ops::list_costs(
        &mut conn,
        address.as_deref(),
        payment.as_deref(),
        per_page,
        per_page.saturating_mul(page - 1),
    )
    .await?;
    let costs: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "item_hash": l.item_hash, "owner": l.owner, "type": l.cost_type, "name": l.name,
                "ref": l.reference, "payment_type": l.payment_type,
                "cost_hold": format_cost(l.cost_hold), "cost_stream": format_cost(l.cost_stream),
                "cost_credit": format_cost(l.cost_credit),
            })
        })
        .collect();
    let sum = |f: fn(&alephd_db::CostLine) -> f64| format_cost(lines.iter().map(f).sum());
    Ok(Json(json!({
        "costs": costs,
        "summary": {
            "total_cost_hold": sum(|l| l.cost_hold),
            "total_cost_stream": sum(|l| l.cost_stream),
            "total_cost_credit": sum(|l| l.cost_credit),
        },
        "pagination_page": page, "pagination_per_page": per_page, "pagination_item": "costs",
    }))
    .into_response())
}
