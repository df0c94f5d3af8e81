//! `/relief`: 健康被害救済 (F8) — the cases with their state and the city's target day for the
//! next step, an application received, and one case's page: its documents (the missing ones
//! named), its steps (only those that may come next are offered) and its letters as PDFs. Held
//! under relief.case alone.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::relief::{
    BENEFITS, Benefit, DOCUMENTS, LETTERS, PAY_TO, REGIMES, RELATIONS, ReliefForm, ReliefRow,
    StepForm,
};
use sesshu_domain::access::Permission;

use super::notices::download;
use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

type Errors = BTreeMap<&'static str, String>;

/// The application form as typed; the documents are checkboxes named `doc_<code>`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address_number: String,
    #[serde(default)]
    dose_id: String,
    #[serde(default)]
    regime: String,
    #[serde(default)]
    benefit: String,
    #[serde(default)]
    harm: String,
    #[serde(default)]
    onset_on: String,
    #[serde(default)]
    applicant_relation: String,
    #[serde(default)]
    applicant_name: String,
    #[serde(default)]
    received_on: String,
    #[serde(default)]
    pay_to: String,
    #[serde(default)]
    account_note: String,
    #[serde(default)]
    note: String,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

impl CaseForm {
    fn documents(&self) -> Vec<String> {
        self.rest
            .keys()
            .filter_map(|k| k.strip_prefix("doc_"))
            .map(str::to_owned)
            .collect()
    }

    fn has(&self, document: &str) -> bool {
        self.rest.contains_key(&format!("doc_{document}"))
    }
}

#[derive(Template)]
#[template(path = "relief.html")]
struct ListView {
    chrome: Chrome,
    rows: Vec<ReliefRow>,
    form: CaseForm,
    errors: Errors,
    regimes: &'static [(&'static str, &'static str)],
    benefits: &'static [Benefit],
    relations: &'static [(&'static str, &'static str)],
    pay_to: &'static [(&'static str, &'static str)],
    documents: &'static [(&'static str, &'static str)],
}

impl ListView {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    form: CaseForm,
    errors: Errors,
) -> Result<Response, PageError> {
    let rows = state.app.relief_cases(&staff.caller, staff.tenant).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let view = ListView {
        chrome: staff.chrome(state, "健康被害救済").await,
        rows,
        form,
        errors,
        regimes: &REGIMES,
        benefits: &BENEFITS,
        relations: &RELATIONS,
        pay_to: &PAY_TO,
        documents: &DOCUMENTS,
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    list_page(&state, &staff, CaseForm::default(), Errors::new()).await
}

/// Receives an application; every wrong field is shown beside it, with what was typed kept.
pub(crate) async fn receive(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<CaseForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ReliefCase, "relief.receive")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let typed = ReliefForm {
        dose_id: f.dose_id.clone(),
        regime: f.regime.clone(),
        benefit: f.benefit.clone(),
        harm: f.harm.clone(),
        onset_on: f.onset_on.clone(),
        applicant_relation: f.applicant_relation.clone(),
        applicant_name: f.applicant_name.clone(),
        received_on: f.received_on.clone(),
        pay_to: f.pay_to.clone(),
        account_note: f.account_note.clone(),
        documents: f.documents(),
        note: f.note.clone(),
    };
    let mut errors = Errors::new();
    match state
        .app
        .receive_relief(&staff.caller, staff.tenant, &f.address_number, &typed)
        .await
    {
        Ok(r) => {
            return Ok(
                Redirect::to(&format!("/relief/{}?done=received", r.case.case_id)).into_response(),
            );
        }
        Err(AppError::Fields(all)) => errors.extend(all),
        Err(AppError::Field(field, m)) => {
            errors.insert(field, m);
        }
        Err(AppError::NotFound(m)) => {
            errors.insert("address_number", format!("見つかりません: {m}"));
        }
        Err(AppError::Invalid(m)) => {
            errors.insert("dose_id", m);
        }
        Err(e) => return Err(e.into()),
    }
    list_page(&state, &staff, f, errors).await
}

