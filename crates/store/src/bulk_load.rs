//! The first load of a municipality's register on SQLite, straight into the file.
//!
//! An import into an empty register looks nothing up: every row is an insert. Through sqlx each
//! value is copied into `AnyArguments`, then into `SqliteArguments`, and every statement hops to
//! sqlx's worker thread and back; here one connection binds each row once to a statement
//! prepared per batch, in the caller's thread, while the reader and sealer threads prepare the
//! next batch. When no municipality has any person yet, the secondary indexes of `person` are dropped inside the
//! transaction and built again from the sorted rows just before it commits: maintaining four
//! indexes row by row (a random blind index among them) costs more than everything else the
//! database does (BENCHMARKS.md, issue 2).
//!
//! Everything — rows, rebuilt indexes, the import's record and its row errors — commits in one
//! transaction or not at all, as through the pool. Other connections keep reading the last
//! committed state meanwhile (WAL).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use sesshu_formats::RowError;

use crate::StoreError;
use crate::import::{
    Prepared, ROW_ERROR_COLUMNS, ROW_ERROR_NAMES, RUN_INSERT, RunRecord, person_values,
    row_error_values, run_values,
};
use crate::person::{CONTENT_COLUMNS, PERSON_INSERT_COLUMNS};

/// An open load: the write transaction is held until [`BulkLoad::finish`] or drop.
pub(crate) struct BulkLoad {
    conn: Connection,
    /// The `CREATE INDEX` statements of the indexes dropped for the load.
    dropped: Vec<String>,
    /// Their planner statistics (`sqlite_stat1`: migration 0003), which `DROP INDEX` removes.
    statistics: Vec<(String, String, String)>,
}

impl BulkLoad {
    /// Takes the write lock and checks, under it, that `tenant` has no person. `None` when it
    /// has (an import got in first): the caller goes the usual way.
    pub(crate) fn begin(path: &Path, tenant: &str) -> Result<Option<Self>, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As the pool's connections are set up (lib.rs); `threads` lets CREATE INDEX sort on
        // a second core.
        conn.execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA threads = 2;",
        )?;
        let mut load = Self {
            conn,
            dropped: Vec::new(),
            statistics: Vec::new(),
        };
        load.conn.execute_batch("BEGIN IMMEDIATE")?;
        let taken: bool = load.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM person WHERE municipality_code = ?1)",
            [tenant],
            |r| r.get(0),
        )?;
        if taken {
            return Ok(None);
        }
        let anyone: bool =
            load.conn
                .query_row("SELECT EXISTS (SELECT 1 FROM person)", [], |r| r.get(0))?;
        if !anyone {
            let indexes: Vec<(String, String)> = load
                .conn
                .prepare(
                    "SELECT name, sql FROM sqlite_schema \
                     WHERE type = 'index' AND tbl_name = 'person' AND sql IS NOT NULL",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (name, sql) in indexes {
                let mut stat = load.conn.prepare(
                    "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = 'person' AND idx = ?1",
                )?;
                for row in stat.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                    load.statistics.push(row?);
                }
                drop(stat);
                load.conn
                    .execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
                load.dropped.push(sql);
            }
        }
        Ok(Some(load))
    }

    /// Inserts a batch of new persons (version 1).
    pub(crate) fn insert(
        &self,
        tenant: &str,
        import_id: &str,
        now: &str,
        records: Vec<Prepared>,
    ) -> Result<(), StoreError> {
        let placeholders = (1..=PERSON_INSERT_COLUMNS)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut insert = self.conn.prepare(&format!(
            "INSERT INTO person (municipality_code, address_number, {CONTENT_COLUMNS}, name_key, \
             version, updated_at, import_id) VALUES ({placeholders})"
        ))?;
        for p in records {
            insert.execute(rusqlite::params_from_iter(person_values(
                tenant, p, 1, now, import_id,
            )))?;
        }
        Ok(())
    }

    /// Builds the dropped indexes again, records the import and commits.
    pub(crate) fn finish(
        self,
        tenant: &str,
        run: &RunRecord<'_>,
        errors: &[RowError],
    ) -> Result<(), StoreError> {
        for sql in &self.dropped {
            self.conn.execute_batch(sql)?;
        }
        for (tbl, idx, stat) in &self.statistics {
            self.conn.execute(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?1, ?2, ?3)",
                [tbl, idx, stat],
            )?;
        }
        self.conn.execute(
            RUN_INSERT,
            rusqlite::params_from_iter(run_values(tenant, run)),
        )?;
        {
            let placeholders = (1..=ROW_ERROR_COLUMNS)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(",");
            let mut insert = self.conn.prepare(&format!(
                "INSERT INTO import_row_error ({ROW_ERROR_NAMES}) VALUES ({placeholders})"
            ))?;
            for (seq, e) in errors.iter().enumerate() {
                insert.execute(row_error_values(tenant, run.import_id, seq, e))?;
            }
        }
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Undoes everything: the rows and the dropped indexes.
    pub(crate) fn abandon(self) -> Result<(), StoreError> {
        self.conn.execute_batch("ROLLBACK")?;
        Ok(())
    }
}
