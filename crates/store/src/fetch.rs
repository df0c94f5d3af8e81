//! Point reads (a person, their household, doses, a session): the reads behind every page.
//!
//! On PostgreSQL they go through the pool. On a SQLite file they go to a read-only rusqlite
//! connection and run on the calling thread: through sqlx each statement crosses to the
//! connection's worker thread and every row comes back value by value through a channel, which
//! cost more than SQLite's own work (a page made ten such trips; BENCHMARKS.md, issue 5). A
//! point read on an index takes tens of microseconds and a WAL reader never waits for a writer,
//! so running it where the request is costs less than any hand-off. Bulk reads keep to
//! `sqlite_file.rs`, writes to the pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::columns::{Column, Columns};
use crate::sql::Value;
use crate::{Store, StoreError};

/// Idle connections kept: about one per thread that serves requests.
const KEEP_IDLE: usize = 8;

/// Read-only connections of one SQLite file, taken and given back per read.
#[derive(Debug, Clone)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Arc::default(),
        }
    }

    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match taken {
            Some(c) => c,
            None => {
                let c = crate::sqlite_file::open(&self.path)?;
                // Mapped: a page missing from this connection's 64 MiB cache is then a lookup
                // in the OS cache instead of a 16 KiB copy (1.4-1.6x the pages per second on
                // the 1,000,000-person register, BENCHMARKS.md). The map is read-only; SQLite
                // remaps when the file grows.
                c.execute_batch("PRAGMA mmap_size = 68719476736;")?;
                c.set_prepared_statement_cache_capacity(32);
                c
            }
        };
        let answer = read(&connection);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(connection);
        }
        answer
    }
}

/// Runs `sql` (placeholders `$1`, `$2`, … as for sqlx) on `c` and decodes each row.
fn query_file<T>(
    c: &Connection,
    sql: &str,
    binds: &[Value],
    decode: &impl Fn(&rusqlite::Row<'_>, &[String]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = c.prepare_cached(sql)?;
    // By name: SQLite numbers `$n` parameters in order of first appearance, not by n.
    for (n, value) in binds.iter().enumerate() {
        let name = format!("${}", n + 1);
        let index = statement
            .parameter_index(&name)?
            .ok_or_else(|| StoreError::Invalid(format!("SQL に {name} がありません")))?;
        statement.raw_bind_parameter(index, value)?;
    }
    // Names resolved here, once per statement: rusqlite's own lookup by name asks SQLite for
    // every column's name on every value read.
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(decode(r, &names)?);
    }
    Ok(out)
}

impl Store {
    /// Every row `sql` returns, decoded.
    pub(crate) async fn fetch_all<T>(
        &self,
        sql: &str,
        binds: &[Value],
        decode: impl Fn(&Fetched<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        if let Some(readers) = &self.readers {
            return readers
                .with(|c| query_file(c, sql, binds, &|r, names| decode(&Fetched::File(r, names))));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = value.clone().bind_to(query);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| decode(&Fetched::Pool(r)))
            .collect()
    }

    /// The first row `sql` returns, decoded.
    pub(crate) async fn fetch_optional<T>(
        &self,
        sql: &str,
        binds: &[Value],
        decode: impl Fn(&Fetched<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch_all(sql, binds, decode).await?.into_iter().next())
    }
}

/// A row from either driver, as the decoders of point reads take it.
pub(crate) enum Fetched<'a> {
    Pool(&'a sqlx::any::AnyRow),
    /// With the statement's column names, in order.
    File(&'a rusqlite::Row<'a>, &'a [String]),
}

impl Columns for Fetched<'_> {
    fn try_get<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        match self {
            Fetched::Pool(r) => T::from_any(r, name),
            Fetched::File(r, names) => {
                let index = names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
                T::from_sqlite(r, index)
            }
        }
    }
}
