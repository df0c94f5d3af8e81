//! 保存期間 (P10): deleting the records of persons whose retention period after death or
//! move-out has passed. A plan lists them (and counts those kept for a reason: an open request,
//! a relief case, a link between records); a second person approves it; the deletion re-checks
//! every person, removes everything the register holds about them in one transaction, and
//! leaves a certificate — counts and periods, no one named — signed by the key holder. The
//! append-only triggers let a row go only while `purge_authorised` names its person, which the
//! deletion fills and empties inside its own transaction. The audit log is not touched: its
//! chain stays whole, and its entries are what says who was deleted, when and by whom.

use std::collections::BTreeMap;

use sesshu_domain::MunicipalityCode;
use sqlx::AssertSqlSafe;

use crate::columns::Columns;
use crate::notices::take_numbers;
use crate::sql::{Params, Value};
use crate::{Store, StoreError, now_utc};

/// A person a plan would delete.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeItem {
    pub address_number: String,
    /// The day of death or move-out.
    pub ended_on: String,
    /// 2 (転出) or 3 (死亡).
    pub resident_status: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeRun {
    pub run_id: i64,
    pub years_after_end: i64,
    pub cutoff: String,
    pub status: String,
    pub person_count: i64,
    pub planned_by: String,
    pub planned_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub done_by: Option<String>,
    pub done_at: Option<String>,
    pub certificate: Option<String>,
    pub signature: Option<String>,
}

fn run_from_row(r: &impl Columns) -> Result<PurgeRun, StoreError> {
    Ok(PurgeRun {
        run_id: r.try_get("run_id")?,
        years_after_end: r.try_get("years_after_end")?,
        cutoff: r.try_get("cutoff")?,
        status: r.try_get("status")?,
        person_count: r.try_get("person_count")?,
        planned_by: r.try_get("planned_by")?,
        planned_at: r.try_get("planned_at")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        done_by: r.try_get("done_by")?,
        done_at: r.try_get("done_at")?,
        certificate: r.try_get("certificate")?,
        signature: r.try_get("signature")?,
    })
}

/// Persons moved out or dead on or before the cutoff (`$2`), of the municipality (`$1`).
const ENDED: &str = "p.municipality_code = $1 AND p.resident_status IN (2, 3) \
     AND p.changed_on IS NOT NULL AND p.changed_on <= $2";

/// Why a person past the period is kept, each as a condition on `p`: the label, the SQL.
const KEPT: [(&str, &str); 3] = [
    (
        "対応中の開示等の請求",
        "EXISTS (SELECT 1 FROM subject_request r WHERE r.municipality_code = p.municipality_code \
         AND r.address_number = p.address_number AND r.status = 'open')",
    ),
    (
        "健康被害救済の案件",
        "EXISTS (SELECT 1 FROM relief_case c WHERE c.municipality_code = p.municipality_code \
         AND c.address_number = p.address_number)",
    ),
    (
        "記録の統合",
        "EXISTS (SELECT 1 FROM person_link l WHERE l.municipality_code = p.municipality_code \
         AND (l.primary_address = p.address_number OR l.secondary_address = p.address_number))",
    ),
];

fn eligible_sql(extra: &str) -> String {
    let kept: Vec<String> = KEPT.iter().map(|(_, c)| format!("NOT {c}")).collect();
    format!(
        "SELECT p.address_number, p.changed_on, p.resident_status FROM person p \
         WHERE {ENDED} AND {} {extra} ORDER BY p.changed_on, p.address_number",
        kept.join(" AND ")
    )
}

fn item_from_row(r: &impl Columns) -> Result<PurgeItem, StoreError> {
    Ok(PurgeItem {
        address_number: r.try_get("address_number")?,
        ended_on: r
            .try_get::<Option<String>>("changed_on")?
            .unwrap_or_default(),
        resident_status: r.try_get("resident_status")?,
    })
}

