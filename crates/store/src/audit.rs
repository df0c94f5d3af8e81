//! The audit log (操作ログ): every operation on personal data, appended to one hash chain per
//! municipality. An entry's hash covers its content and its predecessor's hash, so any change,
//! removal, insertion or reordering breaks the chain from that entry on; `verify_audit` finds the
//! first break by streaming the log once. The primary key is the table's only index, so an
//! append is one narrow insert; the auditor's searches read the municipality's chain.

use chrono::{FixedOffset, Offset, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use sesshu_crypto::{Keyring, signing};
use sesshu_domain::MunicipalityCode;
use sha2::{Digest, Sha256};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Row};

use crate::sql::Params;
use crate::{Store, StoreError};

/// The function name of the signed checkpoints `verify` leaves after a successful check.
pub const CHECKPOINT: &str = "audit.checkpoint";

fn checkpoint_message(code: &str, covers_seq: i64, head_hash: &str) -> String {
    format!("sesshu-audit-checkpoint-v1|{code}|{covers_seq}|{head_hash}")
}

/// A checkpoint vouches, under the deployment's key, for the hash of the entry before it: a
/// rewrite of anything before it changes that hash, and nobody without the key can re-sign.
fn checkpoint_holds(keyring: &Keyring, e: &AuditEntry) -> bool {
    serde_json::from_str::<serde_json::Value>(&e.detail).is_ok_and(|d| {
        d["signature"].as_str().is_some_and(|sig| {
            signing::verify(
                keyring,
                &checkpoint_message(&e.municipality_code, e.seq - 1, &e.prev_hash),
                sig,
            )
        })
    })
}

/// The function name of the retention job's signed summary entries.
pub const RETENTION: &str = "audit.retention";

fn retention_message(code: &str, first_kept: i64, anchor: &str) -> String {
    format!("sesshu-audit-retention-v1|{code}|{first_kept}|{anchor}")
}

/// The chain of the deployment's own events (no municipality).
pub const DEPLOYMENT: &str = "-";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Appends retried when another writer took the same sequence number first.
const APPEND_ATTEMPTS: usize = 8;
/// 13 values each: well under either backend's limit on bound parameters.
const ROWS_PER_INSERT: usize = 200;

/// An audit event waiting for the writer, and who to tell its sequence number.
#[derive(Debug)]
pub(crate) struct Waiting {
    code: String,
    event: AuditEvent,
    acted: String,
    shown: String,
    detail: String,
    done: tokio::sync::oneshot::Sender<Result<i64, (crate::Fault, String)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused for lack of permission, a tenant boundary or bad input.
    Refused,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened, as the caller knows it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who: a login, `cli:<os user>`, `api:<client>`.
    pub actor: String,
    /// `cli`, `api`, `user`, `token`, `system`.
    pub actor_kind: &'static str,
    /// From where: host name or client address.
    pub source: Option<String>,
    /// Which function: `person.read`, `person.search`, `dose.write`, `import.residents`, …
    pub function: String,
    pub outcome: Outcome,
    /// Address numbers acted on (changed, recorded).
    pub persons_acted: Vec<String>,
    /// Address numbers shown (every row of a search result counts).
    pub persons_shown: Vec<String>,
    /// Conditions and counts (search criteria, extraction conditions, import id …). Never a My
    /// Number: callers pass address numbers and criteria only.
    pub detail: serde_json::Value,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub municipality_code: String,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_kind: String,
    pub source: Option<String>,
    pub function: String,
    pub outcome: String,
    pub persons_acted: String,
    pub persons_shown: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// SHA-256 over every field, each length-prefixed so no two entries serialise alike.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"sesshu-audit-v1");
        for field in [
            self.municipality_code.as_str(),
            &self.seq.to_string(),
            &self.at,
            &self.actor,
            &self.actor_kind,
            self.source.as_deref().unwrap_or("\u{0}"),
            &self.function,
            &self.outcome,
            &self.persons_acted,
            &self.persons_shown,
            &self.detail,
            &self.prev_hash,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }

    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            municipality_code: r.try_get("municipality_code")?,
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            actor: r.try_get("actor")?,
            actor_kind: r.try_get("actor_kind")?,
            source: r.try_get("source")?,
            function: r.try_get("function")?,
            outcome: r.try_get("outcome")?,
            persons_acted: r.try_get("persons_acted")?,
            persons_shown: r.try_get("persons_shown")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        })
    }
}

