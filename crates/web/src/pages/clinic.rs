//! 接種前確認 for a clinic's account (issue 21): a ticket's number line, or 宛名番号 with the
//! birth date, and the product about to be given; the page shows the application layer's answer
//! and nothing more. Numbers travel in the POST body, never in the address.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::clinics::{ClinicAnswer, ClinicKey, ClinicQuestion};
use sesshu_domain::access::Permission;

use super::doses::{ProductChoice, products};
use super::{Chrome, FieldErrors, PageError, Staff, render};
use crate::state::AppState;

const TITLE: &str = "接種前確認";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ClinicForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    address_number: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    product: String,
}

impl ClinicForm {
    /// The ticket when one was read; else 宛名番号 and the birth date.
    fn question(&self) -> Result<ClinicQuestion, AppError> {
        let key = if !self.ticket.trim().is_empty() {
            ClinicKey::Ticket(self.ticket.clone())
        } else if !self.address_number.trim().is_empty() || !self.birth_date.trim().is_empty() {
            ClinicKey::Person {
                address_number: self.address_number.clone(),
                birth_date: self.birth_date.clone(),
            }
        } else {
            return Err(AppError::Field(
                "ticket",
                "接種券の番号を読み取るか、宛名番号と生年月日を入力してください".into(),
            ));
        };
        Ok(ClinicQuestion {
            key,
            product: Some(self.product.clone()).filter(|p| !p.trim().is_empty()),
        })
    }
}

#[derive(Template)]
#[template(path = "clinic.html")]
struct ClinicPage {
    chrome: Chrome,
    form: ClinicForm,
    products: Vec<ProductChoice>,
    errors: FieldErrors,
    error: Option<String>,
    answer: Option<ClinicAnswer>,
}

async fn page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    form: ClinicForm,
    errors: FieldErrors,
    error: Option<String>,
    answer: Option<ClinicAnswer>,
) -> Response {
    let page = ClinicPage {
        chrome: staff.chrome(state, TITLE).await,
        form: ClinicForm {
            csrf: String::new(),
            ..form
        },
        products: products(state),
        errors,
        error,
        answer,
    };
    (status, render(&page)).into_response()
}

pub(crate) async fn form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ClinicCheck, "clinic.check")
        .await?;
    Ok(page(
        &state,
        &staff,
        StatusCode::OK,
        ClinicForm::default(),
        FieldErrors::none(),
        None,
        None,
    )
    .await)
}

pub(crate) async fn check(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<ClinicForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    staff
        .require(&state, Permission::ClinicCheck, "clinic.check")
        .await?;
    let asked = match f.question() {
        Ok(q) => {
            state
                .app
                .clinic_check(&staff.caller, staff.tenant, &q)
                .await
        }
        Err(e) => Err(e),
    };
    let (status, errors, error, answer) = match asked {
        Ok(a) => (StatusCode::OK, FieldErrors::none(), None, Some(a)),
        Err(AppError::Field(name, m)) => (
            StatusCode::BAD_REQUEST,
            FieldErrors::new([(name, m)].into()),
            None,
            None,
        ),
        Err(AppError::Fields(v)) => (
            StatusCode::BAD_REQUEST,
            FieldErrors::new(v.into_iter().collect()),
            None,
            None,
        ),
        Err(AppError::NotFound(m)) => (StatusCode::NOT_FOUND, FieldErrors::none(), Some(m), None),
        Err(AppError::Invalid(m)) => (StatusCode::BAD_REQUEST, FieldErrors::none(), Some(m), None),
        Err(e) => return Err(e.into()),
    };
    Ok(page(&state, &staff, status, f, errors, error, answer).await)
}
