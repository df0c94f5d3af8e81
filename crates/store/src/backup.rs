//! Backup and restore of a whole register (issue 19): on SQLite the register's file and its
//! audit file, each copied with `VACUUM INTO` (a consistent read of a live file); on PostgreSQL
//! `pg_dump` of one snapshot. Beside them a manifest: what the copy holds (persons, doses and
//! audit entries of each municipality, each audit chain's last seq) and each file's SHA-256.
//!
//! Why the register is copied before its audit file: an operation writes its audit entry
//! before its work (`App::record`), so every change in the copied register has its entry in the
//! audit file copied after it. The key file is never read here: a backup holds only what is
//! sealed with it.
//!
//! A restore checks the files against the manifest, puts the copy beside the register, opens it,
//! verifies every audit chain and compares what it holds with the manifest — and only then
//! moves it into place (SQLite). PostgreSQL restores in one transaction into an empty database
//! (or, forced, over the existing one) and is checked the same way after.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Backend, Store, StoreError, audit_file_of};

/// The manifest's name in a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The register's file in a SQLite backup.
pub const REGISTER_FILE: &str = "sesshu.db";
/// The audit file in a SQLite backup (`audit_file_of(REGISTER_FILE)`).
pub const AUDIT_FILE: &str = "sesshu.audit.db";
/// The dump in a PostgreSQL backup (`pg_dump --format=custom`).
pub const DUMP_FILE: &str = "register.dump";

/// What a register holds for one municipality (`-`: the deployment's own audit chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub municipality_code: String,
    pub persons: i64,
    /// Every dose row, deleted ones too (a deletion is a version, not a removal).
    pub doses: i64,
    pub audit_entries: i64,
    /// The audit chain's last seq.
    pub audit_head: i64,
}

/// What a backup directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// RFC 3339, UTC.
    pub taken_at: String,
    pub sesshu_version: String,
    /// File name → SHA-256 (hex).
    pub files: BTreeMap<String, String>,
    pub held: Vec<Held>,
}

const COUNTS: [(&str, &str); 3] = [
    (
        "persons",
        "SELECT municipality_code, COUNT(*), 0 FROM person GROUP BY municipality_code",
    ),
    (
        "doses",
        "SELECT municipality_code, COUNT(*), 0 FROM dose GROUP BY municipality_code",
    ),
    (
        "audit",
        "SELECT municipality_code, COUNT(*), MAX(seq) FROM audit_log GROUP BY municipality_code",
    ),
];

