//! Dose entry from a 予診票, built for speed: the fields in the order of the paper form, the
//! product and ordinal suggested from the forecast, the lot remembered per session and product,
//! errors next to their field, and rule warnings that can be confirmed ("記録するが定期接種外と
//! して扱う") — and correction and deletion with a reason, the versions shown.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, Dose};
use sesshu_store::{DoseRow, Outcome, StoreError};

use super::{Chrome, FieldErrors, PageError, Staff, field, render};
use sesshu_app::AppError;
use sesshu_app::doses::{DoseChange, DoseInput, Written};

use crate::state::AppState;

/// The form as typed; every field kept as text so a mistake comes back as it was entered.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct DoseForm {
    #[serde(default)]
    csrf: String,
    pub given_on: Option<String>,
    pub product: Option<String>,
    pub ordinal: Option<String>,
    pub lot: Option<String>,
    pub amount: Option<String>,
    pub institution_code: Option<String>,
    pub institution_name: Option<String>,
    pub doctor: Option<String>,
    pub ticket: Option<String>,
    pub notes: Option<String>,
    pub elsewhere: Option<String>,
    pub deferred: Option<String>,
    /// The rule warning was read and the dose is to be recorded anyway.
    pub confirm: Option<String>,
    /// Why a recorded dose is corrected.
    pub reason: Option<String>,
}

impl DoseForm {
    fn of(d: &Dose) -> Self {
        let i = DoseInput::of(d);
        Self {
            given_on: i.given_on,
            product: i.product,
            ordinal: i.ordinal,
            lot: i.lot,
            amount: i.amount,
            institution_code: i.institution_code,
            institution_name: i.institution_name,
            doctor: i.doctor,
            ticket: i.ticket,
            notes: i.notes,
            elsewhere: i.elsewhere.then(|| "1".into()),
            deferred: i.deferred.then(|| "1".into()),
            ..Self::default()
        }
    }

    /// The form's fields as the application layer reads them (a tick is a field present).
    fn input(&self) -> DoseInput {
        DoseInput {
            given_on: self.given_on.clone(),
            product: self.product.clone(),
            ordinal: self.ordinal.clone(),
            lot: self.lot.clone(),
            amount: self.amount.clone(),
            institution_code: self.institution_code.clone(),
            institution_name: self.institution_name.clone(),
            doctor: self.doctor.clone(),
            ticket: self.ticket.clone(),
            notes: self.notes.clone(),
            elsewhere: self.elsewhere.is_some(),
            deferred: self.deferred.is_some(),
        }
    }
}

/// Each field's error of a refused write, keyed as the form names its fields.
fn field_errors(e: AppError) -> Result<BTreeMap<&'static str, String>, AppError> {
    match e {
        AppError::Field(f, m) => Ok(BTreeMap::from([(f, m)])),
        AppError::Fields(v) => Ok(v.into_iter().collect()),
        other => Err(other),
    }
}

/// A product in the form's list.
pub(crate) struct ProductChoice {
    pub code: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "dose_form.html")]
struct DoseFormPage {
    chrome: Chrome,
    address: String,
    name: String,
    birth: String,
    form: DoseForm,
    products: Vec<ProductChoice>,
    errors: FieldErrors,
    /// The rule the dose breaks, when it does; recording it needs the confirmation.
    warning: Option<String>,
    suggestion: Option<String>,
    /// The form is the page's purpose: the cursor starts in its first field.
    focus_first: bool,
}

