//! `/exemptions`: 実費徴収の免除 (F7) — the fiscal year's register of decisions (or one person's,
//! across years), a decision recorded with its evidence and validity, a decision revoked with
//! its reason, and the register as CSV. Held under exemption.decide alone.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::exemption::{
    ExemptionForm, ExemptionRow, GROUNDS, exemptions_csv, this_fiscal_year,
};
use sesshu_domain::access::Permission;

use super::notices::download;
use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Which {
    fiscal_year: Option<i32>,
    /// One person's decisions across the years, instead of a year's.
    person: Option<String>,
    recorded: Option<i64>,
    revoked: Option<i64>,
}

/// The form as typed, sent back with its errors.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RecordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address_number: String,
    #[serde(default)]
    fiscal_year: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    ground: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    applied_on: String,
    #[serde(default)]
    decided_on: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_to: String,
    #[serde(default)]
    notes: String,
}

#[derive(Template)]
#[template(path = "exemptions.html")]
struct ExemptionsView {
    chrome: Chrome,
    fiscal_year: i32,
    person: Option<String>,
    rows: Vec<ExemptionRow>,
    grounds: &'static [(&'static str, &'static str)],
    form: RecordForm,
    errors: BTreeMap<&'static str, String>,
    notice: Option<String>,
    error: Option<String>,
}

impl ExemptionsView {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    fn exempt_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.decision.exempt && r.decision.in_force())
            .count()
    }
}

async fn page(
    state: &AppState,
    staff: &Staff,
    which: Which,
    form: RecordForm,
    errors: BTreeMap<&'static str, String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let fiscal_year = which.fiscal_year.unwrap_or_else(this_fiscal_year);
    let person = which
        .person
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let rows = match &person {
        Some(p) => {
            state
                .app
                .exemptions_of_person(&staff.caller, staff.tenant, p)
                .await?
        }
        None => {
            state
                .app
                .exemptions_of_year(&staff.caller, staff.tenant, fiscal_year)
                .await?
        }
    };
    let notice = match (which.recorded, which.revoked) {
        (Some(id), _) => Some(format!("決定 {id} を登録しました。")),
        (None, Some(id)) => Some(format!("決定 {id} を取り消しました (記録は残ります)。")),
        (None, None) => None,
    };
    let status = if errors.is_empty() && error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let form = RecordForm {
        fiscal_year: if form.fiscal_year.is_empty() {
            fiscal_year.to_string()
        } else {
            form.fiscal_year
        },
        address_number: if form.address_number.is_empty() {
            person.clone().unwrap_or_default()
        } else {
            form.address_number
        },
        ..form
    };
    let view = ExemptionsView {
        chrome: staff.chrome(state, "実費徴収の免除").await,
        fiscal_year,
        person,
        rows,
        grounds: &GROUNDS,
        form,
        errors,
        notice,
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
        RecordForm::default(),
        BTreeMap::new(),
        None,
    )
    .await
}

/// Records a decision; every wrong field is shown beside it, with what was typed kept.
pub(crate) async fn record(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<RecordForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::CostExemption, "exemption.record")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let typed = ExemptionForm {
        fiscal_year: f.fiscal_year.clone(),
        decision: f.decision.clone(),
        ground: f.ground.clone(),
        evidence: f.evidence.clone(),
        applied_on: f.applied_on.clone(),
        decided_on: f.decided_on.clone(),
        valid_from: f.valid_from.clone(),
        valid_to: f.valid_to.clone(),
        notes: f.notes.clone(),
    };
    let which = Which {
        fiscal_year: f.fiscal_year.trim().parse().ok(),
        ..Which::default()
    };
    let mut errors = BTreeMap::new();
    let error = match state
        .app
        .record_exemption(&staff.caller, staff.tenant, &f.address_number, &typed)
        .await
    {
        Ok(r) => {
            return Ok(Redirect::to(&format!(
                "/exemptions?fiscal_year={}&recorded={}",
                r.decision.fiscal_year, r.decision.exemption_id
            ))
            .into_response());
        }
        Err(AppError::Fields(all)) => {
            errors.extend(all);
            None
        }
        Err(AppError::Field(field, m)) => {
            errors.insert(field, m);
            None
        }
        Err(AppError::Invalid(m)) => Some(m),
        Err(AppError::NotFound(m)) => {
            errors.insert("address_number", format!("見つかりません: {m}"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    page(&state, &staff, which, f, errors, error).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    fiscal_year: Option<i32>,
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<RevokeForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::CostExemption, "exemption.revoke")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let which = Which {
        fiscal_year: f.fiscal_year,
        ..Which::default()
    };
    let error = match state
        .app
        .revoke_exemption(&staff.caller, staff.tenant, id, &f.reason)
        .await
    {
        Ok(r) => {
            return Ok(Redirect::to(&format!(
                "/exemptions?fiscal_year={}&revoked={id}",
                r.decision.fiscal_year
            ))
            .into_response());
        }
        Err(AppError::Field(_, m) | AppError::Invalid(m)) => format!("決定 {id}: {m}"),
        Err(e) => return Err(e.into()),
    };
    page(
        &state,
        &staff,
        which,
        RecordForm::default(),
        BTreeMap::new(),
        Some(error),
    )
    .await
}

pub(crate) async fn csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(which): Query<Which>,
) -> Result<Response, PageError> {
    let fiscal_year = which.fiscal_year.unwrap_or_else(this_fiscal_year);
    let rows = state
        .app
        .exemptions_of_year(&staff.caller, staff.tenant, fiscal_year)
        .await?;
    Ok(download(
        exemptions_csv(&rows).into_bytes(),
        "text/csv; charset=utf-8",
        &format!("exemptions-{fiscal_year}.csv"),
    ))
}
