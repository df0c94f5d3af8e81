//! Notice runs through the API: list, plan (from a fresh extraction, kept with its exact list)
//! and the second person's approval — the page's operations with the same permission, the
//! same separation of planner and approver, and the same audit.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sesshu_app::notices::{PlanRequest, Planned, RecallForm};
use sesshu_store::NoticeRun;

use super::{ApiError, AppState, tenant};
use crate::problem::{ApiJson, Problem};
use crate::session::Caller;

fn run_url(code: &str, run: &str) -> String {
    format!("/api/v1/municipalities/{code}/notice-runs/{run}")
}

fn with_links(code: &str, run: &NoticeRun) -> Result<serde_json::Value, ApiError> {
    let mut v = serde_json::to_value(run).map_err(|e| ApiError::Failed(e.into()))?;
    v["links"] = json!({
        "self": run_url(code, &run.run_id),
        "approve": format!("{}/approve", run_url(code, &run.run_id)),
    });
    Ok(v)
}

/// `GET …/notice-runs` (notice.run): the runs, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let runs = state.app.notice_runs(&caller, tenant(&code)?).await?;
    let out = runs
        .iter()
        .map(|r| with_links(&code, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(out).into_response())
}

/// A run to plan, as a program sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanBody {
    /// A series key of the rule book (`mr`, `hpv`, …).
    series: String,
    dose: Option<u32>,
    from: String,
    to: String,
    /// `opens` (default: a cohort whose window opens in the period) or `open` (catch-up).
    basis: Option<String>,
    /// A run whose persons, still unvaccinated, are sent a reminder.
    recall_of: Option<String>,
    as_of: Option<String>,
    /// Of `notice`, `ticket`, `form`.
    documents: Vec<String>,
    #[serde(default)]
    release_protected: bool,
    per_file: Option<usize>,
}

/// `POST …/notice-runs` (notice.run): plans a run. 201 with the run; 200 with `planned:
/// "nobody"` when nobody is due (nothing kept); 422 `recall_blocked` with the report when the
/// second check finds someone who must not be on the list.
pub(crate) async fn plan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&code)?;
    let app = &state.app;
    let planned = async {
        // Permission first: a caller without it learns nothing from the body's errors.
        app.authorize(
            &caller,
            tenant,
            sesshu_domain::access::Permission::NoticeRun,
            "notice.plan",
        )
        .await?;
        let query = RecallForm {
            series: body.series.clone(),
            dose: body.dose,
            from: body.from.clone(),
            to: body.to.clone(),
            basis: body.basis.clone().unwrap_or_else(|| "opens".into()),
            recall_of: body.recall_of.clone(),
            as_of: body.as_of.clone(),
        }
        .query()?;
        app.plan_recall(
            &caller,
            tenant,
            &PlanRequest {
                query,
                documents: body.documents.clone(),
                release_protected: body.release_protected,
                per_file: body.per_file,
            },
        )
        .await
    }
    .await?;
    match planned {
        Planned::Run(run) => {
            let url = run_url(&code, &run.run_id);
            let mut r = (StatusCode::CREATED, Json(with_links(&code, &run)?)).into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Planned::Nobody => Ok(Json(json!({
            "planned": "nobody",
            "message": "この条件で通知する人はいません。何も作りませんでした。",
        }))
        .into_response()),
        Planned::Blocked(report) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "recall_blocked",
            "照合で問題が見つかったため、計画しませんでした",
        )
        .with("report", report)
        .into()),
    }
}

/// `GET …/notice-runs/{run}` (notice.run).
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, run)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (run, _) = state
        .app
        .notice_run(&caller, tenant(&code)?, &run, 0)
        .await?;
    Ok(Json(with_links(&code, &run)?).into_response())
}

/// `POST …/notice-runs/{run}/approve` (notice.run): the second person's approval, refused for
/// the person who planned it.
pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, run)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let run = state
        .app
        .approve_notice_run(&caller, tenant(&code)?, &run)
        .await?;
    Ok(Json(with_links(&code, &run)?).into_response())
}