impl AuditEntry {
    /// The entry that follows (`prev_seq`, `prev_hash`) in `code`'s chain, hashed.
    fn next(
        code: &str,
        (prev_seq, prev_hash): (i64, String),
        event: &AuditEvent,
        persons_acted: String,
        persons_shown: String,
        detail: String,
    ) -> Self {
        let mut e = AuditEntry {
            municipality_code: code.to_owned(),
            seq: prev_seq + 1,
            at: now_in_japan(),
            actor: event.actor.clone(),
            actor_kind: event.actor_kind.to_owned(),
            source: event.source.clone(),
            function: event.function.clone(),
            outcome: event.outcome.as_str().to_owned(),
            persons_acted,
            persons_shown,
            detail,
            prev_hash,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The `INSERT` of this entry.
    fn insert(&self, backend: crate::Backend) -> Query<'static, sqlx::Any, AnyArguments> {
        insert_rows(backend, std::slice::from_ref(self))
    }
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditBreak {
    pub municipality_code: String,
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditVerification {
    pub entries: u64,
    pub chains: u64,
    pub broken: Option<AuditBreak>,
    /// How many chains were compared with the heads kept outside the database; `None` when
    /// none are kept (or the comparison was skipped).
    pub anchored: Option<u64>,
}

/// The last guard before the log: a criterion or value typed where a 宛名番号 belonged may be a
/// My Number, and the auditor reads every entry. Any string holding what passes as one (not as
/// part of a longer token such as a hash) is replaced whole.
fn redact_my_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if sesshu_domain::my_number::mentions_my_number(s) => {
            *s = REDACTED.to_owned();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_my_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_my_numbers),
        _ => {}
    }
}

/// What stands in the log for a value that may have been a My Number.
pub const REDACTED: &str = "(個人番号の可能性があるため記録しません)";

/// A chain that ends before the head kept outside the database had reached: its tail was
/// deleted.
fn cut_short(
    kept: &std::collections::BTreeMap<String, (i64, String)>,
    code: &str,
    last_seq: i64,
) -> Option<AuditBreak> {
    let (seq, _) = kept.get(code)?;
    (*seq > last_seq).then(|| AuditBreak {
        municipality_code: code.to_owned(),
        seq: last_seq + 1,
        reason: format!(
            "記録が連番 {last_seq} で終わっていますが、データベースの外に保管した先頭は連番 {seq} です (末尾の削除)"
        ),
    })
}

/// What an auditor searches by; every criterion is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub function: Option<String>,
    pub person: Option<String>,
    /// Inclusive, compared with the entry's time as RFC 3339 text (a date means from its start).
    pub from: Option<String>,
    /// Exclusive upper bound, same form.
    pub until: Option<String>,
    /// Only entries older than this sequence number (the next page of a newest-first search).
    pub before_seq: Option<i64>,
    /// Newest first (a search on a page); oldest first otherwise (an export, a chain's order).
    pub newest_first: bool,
    pub limit: u32,
}

fn now_in_japan() -> String {
    let jst = FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| Utc.fix());
    Utc::now()
        .with_timezone(&jst)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

