//! `/statistics`: the office's annual table of routine doses by vaccine, 期/回 and sex
//! (地域保健・健康増進事業報告), for a fiscal year, and the same as CSV. Never a person.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sesshu_app::spreadsheet::{BOM, shift_jis};
use sesshu_app::statistics::{AnnualReport, annual_csv};
use sesshu_domain::FiscalYear;

use super::notices::download;
use super::{Chrome, PageError, Staff, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct YearQuery {
    fiscal_year: Option<i32>,
    #[serde(default)]
    encoding: String,
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsView {
    chrome: Chrome,
    report: AnnualReport,
    years: Vec<i32>,
}

impl StatisticsView {
    fn n(v: &Option<i64>) -> String {
        v.map_or_else(|| "x".to_owned(), |v| v.to_string())
    }
}

/// The year asked for (by default the current one), through the application layer.
async fn report(state: &AppState, staff: &Staff, q: &YearQuery) -> Result<AnnualReport, PageError> {
    let year = q
        .fiscal_year
        .unwrap_or(FiscalYear::of(crate::today_in_japan()).0);
    Ok(state
        .app
        .annual_report(&staff.caller, staff.tenant, year)
        .await?)
}

pub(crate) async fn annual(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let report = report(&state, &staff, &q).await?;
    let now = FiscalYear::of(crate::today_in_japan()).0;
    let view = StatisticsView {
        chrome: staff.chrome(&state, "集計").await,
        years: (now - 9..=now).rev().collect(),
        report,
    };
    Ok(render(&view).into_response())
}

pub(crate) async fn annual_csv_download(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let report = report(&state, &staff, &q).await?;
    let text = annual_csv(&report);
    let name = format!("annual-{}.csv", report.fiscal_year);
    Ok(if q.encoding == "sjis" {
        download(shift_jis(&text).0, "text/csv; charset=shift_jis", &name)
    } else {
        download(
            format!("{BOM}{text}").into_bytes(),
            "text/csv; charset=utf-8",
            &name,
        )
    })
}