pub(crate) fn products(state: &AppState) -> Vec<ProductChoice> {
    state
        .app
        .engine
        .rules()
        .products
        .iter()
        .map(|p| ProductChoice {
            code: p.code.clone(),
            name: p.name.clone(),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub(crate) struct Suggest {
    series: Option<String>,
}

async fn the_person(
    state: &AppState,
    staff: &Staff,
    address: &str,
) -> Result<(AddressNumber, sesshu_store::PersonRow), PageError> {
    let a = AddressNumber::parse(address).map_err(|e| PageError::BadRequest(e.to_string()))?;
    let row = state
        .app
        .store
        .person(staff.tenant, &a)
        .await?
        .ok_or(PageError::NotFound)?;
    Ok((a, row))
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    staff: &Staff,
    row: &sesshu_store::PersonRow,
    form: DoseForm,
    errors: BTreeMap<&'static str, String>,
    warning: Option<String>,
    suggestion: Option<String>,
) -> Result<Response, PageError> {
    let p = &row.person;
    // The form names the person (name, birth date): shown, and recorded as such.
    state
        .app
        .record(
            &staff.caller,
            "person.read",
            Outcome::Ok,
            vec![],
            vec![p.address_number.as_str().to_owned()],
            json!({"via": "dose form"}),
        )
        .await?;
    let title = "接種記録の入力";
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = DoseFormPage {
        chrome: staff.chrome(state, title).await,
        address: p.address_number.to_string(),
        name: p.name.to_string(),
        birth: super::both_calendars(p.birth_date),
        form,
        products: products(state),
        errors: FieldErrors::new(errors),
        warning,
        suggestion,
        focus_first: true,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /persons/{a}/doses?series=KEY`: the empty form, with the series' next dose suggested.
pub(crate) async fn new_form(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Query(s): Query<Suggest>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::DoseWrite, "dose.write")
        .await?;
    let (a, row) = the_person(&state, &staff, &address).await?;
    let mut form = DoseForm {
        given_on: Some(crate::today_in_japan().to_string()),
        ..DoseForm::default()
    };
    let mut suggestion = None;
    if let Some(key) = s.series.as_deref() {
        let doses = state.app.store.doses_of(staff.tenant, a.as_str()).await?;
        let request = sesshu_schedule::EvalRequest::for_person(
            row.person.birth_date,
            row.person.sex,
            doses.iter().map(|r| &r.dose),
            crate::today_in_japan(),
        );
        let response = state.app.engine.evaluate(&request);
        if let (Some(f), Some(rule)) = (
            response.series.get(key),
            state.app.engine.rules().series(key),
        ) {
            form.product = f
                .recommended_product
                .clone()
                .or_else(|| f.allowed_products.first().cloned());
            form.ordinal = f.next_dose.map(|n| {
                rule.ordinals
                    .map_or(n, |[first, _]| first + n - 1)
                    .to_string()
            });
            suggestion = Some(format!("{}: {}", rule.name, f.reason));
        }
    }
    if let Some(p) = &form.product {
        form.lot = state.pages.lot(&staff.key, p);
    }
    form_page(
        &state,
        &staff,
        &row,
        form,
        BTreeMap::new(),
        None,
        suggestion,
    )
    .await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(form): Form<DoseForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::DoseWrite, "dose.write")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    let (a, row) = the_person(&state, &staff, &address).await?;
    match state
        .app
        .add_dose_as_given(
            &staff.caller,
            staff.tenant,
            a.as_str(),
            &form.input(),
            form.confirm.is_some(),
        )
        .await
    {
        Ok(Written::Recorded { dose_id, .. }) => {
            if let (Some(product), Some(lot)) = (field(&form.product), field(&form.lot)) {
                state
                    .pages
                    .remember_lot(&staff.key, &product.to_ascii_lowercase(), lot);
            }
            Ok(
                Redirect::to(&format!("/persons/{}?recorded={dose_id}", a.as_str()))
                    .into_response(),
            )
        }
        Ok(Written::NeedsConfirmation(warning)) => {
            form_page(&state, &staff, &row, form, BTreeMap::new(), warning, None).await
        }
        Err(e) => {
            let errors = field_errors(e)?;
            form_page(&state, &staff, &row, form, errors, None, None).await
        }
    }
}

/// One version of a dose as the history table shows it.
pub(crate) struct VersionRow {
    pub version: i64,
    pub summary: String,
    pub recorded: String,
    pub reason: String,
    pub deleted: bool,
}

fn version_row(r: &DoseRow) -> VersionRow {
    let d = &r.dose;
    VersionRow {
        version: r.version,
        summary: format!(
            "{} {}回 {} ロット {} {}",
            d.product,
            d.ordinal,
            d.given_on,
            d.lot.as_deref().unwrap_or("-"),
            d.judgement.label()
        ),
        recorded: format!(
            "{} {}",
            sesshu_domain::japan_minutes(&r.recorded_at),
            r.recorded_by
        ),
        reason: r.change_reason.clone().unwrap_or_default(),
        deleted: r.deleted,
    }
}

#[derive(Template)]
#[template(path = "dose.html")]
struct DosePage {
    chrome: Chrome,
    dose_id: i64,
    address: String,
    name: String,
    current: VersionRow,
    evaluation: String,
    versions: Vec<VersionRow>,
    form: DoseForm,
    products: Vec<ProductChoice>,
    can_write: bool,
    deleted: bool,
    errors: FieldErrors,
    warning: Option<String>,
    /// What the last change did, when the page follows one.
    notice: Option<String>,
    /// The correction form is below the record: the cursor stays at the top of the page.
    focus_first: bool,
}

#[allow(clippy::too_many_arguments)]
async fn dose_page(
    state: &AppState,
    staff: &Staff,
    dose_id: i64,
    form: Option<DoseForm>,
    errors: BTreeMap<&'static str, String>,
    warning: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let (current, versions) = state.app.dose(&staff.caller, staff.tenant, dose_id).await?;
    let a = AddressNumber::parse(&current.address_number)
        .map_err(|e| PageError::Internal(StoreError::Corrupt(e.to_string())))?;
    let person = state
        .app
        .store
        .person(staff.tenant, &a)
        .await?
        .ok_or(PageError::NotFound)?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = DosePage {
        chrome: staff.chrome(state, "接種記録").await,
        dose_id,
        address: a.as_str().to_owned(),
        name: person.person.name.to_string(),
        evaluation: current.evaluation.clone().unwrap_or_default(),
        form: form.unwrap_or_else(|| DoseForm::of(&current.dose)),
        current: version_row(&current),
        versions: versions.iter().map(|v| version_row(&v.row)).rev().collect(),
        products: products(state),
        can_write: staff.can(Permission::DoseWrite),
        deleted: current.deleted,
        errors: FieldErrors::new(errors),
        warning,
        notice,
        focus_first: false,
    };
    Ok((status, render(&page)).into_response())
}

/// A dose number from the path; anything else is simply not there.
fn dose_id(s: &str) -> Result<i64, PageError> {
    s.parse().map_err(|_| PageError::NotFound)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Corrected {
    corrected: Option<i64>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(c): Query<Corrected>,
) -> Result<Response, PageError> {
    let id = dose_id(&id)?;
    staff
        .require(&state, Permission::DoseRead, "dose.read")
        .await?;
    let notice = c
        .corrected
        .map(|v| format!("訂正しました (版 {v})。接種予定に反映しました。"));
    dose_page(&state, &staff, id, None, BTreeMap::new(), None, notice).await
}

pub(crate) async fn correct(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<DoseForm>,
) -> Result<Response, PageError> {
    let id = dose_id(&id)?;
    staff
        .require(&state, Permission::DoseWrite, "dose.write")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    let reason = field(&form.reason).unwrap_or("").to_owned();
    let confirmed = form.confirm.is_some();
    let input = form.input();
    let written = state
        .app
        .correct_dose(&staff.caller, staff.tenant, id, &reason, |current| {
            let dose = input.dose(state.app.engine.rules(), Some(current))?;
            Ok(DoseChange { dose, confirmed })
        })
        .await;
    match written {
        Ok(Written::Recorded { version, .. }) => {
            Ok(Redirect::to(&format!("/doses/{id}?corrected={version}")).into_response())
        }
        Ok(Written::NeedsConfirmation(warning)) => {
            dose_page(
                &state,
                &staff,
                id,
                Some(form),
                BTreeMap::new(),
                warning,
                None,
            )
            .await
        }
        Err(e) => {
            let errors = field_errors(e)?;
            dose_page(&state, &staff, id, Some(form), errors, None, None).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    reason: Option<String>,
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let id = dose_id(&id)?;
    staff
        .require(&state, Permission::DoseWrite, "dose.write")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let reason = field(&f.reason).unwrap_or("").to_owned();
    match state
        .app
        .delete_dose(&staff.caller, staff.tenant, id, &reason)
        .await
    {
        Ok(row) => Ok(
            Redirect::to(&format!("/persons/{}?deleted={id}", row.address_number)).into_response(),
        ),
        Err(AppError::Field(field, m)) => {
            dose_page(
                &state,
                &staff,
                id,
                None,
                BTreeMap::from([(field, m)]),
                None,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
