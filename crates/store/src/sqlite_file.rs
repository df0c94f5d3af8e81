//! Bulk reads of the SQLite file that bypass sqlx, for work that puts every row of a large range
//! to a computation (a recall judges a whole age band with the schedule engine).
//!
//! Through sqlx each row crosses from its SQLite worker thread to the async caller and is
//! converted value by value; with two threads taking turns, a row costs more in hand-offs and
//! allocations than in SQLite and the engine together (BENCHMARKS.md, issue 6). Here each
//! thread opens its own read-only connection and judges the rows it reads itself, and the range
//! is cut into pieces that the threads take in turn, so every core reads and judges.
//!
//! Only reads go this way: writes keep to the store's pool, its transactions and its audit log.
//! A read-only connection in WAL mode sees the last committed state, as the pool does.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Days;
use rusqlite::{Connection, OpenFlags};
use sesshu_domain::{CivilDate, Dose, MunicipalityCode};

use crate::dose::{PersonFacts, person_with_doses, person_with_doses_columns};
use crate::{Backend, StoreError};

/// Pieces per thread: enough that a thread finishing early finds more work.
const PIECES_PER_THREAD: u64 = 8;
const MAX_THREADS: usize = 4;

/// A read-only connection of the file (also the page readers', `fetch.rs`).
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536;")?;
    Ok(c)
}

/// `born` cut into at most `n` consecutive, non-overlapping ranges of whole days.
fn pieces(born: (CivilDate, CivilDate), n: u64) -> Vec<(CivilDate, CivilDate)> {
    let (lo, hi) = born;
    let days = u64::try_from((hi - lo).num_days()).unwrap_or(0) + 1;
    let step = days.div_ceil(n.max(1)).max(1);
    let mut out = Vec::new();
    let mut from = lo;
    while from <= hi {
        let to = from
            .checked_add_days(Days::new(step - 1))
            .map_or(hi, |t| t.min(hi));
        out.push((from, to));
        match to.checked_add_days(Days::new(1)) {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

/// Which persons one piece of the work reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// Born in this range (inclusive).
    Born(CivilDate, CivilDate),
    /// These address numbers.
    At(&'a [&'a str]),
}

/// Persons born in `born` (inclusive) as pieces for [`judge_pieces`].
pub(crate) fn born_pieces(born: (CivilDate, CivilDate)) -> Vec<Piece<'static>> {
    pieces(born, threads() as u64 * PIECES_PER_THREAD)
        .into_iter()
        .map(|(a, b)| Piece::Born(a, b))
        .collect()
}

pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
}

/// Every person of the municipality each piece names, with their non-deleted doses oldest
/// first, put to `judge`; the answers in no particular order.
pub(crate) fn judge_pieces<V: Send>(
    path: &Path,
    tenant: MunicipalityCode,
    pieces: &[Piece<'_>],
    judge: &(dyn Fn(PersonFacts, Vec<Dose>) -> V + Sync),
) -> Result<Vec<V>, StoreError> {
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<V>> = Mutex::new(Vec::new());
    let select = format!(
        "SELECT {} FROM person p WHERE p.municipality_code = ?1",
        person_with_doses_columns(Backend::Sqlite)
    );
    let code = tenant.as_string();
    let work = || -> Result<(), StoreError> {
        let c = open(path)?;
        loop {
            let Some(piece) = pieces.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            let mut values: Vec<String> = vec![code.clone()];
            let sql = match piece {
                Piece::Born(from, to) => {
                    values.push(from.to_string());
                    values.push(to.to_string());
                    format!("{select} AND p.birth_date BETWEEN ?2 AND ?3")
                }
                Piece::At(addresses) => {
                    values.extend(addresses.iter().map(|a| (*a).to_owned()));
                    let marks = vec!["?"; addresses.len()].join(", ");
                    format!("{select} AND p.address_number IN ({marks})")
                }
            };
            let mut statement = c.prepare(&sql)?;
            let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
            let mut mine = Vec::new();
            while let Some(r) = rows.next()? {
                let (facts, doses) = person_with_doses(r)?;
                mine.push(judge(facts, doses));
            }
            answers
                .lock()
                .map_err(|_| StoreError::Interrupted("読み取りの並列処理".into()))?
                .append(&mut mine);
        }
    };
    let workers = threads().min(pieces.len()).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| StoreError::Interrupted("読み取りの並列処理".into()))?
        })
    })?;
    answers
        .into_inner()
        .map_err(|_| StoreError::Interrupted("読み取りの並列処理".into()))
}

/// The file behind a `sqlite:` URL, if it is a file (not `:memory:`).
pub(crate) fn path_of(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> CivilDate {
        sesshu_domain::parse_date(s).unwrap()
    }

    #[test]
    fn pieces_cover_the_range_once() {
        for (lo, hi, n) in [
            ("1900-01-01", "2026-12-31", 16),
            ("2026-01-01", "2026-01-01", 8),
            ("2026-01-01", "2026-01-03", 8),
            ("2020-02-28", "2020-03-01", 2),
        ] {
            let p = pieces((day(lo), day(hi)), n);
            assert!(p.len() as u64 <= n, "{lo}..{hi}: {p:?}");
            assert_eq!(p[0].0, day(lo));
            assert_eq!(p.last().unwrap().1, day(hi));
            for w in p.windows(2) {
                assert_eq!(w[0].1.succ_opt().unwrap(), w[1].0, "{p:?}");
            }
        }
    }
}
