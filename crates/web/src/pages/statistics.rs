//! `/statistics`: the office's annual table of routine doses by vaccine, 期/回 and sex
//! (地域保健・健康増進事業報告), for a fiscal year, and the same as CSV. Never a person.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Datelike;
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::spreadsheet::CsvEncoding;
use sesshu_app::statistics::{
    AnnualReport, Breakdown, Coverage, TargetCoverage, annual_csv, coverage_svg, target_csv,
    workbook,
};
use sesshu_domain::{CivilDate, FiscalYear};
use sesshu_store::Dimension;

use super::notices::{download, series_choices};
use super::{Chrome, FieldErrors, PageError, Staff, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct YearQuery {
    fiscal_year: Option<i32>,
    #[serde(default)]
    encoding: String,
    /// Coverage: the series, its dose, and the months of birth (`YYYY-MM`).
    #[serde(default)]
    series: String,
    #[serde(default)]
    dose: String,
    #[serde(default)]
    born_from: String,
    #[serde(default)]
    born_to: String,
    /// Breakdown: month, sex, age or address (町丁目).
    #[serde(default)]
    by: String,
    #[serde(default)]
    breakdown_dose: String,
}

/// Each wrong field with its message.
type FieldMessages = Vec<(&'static str, String)>;

/// The coverage asked for: a series' dose over months of birth, by default Hib's first dose for
/// the 24 months of births before this one.
struct CoverageAsk {
    series: String,
    dose: String,
    born_from: String,
    born_to: String,
}

impl CoverageAsk {
    fn of(q: &YearQuery) -> Self {
        let today = crate::today_in_japan();
        let this_month = today.with_day(1).unwrap_or(today);
        let or = |v: &str, d: String| {
            if v.trim().is_empty() {
                d
            } else {
                v.trim().to_owned()
            }
        };
        Self {
            series: or(&q.series, "hib".into()),
            dose: or(&q.dose, "1".into()),
            born_from: or(
                &q.born_from,
                (this_month - chrono::Months::new(24))
                    .format("%Y-%m")
                    .to_string(),
            ),
            born_to: or(
                &q.born_to,
                (this_month - chrono::Months::new(1))
                    .format("%Y-%m")
                    .to_string(),
            ),
        }
    }

    /// The first day of the first month and the last day of the last, or the fields' errors.
    fn range(&self) -> Result<(u32, CivilDate, CivilDate), FieldMessages> {
        let month = |k: &'static str, v: &str| {
            CivilDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d")
                .map_err(|_| (k, format!("生まれ月は 2025-04 の形で入力してください: {v}")))
        };
        let dose = self
            .dose
            .parse::<u32>()
            .map_err(|_| ("dose", "回は数字で入力してください".to_owned()));
        match (
            dose,
            month("born_from", &self.born_from),
            month("born_to", &self.born_to),
        ) {
            (Ok(d), Ok(f), Ok(t)) => {
                let last = (t + chrono::Months::new(1)) - chrono::Days::new(1);
                Ok((d, f, last))
            }
            (d, f, t) => Err([d.err(), f.err(), t.err()].into_iter().flatten().collect()),
        }
    }
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsView {
    chrome: Chrome,
    report: AnnualReport,
    years: Vec<i32>,
    ask: CoverageAsk,
    series: Vec<(String, String)>,
    coverage: Option<Coverage>,
    chart: String,
    errors: FieldErrors,
    by: &'static str,
    breakdown_dose: String,
    breakdown: Option<Breakdown>,
    target: Option<TargetCoverage>,
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
    let ask = CoverageAsk::of(&q);
    let (coverage, errors) = match ask.range() {
        Ok((dose, from, to)) => match state
            .app
            .coverage_by_cohort(&staff.caller, staff.tenant, &ask.series, dose, from, to)
            .await
        {
            Ok(c) => (Some(c), Vec::new()),
            Err(AppError::Fields(f)) => (None, f),
            Err(e) => return Err(e.into()),
        },
        Err(f) => (None, f),
    };
    let (by_key, by) = match q.by.as_str() {
        "sex" => ("sex", Dimension::Sex),
        "age" => ("age", Dimension::Age),
        "district" => ("district", Dimension::Address),
        _ => ("month", Dimension::Month),
    };
    let breakdown_dose = q.breakdown_dose.trim().parse::<u32>().ok();
    let breakdown = match state
        .app
        .dose_breakdown(
            &staff.caller,
            staff.tenant,
            &ask.series,
            breakdown_dose,
            report.fiscal_year,
            by,
        )
        .await
    {
        Ok(b) => Some(b),
        Err(AppError::Field(..)) => None,
        Err(e) => return Err(e.into()),
    };
    let target = target(&state, &staff, &ask.series, report.fiscal_year).await?;
    let view = StatisticsView {
        chrome: staff.chrome(&state, "集計").await,
        target,
        by: by_key,
        breakdown_dose: breakdown_dose.map(|d| d.to_string()).unwrap_or_default(),
        breakdown,
        years: (now - 9..=now).rev().collect(),
        report,
        series: series_choices(&state),
        chart: coverage.as_ref().map(coverage_svg).unwrap_or_default(),
        coverage,
        ask,
        errors: FieldErrors::new(errors.into_iter().collect()),
    };
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, render(&view)).into_response())
}

/// The year's target coverage of the series asked for; `None` for a series the rules lack.
async fn target(
    state: &AppState,
    staff: &Staff,
    series: &str,
    fiscal_year: i32,
) -> Result<Option<TargetCoverage>, PageError> {
    match state
        .app
        .target_coverage(&staff.caller, staff.tenant, series, fiscal_year)
        .await
    {
        Ok(c) => Ok(Some(c)),
        Err(AppError::Field(..)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The year's target coverage as CSV.
pub(crate) async fn target_csv_download(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let year = q
        .fiscal_year
        .unwrap_or(FiscalYear::of(crate::today_in_japan()).0);
    let ask = CoverageAsk::of(&q);
    let c = state
        .app
        .target_coverage(&staff.caller, staff.tenant, &ask.series, year)
        .await?;
    let encoding = CsvEncoding::parse(&q.encoding).unwrap_or_default();
    Ok(download(
        encoding.encode(&target_csv(&c)).0,
        encoding.content_type(),
        &format!("coverage-{}-{}.csv", c.series, c.fiscal_year),
    ))
}

pub(crate) async fn annual_csv_download(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let report = report(&state, &staff, &q).await?;
    let text = annual_csv(&report);
    let name = format!("annual-{}.csv", report.fiscal_year);
    let encoding = CsvEncoding::parse(&q.encoding).unwrap_or_default();
    Ok(download(
        encoding.encode(&text).0,
        encoding.content_type(),
        &name,
    ))
}

/// The annual table and the coverage asked for as an Excel workbook with its chart.
pub(crate) async fn workbook_download(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    let report = report(&state, &staff, &q).await?;
    let ask = CoverageAsk::of(&q);
    let Ok((dose, from, to)) = ask.range() else {
        return Err(AppError::Invalid("接種率の条件に誤りがあります".into()).into());
    };
    let coverage = state
        .app
        .coverage_by_cohort(&staff.caller, staff.tenant, &ask.series, dose, from, to)
        .await?;
    let target = state
        .app
        .target_coverage(&staff.caller, staff.tenant, &ask.series, report.fiscal_year)
        .await?;
    let bytes = workbook(&report, &coverage, &target)?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("statistics-{}.xlsx", report.fiscal_year),
    ))
}
