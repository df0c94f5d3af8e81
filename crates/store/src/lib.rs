//! Storage: one implementation over sqlx's `Any` driver, for an embedded SQLite file (the
//! default) and PostgreSQL, chosen by URL.
//!
//! Every method takes the municipality first and every query filters by it: there is no way to
//! name a row without its tenant. The My Number only ever reaches this crate sealed.

mod accounts;
mod assessment;
mod audit;
mod audit_anchor;
mod backfill;
pub mod backup;
mod bulk_load;
mod certificates;
mod columns;
mod dose;
mod dose_import;
mod dose_review;
mod error;
mod exemption;
mod extraction;
mod fetch;
mod hashing;
mod import;
mod jobs;
mod keys;
mod links;
mod municipality;
mod notices;
mod payments;
mod person;
mod pg_copy;
mod recall;
mod relief;
mod reminders;
mod requests;
mod retention;
mod sessions;
mod sql;
mod sqlite_file;
mod stats;
mod suspension;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use accounts::{
    Account, DORMANT_DAYS, Grant, LOCK_AFTER, LOCK_MINUTES, LoginOutcome, NewAccount, PendingGrant,
    ReviewRow,
};
pub use assessment::AssessmentCounts;
pub use audit::{
    AuditBreak, AuditEntry, AuditEvent, AuditQuery, AuditVerification, CHECKPOINT, DEPLOYMENT,
    Outcome,
};
pub use audit_anchor::{AnchorError, AnchoredHead, AuditAnchor};
pub use certificates::CertificateRecord;
pub use dose::{DoseRow, DoseScope, DoseVersion, Judged, PersonFacts};
pub use dose_import::{DoseImportOptions, DoseImportSummary};
pub use dose_review::{DoseReview, FlaggedDose, ReviewState};
pub use error::{Fault, StoreError};
pub use exemption::{CostExemption, NewExemption};
pub use extraction::{DoseFilter, ExtractedDose, RoutineFilter};
pub use import::{
    IDENTITY_SAMPLE, IdentityChange, ImportMode, ImportOptions, ImportRun, ImportStatus,
    ImportSummary,
};
pub use jobs::{INTERRUPTED, Job, JobStatus};
pub use keys::Rotation;
pub use links::PersonLink;
pub use municipality::Municipality;
pub use notices::{
    NewRun, Notice, NoticeRun, NumberLine, RunPart, RunStatus, Ticket, same_operator,
};
pub use payments::{
    BankAccount, BillableDose, PaymentInstitution, PaymentItem, PaymentRequester, PaymentRun,
    PaymentStatus, Price,
};
pub use person::{HistoryEntry, PersonHits, PersonQuery, PersonRow, PersonSort, PersonSummary};
pub use recall::{
    CheckFailure, Cohort, Extraction, Listed, RecallBasis, RecallMember, RecallQuery, exclusion,
};
pub use relief::{NewReliefCase, NewReliefStep, ReliefCase, ReliefDocument, ReliefStep};
pub use reminders::{MailAttempt, MailStatus, Reminded, Subscription};
pub use requests::{Closing, NewRequest, SubjectRequest};
pub use retention::{PurgeItem, PurgeOutcome, PurgeRun, status_label as purge_status_label};
pub use sessions::{
    ABSOLUTE_HOURS, IDLE_MINUTES, NewSession, SessionCaller, csrf_matches, csrf_token,
};
pub use stats::{
    CohortCount, Dimension, MunicipalityStats, SMALL_CELL, StageCount, cell as published_cell,
};
pub use suspension::{Lifted, UseSuspension};
pub use tokens::{ApiToken, TokenCaller, TokenScope, parse_prefecture};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

