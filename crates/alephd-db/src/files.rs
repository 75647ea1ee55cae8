//! Files pinned by STORE messages, file tags (`ref`), and the VMs (PROGRAM / INSTANCE) with
//! the STOREs they reference.

use crate::{Conn, DbError};

/// An applied STORE message's file.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FilePin {
    /// The STORE message.
    pub item_hash: String,
    pub owner: String,
    /// sha256 hex (storage) or CID (ipfs).
    pub file_hash: String,
    /// `storage` or `ipfs`.
    pub engine: String,
    pub size: i64,
    /// `file` or `directory`.
    pub kind: String,
    /// `content.ref`: the file tag this STORE updates.
    #[sqlx(rename = "ref")]
    pub reference: Option<String>,
    /// `content.time`.
    pub time: f64,
}

const PIN_COLUMNS: &str = "item_hash, owner, file_hash, engine, size, kind, ref, time";

pub async fn insert_file_pin(conn: &mut Conn, p: &FilePin) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO file_pins (item_hash, owner, file_hash, engine, size, kind, ref, time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&p.item_hash)
    .bind(&p.owner)
    .bind(&p.file_hash)
    .bind(&p.engine)
    .bind(p.size)
    .bind(&p.kind)
    .bind(&p.reference)
    .bind(p.time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The file pin of a STORE message.
pub async fn file_pin(conn: &mut Conn, item_hash: &str) -> Result<Option<FilePin>, DbError> {
    let sql = format!("SELECT {PIN_COLUMNS} FROM file_pins WHERE item_hash = $1");
    Ok(sqlx::query_as(&sql)
        .bind(item_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Removes a STORE's pin row; returns it.
pub async fn delete_file_pin(conn: &mut Conn, item_hash: &str) -> Result<Option<FilePin>, DbError> {
    let pin = file_pin(conn, item_hash).await?;
    sqlx::query("DELETE FROM file_pins WHERE item_hash = $1")
        .bind(item_hash)
        .execute(&mut *conn)
        .await?;
    Ok(pin)
}

/// Live STORE pins of a file.
pub async fn pins_of_file(conn: &mut Conn, file_hash: &str) -> Result<Vec<FilePin>, DbError> {
    let sql = format!(
        "SELECT {PIN_COLUMNS} FROM file_pins WHERE file_hash = $1 ORDER BY time, item_hash"
    );
    Ok(sqlx::query_as(&sql)
        .bind(file_hash)
        .fetch_all(&mut *conn)
        .await?)
}

/// The current value of a file tag: the newest STORE (by content time, then hash) that is the
/// tag's original (`item_hash = tag`) or updates it (`ref = tag`), optionally of one owner.
pub async fn tag_latest(
    conn: &mut Conn,
    tag: &str,
    owner: Option<&str>,
) -> Result<Option<FilePin>, DbError> {
    let sql = format!(
        "SELECT {PIN_COLUMNS} FROM file_pins WHERE (ref = $1 OR item_hash = $1) \
         AND ($2 IS NULL OR owner = $2) ORDER BY time DESC, item_hash DESC LIMIT 1"
    );
    Ok(sqlx::query_as(&sql)
        .bind(tag)
        .bind(owner)
        .fetch_optional(&mut *conn)
        .await?)
}

/// A page of an owner's files, newest first or oldest first, and the total count and size.
pub async fn files_of_owner(
    conn: &mut Conn,
    owner: &str,
    newest_first: bool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<FilePin>, i64, i64), DbError> {
    let order = if newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {PIN_COLUMNS} FROM file_pins WHERE owner = $1 \
         ORDER BY time {order}, item_hash {order} LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as(&sql)
        .bind(owner)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let (count, size): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), SUM(size) FROM file_pins WHERE owner = $1")
            .bind(owner)
            .fetch_one(&mut *conn)
            .await?;
    Ok((rows, count, size.unwrap_or(0)))
}

/// An applied PROGRAM or INSTANCE.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VmRecord {
    pub item_hash: String,
    pub owner: String,
    /// `PROGRAM` or `INSTANCE`.
    pub vm_type: String,
    pub allow_amend: bool,
    pub replaces: Option<String>,
    pub persistent: bool,
    /// JSON of `on.message` subscriptions (programs).
    pub on_message: Option<String>,
    pub time: f64,
}

const VM_COLUMNS: &str = "item_hash, owner, vm_type, allow_amend, replaces, persistent, \
    on_message, time";

/// Records a VM and the STOREs it references (`(ref, use_latest)`).
pub async fn insert_vm(
    conn: &mut Conn,
    vm: &VmRecord,
    refs: &[(String, bool)],
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO vms (item_hash, owner, vm_type, allow_amend, replaces, persistent, \
         on_message, time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&vm.item_hash)
    .bind(&vm.owner)
    .bind(&vm.vm_type)
    .bind(vm.allow_amend)
    .bind(&vm.replaces)
    .bind(vm.persistent)
    .bind(&vm.on_message)
    .bind(vm.time)
    .execute(&mut *conn)
    .await?;
    for (reference, use_latest) in refs {
        sqlx::query(
            "INSERT INTO vm_refs (vm_hash, ref, use_latest) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&vm.item_hash)
        .bind(reference)
        .bind(use_latest)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn vm(conn: &mut Conn, item_hash: &str) -> Result<Option<VmRecord>, DbError> {
    let sql = format!("SELECT {VM_COLUMNS} FROM vms WHERE item_hash = $1");
    Ok(sqlx::query_as(&sql)
        .bind(item_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn delete_vm(conn: &mut Conn, item_hash: &str) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM vms WHERE item_hash = $1",
        "DELETE FROM vm_refs WHERE vm_hash = $1",
    ] {
        sqlx::query(sql).bind(item_hash).execute(&mut *conn).await?;
    }
    Ok(())
}

/// VMs that reference `reference` (a STORE hash, or a tag when `use_latest`).
pub async fn vms_using(conn: &mut Conn, reference: &str) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT vm_hash FROM vm_refs WHERE ref = $1 ORDER BY vm_hash")
            .bind(reference)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Messages that `replaces` a VM, newest first.
pub async fn vm_versions(conn: &mut Conn, original: &str) -> Result<Vec<VmRecord>, DbError> {
    let sql = format!(
        "SELECT {VM_COLUMNS} FROM vms WHERE replaces = $1 ORDER BY time DESC, item_hash DESC"
    );
    Ok(sqlx::query_as(&sql)
        .bind(original)
        .fetch_all(&mut *conn)
        .await?)
}

/// Programs and instances with `on.persistent = true`.
pub async fn persistent_vms(conn: &mut Conn) -> Result<Vec<VmRecord>, DbError> {
    let sql =
        format!("SELECT {VM_COLUMNS} FROM vms WHERE persistent = TRUE ORDER BY time, item_hash");
    Ok(sqlx::query_as(&sql).fetch_all(&mut *conn).await?)
}

/// Programs with `on.message` subscriptions.
pub async fn programs_on_message(conn: &mut Conn) -> Result<Vec<VmRecord>, DbError> {
    let sql = format!(
        "SELECT {VM_COLUMNS} FROM vms WHERE on_message IS NOT NULL ORDER BY time, item_hash"
    );
    Ok(sqlx::query_as(&sql).fetch_all(&mut *conn).await?)
}
