//! Notice runs, the notices and tickets they issue, and the numbers they use.
//!
//! A run is kept from the moment it is planned: the exact list a second user approves is the
//! list that is printed. Notices are first-class records per person (the national database
//! links doses to the notices behind them); tickets carry their own number and are invalidated,
//! never deleted, when re-issued.

use crate::columns::Columns;
use crate::sql::Value;
use sesshu_domain::{CivilDate, MunicipalityCode};

use crate::recall::{Listed, RecallBasis, RecallMember, RecallQuery};
use crate::{Store, StoreError, now_utc};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Planned; a second user must approve before it is issued (four-eyes).
    AwaitingApproval,
    /// Planned (and approved where required); nothing printed yet.
    Ready,
    /// Numbers assigned and files being written; resumable.
    Issuing,
    Issued,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Ready => "ready",
            Self::Issuing => "issuing",
            Self::Issued => "issued",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "awaiting_approval" => Self::AwaitingApproval,
            "ready" => Self::Ready,
            "issuing" => Self::Issuing,
            "issued" => Self::Issued,
            "cancelled" => Self::Cancelled,
            _ => return Err(StoreError::Corrupt("notice_run.status".into())),
        })
    }
}

/// A kept run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NoticeRun {
    pub run_id: String,
    pub series_key: String,
    pub dose: Option<u32>,
    pub basis: RecallBasis,
    pub period_from: CivilDate,
    pub period_to: CivilDate,
    pub as_of: CivilDate,
    /// Which documents it prints: `notice`, `ticket`, `form`.
    pub documents: Vec<String>,
    pub recall_of: Option<String>,
    pub release_protected: bool,
    pub status: RunStatus,
    pub person_count: u64,
    pub summary: serde_json::Value,
    pub created_by: String,
    pub created_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: Option<String>,
    /// Where its files were written (set when printing starts).
    pub output_dir: Option<String>,
}

impl NoticeRun {
    /// The query this run was planned from (to re-check its list before printing).
    pub fn query(&self) -> RecallQuery {
        RecallQuery {
            series: self.series_key.clone(),
            dose: self.dose,
            from: self.period_from,
            to: self.period_to,
            basis: self.basis,
            recall_of: self.recall_of.clone(),
            as_of: self.as_of,
        }
    }
}

/// A notice to one person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    pub run_id: String,
    pub address_number: String,
    pub notice_number: String,
    pub series_key: String,
    pub dose: u32,
    pub stage: String,
    pub window: [CivilDate; 2],
    /// 標準的な接種期間, when the rules give one.
    pub standard_window: Option<[CivilDate; 2]>,
    pub reason: String,
    pub address_withheld: bool,
    pub ticket_number: Option<String>,
    /// When its run was issued (only in a person's list).
    pub issued_at: Option<String>,
}

impl Notice {
    /// What the second check compares it against.
    pub fn listed(&self) -> Listed<'_> {
        Listed {
            address_number: &self.address_number,
            protected: self.address_withheld,
            dose: self.dose,
            window: self.window,
        }
    }
}

/// A ticket as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ticket {
    pub ticket_number: String,
    pub address_number: String,
    pub series_key: String,
    pub dose: u32,
    pub number_line: String,
    pub valid_from: CivilDate,
    pub valid_until: CivilDate,
    pub run_id: Option<String>,
    pub issued_by: String,
    pub issued_at: String,
    pub reissue_of: Option<String>,
    pub invalidated_at: Option<String>,
}

/// A file a run wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunPart {
    pub document: String,
    pub part: u32,
    pub file_name: String,
    pub pages: u64,
    pub sha256: String,
}

/// What a new run holds.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub query: &'a RecallQuery,
    pub documents: &'a [String],
    pub release_protected: bool,
    pub needs_approval: bool,
    pub summary: serde_json::Value,
    pub members: &'a [RecallMember],
    pub by: &'a str,
}

