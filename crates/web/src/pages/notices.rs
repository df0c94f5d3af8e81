//! `/notices`: the recall runs planned with `sesshu notices issue`, what each would send and
//! why, and the second user's approval (four-eyes) from a logged-in account — the approver is a
//! staff login with `notice.run`, never the planner under another name.
//!
//! Printing stays with the command line (a batch that writes files for the print vendor); these
//! pages are where a colleague reviews and approves or cancels what was planned.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_store::{Notice, NoticeRun, Outcome, RunStatus, StoreError};

use super::{Chrome, PageError, Staff, render};
use crate::AppState;
use crate::api::audit;

/// Notices listed on a run's page for review.
const SAMPLE: u32 = 20;

fn status_label(s: RunStatus) -> &'static str {
    match s {
        RunStatus::AwaitingApproval => "承認待ち",
        RunStatus::Ready => "印刷可",
        RunStatus::Issuing => "印刷中",
        RunStatus::Issued => "発行済",
        RunStatus::Cancelled => "取消",
    }
}

/// A run as the list shows it.
struct RunRow {
    run_id: String,
    series: String,
    period: String,
    persons: u64,
    status: &'static str,
    created_by: String,
    approved_by: String,
}

impl From<&NoticeRun> for RunRow {
    fn from(r: &NoticeRun) -> Self {
        Self {
            run_id: r.run_id.clone(),
            series: series_label(r),
            period: format!("{}〜{}", r.period_from, r.period_to),
            persons: r.person_count,
            status: status_label(r.status),
            created_by: r.created_by.clone(),
            approved_by: r.approved_by.clone().unwrap_or_default(),
        }
    }
}

fn series_label(r: &NoticeRun) -> String {
    let name = r.summary["series_name"]
        .as_str()
        .unwrap_or(&r.series_key)
        .to_owned();
    match r.dose {
        Some(d) => format!("{name} {d}回目"),
        None => name,
    }
}

#[derive(Template)]
#[template(path = "notices.html")]
struct ListPage {
    chrome: Chrome,
    runs: Vec<RunRow>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::NoticeRun, "notice.list")
        .await?;
    let runs = state.store.notice_runs(staff.tenant).await?;
    Ok(render(&ListPage {
        chrome: staff.chrome(&state, "通知").await,
        runs: runs.iter().map(RunRow::from).collect(),
    }))
}

#[derive(Template)]
#[template(path = "notice_run.html")]
struct RunPage {
    chrome: Chrome,
    run: RunRow,
    basis: &'static str,
    as_of: String,
    documents: String,
    release_protected: bool,
    recall_of: String,
    approved_at: String,
    issued: String,
    awaiting: bool,
    cancellable: bool,
    /// (label, value) of the dry run kept with the run.
    counts: Vec<(String, String)>,
    cohorts: Vec<(String, String, String)>,
    excluded: Vec<(String, String)>,
    checks_passed: bool,
    sample: Vec<Notice>,
    notice: Option<String>,
    error: Option<String>,
}

