//! Columns a migration adds but only the program can fill (their value is computed in Rust),
//! filled once, the first time a migrated database is opened. A migration that needs one
//! inserts its name into `pending_backfill`; the row goes when the work is done, in the same
//! transaction as the last batch, so an interrupted backfill resumes where it stopped.

use sqlx::AnyPool;
use sqlx::{AssertSqlSafe, Row};

use crate::Backend;
use crate::StoreError;
use crate::sql::Params;

const BATCH: usize = 2_000;

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let pending: Vec<String> = sqlx::query("SELECT name FROM pending_backfill")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;
    for name in pending {
        match name.as_str() {
            "person.name_key" => person_name_key(pool, backend).await?,
            // Written by a newer program than this one: leave it for that program.
            _ => tracing::warn!(backfill = %name, "unknown pending backfill left alone"),
        }
    }
    Ok(())
}

/// `person.name_key` (migration 0015) for the persons imported before it.
async fn person_name_key(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut after = (String::new(), String::new());
    let mut total = 0usize;
    loop {
        let rows = sqlx::query(
            "SELECT municipality_code, address_number, family_name, given_name FROM person \
             WHERE (municipality_code, address_number) > ($1, $2) \
             ORDER BY municipality_code, address_number LIMIT $3",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(BATCH as i64)
        .fetch_all(pool)
        .await?;
        let mut tx = crate::begin_write(pool, backend).await?;
        let mut keyed = Vec::with_capacity(rows.len());
        for r in &rows {
            let tenant: String = r.try_get("municipality_code")?;
            let address: String = r.try_get("address_number")?;
            let family: String = r.try_get("family_name")?;
            let given: String = r.try_get("given_name")?;
            let mut key = sesshu_domain::name_key(&family);
            key.push_str(&sesshu_domain::name_key(&given));
            keyed.push((tenant, address, key));
        }
        for chunk in keyed.chunks(500) {
            // One statement per chunk; both backends name a VALUES list's columns column1, column2, …
            let mut p = Params::new(backend);
            let values: Vec<String> = chunk
                .iter()
                .map(|_| format!("({}, {}, {})", p.next(), p.next(), p.next()))
                .collect();
            let sql = format!(
                "UPDATE person SET name_key = v.column1 FROM (VALUES {}) AS v \
                 WHERE person.municipality_code = v.column2 AND person.address_number = v.column3",
                values.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (tenant, address, key) in chunk {
                q = q
                    .bind(key.as_str())
                    .bind(tenant.as_str())
                    .bind(address.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        total += rows.len();
        let done = rows.len() < BATCH;
        if done {
            sqlx::query("DELETE FROM pending_backfill WHERE name = 'person.name_key'")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if done {
            tracing::info!(persons = total, "name search keys filled in");
            return Ok(());
        }
        if let Some((tenant, address, _)) = keyed.pop() {
            after = (tenant, address);
        }
    }
}