/// The 18-digit line of a ticket, made by the caller from the series, dose and ticket number.
pub type NumberLine<'a> = &'a (dyn Fn(&str, u32, u64) -> Option<String> + Sync);

fn date(r: &impl Columns, col: &str) -> Result<CivilDate, StoreError> {
    let s: String = r.try_get(col)?;
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("notice.{col}")))
}

fn flag(r: &impl Columns, col: &str) -> Result<bool, StoreError> {
    Ok(r.try_get::<i64>(col)? != 0)
}

fn count(r: &impl Columns, col: &str) -> Result<u32, StoreError> {
    u32::try_from(r.try_get::<i64>(col)?).map_err(|_| StoreError::Corrupt(col.into()))
}

fn run_from_row(r: &impl Columns) -> Result<NoticeRun, StoreError> {
    let basis: String = r.try_get("basis")?;
    let documents: String = r.try_get("documents")?;
    let summary: String = r.try_get("summary")?;
    Ok(NoticeRun {
        run_id: r.try_get("run_id")?,
        series_key: r.try_get("series_key")?,
        dose: r
            .try_get::<Option<i64>>("dose")?
            .map(|d| u32::try_from(d).map_err(|_| StoreError::Corrupt("notice_run.dose".into())))
            .transpose()?,
        basis: RecallBasis::parse(&basis)
            .ok_or_else(|| StoreError::Corrupt("notice_run.basis".into()))?,
        period_from: date(r, "period_from")?,
        period_to: date(r, "period_to")?,
        as_of: date(r, "as_of")?,
        documents: documents.split(',').map(str::to_owned).collect(),
        recall_of: r.try_get("recall_of")?,
        release_protected: flag(r, "release_protected")?,
        status: RunStatus::parse(&r.try_get::<String>("status")?)?,
        person_count: u64::try_from(r.try_get::<i64>("person_count")?).unwrap_or(0),
        summary: serde_json::from_str(&summary)
            .map_err(|_| StoreError::Corrupt("notice_run.summary".into()))?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        issued_by: r.try_get("issued_by")?,
        issued_at: r.try_get("issued_at")?,
        output_dir: r.try_get("output_dir")?,
    })
}

fn notice_from_row(r: &impl Columns) -> Result<Notice, StoreError> {
    Ok(Notice {
        run_id: r.try_get("run_id")?,
        address_number: r.try_get("address_number")?,
        notice_number: r.try_get("notice_number")?,
        series_key: r.try_get("series_key")?,
        dose: count(r, "dose")?,
        stage: r.try_get("stage")?,
        window: [date(r, "window_from")?, date(r, "window_to")?],
        standard_window: match (
            r.try_get::<Option<String>>("standard_from")?,
            r.try_get::<Option<String>>("standard_to")?,
        ) {
            (Some(a), Some(b)) => Some([
                a.parse()
                    .map_err(|_| StoreError::Corrupt("notice.standard_from".into()))?,
                b.parse()
                    .map_err(|_| StoreError::Corrupt("notice.standard_to".into()))?,
            ]),
            _ => None,
        },
        reason: r.try_get("reason")?,
        address_withheld: flag(r, "address_withheld")?,
        ticket_number: r.try_get("ticket_number")?,
        // Only the person's list joins the run; elsewhere the column is absent.
        issued_at: r.try_get::<Option<String>>("issued_at").ok().flatten(),
    })
}

fn ticket_from_row(r: &impl Columns) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        ticket_number: r.try_get("ticket_number")?,
        address_number: r.try_get("address_number")?,
        series_key: r.try_get("series_key")?,
        dose: count(r, "dose")?,
        number_line: r.try_get("number_line")?,
        valid_from: date(r, "valid_from")?,
        valid_until: date(r, "valid_until")?,
        run_id: r.try_get("run_id")?,
        issued_by: r.try_get("issued_by")?,
        issued_at: r.try_get("issued_at")?,
        reissue_of: r.try_get("reissue_of")?,
        invalidated_at: r.try_get("invalidated_at")?,
    })
}

