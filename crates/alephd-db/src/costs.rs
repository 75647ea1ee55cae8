//! Costs of live resources, token balances, credit movements, and resources being removed
//! because their owner can no longer pay.

use crate::{Conn, DbError};

/// One component of a resource's cost (pyaleph's `account_costs` line).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CostLine {
    pub item_hash: String,
    pub owner: String,
    /// `EXECUTION`, `STORAGE`, `EXECUTION_VOLUME_…`.
    pub cost_type: String,
    pub name: String,
    #[sqlx(rename = "ref")]
    pub reference: Option<String>,
    /// `hold`, `superfluid` or `credit`.
    pub payment_type: String,
    /// Tokens held.
    pub cost_hold: f64,
    /// Tokens per second streamed.
    pub cost_stream: f64,
    /// Credits per second.
    pub cost_credit: f64,
}

const COST_COLUMNS: &str = "item_hash, owner, cost_type, name, ref, payment_type, cost_hold, \
    cost_stream, cost_credit";

pub async fn insert_costs(conn: &mut Conn, lines: &[CostLine]) -> Result<(), DbError> {
    for c in lines {
        sqlx::query(
            "INSERT INTO message_costs (item_hash, owner, cost_type, name, ref, payment_type, \
             cost_hold, cost_stream, cost_credit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (item_hash, cost_type, name) DO UPDATE SET cost_hold = excluded.cost_hold, \
             cost_stream = excluded.cost_stream, cost_credit = excluded.cost_credit",
        )
        .bind(&c.item_hash)
        .bind(&c.owner)
        .bind(&c.cost_type)
        .bind(&c.name)
        .bind(&c.reference)
        .bind(&c.payment_type)
        .bind(c.cost_hold)
        .bind(c.cost_stream)
        .bind(c.cost_credit)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn costs_of(conn: &mut Conn, item_hash: &str) -> Result<Vec<CostLine>, DbError> {
    let sql = format!(
        "SELECT {COST_COLUMNS} FROM message_costs WHERE item_hash = $1 ORDER BY cost_type, name"
    );
    Ok(sqlx::query_as(&sql)
        .bind(item_hash)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn delete_costs(conn: &mut Conn, item_hash: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM message_costs WHERE item_hash = $1")
        .bind(item_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sum of an owner's costs paid with `payment_type` (hold: tokens; credit: per second).
pub async fn owner_cost_total(
    conn: &mut Conn,
    owner: &str,
    payment_type: &str,
) -> Result<f64, DbError> {
    let column = if payment_type == "credit" {
        "cost_credit"
    } else {
        "cost_hold"
    };
    let sql = format!(
        "SELECT COALESCE(SUM({column}), 0.0) FROM message_costs \
         WHERE lower(owner) = lower($1) AND payment_type = $2"
    );
    let (total,): (f64,) = sqlx::query_as(&sql)
        .bind(owner)
        .bind(payment_type)
        .fetch_one(&mut *conn)
        .await?;
    Ok(total)
}

/// Per-resource totals of one owner and payment type, oldest resource first (the order in
/// which a balance is spent by the periodic check): `(item_hash, cost, time)`.
pub async fn owner_resources(
    conn: &mut Conn,
    owner: &str,
    payment_type: &str,
) -> Result<Vec<(String, f64, f64)>, DbError> {
    let column = if payment_type == "credit" {
        "cost_credit"
    } else {
        "cost_hold"
    };
    let sql = format!(
        "SELECT c.item_hash, SUM(c.{column}), COALESCE(m.time, 0.0) FROM message_costs c \
         LEFT JOIN messages m ON m.item_hash = c.item_hash \
         WHERE c.owner = $1 AND c.payment_type = $2 \
         GROUP BY c.item_hash ORDER BY COALESCE(m.time, 0.0), c.item_hash"
    );
    Ok(sqlx::query_as(&sql)
        .bind(owner)
        .bind(payment_type)
        .fetch_all(&mut *conn)
        .await?)
}

/// Owners with costs of `payment_type`.
pub async fn cost_owners(conn: &mut Conn, payment_type: &str) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT owner FROM message_costs WHERE payment_type = $1 ORDER BY owner",
    )
    .bind(payment_type)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A page of cost lines, optionally of one owner / payment type.
pub async fn list_costs(
    conn: &mut Conn,
    owner: Option<&str>,
    payment_type: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<CostLine>, DbError> {
    let sql = format!(
        "SELECT {COST_COLUMNS} FROM message_costs WHERE ($1 IS NULL OR lower(owner) = lower($1)) \
         AND ($2 IS NULL OR payment_type = $2) ORDER BY owner, item_hash, cost_type, name \
         LIMIT $3 OFFSET $4"
    );
    Ok(sqlx::query_as(&sql)
        .bind(owner)
        .bind(payment_type)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?)
}

/// One balance line.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BalanceRecord {
    pub address: String,
    pub chain: String,
    pub dapp: String,
    pub balance: f64,
    pub height: i64,
    pub item_hash: String,
    pub time: f64,
}

/// Sets a balance unless a newer update (by height, then time, then hash) already set it.
pub async fn upsert_balance(conn: &mut Conn, b: &BalanceRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO balances (address, chain, dapp, balance, height, item_hash, time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (address, chain, dapp) DO UPDATE SET \
         balance = excluded.balance, height = excluded.height, item_hash = excluded.item_hash, \
         time = excluded.time WHERE (excluded.height, excluded.time, excluded.item_hash) > \
         (balances.height, balances.time, balances.item_hash)",
    )
    .bind(&b.address)
    .bind(&b.chain)
    .bind(&b.dapp)
    .bind(b.balance)
    .bind(b.height)
    .bind(&b.item_hash)
    .bind(b.time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Balance lines of an address (case-insensitive), optionally of one chain.
pub async fn balances_of(
    conn: &mut Conn,
    address: &str,
    chain: Option<&str>,
) -> Result<Vec<BalanceRecord>, DbError> {
    Ok(sqlx::query_as(
        "SELECT address, chain, dapp, balance, height, item_hash, time FROM balances \
         WHERE lower(address) = lower($1) AND ($2 IS NULL OR chain = $2) ORDER BY chain, dapp",
    )
    .bind(address)
    .bind(chain)
    .fetch_all(&mut *conn)
    .await?)
}

/// Total balance per address (over chains and dapps), paginated, filtered.
pub async fn list_balances(
    conn: &mut Conn,
    chains: &[String],
    min_balance: f64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(String, f64)>, i64), DbError> {
    let chain_filter = if chains.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = chains
            .iter()
            .map(|c| format!("'{}'", c.replace('\'', "''")))
            .collect();
        format!("WHERE chain IN ({})", list.join(","))
    };
    let sql = format!(
        "SELECT address, SUM(balance) AS total FROM balances {chain_filter} GROUP BY address \
         HAVING SUM(balance) >= $1 ORDER BY address LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as(&sql)
        .bind(min_balance)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let count_sql = format!(
        "SELECT COUNT(*) FROM (SELECT address FROM balances {chain_filter} GROUP BY address \
         HAVING SUM(balance) >= $1)"
    );
    let (total,): (i64,) = sqlx::query_as(&count_sql)
        .bind(min_balance)
        .fetch_one(&mut *conn)
        .await?;
    Ok((rows, total))
}

/// One credit movement.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CreditEntry {
    pub item_hash: String,
    pub idx: i64,
    pub address: String,
    pub amount: i64,
    pub expiration: Option<f64>,
    pub time: f64,
}

pub async fn insert_credit_entries(
    conn: &mut Conn,
    entries: &[CreditEntry],
) -> Result<(), DbError> {
    for e in entries {
        sqlx::query(
            "INSERT INTO credit_entries (item_hash, idx, address, amount, expiration, time) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&e.item_hash)
        .bind(e.idx)
        .bind(&e.address)
        .bind(e.amount)
        .bind(e.expiration)
        .bind(e.time)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Unexpired credit movements of an address at `now`.
pub async fn credit_entries_of(
    conn: &mut Conn,
    address: &str,
    now: f64,
) -> Result<Vec<CreditEntry>, DbError> {
    Ok(sqlx::query_as(
        "SELECT item_hash, idx, address, amount, expiration, time FROM credit_entries \
         WHERE lower(address) = lower($1) AND (expiration IS NULL OR expiration > $2) \
         ORDER BY time, item_hash, idx",
    )
    .bind(address)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// Credit balance per address at `now`, paginated: `(address, credits)`, and the count.
pub async fn list_credit_balances(
    conn: &mut Conn,
    now: f64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(String, i64)>, i64), DbError> {
    let rows = sqlx::query_as(
        "SELECT address, SUM(amount) FROM credit_entries WHERE expiration IS NULL \
         OR expiration > $1 GROUP BY address ORDER BY address LIMIT $2 OFFSET $3",
    )
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT address) FROM credit_entries WHERE expiration IS NULL \
         OR expiration > $1",
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows, total))
}

/// A resource in `removing`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Removal {
    pub item_hash: String,
    pub owner: String,
    pub reason: String,
    pub since: f64,
}

pub async fn insert_removal(conn: &mut Conn, r: &Removal) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO removals (item_hash, owner, reason, since) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&r.item_hash)
    .bind(&r.owner)
    .bind(&r.reason)
    .bind(r.since)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn removal(conn: &mut Conn, item_hash: &str) -> Result<Option<Removal>, DbError> {
    Ok(
        sqlx::query_as("SELECT item_hash, owner, reason, since FROM removals WHERE item_hash = $1")
            .bind(item_hash)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn delete_removal(conn: &mut Conn, item_hash: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM removals WHERE item_hash = $1")
        .bind(item_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removals that started at or before `deadline`.
pub async fn removals_due(conn: &mut Conn, deadline: f64) -> Result<Vec<Removal>, DbError> {
    Ok(sqlx::query_as(
        "SELECT item_hash, owner, reason, since FROM removals WHERE since <= $1 \
         ORDER BY since, item_hash",
    )
    .bind(deadline)
    .fetch_all(&mut *conn)
    .await?)
}