#[derive(Template)]
#[template(path = "relief_case.html")]
struct CaseView {
    chrome: Chrome,
    r: ReliefRow,
    errors: Errors,
    notice: Option<String>,
    documents: &'static [(&'static str, &'static str)],
    letters: Vec<(&'static str, &'static str)>,
}

impl CaseView {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn step_label(&self, code: &str) -> String {
        ReliefRow::step_label(code)
    }

    fn held(&self, code: &str) -> bool {
        self.r.case.documents.iter().any(|d| d.document == code)
    }
}

async fn case_page(
    state: &AppState,
    staff: &Staff,
    id: i64,
    errors: Errors,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let r = state
        .app
        .relief_case(&staff.caller, staff.tenant, id)
        .await?;
    let reached: Vec<&str> = r.case.steps.iter().map(|s| s.step.as_str()).collect();
    let letters = LETTERS
        .iter()
        .filter(|(_, _, needs)| needs.iter().any(|n| reached.contains(n)))
        .map(|(c, l, _)| (*c, *l))
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let view = CaseView {
        chrome: staff
            .chrome(state, &format!("健康被害救済 案件 {id}"))
            .await,
        r,
        errors,
        notice,
        documents: &DOCUMENTS,
        letters,
    };
    Ok((status, render(&view)).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Done {
    done: Option<String>,
}

pub(crate) async fn case(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(d): Query<Done>,
) -> Result<Response, PageError> {
    let notice = match d.done.as_deref() {
        Some("received") => Some("申請を受け付けました。".to_owned()),
        Some("document") => Some("書類を受け付けました。".to_owned()),
        Some("step") => Some("手続を記録しました。".to_owned()),
        _ => None,
    };
    case_page(&state, &staff, id, Errors::new(), notice).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaseAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    received_on: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    done_on: String,
    #[serde(default)]
    amount_yen: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    letter: String,
}

/// What went wrong with a case's form, beside its field; anything else is the page's error.
fn placed(result: Result<ReliefRow, AppError>, errors: &mut Errors) -> Result<bool, PageError> {
    match result {
        Ok(_) => return Ok(true),
        Err(AppError::Fields(all)) => errors.extend(all),
        Err(AppError::Field(field, m)) => {
            errors.insert(field, m);
        }
        Err(AppError::Invalid(m)) => {
            errors.insert("step", m);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(false)
}

pub(crate) async fn add_document(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CaseAction>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ReliefCase, "relief.document")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let result = state
        .app
        .add_relief_document(&staff.caller, staff.tenant, id, &f.document, &f.received_on)
        .await;
    let mut errors = Errors::new();
    let result = result.map_err(|e| match e {
        AppError::Invalid(m) => AppError::Field("document", m),
        e => e,
    });
    if placed(result, &mut errors)? {
        return Ok(Redirect::to(&format!("/relief/{id}?done=document")).into_response());
    }
    case_page(&state, &staff, id, errors, None).await
}

pub(crate) async fn add_step(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CaseAction>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ReliefCase, "relief.step")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let typed = StepForm {
        step: f.step,
        done_on: f.done_on,
        amount_yen: f.amount_yen,
        note: f.note,
    };
    let result = state
        .app
        .add_relief_step(&staff.caller, staff.tenant, id, &typed)
        .await;
    let mut errors = Errors::new();
    if placed(result, &mut errors)? {
        return Ok(Redirect::to(&format!("/relief/{id}?done=step")).into_response());
    }
    case_page(&state, &staff, id, errors, None).await
}

/// A letter as a PDF (a POST: making it is an audited act, not a link to follow).
pub(crate) async fn letter(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CaseAction>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ReliefCase, "relief.letter")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .relief_letter(&staff.caller, staff.tenant, id, &f.letter)
        .await
    {
        Ok(pdf) => Ok(download(
            pdf,
            "application/pdf",
            &format!("relief-{id}-{}.pdf", f.letter),
        )),
        Err(AppError::Field(_, m) | AppError::Invalid(m)) => {
            let mut errors = Errors::new();
            errors.insert("letter", m);
            case_page(&state, &staff, id, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}