/// Takes `n` numbers from the municipality's counter `name`; returns the first.
/// Whether two recorded operators are one person: `cli:tanaka` (the command line, named by
/// `SESSHU_OPERATOR` or the OS user) and `user:tanaka` (a staff login) are, so planning on one
/// side and approving on the other is still one pair of eyes.
pub fn same_operator(a: &str, b: &str) -> bool {
    let bare = |s: &str| {
        s.split_once(':')
            .map_or(s, |(_, name)| name)
            .trim()
            .to_lowercase()
    };
    bare(a) == bare(b)
}

pub(crate) async fn take_numbers(
    db: &mut sqlx::AnyConnection,
    tenant: MunicipalityCode,
    name: &str,
    n: u64,
) -> Result<u64, StoreError> {
    let code = tenant.as_string();
    sqlx::query(
        "INSERT INTO number_counter (municipality_code, name, value) VALUES ($1, $2, 0) \
         ON CONFLICT (municipality_code, name) DO NOTHING",
    )
    .bind(&code)
    .bind(name)
    .execute(&mut *db)
    .await?;
    let n = i64::try_from(n).map_err(|_| StoreError::Invalid("番号が多すぎます".into()))?;
    let last: i64 = sqlx::query(
        "UPDATE number_counter SET value = value + $1 WHERE municipality_code = $2 AND name = $3 \
         RETURNING value",
    )
    .bind(n)
    .bind(&code)
    .bind(name)
    .fetch_one(&mut *db)
    .await?
    .try_get("value")?;
    u64::try_from(last - n + 1).map_err(|_| StoreError::Corrupt("number_counter".into()))
}

