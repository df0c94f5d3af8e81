//! `/notices`: the counter's recall work in the browser — plan a run (series, dose, period),
//! read its dry run (cohorts, sample, exclusions, the difference from the last run, the checks),
//! approval by a second login (four-eyes), printing as a background job, the PDFs and the print
//! vendor's Shift_JIS file to download, and re-issuing a lost ticket. Every step is an operation
//! of `sesshu_app`; these handlers parse the form, call it and render.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::notices::{PlanRequest, Planned, RecallForm, RunFile, series_name_of};
use sesshu_domain::access::Permission;
use sesshu_store::{Notice, NoticeRun, RunStatus};

use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

/// Notices listed on a run's page for review.
const SAMPLE: u32 = 20;
/// Persons named in a dry run before planning.
const PREVIEW_SAMPLE: usize = 20;

fn status_label(s: RunStatus) -> &'static str {
    match s {
        RunStatus::AwaitingApproval => "承認待ち",
        RunStatus::Ready => "印刷可",
        RunStatus::Issuing => "印刷中",
        RunStatus::Issued => "発行済",
        RunStatus::Cancelled => "取消",
    }
}

fn document_label(d: &str) -> &str {
    match d {
        "notice" => "勧奨通知",
        "ticket" => "接種券",
        "form" => "予診票",
        "vendor" => "印刷業者向け CSV (Shift_JIS)",
        other => other,
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
    let name = series_name_of(r);
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
    ticket_error: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    list_page(&state, &staff, None).await
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    ticket_error: Option<String>,
) -> Result<Response, PageError> {
    let runs = state.app.notice_runs(&staff.caller, staff.tenant).await?;
    Ok(render(&ListPage {
        chrome: staff.chrome(state, "通知").await,
        runs: runs.iter().map(RunRow::from).collect(),
        ticket_error,
    }))
}

/// The planning form as typed, kept to show it again with the dry run or an error.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PlanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    series: String,
    #[serde(default)]
    dose: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    basis: String,
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    release_protected: Option<String>,
}

impl PlanForm {
    fn documents(&self) -> Vec<String> {
        [
            ("notice", &self.notice),
            ("ticket", &self.ticket),
            ("form", &self.form),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_owned())
        .collect()
    }

    fn request(&self) -> Result<PlanRequest, (&'static str, String)> {
        let dose = match self.dose.trim() {
            "" => None,
            d => Some(
                d.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10).contains(n))
                    .ok_or(("dose", "回数は 1〜10 の数字で入力してください".to_owned()))?,
            ),
        };
        let query = RecallForm {
            series: self.series.clone(),
            dose,
            from: self.from.clone(),
            to: self.to.clone(),
            basis: if self.basis.is_empty() {
                "opens".into()
            } else {
                self.basis.clone()
            },
            recall_of: None,
            as_of: None,
        }
        .query()
        .map_err(|e| match e {
            AppError::Field(f, m) => (f, m),
            other => ("series", other.to_string()),
        })?;
        Ok(PlanRequest {
            query,
            documents: self.documents(),
            release_protected: self.release_protected.is_some(),
            per_file: None,
        })
    }
}

/// A dry run as the planning page shows it.
struct Preview {
    series_name: String,
    count: u64,
    protected: u64,
    examined: u64,
    cohorts: Vec<(String, String, String)>,
    excluded: Vec<(String, String)>,
    difference: Option<String>,
    sample: Vec<sesshu_app::notices::SampleLine>,
    failures: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "notice_new.html")]
struct PlanPage {
    chrome: Chrome,
    series: Vec<(String, String)>,
    f: PlanForm,
    /// (field, message) next to the field.
    field_error: Option<(&'static str, String)>,
    error: Option<String>,
    preview: Option<Preview>,
}

impl PlanPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        match &self.field_error {
            Some((f, m)) if *f == field => Some(m.as_str()),
            _ => None,
        }
    }

    fn checked(&self, v: &Option<String>) -> bool {
        v.is_some()
    }
}

pub(crate) fn series_choices(state: &AppState) -> Vec<(String, String)> {
    state
        .app
        .engine
        .rules()
        .series
        .iter()
        .map(|s| (s.key.clone(), s.name.clone()))
        .collect()
}

