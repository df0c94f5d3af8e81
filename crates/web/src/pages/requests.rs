//! `/requests`: 開示・訂正・利用停止の請求 (F13) — the register with deadlines (overdue ones
//! marked), a request received, a deadline extended, an answer recorded, and a disclosure
//! request's report as PDF. Held under person.write, like 利用停止.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::requests::{KINDS, REQUESTERS, RequestForm, RequestRow};

use super::notices::download;
use super::{Chrome, PageError, Staff, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Which {
    /// Closed requests too.
    all: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReceiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address_number: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    received_on: String,
    #[serde(default)]
    requester: String,
    #[serde(default)]
    identity_checked: String,
    #[serde(default)]
    details: String,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsView {
    chrome: Chrome,
    rows: Vec<RequestRow>,
    all: bool,
    kinds: Vec<(&'static str, &'static str)>,
    requesters: &'static [(&'static str, &'static str)],
    form: ReceiveForm,
    errors: BTreeMap<&'static str, String>,
    notice: Option<String>,
    error: Option<String>,
}

impl RequestsView {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// The outcomes an answer to this request may give.
    fn outcomes(&self, kind: &str) -> &'static [(&'static str, &'static str)] {
        KINDS.iter().find(|k| k.0 == kind).map_or(&[], |k| k.2)
    }
}

async fn page(
    state: &AppState,
    staff: &Staff,
    which: Which,
    form: ReceiveForm,
    errors: BTreeMap<&'static str, String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let all = which.all.is_some();
    let rows = state
        .app
        .request_register(&staff.caller, staff.tenant, all)
        .await?;
    let status = if errors.is_empty() && error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let view = RequestsView {
        chrome: staff.chrome(state, "開示等の請求").await,
        rows,
        all,
        kinds: KINDS.iter().map(|k| (k.0, k.1)).collect(),
        requesters: &REQUESTERS,
        form,
        errors,
        notice: which.done,
        error,
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(which): Query<Which>,
) -> Result<Response, PageError> {
    page(
        &state,
        &staff,
        which,
        ReceiveForm::default(),
        BTreeMap::new(),
        None,
    )
    .await
}

fn done(message: &str) -> Response {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", message)
        .finish();
    Redirect::to(&format!("/requests?{q}")).into_response()
}

/// What to show for a refusal: each field's message beside it, anything else above the form.
fn placed(e: AppError) -> Result<(BTreeMap<&'static str, String>, Option<String>), AppError> {
    let mut errors = BTreeMap::new();
    match e {
        AppError::Fields(all) => errors.extend(all),
        AppError::Field(f, m) => {
            errors.insert(f, m);
        }
        AppError::Invalid(m) => return Ok((errors, Some(m))),
        other => return Err(other),
    }
    Ok((errors, None))
}

pub(crate) async fn receive(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<ReceiveForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let typed = RequestForm {
        kind: f.kind.clone(),
        received_on: f.received_on.clone(),
        requester: f.requester.clone(),
        identity_checked: f.identity_checked.clone(),
        details: f.details.clone(),
    };
    let result = state
        .app
        .receive_request(&staff.caller, staff.tenant, &f.address_number, &typed)
        .await;
    let (errors, error) = match result {
        Ok(r) => {
            return Ok(done(&format!(
                "請求 {} を受け付けました (回答期限 {})。",
                r.request.request_id, r.request.due_on
            )));
        }
        Err(AppError::NotFound(m)) => (
            BTreeMap::from([("address_number", format!("見つかりません: {m}"))]),
            None,
        ),
        Err(AppError::Field("address_number", m)) => {
            (BTreeMap::from([("address_number", m)]), None)
        }
        Err(e) => placed(e)?,
    };
    page(&state, &staff, Which::default(), f, errors, error).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    answered_on: String,
    #[serde(default)]
    extended_to: String,
    #[serde(default)]
    reason: String,
}

/// A refused step is said above the register, naming the request.
async fn step_refused(
    state: &AppState,
    staff: &Staff,
    id: i64,
    e: AppError,
) -> Result<Response, PageError> {
    let (errors, error) = placed(e)?;
    let mut said: Vec<String> = errors.into_values().collect();
    said.extend(error);
    let message = format!("請求 {id}: {}", said.join("、"));
    page(
        state,
        staff,
        Which::default(),
        ReceiveForm::default(),
        BTreeMap::new(),
        Some(message),
    )
    .await
}

pub(crate) async fn answer(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<StepForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .answer_request(
            &staff.caller,
            staff.tenant,
            id,
            &f.outcome,
            &f.answer,
            &f.answered_on,
        )
        .await
    {
        Ok(r) => Ok(done(&format!(
            "請求 {id} の回答を記録しました ({})。",
            r.outcome_label.unwrap_or_else(|| "取下げ".into())
        ))),
        Err(e) => step_refused(&state, &staff, id, e).await,
    }
}

pub(crate) async fn extend(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<StepForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .extend_request(&staff.caller, staff.tenant, id, &f.extended_to, &f.reason)
        .await
    {
        Ok(r) => Ok(done(&format!(
            "請求 {id} の期限を {} まで延長しました。",
            r.request.deadline()
        ))),
        Err(e) => step_refused(&state, &staff, id, e).await,
    }
}

/// The disclosure report (a POST: making it is an audited act, not a link to follow).
pub(crate) async fn disclosure(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<StepForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .disclosure_report(&staff.caller, staff.tenant, id)
        .await
    {
        Ok(pdf) => Ok(download(
            pdf,
            "application/pdf",
            &format!("disclosure-{id}.pdf"),
        )),
        Err(e) => step_refused(&state, &staff, id, e).await,
    }
}