impl Store {
    /// Keeps a planned run and its notices (numbered `<run>-<000001>`), in one transaction.
    pub async fn create_notice_run(
        &self,
        tenant: MunicipalityCode,
        new: NewRun<'_>,
    ) -> Result<NoticeRun, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let run_id = format!(
            "R{:06}",
            take_numbers(&mut db, tenant, "notice_run", 1).await?
        );
        let status = if new.needs_approval {
            RunStatus::AwaitingApproval
        } else {
            RunStatus::Ready
        };
        let q = new.query;
        sqlx::query(
            "INSERT INTO notice_run (municipality_code, run_id, series_key, dose, basis, \
             period_from, period_to, as_of, documents, recall_of, release_protected, status, \
             person_count, summary, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&code)
        .bind(&run_id)
        .bind(&q.series)
        .bind(q.dose.map(i64::from))
        .bind(q.basis.as_str())
        .bind(q.from.to_string())
        .bind(q.to.to_string())
        .bind(q.as_of.to_string())
        .bind(new.documents.join(","))
        .bind(q.recall_of.clone())
        .bind(i64::from(new.release_protected))
        .bind(status.as_str())
        .bind(i64::try_from(new.members.len()).unwrap_or(i64::MAX))
        .bind(new.summary.to_string())
        .bind(new.by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        for (i, m) in new.members.iter().enumerate() {
            sqlx::query(
                "INSERT INTO notice (municipality_code, run_id, address_number, notice_number, \
                 series_key, dose, stage, window_from, window_to, standard_from, standard_to, \
                 reason, address_withheld) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&code)
            .bind(&run_id)
            .bind(&m.address_number)
            .bind(format!("{run_id}-{:06}", i + 1))
            .bind(&q.series)
            .bind(i64::from(m.dose))
            .bind(&m.stage)
            .bind(m.window[0].to_string())
            .bind(m.window[1].to_string())
            .bind(m.standard_window.map(|[a, _]| a.to_string()))
            .bind(m.standard_window.map(|[_, b]| b.to_string()))
            .bind(&m.reason)
            .bind(i64::from(m.protected && !new.release_protected))
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        self.notice_run(tenant, &run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("notice_run".into()))
    }

    pub async fn notice_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Option<NoticeRun>, StoreError> {
        sqlx::query("SELECT * FROM notice_run WHERE municipality_code = $1 AND run_id = $2")
            .bind(tenant.as_string())
            .bind(run_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(run_from_row)
            .transpose()
    }

    /// Runs, newest first.
    pub async fn notice_runs(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<NoticeRun>, StoreError> {
        sqlx::query("SELECT * FROM notice_run WHERE municipality_code = $1 ORDER BY run_id DESC")
            .bind(tenant.as_string())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// The newest run of a series that was not cancelled: what a new extraction is compared with.
    pub async fn previous_run(
        &self,
        tenant: MunicipalityCode,
        series: &str,
    ) -> Result<Option<NoticeRun>, StoreError> {
        sqlx::query(
            "SELECT * FROM notice_run WHERE municipality_code = $1 AND series_key = $2 \
             AND status <> 'cancelled' ORDER BY run_id DESC LIMIT 1",
        )
        .bind(tenant.as_string())
        .bind(series)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(run_from_row)
        .transpose()
    }

    pub async fn notices_of_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Vec<Notice>, StoreError> {
        sqlx::query(
            "SELECT * FROM notice WHERE municipality_code = $1 AND run_id = $2 ORDER BY notice_number",
        )
        .bind(tenant.as_string())
        .bind(run_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(notice_from_row)
        .collect()
    }

    /// The first `limit` notices of a run, in number order: what a reviewer samples.
    pub async fn first_notices_of_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError> {
        sqlx::query(
            "SELECT * FROM notice WHERE municipality_code = $1 AND run_id = $2 \
             ORDER BY notice_number LIMIT $3",
        )
        .bind(tenant.as_string())
        .bind(run_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(notice_from_row)
        .collect()
    }

    /// Every notice a person was sent, newest first.
    pub async fn notices_of_person(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<Notice>, StoreError> {
        self.fetch_all(
            "SELECT n.*, r.issued_at FROM notice n JOIN notice_run r ON r.municipality_code = n.municipality_code \
             AND r.run_id = n.run_id WHERE n.municipality_code = $1 AND n.address_number = $2 \
             AND r.status IN ('issuing', 'issued') ORDER BY n.run_id DESC",
            &[Value::text(tenant.as_string()), Value::text(address_number)],
            |r| notice_from_row(r),
        )
        .await
    }

    /// Four-eyes: a second user approves a planned run. The planner cannot approve their own.
    pub async fn approve_notice_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        by: &str,
    ) -> Result<NoticeRun, StoreError> {
        let run = self
            .notice_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("通知 {run_id}")))?;
        if run.status != RunStatus::AwaitingApproval {
            return Err(StoreError::Invalid(format!(
                "{run_id} は承認待ちではありません ({})",
                run.status.as_str()
            )));
        }
        if same_operator(&run.created_by, by) {
            return Err(StoreError::Invalid(
                "抽出した人は自分の通知を承認できません: 別の職員が承認してください".into(),
            ));
        }
        sqlx::query(
            "UPDATE notice_run SET status = 'ready', approved_by = $1, approved_at = $2 \
             WHERE municipality_code = $3 AND run_id = $4 AND status = 'awaiting_approval'",
        )
        .bind(by)
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(run_id)
        .execute(self.pool())
        .await?;
        self.notice_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("notice_run".into()))
    }

    pub async fn cancel_notice_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE notice_run SET status = 'cancelled' WHERE municipality_code = $1 AND run_id = $2 \
             AND status IN ('awaiting_approval', 'ready')",
        )
        .bind(tenant.as_string())
        .bind(run_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "{run_id} は取り消せません (発行を始めた通知は取り消せません)"
            )));
        }
        Ok(())
    }

