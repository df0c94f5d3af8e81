//! Test helpers shared by the crates' integration tests.
//!
//! Storage tests run against every backend: a SQLite file in a temporary directory and a fresh
//! PostgreSQL database per test, created through `SESSHU_TEST_POSTGRES_URL` (an admin URL;
//! `scripts/test` sets it after starting the server). Without that variable the tests fail
//! loudly, unless `SESSHU_TEST_SKIP_POSTGRES=1` says a developer chose to skip it.

#![allow(clippy::expect_used, clippy::panic)]

use std::str::FromStr;

use rand::Rng;
use sesshu_domain::{CivilDate, Person};
use sesshu_formats::{ResidentWriter, TextEncoding};
use sesshu_synth::{Town, TownSpec};
use sqlx::{ConnectOptions, Connection, Executor};

/// One database for one test.
pub struct TestDb {
    pub name: &'static str,
    pub url: String,
    /// Keeps the SQLite directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.name)
    }
}

impl TestDb {
    /// The SQLite file path, for tests that inspect the bytes on disk.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("sesshu.db"))
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sesshu.db").display());
    TestDb {
        name: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or `None` when the developer explicitly skipped PostgreSQL.
pub async fn postgres() -> Option<TestDb> {
    let admin = match std::env::var("SESSHU_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("SESSHU_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("warning: PostgreSQL tests skipped (SESSHU_TEST_SKIP_POSTGRES=1)");
            return None;
        }
        Err(_) => panic!(
            "SESSHU_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts \
             PostgreSQL, or set SESSHU_TEST_SKIP_POSTGRES=1 to skip it knowingly"
        ),
    };
    let name = format!("sesshu_t_{:016x}", rand::thread_rng().r#gen::<u64>());
    let options =
        sqlx::postgres::PgConnectOptions::from_str(&admin).expect("SESSHU_TEST_POSTGRES_URL");
    let mut conn = options
        .connect()
        .await
        .expect("connect to PostgreSQL (is it running?)");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    conn.close().await.ok();
    let url = options.database(&name).to_url_lossy().to_string();
    Some(TestDb {
        name: "postgres",
        url,
        _dir: None,
    })
}

/// Every backend a storage test must pass on.
pub async fn backends() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}

pub mod smtp;

pub fn day(s: &str) -> CivilDate {
    sesshu_domain::parse_date(s).expect("test date")
}

/// The reference day tests generate towns for.
pub fn as_of() -> CivilDate {
    day("2026-04-01")
}

pub fn town(persons: usize, seed: u64) -> Vec<Person> {
    Town::new(TownSpec {
        persons,
        seed,
        as_of: as_of(),
    })
    .collect()
}

/// A resident feed for these persons.
pub fn feed(persons: &[Person], encoding: TextEncoding) -> Vec<u8> {
    let mut w = ResidentWriter::new(Vec::new(), encoding).expect("writer");
    for p in persons {
        w.write(p).expect("write person");
    }
    w.finish().expect("finish")
}

/// Whether `text` shows a My Number: a 12-digit run passing the check digit, outside random hex
/// and outside the fractional part of a decimal number. Hashes, token secrets and import ids are
/// random hex, and timings in debug logs (`elapsed_secs=0.000123456789`) carry long fractions; in
/// either, a run of twelve decimal digits passes the check digit about one time in ten. They are
/// not data, so they are masked before the scan (a My Number glued to hex letters or written as a
/// decimal fraction would be missed — no output writes one so).
pub fn leaks_my_number(text: &str) -> bool {
    let mut masked = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let digest = word.len() >= 16 && word.chars().all(|c| c.is_ascii_hexdigit());
        let mut tail = out.chars().rev();
        let fraction = word.chars().all(|c| c.is_ascii_digit())
            && tail.next() == Some('.')
            && tail.next().is_some_and(|c| c.is_ascii_digit());
        if digest || fraction {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut word, &mut masked);
    sesshu_formats::contains_my_number(&masked)
}

/// Ends every connection to the PostgreSQL database of `url` from the server side, as a
/// restart or a failover does to clients: what the server holds in its pool is dead after this.
pub async fn cut_postgres_connections(url: &str) {
    let admin = std::env::var("SESSHU_TEST_POSTGRES_URL").expect("SESSHU_TEST_POSTGRES_URL");
    let name = sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("a PostgreSQL URL")
        .get_database()
        .expect("a database name")
        .to_owned();
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .expect("SESSHU_TEST_POSTGRES_URL")
        .connect()
        .await
        .expect("connect to PostgreSQL");
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_all(&mut conn)
    .await
    .expect("terminate the database's connections");
    assert!(!cut.is_empty(), "nothing was connected to {name}");
    conn.close().await.ok();
}
