//! `/payments`: the clinics' monthly payment (委託料) — the runs, a month's run prepared, its
//! statement per institution, approval by a second person, the bank's transfer file and the
//! statement as CSV; the prices and accounts in force (recorded from CSV with the command line).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::payments::{PaymentPreparation, Statement, statements_csv};
use sesshu_domain::access::Permission;
use sesshu_domain::dose::BillingMonth;
use sesshu_domain::parse_date;
use sesshu_store::{PaymentInstitution, PaymentRun, PaymentStatus, Price};

use super::doses::{ProductChoice, products};
use super::notices::download;
use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PrepareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    billing_month: String,
    #[serde(default)]
    transfer_date: String,
}

#[derive(Template)]
#[template(path = "payments.html")]
struct PaymentsView {
    chrome: Chrome,
    runs: Vec<PaymentRun>,
    prices: Vec<Price>,
    institutions: Vec<PaymentInstitution>,
    form: PrepareForm,
    month_error: Option<String>,
    date_error: Option<String>,
    error: Option<String>,
}

impl PaymentsView {
    fn dose_label(p: &Price) -> String {
        sesshu_formats::payment::PriceDose::parse(&p.dose)
            .map_or_else(|_| p.dose.clone(), |d| d.label())
    }
}

#[derive(Template)]
#[template(path = "payment_run.html")]
struct RunView {
    chrome: Chrome,
    products: Vec<ProductChoice>,
    run: PaymentRun,
    statements: Vec<Statement>,
    prepared: Option<PaymentPreparation>,
    can_approve: bool,
    can_cancel: bool,
    can_write: bool,
    notice: Option<String>,
    error: Option<String>,
}

impl RunView {
    /// The product's name as the rules give it (the code when they do not).
    fn product_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.products
            .iter()
            .find(|p| p.code == code)
            .map_or(code, |p| p.name.as_str())
    }
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    form: PrepareForm,
    status: StatusCode,
    errors: (Option<String>, Option<String>, Option<String>),
) -> Result<Response, PageError> {
    let (app, me, t) = (&state.app, &staff.caller, staff.tenant);
    let runs = app.payment_runs(me, t).await?;
    let prices = app.prices(me, t).await?;
    let institutions = app.payment_institutions(me, t).await?;
    let view = PaymentsView {
        chrome: staff.chrome(state, "委託料の支払").await,
        runs,
        prices,
        institutions,
        form,
        month_error: errors.0,
        date_error: errors.1,
        error: errors.2,
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    list_page(
        &state,
        &staff,
        PrepareForm::default(),
        StatusCode::OK,
        (None, None, None),
    )
    .await
}

/// Prepares a month's run and shows it with what it leaves unpaid; a wrong field is shown
/// beside it on the list page.
pub(crate) async fn prepare(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<PrepareForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::PaymentRun, "payment.prepare")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    let month = BillingMonth::parse(&form.billing_month)
        .map_err(|_| "請求年月は 202611 または 2026-11 の形で入力してください".to_owned());
    let date = parse_date(&form.transfer_date)
        .map_err(|_| "振込指定日は 2026-12-25 の形で入力してください".to_owned());
    let (month, date) = match (month, date) {
        (Ok(m), Ok(d)) => (m, d),
        (m, d) => {
            let errors = (m.err(), d.err(), None);
            return list_page(&state, &staff, form, StatusCode::BAD_REQUEST, errors).await;
        }
    };
    match state
        .app
        .prepare_payment_run(&staff.caller, staff.tenant, &month, date)
        .await
    {
        Ok(p) => {
            let run_id = p.run.run_id.clone();
            run_page(&state, &staff, &run_id, Some(p), None, None).await
        }
        Err(AppError::Field(_, m)) => {
            let errors = (None, Some(m), None);
            list_page(&state, &staff, form, StatusCode::BAD_REQUEST, errors).await
        }
        Err(AppError::Invalid(m)) => {
            let errors = (None, None, Some(m));
            list_page(&state, &staff, form, StatusCode::BAD_REQUEST, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn run_page(
    state: &AppState,
    staff: &Staff,
    run_id: &str,
    prepared: Option<PaymentPreparation>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (run, statements) = state
        .app
        .payment_statements(&staff.caller, staff.tenant, run_id)
        .await?;
    let view = RunView {
        chrome: staff.chrome(state, &format!("支払処理 {run_id}")).await,
        products: products(state),
        can_approve: run.status == PaymentStatus::AwaitingApproval,
        can_cancel: matches!(
            run.status,
            PaymentStatus::AwaitingApproval | PaymentStatus::Approved
        ),
        can_write: matches!(run.status, PaymentStatus::Approved | PaymentStatus::Written),
        run,
        statements,
        prepared,
        notice,
        error,
    };
    let status = if view.error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
) -> Result<Response, PageError> {
    run_page(&state, &staff, &run_id, None, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
}

async fn after(
    state: &AppState,
    staff: &Staff,
    run_id: &str,
    done: Result<String, AppError>,
) -> Result<Response, PageError> {
    match done {
        Ok(m) => run_page(state, staff, run_id, None, Some(m), None).await,
        Err(AppError::Invalid(m)) => run_page(state, staff, run_id, None, None, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let done = state
        .app
        .approve_payment_run(&staff.caller, staff.tenant, &run_id)
        .await
        .map(|r| format!("{} を承認しました。振込データを作成できます。", r.run_id));
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
        .cancel_payment_run(&staff.caller, staff.tenant, &run_id)
        .await
        .map(|r| {
            format!(
                "{} を取り消しました。その接種は次の支払処理の対象になります。",
                r.run_id
            )
        });
    after(&state, &staff, &run_id, done).await
}

/// The bank's file (a POST: the first one marks the run written).
pub(crate) async fn transfer(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .payment_transfer_file(&staff.caller, staff.tenant, &run_id)
        .await
    {
        Ok((run, file)) => Ok(download(
            file,
            "application/octet-stream",
            &format!("zengin-{}.txt", run.run_id),
        )),
        Err(e) => after(&state, &staff, &run_id, Err(e)).await,
    }
}

pub(crate) async fn statement_csv(
    State(state): State<AppState>,
    staff: Staff,
    Path(run_id): Path<String>,
) -> Result<Response, PageError> {
    let (run, statements) = state
        .app
        .payment_statements(&staff.caller, staff.tenant, &run_id)
        .await?;
    Ok(download(
        statements_csv(&run, &statements).into_bytes(),
        "text/csv; charset=utf-8",
        &format!("statement-{}.csv", run.run_id),
    ))
}