/// The tables deleted from, each with the condition naming the persons (`{list}`, and `{t}`
/// for the municipality inside a subquery): the label the certificate counts under, the table,
/// the condition. Dependents before what they name.
const DELETED: [(&str, &str, &str); 15] = [
    (
        "要確認の対応記録",
        "dose_review",
        "dose_id IN (SELECT dose_id FROM dose WHERE municipality_code = {t} AND address_number IN ({list}))",
    ),
    (
        "接種記録の以前の版",
        "dose_history",
        "dose_id IN (SELECT dose_id FROM dose WHERE municipality_code = {t} AND address_number IN ({list}))",
    ),
    ("接種記録", "dose", "address_number IN ({list})"),
    (
        "宛名の以前の版",
        "person_history",
        "address_number IN ({list})",
    ),
    ("勧奨通知", "notice", "address_number IN ({list})"),
    ("接種券", "ticket", "address_number IN ({list})"),
    ("予防接種済証", "certificate", "address_number IN ({list})"),
    ("利用停止", "use_suspension", "address_number IN ({list})"),
    (
        "実費徴収の免除決定",
        "cost_exemption",
        "address_number IN ({list})",
    ),
    (
        "開示等の請求",
        "subject_request",
        "address_number IN ({list})",
    ),
    (
        "リマインダーで知らせた接種",
        "mail_item",
        "child_address IN ({list})",
    ),
    // A failed mail's error may quote the guardian's address.
    (
        "リマインダーの送信記録",
        "mail_sent",
        "subscription_id IN (SELECT subscription_id FROM mail_subscription \
         WHERE municipality_code = {t} AND address_number IN ({list}))",
    ),
    (
        "リマインダーの登録",
        "mail_subscription",
        "address_number IN ({list})",
    ),
    (
        "取込エラーの行",
        "import_row_error",
        "address_number IN ({list})",
    ),
    ("宛名", "person", "address_number IN ({list})"),
];

const CHUNK: usize = 400;

impl Store {
    /// How many persons past the cutoff are kept, by why (the plan lists those who go).
    pub async fn purge_kept(
        &self,
        tenant: MunicipalityCode,
        cutoff: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let params = [Value::text(tenant.as_string()), Value::text(cutoff)];
        let mut kept = BTreeMap::new();
        for (label, condition) in KEPT {
            let n: i64 = self
                .fetch_all(
                    &format!("SELECT COUNT(*) AS n FROM person p WHERE {ENDED} AND {condition}"),
                    &params,
                    |r| r.try_get("n"),
                )
                .await?
                .first()
                .copied()
                .unwrap_or(0);
            if n > 0 {
                kept.insert(label.to_owned(), n);
            }
        }
        Ok(kept)
    }