impl Store {
    /// Appends one event to the municipality's chain (`None`: the deployment's chain) and
    /// returns its sequence number. Appends to one chain are serialised: each entry names the
    /// hash of the one before.
    pub async fn audit(
        &self,
        tenant: Option<MunicipalityCode>,
        event: AuditEvent,
    ) -> Result<i64, StoreError> {
        let code = tenant.map_or_else(|| DEPLOYMENT.to_owned(), |t| t.as_string());
        let acted = serde_json::to_string(&event.persons_acted)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let shown = serde_json::to_string(&event.persons_shown)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut event = event;
        redact_my_numbers(&mut event.detail);
        let detail = event.detail.to_string();
        let (done, result) = tokio::sync::oneshot::channel();
        let waiting = Waiting {
            code,
            event,
            acted,
            shown,
            detail,
            done,
        };
        // Whoever holds the writer lock appends everything waiting at once: concurrent
        // requests share one statement and one commit (BENCHMARKS.md).
        self.audit_queue
            .lock()
            .map_err(|_| StoreError::AuditAppend(crate::Fault::Other, "queue poisoned".into()))?
            .push(waiting);
        // One batch per turn: this event was queued before the lock was taken, so it is in this
        // batch or an earlier holder's, and nobody keeps appending for others indefinitely.
        let mut heads = self.audit_heads.lock().await;
        let batch = match self.audit_queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        };
        if !batch.is_empty() {
            self.append_batch(&mut heads, batch).await;
        }
        drop(heads);
        match result.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err((fault, message))) => Err(StoreError::AuditAppend(fault, message)),
            Err(_) => Err(StoreError::AuditAppend(
                crate::Fault::Other,
                "not appended".into(),
            )),
        }
    }

    /// Appends a batch in order, each chain continuing from its head; another process appending
    /// to the same chain makes a cached head stale, which the primary key turns into a conflict:
    /// then the heads are read again and the batch retried.
    async fn append_batch(
        &self,
        heads: &mut std::collections::HashMap<String, (i64, String)>,
        batch: Vec<Waiting>,
    ) {
        let mut last_error = (crate::Fault::Other, String::from("no attempt"));
        for _ in 0..APPEND_ATTEMPTS {
            let mut next: std::collections::HashMap<String, (i64, String)> =
                std::collections::HashMap::new();
            let mut entries = Vec::with_capacity(batch.len());
            let mut failed = None;
            for w in &batch {
                let head = match next.get(&w.code).or_else(|| heads.get(&w.code)) {
                    Some(h) => h.clone(),
                    None => match self.audit_head(&w.code).await {
                        Ok(h) => h,
                        Err(e) => {
                            failed =
                                Some((e.fault().unwrap_or(crate::Fault::Other), format!("{e:?}")));
                            break;
                        }
                    },
                };
                let e = AuditEntry::next(
                    &w.code,
                    head,
                    &w.event,
                    w.acted.clone(),
                    w.shown.clone(),
                    w.detail.clone(),
                );
                next.insert(w.code.clone(), (e.seq, e.hash.clone()));
                entries.push(e);
            }
            if let Some(message) = failed {
                last_error = message;
                break;
            }
            match self.insert_entries(&entries).await {
                Ok(()) => {
                    for (code, (seq, hash)) in &next {
                        self.anchor_head(code, *seq, hash);
                    }
                    heads.extend(next);
                    for (w, e) in batch.into_iter().zip(entries) {
                        let _ = w.done.send(Ok(e.seq));
                    }
                    return;
                }
                Err(failure) => {
                    for w in &batch {
                        heads.remove(&w.code);
                    }
                    let retry = failure.retry;
                    last_error = (failure.fault, failure.message);
                    if !retry {
                        break;
                    }
                }
            }
        }
        for w in batch {
            let _ = w.done.send(Err(last_error.clone()));
        }
    }

    /// Inserts entries in one transaction: on a SQLite file through [`AuditFile`], elsewhere
    /// up to [`ROWS_PER_INSERT`] per statement through the pool.
    async fn insert_entries(&self, entries: &[AuditEntry]) -> Result<(), AppendFailure> {
        if let Some(file) = &self.audit_file {
            return file.insert(entries);
        }
        // One statement is atomic by itself; a transaction only when it takes several.
        let done = if entries.len() <= ROWS_PER_INSERT {
            insert_rows(self.backend(), entries)
                .execute(self.pool())
                .await
                .map(|_| ())
        } else {
            async {
                let mut db = self.begin_write().await?;
                for chunk in entries.chunks(ROWS_PER_INSERT) {
                    insert_rows(self.backend(), chunk).execute(&mut *db).await?;
                }
                db.commit().await
            }
            .await
        };
        done.map_err(|e| match e {
            sqlx::Error::Database(db) => {
                let retry = db.is_unique_violation()
                    || db.message().contains("locked")
                    || db.message().contains("busy");
                let message = db.message().to_owned();
                AppendFailure {
                    retry,
                    fault: crate::Fault::of_sqlx(&sqlx::Error::Database(db)),
                    message,
                }
            }
            e => AppendFailure {
                retry: false,
                fault: crate::Fault::of_sqlx(&e),
                message: format!("{e:?}"),
            },
        })
    }

    /// Moves the chain's head kept outside the database. The entry is committed whatever
    /// happens here: a record that cannot be written is logged for the administrator (the
    /// operation itself is done and audited) and caught up by the next append.
    fn anchor_head(&self, code: &str, seq: i64, hash: &str) {
        if let Some(anchor) = &self.audit_anchor
            && let Err(e) = anchor.advance(code, seq, hash)
        {
            tracing::error!(chain = code, "{e}");
        }
    }

    async fn audit_head(&self, code: &str) -> Result<(i64, String), StoreError> {
        let head = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE municipality_code = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await?;
        Ok(match head {
            Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
            None => (0, GENESIS.to_owned()),
        })
    }

    /// Streams every chain once, recomputing each hash: memory stays flat however long the log.
    /// A chain shortened by the retention job starts where its signed summary says; the
    /// signature is checked with `keyring` (without it, such a chain reports as broken). When
    /// the store keeps heads outside the database ([`Store::with_audit_anchor`]), every chain
    /// must still reach its kept head, with the same hash there.
    pub async fn verify_audit(
        &self,
        keyring: Option<&Keyring>,
    ) -> Result<AuditVerification, StoreError> {
        self.verify_chains(keyring, None, true).await
    }

    /// The same, without comparing with the heads kept outside the database: after restoring a
    /// backup, whose log is older than the kept heads by design.
    pub async fn verify_audit_ignoring_anchor(
        &self,
        keyring: Option<&Keyring>,
    ) -> Result<AuditVerification, StoreError> {
        self.verify_chains(keyring, None, false).await
    }

    /// The same verification of one municipality's chain only (what its auditor may see).
    pub async fn verify_audit_of(
        &self,
        keyring: Option<&Keyring>,
        tenant: MunicipalityCode,
    ) -> Result<AuditVerification, StoreError> {
        self.verify_chains(keyring, Some(tenant.as_string()), true)
            .await
    }

    async fn verify_chains(
        &self,
        keyring: Option<&Keyring>,
        only: Option<String>,
        anchored: bool,
    ) -> Result<AuditVerification, StoreError> {
        let starts = self.retention_starts(keyring).await?;
        let anchor = self.audit_anchor.as_deref().filter(|_| anchored);
        let kept: std::collections::BTreeMap<String, (i64, String)> = match anchor {
            Some(a) => a
                .heads()?
                .into_iter()
                .filter(|h| only.as_ref().is_none_or(|c| *c == h.chain))
                .map(|h| (h.chain, (h.seq, h.hash)))
                .collect(),
            None => Default::default(),
        };
        let mut rows = match &only {
            Some(code) => {
                sqlx::query("SELECT * FROM audit_log WHERE municipality_code = $1 ORDER BY seq")
                    .bind(code.clone())
                    .fetch(self.pool())
            }
            None => sqlx::query("SELECT * FROM audit_log ORDER BY municipality_code, seq")
                .fetch(self.pool()),
        };
        let mut out = AuditVerification {
            entries: 0,
            chains: 0,
            broken: None,
            anchored: anchor.map(|_| kept.len() as u64),
        };
        let mut seen = std::collections::HashSet::new();
        let mut chain: Option<(String, i64, String)> = None;
        while let Some(r) = rows.try_next().await? {
            let e = AuditEntry::from_row(&r)?;
            out.entries += 1;
            let (expected_seq, expected_prev) = match &chain {
                Some((code, seq, hash)) if *code == e.municipality_code => (seq + 1, hash.clone()),
                _ => {
                    if let Some((code, seq, _)) = &chain
                        && let Some(b) = cut_short(&kept, code, *seq)
                    {
                        out.broken = Some(b);
                        return Ok(out);
                    }
                    out.chains += 1;
                    seen.insert(e.municipality_code.clone());
                    starts
                        .get(&e.municipality_code)
                        .cloned()
                        .unwrap_or_else(|| (1, GENESIS.to_owned()))
                }
            };
            let reason = if e.seq != expected_seq {
                Some(format!(
                    "連番が {expected_seq} であるべきところ {} です (削除または挿入)",
                    e.seq
                ))
            } else if e.prev_hash != expected_prev {
                Some("前の記録のハッシュと一致しません (順序の入れ替えまたは前の記録の改変)".into())
            } else if e.hash != e.compute_hash() {
                Some("内容がハッシュと一致しません (改変)".into())
            } else if e.function == CHECKPOINT
                && let Some(keyring) = keyring
                && !checkpoint_holds(keyring, &e)
            {
                Some(
                    "署名付きの確認点と一致しません (確認点より前の記録が書き換えられました)"
                        .into(),
                )
            } else if kept
                .get(&e.municipality_code)
                .is_some_and(|(seq, hash)| *seq == e.seq && *hash != e.hash)
            {
                Some(
                    "データベースの外に保管した先頭のハッシュと一致しません (連鎖の作り直し)"
                        .into(),
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                out.broken = Some(AuditBreak {
                    municipality_code: e.municipality_code,
                    seq: e.seq,
                    reason,
                });
                return Ok(out);
            }
            chain = Some((e.municipality_code, e.seq, e.hash));
        }
        if let Some((code, seq, _)) = &chain
            && let Some(b) = cut_short(&kept, code, *seq)
        {
            out.broken = Some(b);
            return Ok(out);
        }
        // A chain kept outside but gone from the database: deleted whole.
        if let Some((code, (seq, _))) = kept.iter().find(|(code, _)| !seen.contains(*code)) {
            out.broken = Some(AuditBreak {
                municipality_code: code.clone(),
                seq: *seq,
                reason: format!(
                    "この団体の記録がありません: データベースの外に保管した先頭は連番 {seq} です (連鎖ごとの削除)"
                ),
            });
        }
        Ok(out)
    }

    /// Where each shortened chain now starts, from its latest retention summary whose signature
    /// holds.
    async fn retention_starts(
        &self,
        keyring: Option<&Keyring>,
    ) -> Result<std::collections::HashMap<String, (i64, String)>, StoreError> {
        let mut out = std::collections::HashMap::new();
        let Some(keyring) = keyring else {
            return Ok(out);
        };
        let rows = sqlx::query(
            "SELECT municipality_code, detail FROM audit_log WHERE function = $1 ORDER BY municipality_code, seq",
        )
        .bind(RETENTION)
        .fetch_all(self.pool())
        .await?;
        for r in rows {
            let code: String = r.try_get("municipality_code")?;
            let detail: String = r.try_get("detail")?;
            let Ok(d) = serde_json::from_str::<serde_json::Value>(&detail) else {
                continue;
            };
            let (Some(first), Some(anchor), Some(sig)) = (
                d["first_kept_seq"].as_i64(),
                d["anchor"].as_str(),
                d["signature"].as_str(),
            ) else {
                continue;
            };
            if signing::verify(keyring, &retention_message(&code, first, anchor), sig) {
                out.insert(code, (first, anchor.to_owned()));
            }
        }
        Ok(out)
    }

    /// The retention job: removes the chain's entries written before `cutoff` (RFC 3339 text in
    /// Japan time, or a date) and, in the same transaction, appends a summary entry signed with
    /// the deployment's key that vouches where the chain now starts. Nothing else may delete
    /// from the log: the append-only triggers are lifted only inside this transaction.
    pub async fn retain_audit(
        &self,
        tenant: Option<MunicipalityCode>,
        cutoff: &str,
        keyring: &Keyring,
        actor: AuditEvent,
    ) -> Result<Option<i64>, StoreError> {
        let code = tenant.map_or_else(|| DEPLOYMENT.to_owned(), |t| t.as_string());
        let mut heads = self.audit_heads.lock().await;
        heads.remove(&code);
        let mut db = self.begin_write().await?;
        let last_old = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE municipality_code = $1 AND at < $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&code)
        .bind(cutoff)
        .fetch_optional(&mut *db)
        .await?;
        let Some(last_old) = last_old else {
            return Ok(None);
        };
        let (last_seq, anchor): (i64, String) =
            (last_old.try_get("seq")?, last_old.try_get("hash")?);
        let (lift, restore): (&[&str], &[&str]) = match self.backend() {
            crate::Backend::Sqlite => (
                &["DROP TRIGGER audit_log_no_delete"],
                &[
                    "CREATE TRIGGER audit.audit_log_no_delete BEFORE DELETE ON audit_log \
                   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                ],
            ),
            crate::Backend::Postgres => (
                &["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
                &["ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"],
            ),
        };
        for s in lift {
            sqlx::query(*s).execute(&mut *db).await?;
        }
        let removed =
            sqlx::query("DELETE FROM audit_log WHERE municipality_code = $1 AND seq <= $2")
                .bind(&code)
                .bind(last_seq)
                .execute(&mut *db)
                .await?
                .rows_affected();
        for s in restore {
            sqlx::query(*s).execute(&mut *db).await?;
        }
        let head = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE municipality_code = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&code)
        .fetch_optional(&mut *db)
        .await?;
        let (prev_seq, prev_hash) = match head {
            Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
            None => (last_seq, anchor.clone()),
        };
        let first_kept = last_seq + 1;
        let signature = signing::sign(keyring, &retention_message(&code, first_kept, &anchor))?;
        let event = AuditEvent {
            function: RETENTION.to_owned(),
            outcome: Outcome::Ok,
            ..actor
        };
        let detail = serde_json::json!({
            "cutoff": cutoff,
            "removed": removed,
            "first_kept_seq": first_kept,
            "anchor": anchor,
            "signature": signature,
        })
        .to_string();
        let entry = AuditEntry::next(
            &code,
            (prev_seq, prev_hash),
            &event,
            "[]".into(),
            "[]".into(),
            detail,
        );
        entry.insert(self.backend()).execute(&mut *db).await?;
        db.commit().await?;
        self.anchor_head(&code, entry.seq, &entry.hash);
        Ok(Some(i64::try_from(removed).unwrap_or(i64::MAX)))
    }

    /// After a successful verification: appends to every chain a checkpoint signed with the
    /// deployment's key over the chain's head, so that a later rewrite of anything up to here —
    /// even one that recomputes every hash — is found.
    pub async fn checkpoint_audit(
        &self,
        keyring: &Keyring,
        actor: AuditEvent,
    ) -> Result<u64, StoreError> {
        let codes = sqlx::query("SELECT DISTINCT municipality_code FROM audit_log")
            .fetch_all(self.pool())
            .await?;
        let mut n = 0;
        for r in codes {
            let code: String = r.try_get("municipality_code")?;
            let mut heads = self.audit_heads.lock().await;
            let (seq, hash) = self.audit_head(&code).await?;
            let signature = signing::sign(keyring, &checkpoint_message(&code, seq, &hash))?;
            let event = AuditEvent {
                function: CHECKPOINT.to_owned(),
                outcome: Outcome::Ok,
                ..actor.clone()
            };
            let detail =
                serde_json::json!({"covers_seq": seq, "head_hash": hash, "signature": signature})
                    .to_string();
            let entry =
                AuditEntry::next(&code, (seq, hash), &event, "[]".into(), "[]".into(), detail);
            entry.insert(self.backend()).execute(self.pool()).await?;
            self.anchor_head(&code, entry.seq, &entry.hash);
            heads.insert(code, (entry.seq, entry.hash));
            n += 1;
        }
        Ok(n)
    }

    /// Every chain's newest entry: (chain, seq, hash), for keeping outside the database.
    pub async fn audit_heads_now(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        let codes = sqlx::query(
            "SELECT DISTINCT municipality_code FROM audit_log ORDER BY municipality_code",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in codes {
            let code: String = r.try_get("municipality_code")?;
            let (seq, hash) = self.audit_head(&code).await?;
            out.push((code, seq, hash));
        }
        Ok(out)
    }

    /// The hash of one entry, if it is still in the log.
    pub async fn audit_entry_hash(
        &self,
        code: &str,
        seq: i64,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT hash FROM audit_log WHERE municipality_code = $1 AND seq = $2")
                .bind(code)
                .bind(seq)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.try_get("hash")).transpose()?)
    }

    /// The entries of one municipality matching the auditor's criteria, oldest first.
    pub async fn audit_entries(
        &self,
        tenant: Option<MunicipalityCode>,
        q: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let code = tenant.map_or_else(|| DEPLOYMENT.to_owned(), |t| t.as_string());
        let mut p = Params::new(self.backend());
        let mut sql = format!(
            "SELECT l.* FROM audit_log l WHERE l.municipality_code = {}",
            p.next()
        );
        let mut binds: Vec<String> = vec![code.clone()];
        let mut add = |sql: &mut String, clause: &str, value: &str| {
            sql.push_str(&clause.replace('?', &p.next()));
            binds.push(value.to_owned());
        };
        if let Some(a) = &q.actor {
            add(&mut sql, " AND l.actor = ?", a);
        }
        if let Some(f) = &q.function {
            add(&mut sql, " AND l.function = ?", f);
        }
        if let Some(f) = &q.from {
            add(&mut sql, " AND l.at >= ?", f);
        }
        if let Some(u) = &q.until {
            add(&mut sql, " AND l.at < ?", u);
        }
        if let Some(before) = q.before_seq {
            // An integer, so written in place: a text bind would not compare with BIGINT.
            sql.push_str(&format!(" AND l.seq < {before}"));
        }
        if let Some(person) = &q.person {
            // Address numbers are digit strings, so the quoted form matches one array element.
            let (a, b) = (p.next(), p.next());
            sql.push_str(&format!(
                " AND (l.persons_shown LIKE {a} OR l.persons_acted LIKE {b})"
            ));
            let pattern = format!("%\"{}\"%", person.replace(['%', '_', '"'], ""));
            binds.push(pattern.clone());
            binds.push(pattern);
        }
        sql.push_str(&format!(
            " ORDER BY l.seq{} LIMIT {}",
            if q.newest_first { " DESC" } else { "" },
            q.limit.clamp(1, 1_000_000)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(AuditEntry::from_row).collect()
    }
}

#[doc(hidden)]
impl Store {
    /// Appends `n` synthetic, correctly chained entries in bulk: only for benchmarks that need a
    /// log of millions of entries (`store.audit` appends one at a time, as operations happen).
    pub async fn append_audit_for_benchmarks(
        &self,
        tenant: MunicipalityCode,
        n: u64,
    ) -> Result<(), StoreError> {
        const BATCH: usize = 1000;
        let code = tenant.as_string();
        let head = sqlx::query(
            "SELECT seq, hash FROM audit_log WHERE municipality_code = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&code)
        .fetch_optional(self.pool())
        .await?;
        let (mut seq, mut prev) = match head {
            Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
            None => (0, GENESIS.to_owned()),
        };
        let mut left = n;
        let mut db = self.begin_write().await?;
        while left > 0 {
            let take = usize::try_from(left.min(BATCH as u64)).unwrap_or(BATCH);
            let mut batch = Vec::with_capacity(take);
            for _ in 0..take {
                seq += 1;
                let mut e = AuditEntry {
                    municipality_code: code.clone(),
                    seq,
                    at: now_in_japan(),
                    actor: "bench".into(),
                    actor_kind: "system".into(),
                    source: Some("bench".into()),
                    function: "person.read".into(),
                    outcome: "ok".into(),
                    persons_acted: "[]".into(),
                    persons_shown: format!("[\"{}\"]", 100_000 + seq % 900_000),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                batch.push(e);
            }
            let sql = format!(
                "INSERT INTO audit_log (municipality_code, seq, at, actor, actor_kind, source, function, outcome, \
                 persons_acted, persons_shown, detail, prev_hash, hash) VALUES {}",
                Params::new(self.backend()).groups(batch.len(), 13)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in &batch {
                q = q
                    .bind(e.municipality_code.clone())
                    .bind(e.seq)
                    .bind(e.at.clone())
                    .bind(e.actor.clone())
                    .bind(e.actor_kind.clone())
                    .bind(e.source.clone())
                    .bind(e.function.clone())
                    .bind(e.outcome.clone())
                    .bind(e.persons_acted.clone())
                    .bind(e.persons_shown.clone())
                    .bind(e.detail.clone())
                    .bind(e.prev_hash.clone())
                    .bind(e.hash.clone());
            }
            q.execute(&mut *db).await?;
            left -= take as u64;
        }
        db.commit().await?;
        self.audit_heads.lock().await.remove(&code);
        Ok(())
    }
}

/// A multi-row `INSERT` of entries, placeholders in textual order for the backend.
fn insert_rows(
    backend: crate::Backend,
    chunk: &[AuditEntry],
) -> Query<'static, sqlx::Any, AnyArguments> {
    let mut p = Params::new(backend);
    let sql = format!(
        "INSERT INTO audit_log (municipality_code, seq, at, actor, actor_kind, source, function, outcome, \
             persons_acted, persons_shown, detail, prev_hash, hash) VALUES {}",
        p.groups(chunk.len(), 13)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for e in chunk {
        q = q
            .bind(e.municipality_code.clone())
            .bind(e.seq)
            .bind(e.at.clone())
            .bind(e.actor.clone())
            .bind(e.actor_kind.clone())
            .bind(e.source.clone())
            .bind(e.function.clone())
            .bind(e.outcome.clone())
            .bind(e.persons_acted.clone())
            .bind(e.persons_shown.clone())
            .bind(e.detail.clone())
            .bind(e.prev_hash.clone())
            .bind(e.hash.clone());
    }
    q
}

/// Why an append failed, and whether reading the chain's head again may cure it (another writer
/// took the sequence number first, or held the lock).
#[derive(Debug)]
pub(crate) struct AppendFailure {
    retry: bool,
    fault: crate::Fault,
    message: String,
}

/// The SQLite audit log's own file, written through one rusqlite connection on the calling
/// thread. Appends are serialised by the chain-head lock already, and an entry is one short
/// insert into a file nothing else writes but other appenders (and the rare retention job), so
/// it costs less than a hand-off to sqlx's worker thread — which cost the person read three
/// times its own time (BENCHMARKS.md, issue 4).
#[derive(Debug, Clone)]
pub(crate) struct AuditFile {
    path: std::path::PathBuf,
    connection: std::sync::Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
}

impl AuditFile {
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Self {
            path,
            connection: Default::default(),
        }
    }

    fn insert(&self, entries: &[AuditEntry]) -> Result<(), AppendFailure> {
        let mut slot = self.connection.lock().map_err(|_| AppendFailure {
            retry: false,
            fault: crate::Fault::Other,
            message: "audit writer poisoned".into(),
        })?;
        if slot.is_none() {
            *slot = Some(self.open().map_err(file_failure)?);
        }
        let Some(c) = slot.as_mut() else {
            return Err(file_failure(rusqlite::Error::InvalidQuery));
        };
        let written = (|| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO audit_log (municipality_code, seq, at, actor, actor_kind, source, function, \
                     outcome, persons_acted, persons_shown, detail, prev_hash, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                for e in entries {
                    insert.execute(rusqlite::params![
                        e.municipality_code,
                        e.seq,
                        e.at,
                        e.actor,
                        e.actor_kind,
                        e.source,
                        e.function,
                        e.outcome,
                        e.persons_acted,
                        e.persons_shown,
                        e.detail,
                        e.prev_hash,
                        e.hash,
                    ])?;
                }
            }
            tx.commit()
        })();
        written.map_err(file_failure)
    }

    fn open(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        let c = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As the pool sets it up for the attached file (lib.rs); WAL is kept by the file.
        c.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;")?;
        Ok(c)
    }
}

fn file_failure(e: rusqlite::Error) -> AppendFailure {
    let retry = matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::ConstraintViolation
                | rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
        )
    );
    AppendFailure {
        retry,
        fault: crate::Fault::of_sqlite(&e),
        message: e.to_string(),
    }
}