/// A handle on the register's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL's own driver beside the pool, for what `Any` cannot do (`COPY`: `pg_copy.rs`).
    pg: Option<sqlx::PgPool>,
    /// The SQLite file, for bulk reads outside the pool (`sqlite_file.rs`).
    sqlite_file: Option<std::path::PathBuf>,
    /// Read-only connections of that file for point reads (`fetch.rs`).
    readers: Option<fetch::Readers>,
    /// The audit log's own file beside it, for appends (`audit.rs`).
    audit_file: Option<audit::AuditFile>,
    /// The last (seq, hash) of each audit chain this process appended to: one statement per
    /// audit entry instead of a read and a write (see `audit.rs`).
    audit_heads:
        std::sync::Arc<tokio::sync::Mutex<std::collections::HashMap<String, (i64, String)>>>,
    /// Audit events waiting for the writer: whoever holds `audit_heads` appends every waiting
    /// event in one statement (group commit), so concurrent requests share a round trip.
    audit_queue: std::sync::Arc<std::sync::Mutex<Vec<audit::Waiting>>>,
    /// Where each chain's head is kept outside the database as it advances (`audit_anchor.rs`).
    audit_anchor: Option<std::sync::Arc<AuditAnchor>>,
    /// Password hashing, off the async workers and bounded (`hashing.rs`).
    hashing: std::sync::Arc<hashing::Hashing>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_as(url, true).await
    }

    /// Opens a register that exists: a SQLite file that is not there, or a PostgreSQL database
    /// that was never initialised, is refused rather than created empty — an empty register
    /// answers every check as passed (a mistyped path verifying an audit log of 0 entries).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect_as(url, false).await
    }

    async fn connect_as(url: &str, create: bool) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        if backend == Backend::Sqlite
            && !create
            && let Some(path) = sqlite_file::path_of(url)
            && !path.exists()
        {
            return Err(StoreError::NoRegister(path.display().to_string()));
        }
        let url = match backend {
            // Create the file on first use: the embedded default needs no setup.
            Backend::Sqlite if create && !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_file::path_of(&url),
            Backend::Postgres => None,
        };
        // Where the audit log lives on SQLite: its own file beside the register's, attached
        // to every connection as `audit` (see `audit_file_of`).
        let audit_database: std::sync::Arc<str> = match &sqlite_file {
            Some(path) => audit_file_of(path).to_string_lossy().into(),
            None => format!(
                "file:sesshu-audit-{}?mode=memory&cache=shared",
                random_hex(8)
            )
            .into(),
        };
        let audit_shown = audit_database.to_string();
        if backend == Backend::Sqlite {
            // One connection first, prepared as the pool will prepare each: a file that is not
            // a database, or a damaged one, fails here at once with SQLite's own code, where the
            // pool would retry it until its timeout and report only that it timed out.
            let mut probe = sqlx::ConnectOptions::connect(&options)
                .await
                .map_err(StoreError::Connect)?;
            let prepared = prepare_connection(&mut probe, backend, &audit_database).await;
            let _ = sqlx::Connection::close(probe).await;
            prepared.map_err(StoreError::Connect)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                let audit_database = audit_database.clone();
                Box::pin(async move { prepare_connection(conn, backend, &audit_database).await })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        if backend == Backend::Postgres && !create {
            let initialised = sqlx::query(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'municipality'",
            )
            .fetch_optional(&pool)
            .await?;
            if initialised.is_none() {
                pool.close().await;
                return Err(StoreError::NoRegister(
                    "(PostgreSQL のこのデータベース)".into(),
                ));
            }
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        backfill::run(&pool, backend).await?;
        if backend == Backend::Sqlite {
            // A register restored without its audit log would attach an empty file and fail on
            // the first append with a vague message; say which file is missing instead.
            let log = sqlx::query("SELECT name FROM audit.sqlite_master WHERE name = 'audit_log'")
                .fetch_optional(&pool)
                .await?;
            if log.is_none() {
                pool.close().await;
                return Err(StoreError::AuditFileMissing(audit_shown));
            }
        }
        let pg = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_lazy(&url)
                    .map_err(StoreError::Connect)?,
            ),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            backend,
            pg,
            readers: sqlite_file.as_deref().map(fetch::Readers::new),
            audit_file: sqlite_file
                .as_deref()
                .map(|p| audit::AuditFile::new(audit_file_of(p))),
            sqlite_file,
            audit_heads: Default::default(),
            audit_queue: Default::default(),
            audit_anchor: None,
            hashing: std::sync::Arc::new(hashing::Hashing::new()),
        })
    }

    /// Keeps every chain's head in `anchor` as it advances, and checks the log against it when
    /// verifying: a log cut short is then found without any file given by hand.
    pub fn with_audit_anchor(mut self, anchor: AuditAnchor) -> Self {
        self.audit_anchor = Some(std::sync::Arc::new(anchor));
        self
    }

    pub fn audit_anchor(&self) -> Option<&AuditAnchor> {
        self.audit_anchor.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }

    /// Lets the query planner see a table that just grew (after a large import). PostgreSQL
    /// needs it: without statistics it plans batch lookups as a scan of the whole municipality.
    /// SQLite's planner picks the right index for these equality and prefix lookups without
    /// `sqlite_stat1`, and `PRAGMA optimize` would cost a third of a 100,000-row import.
    pub(crate) async fn refresh_statistics(&self, table: GrownTable) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            // VACUUM also sets the hint bits a fresh bulk load leaves unset.
            let sql = match table {
                GrownTable::Person => "VACUUM (ANALYZE) person",
                GrownTable::Dose => "VACUUM (ANALYZE) dose",
            };
            sqlx::query(sql).execute(&self.pool).await?;
        }
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write: see [`begin_write`].
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        begin_write(&self.pool, self.backend).await
    }
}