async fn run_page(
    state: &AppState,
    staff: &Staff,
    run_id: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let run = state
        .store
        .notice_run(staff.tenant, run_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let sample = state
        .store
        .first_notices_of_run(staff.tenant, run_id, SAMPLE)
        .await?;
    audit(
        state,
        &staff.caller,
        "notice.read",
        Outcome::Ok,
        sample.iter().map(|n| n.address_number.clone()).collect(),
        json!({"run": run.run_id, "via": "page"}),
    )
    .await?;
    let s = &run.summary;
    let number = |v: &serde_json::Value| v.as_u64().map(|n| n.to_string()).unwrap_or_default();
    let mut counts = vec![
        ("対象者".to_owned(), number(&s["count"])),
        ("うち支援措置".to_owned(), number(&s["protected"])),
        ("調べた人数".to_owned(), number(&s["examined"])),
    ];
    if let Some(d) = s["difference"].as_object() {
        counts.push((
            "前回".to_owned(),
            format!(
                "{} ({} 人): 新規 {}、継続 {}、除外 {}",
                d["previous_run"].as_str().unwrap_or(""),
                number(&d["previous_count"]),
                number(&d["new"]),
                number(&d["kept"]),
                number(&d["dropped"])
            ),
        ));
    }
    let cohorts = s["cohorts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["born"].as_str().unwrap_or("").to_owned(),
                        number(&c["count"]),
                        format!(
                            "{}〜{}",
                            c["window"][0].as_str().unwrap_or(""),
                            c["window"][1].as_str().unwrap_or("")
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let excluded = s["excluded"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), number(v))).collect())
        .unwrap_or_default();
    Ok(render(&RunPage {
        chrome: staff.chrome(state, &format!("通知 {}", run.run_id)).await,
        basis: match run.basis {
            sesshu_store::RecallBasis::Opens => "期間内に接種できる期間が始まる人",
            sesshu_store::RecallBasis::Open => "期間内に接種できて未接種の人",
        },
        as_of: run.as_of.to_string(),
        documents: run
            .documents
            .iter()
            .map(|d| match d.as_str() {
                "notice" => "勧奨通知",
                "ticket" => "接種券",
                "form" => "予診票",
                other => other,
            })
            .collect::<Vec<_>>()
            .join("、"),
        release_protected: run.release_protected,
        recall_of: run.recall_of.clone().unwrap_or_default(),
        approved_at: run.approved_at.clone().unwrap_or_default(),
        issued: match (&run.issued_by, &run.issued_at) {
            (Some(by), Some(at)) => format!("{at} {by}"),
            _ => String::new(),
        },
        awaiting: run.status == RunStatus::AwaitingApproval,
        cancellable: matches!(run.status, RunStatus::AwaitingApproval | RunStatus::Ready),
        checks_passed: s["checks"]["passed"].as_bool().unwrap_or(false),
        run: RunRow::from(&run),
        counts,
        cohorts,
        excluded,
        sample,
        notice,
        error,
    }))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::NoticeRun, "notice.read")
        .await?;
    run_page(&state, &staff, &run_id, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// The second user's approval: refused for the planner, whichever side they planned on.
pub(crate) async fn approve(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    act(&state, &staff, &run_id, &f, "notice.approve").await
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    act(&state, &staff, &run_id, &f, "notice.cancel").await
}

async fn act(
    state: &AppState,
    staff: &Staff,
    run_id: &str,
    f: &ActionForm,
    function: &str,
) -> Result<Response, PageError> {
    staff
        .require(state, Permission::NoticeRun, function)
        .await?;
    staff.check_csrf(&f.csrf)?;
    if state
        .store
        .notice_run(staff.tenant, run_id)
        .await?
        .is_none()
    {
        return Err(PageError::NotFound);
    }
    let approving = function == "notice.approve";
    let result = if approving {
        state
            .store
            .approve_notice_run(staff.tenant, run_id, &staff.caller.actor)
            .await
            .map(|_| ())
    } else {
        state.store.cancel_notice_run(staff.tenant, run_id).await
    };
    let (outcome, detail, notice, error) = match result {
        Ok(()) => (
            Outcome::Ok,
            json!({"run": run_id, "via": "page"}),
            Some(if approving {
                format!(
                    "{run_id} を承認しました。印刷できます (sesshu notices issue --run {run_id})。"
                )
            } else {
                format!("{run_id} を取り消しました。")
            }),
            None,
        ),
        Err(StoreError::Invalid(m)) => (
            Outcome::Refused,
            json!({"run": run_id, "refused": m, "via": "page"}),
            None,
            Some(m),
        ),
        Err(e) => return Err(e.into()),
    };
    audit(state, &staff.caller, function, outcome, vec![], detail).await?;
    run_page(state, staff, run_id, notice, error).await
}