    /// Starts issuing into `output_dir`: gives every notice of the run a ticket (when the run
    /// prints tickets) and marks the run issuing, in one transaction. Idempotent: a resumed run
    /// keeps its numbers (and records where it is being written now).
    pub async fn begin_issue(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        by: &str,
        number_line: Option<NumberLine<'_>>,
        output_dir: &str,
    ) -> Result<NoticeRun, StoreError> {
        let run = self
            .notice_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("通知 {run_id}")))?;
        match run.status {
            RunStatus::Ready => {}
            RunStatus::Issuing => {
                if run.output_dir.as_deref() != Some(output_dir) {
                    sqlx::query(
                        "UPDATE notice_run SET output_dir = $1 WHERE municipality_code = $2 \
                         AND run_id = $3",
                    )
                    .bind(output_dir)
                    .bind(tenant.as_string())
                    .bind(run_id)
                    .execute(self.pool())
                    .await?;
                }
                return self
                    .notice_run(tenant, run_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("notice_run".into()));
            }
            RunStatus::AwaitingApproval => {
                return Err(StoreError::Invalid(format!(
                    "{run_id} は承認待ちです: 別の職員の承認が必要です"
                )));
            }
            s => {
                return Err(StoreError::Invalid(format!(
                    "{run_id} は発行できません ({})",
                    s.as_str()
                )));
            }
        }
        let code = tenant.as_string();
        let notices = self.notices_of_run(tenant, run_id).await?;
        let mut db = self.begin_write().await?;
        if let Some(line) = number_line {
            let first = take_numbers(&mut db, tenant, "ticket", notices.len() as u64).await?;
            let now = now_utc();
            for (i, n) in notices.iter().enumerate() {
                let number = first + i as u64;
                let text = format!("{number:010}");
                let line = line(&n.series_key, n.dose, number)
                    .ok_or_else(|| StoreError::Invalid("券番号が10桁を超えました".into()))?;
                let ticket = Ticket {
                    ticket_number: text.clone(),
                    address_number: n.address_number.clone(),
                    series_key: n.series_key.clone(),
                    dose: n.dose,
                    number_line: line,
                    valid_from: n.window[0],
                    valid_until: n.window[1],
                    run_id: Some(run_id.to_owned()),
                    issued_by: by.to_owned(),
                    issued_at: now.clone(),
                    reissue_of: None,
                    invalidated_at: None,
                };
                insert_ticket(&mut db, tenant, &ticket).await?;
                sqlx::query(
                    "UPDATE notice SET ticket_number = $1 WHERE municipality_code = $2 \
                     AND run_id = $3 AND address_number = $4",
                )
                .bind(&text)
                .bind(&code)
                .bind(run_id)
                .bind(&n.address_number)
                .execute(&mut *db)
                .await?;
            }
        }
        sqlx::query(
            "UPDATE notice_run SET status = 'issuing', issued_by = $1, output_dir = $2 \
             WHERE municipality_code = $3 AND run_id = $4",
        )
        .bind(by)
        .bind(output_dir)
        .bind(&code)
        .bind(run_id)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        self.notice_run(tenant, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("notice_run".into()))
    }

    pub async fn record_run_part(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
        part: &RunPart,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notice_run_part (municipality_code, run_id, document, part, file_name, \
             pages, sha256, written_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_string())
        .bind(run_id)
        .bind(&part.document)
        .bind(i64::from(part.part))
        .bind(&part.file_name)
        .bind(i64::try_from(part.pages).unwrap_or(i64::MAX))
        .bind(&part.sha256)
        .bind(now_utc())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn run_parts(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Vec<RunPart>, StoreError> {
        sqlx::query(
            "SELECT * FROM notice_run_part WHERE municipality_code = $1 AND run_id = $2 \
             ORDER BY document, part",
        )
        .bind(tenant.as_string())
        .bind(run_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(RunPart {
                document: r.try_get("document")?,
                part: count(r, "part")?,
                file_name: r.try_get("file_name")?,
                pages: u64::try_from(r.try_get::<i64>("pages")?).unwrap_or(0),
                sha256: r.try_get("sha256")?,
            })
        })
        .collect()
    }

    pub async fn finish_issue(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notice_run SET status = 'issued', issued_at = $1 WHERE municipality_code = $2 \
             AND run_id = $3 AND status = 'issuing'",
        )
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(run_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn ticket(
        &self,
        tenant: MunicipalityCode,
        ticket_number: &str,
    ) -> Result<Option<Ticket>, StoreError> {
        sqlx::query("SELECT * FROM ticket WHERE municipality_code = $1 AND ticket_number = $2")
            .bind(tenant.as_string())
            .bind(ticket_number)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(ticket_from_row)
            .transpose()
    }

    pub async fn tickets_of_person(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<Ticket>, StoreError> {
        self.fetch_all(
            "SELECT * FROM ticket WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY ticket_number DESC",
            &[Value::text(tenant.as_string()), Value::text(address_number)],
            |r| ticket_from_row(r),
        )
        .await
    }

    /// 再発行: a new number for the same person, dose and validity; the old number is invalid
    /// from now on. Refused for a ticket already invalidated.
    pub async fn reissue_ticket(
        &self,
        tenant: MunicipalityCode,
        ticket_number: &str,
        by: &str,
        number_line: NumberLine<'_>,
    ) -> Result<Ticket, StoreError> {
        let old = self
            .ticket(tenant, ticket_number)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("接種券 {ticket_number}")))?;
        if old.invalidated_at.is_some() {
            return Err(StoreError::Invalid(format!(
                "接種券 {ticket_number} はすでに無効です"
            )));
        }
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let now = now_utc();
        let changed = sqlx::query(
            "UPDATE ticket SET invalidated_at = $1, invalidated_by = $2 WHERE municipality_code = $3 \
             AND ticket_number = $4 AND invalidated_at IS NULL",
        )
        .bind(&now)
        .bind(by)
        .bind(&code)
        .bind(ticket_number)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "接種券 {ticket_number} はすでに無効です"
            )));
        }
        let number = take_numbers(&mut db, tenant, "ticket", 1).await?;
        let text = format!("{number:010}");
        let line = number_line(&old.series_key, old.dose, number)
            .ok_or_else(|| StoreError::Invalid("券番号が10桁を超えました".into()))?;
        let ticket = Ticket {
            ticket_number: text.clone(),
            number_line: line,
            issued_by: by.to_owned(),
            issued_at: now,
            reissue_of: Some(ticket_number.to_owned()),
            invalidated_at: None,
            ..old
        };
        insert_ticket(&mut db, tenant, &ticket).await?;
        db.commit().await?;
        self.ticket(tenant, &text)
            .await?
            .ok_or_else(|| StoreError::Corrupt("ticket".into()))
    }
}

async fn insert_ticket(
    db: &mut sqlx::AnyConnection,
    tenant: MunicipalityCode,
    t: &Ticket,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ticket (municipality_code, ticket_number, address_number, series_key, dose, \
         number_line, valid_from, valid_until, run_id, issued_by, issued_at, reissue_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tenant.as_string())
    .bind(&t.ticket_number)
    .bind(&t.address_number)
    .bind(&t.series_key)
    .bind(i64::from(t.dose))
    .bind(&t.number_line)
    .bind(t.valid_from.to_string())
    .bind(t.valid_until.to_string())
    .bind(t.run_id.clone())
    .bind(&t.issued_by)
    .bind(&t.issued_at)
    .bind(t.reissue_of.clone())
    .execute(&mut *db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_operator;

    #[test]
    fn one_person_on_the_command_line_and_the_pages_is_one_pair_of_eyes() {
        assert!(same_operator("cli:tanaka", "user:tanaka"));
        assert!(same_operator("cli:Tanaka", "cli:tanaka"));
        assert!(same_operator("cli", "cli"));
        assert!(!same_operator("cli:tanaka", "user:suzuki"));
        assert!(!same_operator("cli:checker", "cli:root"));
    }
}