    /// Keeps a plan: the rule, the cutoff and the persons it would delete.
    pub async fn plan_purge(
        &self,
        tenant: MunicipalityCode,
        years_after_end: i64,
        cutoff: &str,
        by: &str,
    ) -> Result<PurgeRun, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let items: Vec<PurgeItem> = sqlx::query(AssertSqlSafe(eligible_sql("")))
            .bind(&code)
            .bind(cutoff)
            .fetch_all(&mut *db)
            .await?
            .iter()
            .map(item_from_row)
            .collect::<Result<_, _>>()?;
        let id = take_numbers(&mut db, tenant, "purge_run", 1).await?;
        let run_id = i64::try_from(id).map_err(|_| StoreError::Corrupt("purge_run".into()))?;
        let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO purge_run (municipality_code, run_id, years_after_end, cutoff, status, \
             person_count, planned_by, planned_at) VALUES ($1, $2, $3, $4, 'planned', $5, $6, $7)",
        )
        .bind(&code)
        .bind(run_id)
        .bind(years_after_end)
        .bind(cutoff)
        .bind(count)
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        for chunk in items.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO purge_item (municipality_code, run_id, address_number, ended_on, \
                 resident_status) VALUES {}",
                Params::new(self.backend()).groups(chunk.len(), 5)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for i in chunk {
                q = q
                    .bind(code.clone())
                    .bind(run_id)
                    .bind(i.address_number.clone())
                    .bind(i.ended_on.clone())
                    .bind(i.resident_status);
            }
            q.execute(&mut *db).await?;
        }
        db.commit().await?;
        self.purge_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("purge_run".into()))
    }

    pub async fn purge_run(
        &self,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<Option<PurgeRun>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM purge_run WHERE municipality_code = $1 AND run_id = $2",
            &[Value::text(tenant.as_string()), Value::Int(Some(run_id))],
            |r| run_from_row(r),
        )
        .await
    }

    /// Every plan, newest first.
    pub async fn purge_runs(&self, tenant: MunicipalityCode) -> Result<Vec<PurgeRun>, StoreError> {
        self.fetch_all(
            "SELECT * FROM purge_run WHERE municipality_code = $1 ORDER BY run_id DESC",
            &[Value::text(tenant.as_string())],
            |r| run_from_row(r),
        )
        .await
    }

    /// The persons a plan waiting for approval or deletion names.
    pub async fn purge_items(
        &self,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<Vec<PurgeItem>, StoreError> {
        self.fetch_all(
            "SELECT address_number, ended_on AS changed_on, resident_status FROM purge_item \
             WHERE municipality_code = $1 AND run_id = $2 ORDER BY ended_on, address_number",
            &[Value::text(tenant.as_string()), Value::Int(Some(run_id))],
            |r| item_from_row(r),
        )
        .await
    }

    /// Moves a plan from `from` to `to` with who did it, or says why it cannot.
    pub async fn advance_purge(
        &self,
        tenant: MunicipalityCode,
        run_id: i64,
        from: &[&str],
        to: &str,
        by: &str,
    ) -> Result<PurgeRun, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        // Placeholders in the order they appear: SQLite's are positional.
        let mut p = Params::new(self.backend());
        let (status, who, at) = (p.next(), p.next(), p.next());
        let (t, id) = (p.next(), p.next());
        let set = match to {
            "approved" => format!(", approved_by = {who}, approved_at = {at}"),
            _ => format!(", done_by = {who}, done_at = {at}"),
        };
        let sql = format!(
            "UPDATE purge_run SET status = {status}{set} WHERE municipality_code = {t} \
             AND run_id = {id} AND status IN ({})",
            p.list(from.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to)
            .bind(by)
            .bind(now_utc())
            .bind(&code)
            .bind(run_id);
        for f in from {
            q = q.bind(*f);
        }
        let changed = q.execute(&mut *db).await?.rows_affected();
        if changed == 0 {
            return Err(match self.purge_run(tenant, run_id).await? {
                None => StoreError::NotFound(format!("削除計画 {run_id}")),
                Some(r) => StoreError::Invalid(format!(
                    "削除計画 {run_id} は {} です",
                    status_label(&r.status)
                )),
            });
        }
        if to == "cancelled" {
            sqlx::query("DELETE FROM purge_item WHERE municipality_code = $1 AND run_id = $2")
                .bind(&code)
                .bind(run_id)
                .execute(&mut *db)
                .await?;
        }
        db.commit().await?;
        self.purge_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("purge_run".into()))
    }

    /// Deletes an approved plan's persons who are still past the period and not kept, and
    /// writes the certificate `certify` makes of what was deleted, with its signature, in the
    /// same transaction. Returns the run and the address numbers deleted (for the audit entry).
    pub async fn execute_purge(
        &self,
        tenant: MunicipalityCode,
        run_id: i64,
        by: &str,
        certify: impl FnOnce(&PurgeOutcome) -> Result<(String, String), StoreError>,
    ) -> Result<(PurgeRun, Vec<String>), StoreError> {
        let code = tenant.as_string();
        let run = self
            .purge_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("削除計画 {run_id}")))?;
        let mut db = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE purge_run SET status = 'done', done_by = $1, done_at = $2 \
             WHERE municipality_code = $3 AND run_id = $4 AND status = 'approved'",
        )
        .bind(by)
        .bind(now_utc())
        .bind(&code)
        .bind(run_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "削除計画 {run_id} は {} です (承認された計画だけを実行できます)",
                status_label(&run.status)
            )));
        }
        // Still past the period and not kept now, not only when planned.
        let still: Vec<PurgeItem> = sqlx::query(AssertSqlSafe(eligible_sql(
            "AND EXISTS (SELECT 1 FROM purge_item i WHERE i.municipality_code = p.municipality_code \
             AND i.run_id = $3 AND i.address_number = p.address_number)",
        )))
        .bind(&code)
        .bind(&run.cutoff)
        .bind(run_id)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(item_from_row)
        .collect::<Result<_, _>>()?;
        let mut deleted: BTreeMap<String, u64> = BTreeMap::new();
        for chunk in still.chunks(CHUNK) {
            let authorise = format!(
                "INSERT INTO purge_authorised (municipality_code, address_number) VALUES {}",
                Params::new(self.backend()).groups(chunk.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(authorise));
            for i in chunk {
                q = q.bind(code.clone()).bind(i.address_number.clone());
            }
            q.execute(&mut *db).await?;
            for (label, table, condition) in DELETED {
                // Placeholders in the order they appear: SQLite's are positional.
                let mut p = Params::new(self.backend());
                let outer = p.next();
                let inner = condition.contains("{t}").then(|| p.next());
                let list = p.list(chunk.len());
                let sql = format!(
                    "DELETE FROM {table} WHERE municipality_code = {outer} AND {}",
                    condition
                        .replace("{t}", inner.as_deref().unwrap_or_default())
                        .replace("{list}", &list)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(code.clone());
                if inner.is_some() {
                    q = q.bind(code.clone());
                }
                for i in chunk {
                    q = q.bind(i.address_number.clone());
                }
                *deleted.entry(label.to_owned()).or_default() +=
                    q.execute(&mut *db).await?.rows_affected();
            }
        }
        sqlx::query("DELETE FROM purge_authorised WHERE municipality_code = $1")
            .bind(&code)
            .execute(&mut *db)
            .await?;
        sqlx::query("DELETE FROM purge_item WHERE municipality_code = $1 AND run_id = $2")
            .bind(&code)
            .bind(run_id)
            .execute(&mut *db)
            .await?;
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        for i in &still {
            let label = if i.resident_status == 3 {
                "死亡"
            } else {
                "転出"
            };
            *by_status.entry(label.to_owned()).or_default() += 1;
        }
        let outcome = PurgeOutcome {
            run: run.clone(),
            persons: still.len() as u64,
            no_longer_eligible: u64::try_from(run.person_count)
                .unwrap_or(0)
                .saturating_sub(still.len() as u64),
            by_status,
            ended_between: still
                .first()
                .zip(still.last())
                .map(|(a, b)| (a.ended_on.clone(), b.ended_on.clone())),
            deleted,
        };
        let (certificate, signature) = certify(&outcome)?;
        sqlx::query(
            "UPDATE purge_run SET certificate = $1, signature = $2 \
             WHERE municipality_code = $3 AND run_id = $4",
        )
        .bind(&certificate)
        .bind(&signature)
        .bind(&code)
        .bind(run_id)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        let run = self
            .purge_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("purge_run".into()))?;
        Ok((run, still.into_iter().map(|i| i.address_number).collect()))
    }
}

/// What a deletion did, for its certificate.
#[derive(Debug, Clone)]
pub struct PurgeOutcome {
    pub run: PurgeRun,
    pub persons: u64,
    /// Planned, but no longer past the period or now kept (moved back in, a request since …).
    pub no_longer_eligible: u64,
    pub by_status: BTreeMap<String, u64>,
    /// The earliest and latest day of death or move-out among those deleted.
    pub ended_between: Option<(String, String)>,
    /// Rows deleted, by what they were.
    pub deleted: BTreeMap<String, u64>,
}

pub fn status_label(status: &str) -> &str {
    match status {
        "planned" => "承認待ち",
        "approved" => "承認済み",
        "done" => "削除済み",
        "cancelled" => "取消",
        other => other,
    }
}
