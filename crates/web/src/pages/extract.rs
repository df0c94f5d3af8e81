//! `/extract`: ad-hoc extraction (EUC) — a condition builder (products, dose, dates, age at the
//! dose, 町丁目, institution, flags) and the columns to write, answered with the CSV. The column
//! list has no My Number; a wrong condition is shown beside its field.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sesshu_app::AppError;
use sesshu_app::extraction::{Column, CsvEncoding, ExtractionRequest};
use sesshu_domain::access::Permission;
use sesshu_domain::parse_date;
use sesshu_store::RoutineFilter;

use super::doses::{ProductChoice, products};
use super::notices::download;
use super::{Chrome, FieldErrors, PageError, Staff, render};
use crate::state::AppState;

/// The form as typed: every field kept to be shown again beside its error.
#[derive(Debug, Default)]
struct Typed {
    csrf: String,
    values: BTreeMap<String, String>,
    products: BTreeSet<String>,
    columns: BTreeSet<String>,
}

impl Typed {
    fn parse(body: &str) -> Self {
        let mut t = Typed::default();
        for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
            match k.as_ref() {
                "csrf" => t.csrf = v.into_owned(),
                "product" => {
                    t.products.insert(v.into_owned());
                }
                "column" => {
                    t.columns.insert(v.into_owned());
                }
                _ => {
                    t.values.insert(k.into_owned(), v.trim().to_owned());
                }
            }
        }
        t
    }

    fn value(&self, k: &str) -> &str {
        self.values.get(k).map_or("", String::as_str)
    }

    fn has_product(&self, code: &str) -> bool {
        self.products.contains(code)
    }

    fn has_column(&self, key: &str) -> bool {
        self.columns.contains(key)
    }

    fn checked(&self, k: &str) -> bool {
        self.values.contains_key(k)
    }

    fn defaults() -> Self {
        let mut t = Typed::default();
        for c in [
            Column::AddressNumber,
            Column::Name,
            Column::BirthDate,
            Column::Product,
            Column::Ordinal,
            Column::GivenOn,
        ] {
            t.columns.insert(c.key().to_owned());
        }
        t
    }

    /// The request, or each wrong field's message.
    fn request(&self) -> Result<ExtractionRequest, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mut number = |k: &'static str, label: &str| -> Option<u32> {
            let v = self.value(k);
            if v.is_empty() {
                return None;
            }
            v.parse().ok().or_else(|| {
                errors.push((k, format!("{label}は数字で入力してください")));
                None
            })
        };
        let ordinal = number("dose", "回数");
        let age_from = number("age_from", "年齢");
        let age_to = number("age_to", "年齢");
        let mut day = |k: &'static str| -> Option<sesshu_domain::CivilDate> {
            let v = self.value(k);
            if v.is_empty() {
                return None;
            }
            parse_date(v).ok().or_else(|| {
                errors.push((k, format!("日付として読めません: {v}")));
                None
            })
        };
        let given_from = day("from");
        let given_to = day("to");
        let columns: Vec<Column> = Column::ALL
            .into_iter()
            .filter(|c| self.columns.contains(c.key()))
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |k: &str| Some(self.value(k).to_owned()).filter(|s| !s.is_empty());
        Ok(ExtractionRequest {
            products: self.products.iter().cloned().collect(),
            ordinal,
            given_from,
            given_to,
            age_from,
            age_to,
            district: text("district"),
            institution: text("institution"),
            routine: match self.value("routine") {
                "routine" => RoutineFilter::Routine,
                "flagged" => RoutineFilter::Flagged,
                _ => RoutineFilter::Any,
            },
            include_deferred: self.checked("deferred"),
            include_elsewhere: self.checked("elsewhere"),
            include_former_residents: self.checked("former"),
            columns,
            encoding: CsvEncoding::parse(self.value("encoding")).unwrap_or_default(),
        })
    }
}

#[derive(Template)]
#[template(path = "extract.html")]
struct ExtractView {
    chrome: Chrome,
    f: Typed,
    products: Vec<ProductChoice>,
    columns: Vec<(&'static str, &'static str)>,
    errors: FieldErrors,
}

async fn form_page(
    state: &AppState,
    staff: &Staff,
    f: Typed,
    errors: Vec<(&'static str, String)>,
) -> Result<Response, PageError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let view = ExtractView {
        chrome: staff.chrome(state, "データ抽出").await,
        f,
        products: products(state),
        columns: Column::ALL.iter().map(|c| (c.key(), c.label())).collect(),
        errors: FieldErrors::new(errors.into_iter().collect()),
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ExportRun, "export.run")
        .await?;
    form_page(&state, &staff, Typed::defaults(), Vec::new()).await
}

/// Runs the extraction and hands the CSV over; a wrong condition is shown on the form.
pub(crate) async fn run(
    State(state): State<AppState>,
    staff: Staff,
    body: String,
) -> Result<Response, PageError> {
    let f = Typed::parse(&body);
    staff
        .require(&state, Permission::ExportRun, "export.run")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let req = match f.request() {
        Ok(r) => r,
        Err(errors) => return form_page(&state, &staff, f, errors).await,
    };
    match state.app.extract(&staff.caller, staff.tenant, &req).await {
        Ok(x) => {
            let content_type = req.encoding.content_type();
            Ok(download(x.csv, content_type, "extract.csv"))
        }
        Err(AppError::Fields(errors)) => form_page(&state, &staff, f, errors).await,
        Err(AppError::Field(k, m)) => form_page(&state, &staff, f, vec![(k, m)]).await,
        Err(e) => Err(e.into()),
    }
}