fn fold(rows: impl IntoIterator<Item = (&'static str, String, i64, i64)>) -> Vec<Held> {
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    for (what, code, n, head) in rows {
        let h = held.entry(code.clone()).or_insert(Held {
            municipality_code: code,
            persons: 0,
            doses: 0,
            audit_entries: 0,
            audit_head: 0,
        });
        match what {
            "persons" => h.persons = n,
            "doses" => h.doses = n,
            _ => (h.audit_entries, h.audit_head) = (n, head),
        }
    }
    held.into_values().collect()
}

fn fail(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backup(what.to_string())
}

fn sha256_of(path: &Path) -> Result<String, StoreError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| fail(format!("{} を読めません: {e}", path.display())))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| fail(format!("{} を読めません: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Counts of a SQLite register and its audit file, read directly (never through a pool that
/// would write beside a backup's files).
fn sqlite_held(register: &Path, audit: &Path) -> Result<Vec<Held>, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        register,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::SqliteFile)?;
    conn.execute(
        "ATTACH DATABASE ?1 AS audit",
        [format!("file:{}?mode=ro", audit.display())],
    )
    .map_err(StoreError::SqliteFile)?;
    let mut rows = Vec::new();
    for (what, sql) in COUNTS {
        let mut stmt = conn.prepare(sql).map_err(StoreError::SqliteFile)?;
        let found = stmt
            .query_map([], |r| Ok((what, r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(StoreError::SqliteFile)?;
        for row in found {
            rows.push(row.map_err(StoreError::SqliteFile)?);
        }
    }
    Ok(fold(rows))
}

/// A `postgres://` URL without its password, and the password (for `PGPASSWORD`): a password
/// on a command line is visible to every user of the machine.
fn libpq_url(url: &str) -> Result<(String, Option<String>), StoreError> {
    let mut parsed = url::Url::parse(url).map_err(|_| StoreError::UnsupportedUrl)?;
    let password = parsed.password().map(|p| {
        url::form_urlencoded::parse(format!("p={p}").as_bytes())
            .next()
            .map_or_else(|| p.to_owned(), |(_, v)| v.into_owned())
    });
    parsed
        .set_password(None)
        .map_err(|()| StoreError::UnsupportedUrl)?;
    // sqlx's own options mean nothing to libpq.
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("statement-cache"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    Ok((parsed.to_string(), password))
}

fn run_tool(tool: &str, args: &[&str], password: Option<&str>) -> Result<(), StoreError> {
    let mut cmd = std::process::Command::new(tool);
    cmd.args(args);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().map_err(|e| {
        fail(format!(
            "{tool} を実行できません ({e}): PostgreSQL のクライアント (postgresql-client) を入れてください"
        ))
    })?;
    if !out.status.success() {
        return Err(fail(format!(
            "{tool} が失敗しました: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Store {
    /// What the register holds, by municipality.
    pub async fn held(&self) -> Result<Vec<Held>, StoreError> {
        let mut rows = Vec::new();
        for (what, sql) in COUNTS {
            for r in sqlx::query(sql).fetch_all(self.pool()).await? {
                rows.push((what, r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(fold(rows))
    }

    /// Copies the register into `dir` (created; it must be empty) and writes its manifest.
    /// `url` is the register's own URL (PostgreSQL: for `pg_dump`).
    pub async fn backup(&self, url: &str, dir: &Path) -> Result<Manifest, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("{} を作れません: {e}", dir.display())))?;
        if std::fs::read_dir(dir)
            .map_err(|e| fail(format!("{} を読めません: {e}", dir.display())))?
            .next()
            .is_some()
        {
            return Err(fail(format!(
                "{} は空ではありません: 新しいディレクトリを指定してください",
                dir.display()
            )));
        }
        let (backend, held) = match self.backend {
            Backend::Sqlite => {
                let Some(path) = self.sqlite_file.clone() else {
                    return Err(fail("メモリ上のデータベースはバックアップできません"));
                };
                let dir = dir.to_path_buf();
                let held = crate::dose::blocking(move || {
                    let copy = |from: &Path, to: &Path| -> Result<(), StoreError> {
                        let conn = rusqlite::Connection::open_with_flags(
                            from,
                            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                        )
                        .map_err(StoreError::SqliteFile)?;
                        conn.busy_timeout(std::time::Duration::from_secs(30))
                            .map_err(StoreError::SqliteFile)?;
                        conn.execute("VACUUM INTO ?1", [to.display().to_string()])
                            .map_err(StoreError::SqliteFile)?;
                        Ok(())
                    };
                    // The register first: its audit entries were written before its changes.
                    copy(&path, &dir.join(REGISTER_FILE))?;
                    copy(&audit_file_of(&path), &dir.join(AUDIT_FILE))?;
                    sqlite_held(&dir.join(REGISTER_FILE), &dir.join(AUDIT_FILE))
                })?;
                ("sqlite", held)
            }
            Backend::Postgres => {
                // One snapshot for the counts and the dump: pg_dump joins the exported one
                // while this transaction keeps it alive.
                let mut tx = self.pool().begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let snapshot: String = sqlx::query("SELECT pg_export_snapshot()")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                let mut rows = Vec::new();
                for (what, sql) in COUNTS {
                    for r in sqlx::query(sql).fetch_all(&mut *tx).await? {
                        rows.push((what, r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
                    }
                }
                let (libpq, password) = libpq_url(url)?;
                let file = dir.join(DUMP_FILE).display().to_string();
                let args = [
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    &format!("--snapshot={snapshot}"),
                    &format!("--file={file}"),
                    &format!("--dbname={libpq}"),
                ];
                let dumped = tokio::task::spawn_blocking({
                    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                    move || {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        run_tool("pg_dump", &args, password.as_deref())
                    }
                })
                .await
                .map_err(|e| fail(e.to_string()))?;
                tx.rollback().await?;
                dumped?;
                ("postgres", fold(rows))
            }
        };
        let mut files = BTreeMap::new();
        let names: &[&str] = if backend == "sqlite" {
            &[REGISTER_FILE, AUDIT_FILE]
        } else {
            &[DUMP_FILE]
        };
        for name in names {
            files.insert((*name).to_owned(), sha256_of(&dir.join(name))?);
        }
        let manifest = Manifest {
            format: 1,
            backend: backend.to_owned(),
            taken_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            sesshu_version: env!("CARGO_PKG_VERSION").to_owned(),
            files,
            held,
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| fail(e.to_string()))?;
        std::fs::write(dir.join(MANIFEST), text)
            .map_err(|e| fail(format!("{} に書けません: {e}", dir.display())))?;
        Ok(manifest)
    }
}

/// A backup directory's manifest, with every file checked against it.
pub fn read_backup(dir: &Path) -> Result<Manifest, StoreError> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).map_err(|e| {
        fail(format!(
            "{} にバックアップの目録 ({MANIFEST}) がありません: {e}",
            dir.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| fail(format!("目録 {MANIFEST} が読めません: {e}")))?;
    if manifest.format != 1 {
        return Err(fail(format!("目録の形式 {} は扱えません", manifest.format)));
    }
    for (name, sum) in &manifest.files {
        if name.contains('/') || name.contains('\\') {
            return Err(fail(format!("目録のファイル名が不正です: {name}")));
        }
        if sha256_of(&dir.join(name))? != *sum {
            return Err(fail(format!(
                "{name} が目録の SHA-256 と一致しません (壊れているか、書き換えられています)"
            )));
        }
    }
    Ok(manifest)
}

/// Where a SQLite file and its companions are set aside, and whether any was.
fn set_aside(register: &Path, stamp: &str) -> Result<Vec<PathBuf>, StoreError> {
    let mut moved = Vec::new();
    for base in [register.to_path_buf(), audit_file_of(register)] {
        for suffix in ["", "-wal", "-shm"] {
            let mut from = base.clone().into_os_string();
            from.push(suffix);
            let from = PathBuf::from(from);
            if from.exists() {
                let mut to = from.clone().into_os_string();
                to.push(format!(".before-restore-{stamp}"));
                let to = PathBuf::from(to);
                std::fs::rename(&from, &to)
                    .map_err(|e| fail(format!("{} を移せません: {e}", from.display())))?;
                moved.push(to);
            }
        }
    }
    Ok(moved)
}

/// Verifies a restored register's audit chains and compares what it holds with the manifest;
/// the store is closed and dropped after, so its files may be moved.
async fn check(
    store: Store,
    keyring: Option<&sesshu_crypto::Keyring>,
    manifest: &Manifest,
) -> Result<u64, StoreError> {
    let verified = store.verify_audit_ignoring_anchor(keyring).await;
    let held = store.held().await;
    store.close().await;
    drop(store);
    let verified = verified?;
    if let Some(b) = verified.broken {
        return Err(fail(format!(
            "復元したデータの監査ログが検証できません (団体 {}, 番号 {}: {})",
            b.municipality_code, b.seq, b.reason
        )));
    }
    if held? != manifest.held {
        return Err(fail("復元したデータの件数が目録と一致しません"));
    }
    Ok(verified.entries)
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub manifest: Manifest,
    /// Audit entries verified.
    pub entries: u64,
    /// The files an existing register was moved to (SQLite).
    pub set_aside: Vec<PathBuf>,
}

/// Restores the backup in `dir` as the register at `url`. An existing register is replaced
/// only when `force` (SQLite: set aside, never deleted). The audit chains are verified with
/// `keyring` and the counts compared with the manifest before a SQLite copy is put in place.
pub async fn restore(
    dir: &Path,
    url: &str,
    keyring: Option<&sesshu_crypto::Keyring>,
    force: bool,
) -> Result<Restored, StoreError> {
    let manifest = read_backup(dir)?;
    let backend = Backend::of_url(url)?;
    let wanted = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    if manifest.backend != wanted {
        return Err(fail(format!(
            "{} のバックアップは {wanted} には戻せません",
            manifest.backend
        )));
    }
    match backend {
        Backend::Sqlite => {
            let target = crate::sqlite_file::path_of(url)
                .ok_or_else(|| fail("メモリ上のデータベースには戻せません"))?;
            if target.exists() && !force {
                return Err(fail(format!(
                    "{} に登録簿があります: 置き換えるときは --force (元のファイルは残します)",
                    target.display()
                )));
            }
            let staging = target.with_extension("restoring.db");
            for p in [&staging, &audit_file_of(&staging)] {
                let _ = std::fs::remove_file(p);
            }
            let copy = |from: &str, to: &Path| {
                std::fs::copy(dir.join(from), to)
                    .map(|_| ())
                    .map_err(|e| fail(format!("{} に書けません: {e}", to.display())))
            };
            copy(REGISTER_FILE, &staging)?;
            copy(AUDIT_FILE, &audit_file_of(&staging))?;
            let staging_url = format!("sqlite://{}", staging.display());
            let checked = match Store::open(&staging_url).await {
                Ok(store) => check(store, keyring, &manifest).await,
                Err(e) => Err(e),
            };
            let entries = match checked {
                Ok(n) => n,
                Err(e) => {
                    let _ = set_aside(&staging, "failed");
                    return Err(e);
                }
            };
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let aside = set_aside(&target, &stamp)?;
            for (from, to) in [
                (staging.clone(), target.clone()),
                (audit_file_of(&staging), audit_file_of(&target)),
            ] {
                std::fs::rename(&from, &to)
                    .map_err(|e| fail(format!("{} を置けません: {e}", to.display())))?;
            }
            Ok(Restored {
                manifest,
                entries,
                set_aside: aside,
            })
        }
        Backend::Postgres => {
            let (libpq, password) = libpq_url(url)?;
            let existing = Store::open(url).await;
            if let Ok(s) = &existing {
                s.close().await;
                if !force {
                    return Err(fail(
                        "このデータベースには登録簿があります: 置き換えるときは --force",
                    ));
                }
            }
            let file = dir.join(DUMP_FILE).display().to_string();
            let mut args = vec![
                "--no-owner".to_owned(),
                "--no-privileges".to_owned(),
                "--single-transaction".to_owned(),
                "--exit-on-error".to_owned(),
                format!("--dbname={libpq}"),
            ];
            if existing.is_ok() {
                args.push("--clean".to_owned());
                args.push("--if-exists".to_owned());
            }
            args.push(file);
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_tool("pg_restore", &args, password.as_deref())
            })
            .await
            .map_err(|e| fail(e.to_string()))??;
            let entries = check(Store::open(url).await?, keyring, &manifest).await?;
            Ok(Restored {
                manifest,
                entries,
                set_aside: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) = libpq_url(
            "postgres://u:p%40ss@127.0.0.1:5432/db?statement-cache-capacity=0&sslmode=disable",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(password.as_deref(), Some("p@ss"));
    }
}
