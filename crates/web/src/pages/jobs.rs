//! `/jobs`: long work started from the pages (printing a run), its progress bar — the page
//! reloads itself while the job runs, and a reload or another login finds it as it is — who
//! started it, and how it ended.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use sesshu_app::jobs::label_of;
use sesshu_store::{Job, JobStatus};

use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

/// A job as staff read it.
struct JobView {
    job_id: String,
    label: &'static str,
    subject: String,
    /// Where the thing it works on is shown.
    subject_link: String,
    started_by: String,
    started_at: String,
    finished_at: String,
    running: bool,
    failed: bool,
    done: u64,
    total: u64,
    percent: u64,
    status: &'static str,
    error: String,
    /// (label, value) of the result.
    result: Vec<(String, String)>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let result = match &j.result {
            Some(r) if j.kind == "notice.issue" => {
                let v = |k: &str| match &r[k] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                vec![
                    ("人数".to_owned(), v("persons")),
                    ("ページ".to_owned(), v("pages")),
                    ("作ったファイル".to_owned(), v("files_written")),
                    ("再開で省いたファイル".to_owned(), v("files_resumed")),
                    ("秒".to_owned(), v("seconds")),
                    ("ページ/秒".to_owned(), v("pages_per_second")),
                ]
            }
            Some(r) if j.kind == "import.run" => {
                let mut lines: Vec<(String, String)> = r["counts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| {
                                (
                                    c[0].as_str().unwrap_or("").to_owned(),
                                    c[1].as_u64().unwrap_or(0).to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                lines.push((
                    "結果".to_owned(),
                    r["status"].as_str().unwrap_or("").to_owned(),
                ));
                lines
            }
            _ => vec![],
        };
        Self {
            label: label_of(&j.kind),
            subject_link: match j.kind.as_str() {
                "notice.issue" => format!("/notices/{}", j.subject),
                "import.run" => "/imports".to_owned(),
                _ => String::new(),
            },
            started_at: sesshu_domain::japan_seconds(&j.started_at),
            finished_at: j
                .finished_at
                .as_deref()
                .map(sesshu_domain::japan_seconds)
                .unwrap_or_default(),
            running: j.status == JobStatus::Running,
            failed: j.status == JobStatus::Failed,
            percent: (j.done * 100).checked_div(j.total).unwrap_or(0).min(100),
            status: match j.status {
                JobStatus::Running => "実行中",
                JobStatus::Done => "完了",
                JobStatus::Failed => "失敗",
            },
            error: j.error.unwrap_or_default(),
            done: j.done,
            total: j.total,
            job_id: j.job_id,
            subject: j.subject,
            started_by: j.started_by,
            result,
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: Chrome,
    job: JobView,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = state.app.job(&staff.caller, staff.tenant, &id).await?;
    Ok(render(&JobPage {
        chrome: staff.chrome(&state, &format!("処理 {id}")).await,
        job: job.into(),
    }))
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct ListPage {
    chrome: Chrome,
    jobs: Vec<JobView>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    let jobs = state.app.jobs(&staff.caller, staff.tenant, 100).await?;
    Ok(render(&ListPage {
        chrome: staff.chrome(&state, "処理の状況").await,
        jobs: jobs.into_iter().map(JobView::from).collect(),
    }))
}
