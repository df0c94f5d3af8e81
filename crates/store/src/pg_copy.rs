//! The first load of a municipality's register on PostgreSQL, by `COPY`.
//!
//! As on SQLite (`bulk_load.rs`), an import into an empty register looks nothing up: every row
//! is an insert. Through sqlx's `Any` driver each value is converted twice and every batch is a
//! multi-row `INSERT` the server parses and plans; here the rows stream as `COPY … FROM STDIN`
//! text on one connection of PostgreSQL's own driver, and when no municipality has any person
//! the secondary indexes of `person` are dropped inside the transaction and built again before
//! it commits (PostgreSQL's DDL is transactional: a refused file rolls the indexes back too).
//!
//! The rows, the rebuilt indexes, the import's record and its row errors commit in one
//! transaction or not at all; from the check that the municipality is empty to the commit no
//! other first load of it can slip in between (see [`CopyLoad::begin`]).

use sesshu_formats::RowError;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::{AssertSqlSafe, Transaction};

use crate::StoreError;
use crate::import::{
    IMPORT_RUN_COLUMNS, Prepared, ROW_ERROR_NAMES, RunRecord, person_values, row_error_values,
    run_values,
};
use crate::person::CONTENT_COLUMNS;
use crate::sql::Value;

/// Rows are sent in `COPY`s of about this many bytes: one per batch of the reader (500 rows)
/// spent a round trip and a statement start every 500 rows.
const FLUSH_BYTES: usize = 8 << 20;

/// An open load: the transaction is held until [`CopyLoad::finish`] or drop (which rolls back).
pub(crate) struct CopyLoad {
    tx: Transaction<'static, Postgres>,
    /// The `CREATE INDEX` statements of the indexes dropped for the load.
    dropped: Vec<String>,
    /// Rows not yet sent, in `COPY`'s text format.
    pending: String,
}

impl CopyLoad {
    /// Checks, under a lock, that `tenant` has no person. `None` when it has (an import got in
    /// first): the caller goes the usual way. Into an empty register the whole table is locked
    /// against other writers (its indexes are about to be dropped); beside other municipalities
    /// only this municipality's first loads wait for each other, and the rest of the register
    /// stays open to writes.
    pub(crate) async fn begin(pool: &PgPool, tenant: &str) -> Result<Option<Self>, StoreError> {
        let mut tx = pool.begin().await?;
        let mut anyone: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM person)")
            .fetch_one(&mut *tx)
            .await?;
        if anyone {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('sesshu first load ' || $1))")
                .bind(tenant)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("LOCK TABLE person IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            // Another import may have committed between the look and the lock.
            anyone = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM person)")
                .fetch_one(&mut *tx)
                .await?;
        }
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM person WHERE municipality_code = $1)")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?;
        if taken {
            return Ok(None);
        }
        let mut dropped = Vec::new();
        if !anyone {
            // The secondary indexes only: the primary key is also the table's constraint.
            let indexes: Vec<(String, String)> = sqlx::query_as(
                "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid = 'person'::regclass AND NOT i.indisprimary",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (name, definition) in indexes {
                sqlx::query(AssertSqlSafe(format!(
                    "DROP INDEX \"{}\"",
                    name.replace('"', "\"\"")
                )))
                .execute(&mut *tx)
                .await?;
                dropped.push(definition);
            }
        }
        Ok(Some(Self {
            tx,
            dropped,
            pending: String::new(),
        }))
    }

    /// Adds a batch of new persons (version 1), sent to `person` once enough have gathered.
    pub(crate) async fn insert(
        &mut self,
        tenant: &str,
        import_id: &str,
        now: &str,
        records: Vec<Prepared>,
    ) -> Result<(), StoreError> {
        for p in records {
            push_row(
                &mut self.pending,
                &person_values(tenant, p, 1, now, import_id),
            );
        }
        if self.pending.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending);
        copy(
            &mut self.tx,
            &format!(
                "person (municipality_code, address_number, {CONTENT_COLUMNS}, name_key, \
                 version, updated_at, import_id)"
            ),
            text,
        )
        .await
    }

    /// Builds the dropped indexes again, records the import and commits.
    pub(crate) async fn finish(
        mut self,
        tenant: &str,
        run: &RunRecord<'_>,
        errors: &[RowError],
    ) -> Result<(), StoreError> {
        self.flush().await?;
        for definition in &self.dropped {
            sqlx::query(AssertSqlSafe(definition.clone()))
                .execute(&mut *self.tx)
                .await?;
        }
        let mut text = String::new();
        push_row(&mut text, &run_values(tenant, run));
        copy(
            &mut self.tx,
            &format!("import_run ({IMPORT_RUN_COLUMNS})"),
            text,
        )
        .await?;
        if !errors.is_empty() {
            let mut text = String::new();
            for (seq, e) in errors.iter().enumerate() {
                push_row(&mut text, &row_error_values(tenant, run.import_id, seq, e));
            }
            copy(
                &mut self.tx,
                &format!("import_row_error ({ROW_ERROR_NAMES})"),
                text,
            )
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Undoes everything: the rows and the dropped indexes.
    pub(crate) async fn abandon(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

async fn copy(
    tx: &mut Transaction<'static, Postgres>,
    target: &str,
    text: String,
) -> Result<(), StoreError> {
    let mut sink = tx.copy_in_raw(&format!("COPY {target} FROM STDIN")).await?;
    sink.send(text.into_bytes()).await?;
    sink.finish().await?;
    Ok(())
}

/// One row of `COPY`'s text format: tab-separated, `\N` for NULL, backslash escapes, and
/// `bytea` in hex (`\\x…`, the backslash itself escaped).
fn push_row(out: &mut String, values: &[Value]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match v {
            Value::Text(None) | Value::Int(None) | Value::Blob(None) => out.push_str("\\N"),
            Value::Int(Some(n)) => out.push_str(&n.to_string()),
            Value::Blob(Some(b)) => {
                out.push_str("\\\\x");
                out.push_str(&hex::encode(b));
            }
            Value::Text(Some(s)) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_escaped_as_copy_reads_it() {
        let mut out = String::new();
        push_row(
            &mut out,
            &[
                Value::text("a\tb\\c\nd"),
                Value::Text(None),
                Value::int(7),
                Value::Blob(Some(vec![0x00, 0xff])),
            ],
        );
        assert_eq!(out, "a\\tb\\\\c\\nd\t\\N\t7\t\\\\x00ff\n");
    }
}
