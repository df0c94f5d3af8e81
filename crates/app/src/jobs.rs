//! Background jobs: long work started from the pages runs on its own task, its progress and
//! outcome kept in the database (`sesshu_store::Job`), so the page that shows it survives a
//! reload and a restart marks what it interrupted as failed instead of leaving it running.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_store::{Job, Outcome};

use crate::{Actor, App, AppError};

/// How often a running job's progress is written down.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// How far a piece of work has come: shared by the work and whoever shows it (a progress bar
/// on the command line, the job's row for the pages).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl Progress {
    pub fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    pub fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// (done, total)
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// The permission that shows a job of this kind (the one its work needs).
pub fn permission_of(kind: &str) -> Permission {
    match kind {
        "import.run" => Permission::ImportRun,
        _ => Permission::NoticeRun,
    }
}

/// A kind of job as staff read it.
pub fn label_of(kind: &str) -> &'static str {
    match kind {
        "notice.issue" => "通知の印刷",
        "import.run" => "ファイルの取込",
        _ => "処理",
    }
}

impl App {
    /// Starts `work` as a background job of `kind` on `subject` and returns at once. The job is
    /// recorded as running (refused while another of the same kind works on the same subject);
    /// its progress is written down every half second; it ends done with the work's result or
    /// failed with its error. The work audits itself; the start is audited here.
    pub async fn start_job<F, Fut>(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        kind: &str,
        subject: &str,
        work: F,
    ) -> Result<Job, AppError>
    where
        F: FnOnce(App, Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<serde_json::Value, AppError>> + Send + 'static,
    {
        self.authorize(actor, tenant, permission_of(kind), kind)
            .await?;
        let job = self
            .store
            .start_job(tenant, kind, subject, &actor.actor, &self.runner)
            .await?;
        self.record(
            actor,
            "job.start",
            Outcome::Ok,
            vec![],
            vec![],
            serde_json::json!({"job": job.job_id, "kind": kind, "subject": subject}),
        )
        .await?;
        let app = self.clone();
        let job_id = job.job_id.clone();
        tokio::spawn(async move {
            let progress = Progress::default();
            let finished = Arc::new(AtomicBool::new(false));
            let flusher = {
                let (app, progress, finished, job_id) = (
                    app.clone(),
                    progress.clone(),
                    finished.clone(),
                    job_id.clone(),
                );
                tokio::spawn(async move {
                    let mut last = (u64::MAX, u64::MAX);
                    while !finished.load(Ordering::Relaxed) {
                        let now = progress.get();
                        if now != last {
                            if let Err(e) =
                                app.store.job_progress(tenant, &job_id, now.0, now.1).await
                            {
                                tracing::warn!(error = ?e, job = %job_id, "job progress not written");
                            }
                            last = now;
                        }
                        tokio::time::sleep(FLUSH_EVERY).await;
                    }
                })
            };
            // The work runs on its own task, so a panic in it ends the job as failed.
            let outcome = tokio::spawn(work(app.clone(), progress.clone())).await;
            finished.store(true, Ordering::Relaxed);
            let _ = flusher.await;
            let (done, total) = progress.get();
            let _ = app.store.job_progress(tenant, &job_id, done, total).await;
            let ended = match outcome {
                Ok(Ok(result)) => app.store.end_job(tenant, &job_id, Ok(&result)).await,
                Ok(Err(e)) => {
                    if !e.is_users() {
                        tracing::error!(error = ?e, job = %job_id, "job failed");
                    }
                    app.store
                        .end_job(tenant, &job_id, Err(&e.to_string()))
                        .await
                }
                Err(e) => {
                    tracing::error!(error = %e, job = %job_id, "job panicked");
                    app.store
                        .end_job(tenant, &job_id, Err("内部エラーで中断しました"))
                        .await
                }
            };
            if let Err(e) = ended {
                tracing::error!(error = ?e, job = %job_id, "job end not written");
            }
        });
        Ok(job)
    }

    /// One job, for whoever may do its kind of work.
    pub async fn job(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        job_id: &str,
    ) -> Result<Job, AppError> {
        let job = if actor.tenant == Some(tenant) {
            self.store.job(tenant, job_id).await?
        } else {
            None
        };
        let permission = job
            .as_ref()
            .map_or(Permission::NoticeRun, |j| permission_of(&j.kind));
        self.authorize(actor, tenant, permission, "job.read")
            .await?;
        job.ok_or_else(|| AppError::NotFound(format!("処理 {job_id}")))
    }

    /// The newest jobs of the kinds the actor may do.
    pub async fn jobs(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        limit: u32,
    ) -> Result<Vec<Job>, AppError> {
        if actor.tenant != Some(tenant) {
            return Err(AppError::NotFound(format!("団体 {}", tenant.as_string())));
        }
        Ok(self
            .store
            .jobs(tenant, limit)
            .await?
            .into_iter()
            .filter(|j| actor.can(permission_of(&j.kind)))
            .collect())
    }

    /// Marks failed what this server left running when it stopped; called as it starts.
    pub async fn fail_interrupted_jobs(&self) -> Result<u64, AppError> {
        Ok(self.store.fail_interrupted_jobs(&self.runner).await?)
    }
}
