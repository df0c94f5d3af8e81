//! Background jobs: long work started from the pages (printing a run, importing a file), with
//! who started it, its progress and how it ended, kept in the database so a reload shows it and
//! a restart cannot leave it "running" for ever.

use crate::columns::Columns;
use crate::notices::take_numbers;
use crate::sql::Value;
use crate::{Store, StoreError, now_utc};
use sesshu_domain::MunicipalityCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return Err(StoreError::Corrupt("job.status".into())),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Job {
    pub job_id: String,
    /// What it does, as the audit log names the function (`notice.issue`, `import.run`).
    pub kind: String,
    /// What it works on (a run id, a file name).
    pub subject: String,
    pub started_by: String,
    pub started_at: String,
    /// The server process that runs it (its host name).
    pub runner: String,
    pub status: JobStatus,
    pub done: u64,
    pub total: u64,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub finished_at: Option<String>,
}

fn from_row(r: &impl Columns) -> Result<Job, StoreError> {
    let result: Option<String> = r.try_get("result")?;
    let n = |col: &str| -> Result<u64, StoreError> {
        u64::try_from(r.try_get::<i64>(col)?).map_err(|_| StoreError::Corrupt(format!("job.{col}")))
    };
    Ok(Job {
        job_id: r.try_get("job_id")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        started_by: r.try_get("started_by")?,
        started_at: r.try_get("started_at")?,
        runner: r.try_get("runner")?,
        status: JobStatus::parse(&r.try_get::<String>("status")?)?,
        done: n("done")?,
        total: n("total")?,
        result: result
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|_| StoreError::Corrupt("job.result".into()))?,
        error: r.try_get("error")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a job as running. Refused while another job of the same kind works on the same
    /// subject (a second click prints nothing twice).
    pub async fn start_job(
        &self,
        tenant: MunicipalityCode,
        kind: &str,
        subject: &str,
        by: &str,
        runner: &str,
    ) -> Result<Job, StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let n = take_numbers(&mut db, tenant, "job", 1).await?;
        let job_id = format!("J{n:06}");
        let inserted = sqlx::query(
            "INSERT INTO job (municipality_code, job_id, kind, subject, started_by, started_at, \
             runner, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running')",
        )
        .bind(&code)
        .bind(&job_id)
        .bind(kind)
        .bind(subject)
        .bind(by)
        .bind(now_utc())
        .bind(runner)
        .execute(&mut *db)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Invalid(format!(
                    "{subject} はすでに処理中です: 終わるのを待ってください"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        db.commit().await?;
        self.job(tenant, &job_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("job".into()))
    }

    pub async fn job_progress(
        &self,
        tenant: MunicipalityCode,
        job_id: &str,
        done: u64,
        total: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE job SET done = $1, total = $2 WHERE municipality_code = $3 AND job_id = $4 \
             AND status = 'running'",
        )
        .bind(int(done))
        .bind(int(total))
        .bind(tenant.as_string())
        .bind(job_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a running job, done with its result or failed with its reason.
    pub async fn end_job(
        &self,
        tenant: MunicipalityCode,
        job_id: &str,
        outcome: Result<&serde_json::Value, &str>,
    ) -> Result<(), StoreError> {
        let (status, result, error) = match outcome {
            Ok(r) => ("done", Some(r.to_string()), None),
            Err(e) => ("failed", None, Some(e.to_owned())),
        };
        sqlx::query(
            "UPDATE job SET status = $1, result = $2, error = $3, finished_at = $4, \
             done = CASE WHEN $1 = 'done' THEN total ELSE done END \
             WHERE municipality_code = $5 AND job_id = $6 AND status = 'running'",
        )
        .bind(status)
        .bind(result)
        .bind(error)
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(job_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn job(
        &self,
        tenant: MunicipalityCode,
        job_id: &str,
    ) -> Result<Option<Job>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM job WHERE municipality_code = $1 AND job_id = $2",
            &[Value::text(tenant.as_string()), Value::text(job_id)],
            |r| from_row(r),
        )
        .await
    }

    /// The newest jobs first.
    pub async fn jobs(&self, tenant: MunicipalityCode, limit: u32) -> Result<Vec<Job>, StoreError> {
        self.fetch_all(
            "SELECT * FROM job WHERE municipality_code = $1 ORDER BY started_at DESC, job_id DESC \
             LIMIT $2",
            &[
                Value::text(tenant.as_string()),
                Value::int(i64::from(limit)),
            ],
            |r| from_row(r),
        )
        .await
    }

    /// Marks failed every job this runner left running: called when a server starts, since a
    /// job never outlives the process that ran it. Returns how many there were.
    pub async fn fail_interrupted_jobs(&self, runner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE job SET status = 'failed', error = $1, finished_at = $2 \
             WHERE runner = $3 AND status = 'running'",
        )
        .bind(INTERRUPTED)
        .bind(now_utc())
        .bind(runner)
        .execute(self.pool())
        .await?
        .rows_affected())
    }
}

/// What an interrupted job says.
pub const INTERRUPTED: &str =
    "サーバーの停止で中断しました。途中までの結果は記録されていません。もう一度実行してください";