async fn plan_page(
    state: &AppState,
    staff: &Staff,
    f: PlanForm,
    field_error: Option<(&'static str, String)>,
    error: Option<String>,
    preview: Option<Preview>,
) -> Result<Response, PageError> {
    Ok(render(&PlanPage {
        chrome: staff.chrome(state, "通知の計画").await,
        series: series_choices(state),
        f,
        field_error,
        error,
        preview,
    }))
}

pub(crate) async fn new_form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::NoticeRun, "notice.plan")
        .await?;
    let f = PlanForm {
        basis: "opens".into(),
        notice: Some("1".into()),
        ..PlanForm::default()
    };
    plan_page(&state, &staff, f, None, None, None).await
}

fn preview_of(report: &serde_json::Value, sample: Vec<sesshu_app::notices::SampleLine>) -> Preview {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    Preview {
        series_name: text(&report["series_name"]),
        count: n(&report["count"]),
        protected: n(&report["protected"]),
        examined: n(&report["examined"]),
        cohorts: report["cohorts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            text(&c["born"]),
                            n(&c["count"]).to_string(),
                            format!("{}〜{}", text(&c["window"][0]), text(&c["window"][1])),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        excluded: report["excluded"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), n(v).to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        difference: report["difference"].as_object().map(|d| {
            format!(
                "前回 {} ({} 人) と比べて: 新規 {}、継続 {}、外れた人 {}",
                d["previous_run"].as_str().unwrap_or(""),
                d["previous_count"],
                d["new"],
                d["kept"],
                d["dropped"]
            )
        }),
        sample,
        failures: report["checks"]["failures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| (text(&x["address_number"]), text(&x["problem"])))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The dry run: changes nothing; the persons of the sample are audited as shown.
pub(crate) async fn preview(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<PlanForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::NoticeRun, "notice.extract")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let req = match f.request() {
        Ok(r) => r,
        Err(e) => return plan_page(&state, &staff, f, Some(e), None, None).await,
    };
    match state
        .app
        .extract_recall(&staff.caller, staff.tenant, &req.query, PREVIEW_SAMPLE)
        .await
    {
        Ok(x) => {
            let preview = preview_of(&x.report, x.sample);
            plan_page(&state, &staff, f, None, None, Some(preview)).await
        }
        Err(AppError::Invalid(m)) => plan_page(&state, &staff, f, None, Some(m), None).await,
        Err(e) => Err(e.into()),
    }
}

/// Keeps the run: it then awaits a second person's approval (or is ready to print).
pub(crate) async fn plan(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<PlanForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::NoticeRun, "notice.plan")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let req = match f.request() {
        Ok(r) => r,
        Err(e) => return plan_page(&state, &staff, f, Some(e), None, None).await,
    };
    match state
        .app
        .plan_recall(&staff.caller, staff.tenant, &req)
        .await
    {
        Ok(Planned::Run(run)) => {
            Ok(Redirect::to(&format!("/notices/{}?planned=1", run.run_id)).into_response())
        }
        Ok(Planned::Nobody) => {
            let m = "この条件で通知する人はいません。何も作りませんでした。".to_owned();
            plan_page(&state, &staff, f, None, Some(m), None).await
        }
        Ok(Planned::Blocked(report)) => {
            let m = "照合で問題が見つかったため、計画しませんでした。".to_owned();
            let preview = preview_of(&report, vec![]);
            plan_page(&state, &staff, f, None, Some(m), Some(preview)).await
        }
        Err(AppError::Field(field, m)) => {
            plan_page(&state, &staff, f, Some((field, m)), None, None).await
        }
        Err(e) => Err(e.into()),
    }
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
    printable: bool,
    resumable: bool,
    /// (label, value) of the dry run kept with the run.
    counts: Vec<(String, String)>,
    cohorts: Vec<(String, String, String)>,
    excluded: Vec<(String, String)>,
    checks_passed: bool,
    sample: Vec<Notice>,
    files: Vec<(RunFile, String)>,
    /// The newest print job of this run (id, state as staff read it).
    job: Option<(String, String)>,
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
    let (run, sample) = state
        .app
        .notice_run(&staff.caller, staff.tenant, run_id, SAMPLE)
        .await?;
    let files = state
        .app
        .notice_run_files(&staff.caller, staff.tenant, run_id)
        .await?
        .into_iter()
        .map(|f| {
            let label = document_label(&f.document).to_owned();
            (f, label)
        })
        .collect();
    let job = state
        .app
        .jobs(&staff.caller, staff.tenant, 200)
        .await?
        .into_iter()
        .find(|j| j.kind == "notice.issue" && j.subject == run_id)
        .map(|j| {
            let s = match j.status {
                sesshu_store::JobStatus::Running => format!("印刷中 ({}/{})", j.done, j.total),
                sesshu_store::JobStatus::Done => "完了".to_owned(),
                sesshu_store::JobStatus::Failed => {
                    format!("失敗: {}", j.error.unwrap_or_default())
                }
            };
            (j.job_id, s)
        });
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
    let preview = preview_of(s, vec![]);
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
            .map(|d| document_label(d))
            .collect::<Vec<_>>()
            .join("、"),
        release_protected: run.release_protected,
        recall_of: run.recall_of.clone().unwrap_or_default(),
        approved_at: run.approved_at.clone().unwrap_or_default(),
        issued: match (&run.issued_by, &run.issued_at) {
            (Some(by), Some(at)) => format!("{} {by}", sesshu_domain::japan_minutes(at)),
            _ => String::new(),
        },
        awaiting: run.status == RunStatus::AwaitingApproval,
        cancellable: matches!(run.status, RunStatus::AwaitingApproval | RunStatus::Ready),
        printable: run.status == RunStatus::Ready,
        resumable: run.status == RunStatus::Issuing,
        checks_passed: s["checks"]["passed"].as_bool().unwrap_or(false),
        run: RunRow::from(&run),
        counts,
        cohorts: preview.cohorts,
        excluded: preview.excluded,
        sample,
        files,
        job,
        notice,
        error,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PlannedQuery {
    planned: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Query(p): Query<PlannedQuery>,
) -> Result<Response, PageError> {
    let notice = p.planned.map(|_| {
        format!("{run_id} を計画しました。対象者の一覧は計画の時点のまま保存されています。")
    });
    run_page(&state, &staff, &run_id, notice, None).await
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
    staff.check_csrf(&state, &f.csrf).await?;
    let done = state
        .app
        .approve_notice_run(&staff.caller, staff.tenant, &run_id)
        .await
        .map(|_| format!("{run_id} を承認しました。印刷できます。"));
    after(&state, &staff, &run_id, done).await
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let done = state
        .app
        .cancel_notice_run(&staff.caller, staff.tenant, &run_id)
        .await
        .map(|()| format!("{run_id} を取り消しました。"));
    after(&state, &staff, &run_id, done).await
}

/// The run's page again, saying what happened: a refusal the user can act on is shown on it.
async fn after(
    state: &AppState,
    staff: &Staff,
    run_id: &str,
    done: Result<String, AppError>,
) -> Result<Response, PageError> {
    match done {
        Ok(m) => run_page(state, staff, run_id, Some(m), None).await,
        Err(AppError::Invalid(m)) => run_page(state, staff, run_id, None, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

/// Starts printing (or resuming) as a background job and shows its progress.
pub(crate) async fn print(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let actor = staff.caller.clone();
    let tenant = staff.tenant;
    let run = run_id.clone();
    let started = state
        .app
        .start_job(
            &staff.caller,
            tenant,
            "notice.issue",
            &run_id,
            move |app, progress| async move {
                let printed = app
                    .print_notice_run(&actor, tenant, &run, None, &progress)
                    .await?;
                Ok(serde_json::to_value(printed)?)
            },
        )
        .await;
    match started {
        Ok(job) => Ok(Redirect::to(&format!("/jobs/{}", job.job_id)).into_response()),
        Err(e) => after(&state, &staff, &run_id, Err(e)).await,
    }
}

/// One of the run's files, as written (a PDF only if unaltered).
pub(crate) async fn file(
    State(state): State<AppState>,
    staff: Staff,
    Path((run_id, name)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let bytes = state
        .app
        .notice_run_file(&staff.caller, staff.tenant, &run_id, &name)
        .await?;
    let content_type = if name.ends_with(".csv") {
        "text/csv; charset=Shift_JIS"
    } else {
        "application/pdf"
    };
    Ok(download(bytes, content_type, &name))
}

/// A file to save, under its own name.
pub(crate) fn download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The names are ours (run ids, document keys, numbers): ASCII without quotes.
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReissueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ticket_number: String,
}

/// 再発行 of a lost ticket: the new ticket's PDF, the old number invalid from now on.
pub(crate) async fn reissue_ticket(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<ReissueForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .reissue_ticket(&staff.caller, staff.tenant, &f.ticket_number)
        .await
    {
        Ok(r) => Ok(download(
            r.pdf,
            "application/pdf",
            &format!("ticket-{}.pdf", r.ticket.ticket_number),
        )),
        Err(AppError::Invalid(m) | AppError::NotFound(m)) => {
            list_page(&state, &staff, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}