/// Rows an import must add before the planner's statistics are refreshed after it.
pub(crate) const STATISTICS_STALE_AFTER: u64 = 10_000;

/// A table a bulk import grows by more than the planner's statistics can follow.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GrownTable {
    Person,
    Dose,
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`): a deferred transaction that reads first cannot take the lock later once another
/// connection has committed in between (`SQLITE_BUSY_SNAPSHOT`, which the busy timeout does not
/// wait out). The soak found a re-import refused that way beside a server appending audit entries.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// The audit log's own file beside a SQLite register (`sesshu.db` → `sesshu.audit.db`).
///
/// An entry is written with every request; were it in the register's file, each write would
/// make every reader drop its cached pages of the register (SQLite notices a changed file,
/// not which pages changed), and the pages would be read again on every request.
pub fn audit_file_of(register: &std::path::Path) -> std::path::PathBuf {
    register.with_extension("audit.db")
}

/// The civil date in Japan at an instant: validity dates, grants and age are days in Japan.
pub fn date_in_japan(at: chrono::DateTime<chrono::Utc>) -> sesshu_domain::CivilDate {
    (at + chrono::Duration::hours(9)).date_naive()
}

/// The SHA-256 of a high-entropy secret (session id, CSRF token, API token, recovery code) as
/// hex: what the database keeps instead of the secret.
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// `bytes` random bytes as hex, for secrets and ids.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Now, as stored: RFC 3339 in UTC.
pub(crate) fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[doc(hidden)]
impl Store {
    /// Whether bulk reads go to the SQLite file outside the pool: for tests that must know
    /// which path they exercised.
    pub fn reads_file_directly_for_tests(&self) -> bool {
        self.sqlite_file.is_some()
    }

    /// Runs arbitrary SQL: only for tests that prove the database itself refuses something.
    pub async fn raw_execute_for_tests(&self, sql: impl AsRef<str>) -> Result<u64, StoreError> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.as_ref().to_owned()))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// After a write failed for want of disk: on SQLite the write-ahead logs keep the space the
    /// failed transaction took until a checkpoint, so everything after would fail as well until
    /// a restart. Checkpointing them to nothing gives it back; PostgreSQL manages its own.
    pub async fn give_back_space(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA main.wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
            sqlx::query("PRAGMA audit.wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The first column of every row a query returns, as text.
    pub async fn raw_texts_for_tests(
        &self,
        sql: impl AsRef<str>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_ref().to_owned()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(sqlx::Row::try_get::<String, _>(r, 0)?))
            .collect()
    }

    /// The column names of a table that holds at least one row.
    pub async fn raw_columns_for_tests(&self, table: &str) -> Result<Vec<String>, StoreError> {
        use sqlx::{Column, Row};
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM {table} LIMIT 1"
        )))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.columns().iter().map(|c| c.name().to_owned()).collect())
    }

    /// SQLite's plan for a statement (`EXPLAIN QUERY PLAN`), one line per step: for tests that
    /// prove a lookup seeks its index.
    pub async fn sqlite_plan_for_tests(
        &self,
        sql: &'static str,
    ) -> Result<Vec<String>, StoreError> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(sqlx::Row::try_get::<String, _>(r, "detail")?))
            .collect()
    }
}

/// What every connection runs before use. page_size first: it only takes on a new file, before
/// WAL fixes it. 16 KiB pages halve the cost of keeping the person indexes during a bulk import
/// (BENCHMARKS.md). WAL lets readers run beside the importer; NORMAL is durable across
/// application crashes and loses at most the last commit on power loss. The audit log's own
/// file is attached as `audit`, with small pages: an entry is a few hundred bytes.
async fn prepare_connection(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    audit_database: &str,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Sqlite {
        conn.execute(
            "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
        )
        .await?;
        sqlx::query("ATTACH DATABASE $1 AS audit")
            .bind(audit_database.to_owned())
            .execute(&mut *conn)
            .await?;
        conn.execute(
            "PRAGMA audit.page_size = 4096; PRAGMA audit.journal_mode = WAL; \
             PRAGMA audit.synchronous = NORMAL; PRAGMA audit.cache_size = -8192;",
        )
        .await?;
    }
    Ok(())
}
