//! The staff pages: server-rendered Japanese HTML (askama templates, checked at compile time and
//! escaped by default), every asset served from the binary, forms that work without JavaScript.
//!
//! Every page is reached through [`Staff`], which refuses a request without a live session, and
//! every form carries the session's CSRF token. Search conditions travel in POST bodies, never
//! in URLs; a person's page is addressed by the register's own 宛名番号 only.

mod admin;
mod auth;
mod certificates;
mod clinic;
mod doses;
mod exemptions;
mod extract;
mod flagged;
mod imports;
mod jobs;
mod notices;
mod payments;
mod register;
mod relief;
mod reminders;
mod requests;
mod statistics;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_store::{Outcome, StoreError};

use crate::session::{Caller, SESSION_COOKIE, cookie_value};
use crate::state::AppState;

pub(crate) use auth::LOGIN_PATH;
pub(crate) use imports::MAX_UPLOAD_BYTES;

/// What the pages keep between requests, in this process only.
#[derive(Debug, Default)]
pub struct Memory {
    /// Second-factor enrolments begun after a verified password, by their cookie.
    enrolments: Mutex<HashMap<String, auth::PendingEnrolment>>,
    /// The lot last entered per session and product: a clinic's forms come in runs of one lot.
    lots: Mutex<HashMap<(String, String), String>>,
    /// Municipality names, which never change while serving.
    names: Mutex<HashMap<MunicipalityCode, String>>,
    /// Uploaded files waiting for their preview to be confirmed.
    uploads: Mutex<HashMap<String, imports::Upload>>,
}

impl Memory {
    fn lot(&self, session: &str, product: &str) -> Option<String> {
        self.lots
            .lock()
            .ok()?
            .get(&(session.to_owned(), product.to_owned()))
            .cloned()
    }

    fn remember_lot(&self, session: &str, product: &str, lot: &str) {
        if let Ok(mut lots) = self.lots.lock() {
            if lots.len() > 50_000 {
                lots.clear();
            }
            lots.insert((session.to_owned(), product.to_owned()), lot.to_owned());
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route(LOGIN_PATH, get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/password", get(auth::password_form).post(auth::password))
        .route("/enrol", get(auth::enrol_form).post(auth::enrol))
        .route("/session/keepalive", post(auth::keepalive))
        .route("/search", get(register::search_form).post(register::search))
        .route("/search/my-number", post(register::search_by_my_number))
        .route("/persons/duplicates", get(register::duplicates))
        .route("/persons/{address}", get(register::person))
        .route(
            "/persons/{address}/my-number",
            post(register::reveal_my_number),
        )
        .route("/persons/{address}/suspension", post(register::suspend))
        .route("/persons/{address}/links", post(register::link))
        .route(
            "/persons/{address}/links/{link}/undo",
            post(register::unlink),
        )
        .route(
            "/persons/{address}/suspension/lift",
            post(register::lift_suspension),
        )
        .route(
            "/persons/{address}/doses",
            get(doses::new_form).post(doses::create),
        )
        .route("/clinic", get(clinic::form).post(clinic::check))
        .route(
            "/unsubscribe/{token}",
            get(reminders::ask).post(reminders::stop),
        )
        .route("/persons/{address}/reminders", post(reminders::change))
        .route("/extract", get(extract::form).post(extract::run))
        .route("/statistics", get(statistics::annual))
        .route(
            "/statistics/annual.csv",
            get(statistics::annual_csv_download),
        )
        .route(
            "/statistics/coverage.csv",
            get(statistics::target_csv_download),
        )
        .route(
            "/statistics/workbook.xlsx",
            get(statistics::workbook_download),
        )
        .route(
            "/exemptions",
            get(exemptions::list).post(exemptions::record),
        )
        .route("/requests", get(requests::list).post(requests::receive))
        .route("/requests/{id}/answer", post(requests::answer))
        .route("/requests/{id}/extend", post(requests::extend))
        .route("/requests/{id}/disclosure", post(requests::disclosure))
        .route("/exemptions.csv", get(exemptions::csv))
        .route("/exemptions/{id}/revoke", post(exemptions::revoke))
        .route("/relief", get(relief::list).post(relief::receive))
        .route("/relief/{id}", get(relief::case))
        .route("/relief/{id}/documents", post(relief::add_document))
        .route("/relief/{id}/steps", post(relief::add_step))
        .route("/relief/{id}/letter", post(relief::letter))
        .route("/payments", get(payments::list).post(payments::prepare))
        .route("/payments/{id}", get(payments::show))
        .route("/payments/{id}/approve", post(payments::approve))
        .route("/payments/{id}/cancel", post(payments::cancel))
        .route("/payments/{id}/transfer", post(payments::transfer))
        .route("/payments/{id}/statement.csv", get(payments::statement_csv))
        .route("/doses/flagged", get(flagged::list))
        .route("/doses/flagged/{id}", post(flagged::review))
        .route("/doses/{id}", get(doses::show))
        .route("/doses/{id}/correct", post(doses::correct))
        .route("/doses/{id}/delete", post(doses::delete))
        .route("/imports", get(imports::list))
        .route(
            "/imports/preview",
            post(imports::preview).layer(axum::extract::DefaultBodyLimit::max(
                imports::MAX_UPLOAD_BYTES,
            )),
        )
        .route("/imports/apply", post(imports::apply))
        .route("/imports/{id}/errors.csv", get(imports::errors_csv))
        .route("/admin/users", get(admin::users).post(admin::user_action))
        .route("/admin/access-review.csv", get(admin::access_review_csv))
        .route("/audit", get(admin::audit_form).post(admin::audit_search))
        .route("/audit/export.csv", post(admin::audit_export))
        .route("/audit/verify", post(admin::audit_verify))
        .route("/notices", get(notices::list))
        .route("/notices/new", get(notices::new_form))
        .route("/notices/preview", post(notices::preview))
        .route("/notices/plan", post(notices::plan))
        .route("/notices/{run}", get(notices::show))
        .route("/notices/{run}/approve", post(notices::approve))
        .route("/notices/{run}/cancel", post(notices::cancel))
        .route("/notices/{run}/print", post(notices::print))
        .route("/notices/{run}/files/{name}", get(notices::file))
        .route("/tickets/reissue", post(notices::reissue_ticket))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route(
            "/certificates/verify",
            get(certificates::form).post(certificates::verify),
        )
        .route("/persons/{address}/certificates", post(certificates::issue))
        .route("/certificates/{id}", get(certificates::show))
        .route("/certificates/{id}/pdf", get(certificates::pdf))
        .route("/certificates/{id}/reissue", post(certificates::reissue))
        .route("/certificates/{id}/revoke", post(certificates::revoke))
        .fallback(not_found)
}

/// Any other address: a page in the same frame for a person, JSON for an API client.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        crate::api::ApiError::NotFound.into_response()
    } else {
        PageError::NotFound.into_response()
    }
}

async fn home(staff: Option<Staff>) -> Redirect {
    match staff {
        Some(s) if s.can(Permission::PersonRead) => Redirect::to("/search"),
        Some(s) if s.can(Permission::ClinicCheck) => Redirect::to("/clinic"),
        Some(s) if s.can(Permission::UserAdmin) => Redirect::to("/admin/users"),
        Some(s) if s.can(Permission::AuditRead) => Redirect::to("/audit"),
        Some(s) if s.can(Permission::ImportRun) => Redirect::to("/imports"),
        Some(s) if s.can(Permission::PaymentRun) => Redirect::to("/payments"),
        Some(s) if s.can(Permission::ExportRun) => Redirect::to("/extract"),
        Some(_) => Redirect::to("/password"),
        None => Redirect::to(LOGIN_PATH),
    }
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A logged-in member of staff: the session is live and its account usable.
#[derive(Debug, Clone)]
pub(crate) struct Staff {
    pub caller: Caller,
    pub tenant: MunicipalityCode,
    pub login: String,
    pub csrf: String,
    /// Identifies the session in this process's memory (its cookie's hash), never the cookie.
    pub key: String,
    /// The request's method and path, named in the audit entry of a forged form.
    pub request: String,
}

impl Staff {
    pub fn can(&self, p: Permission) -> bool {
        self.caller.permissions.contains(&p)
    }

    /// Refuses a page without `p`, recording the refusal.
    pub async fn require(
        &self,
        state: &AppState,
        p: Permission,
        function: &str,
    ) -> Result<(), PageError> {
        if self.can(p) {
            return Ok(());
        }
        // The refusal is the application layer's: audited once, in the same words.
        state
            .app
            .authorize(&self.caller, self.tenant, p, function)
            .await?;
        Err(PageError::Forbidden(p))
    }

    /// Every form that changes something must show the session's token. A form without it
    /// was sent from elsewhere (or a page older than the session): refused, and recorded with
    /// what it asked for, so that an auditor sees the attempt on the account.
    pub async fn check_csrf(&self, state: &AppState, presented: &str) -> Result<(), PageError> {
        if !presented.is_empty() && presented == self.csrf {
            return Ok(());
        }
        let detail = serde_json::json!({"reason": "forged form", "request": self.request});
        state
            .app
            .record(
                &self.caller,
                "page.form",
                Outcome::Refused,
                vec![],
                vec![],
                detail,
            )
            .await?;
        Err(PageError::Csrf)
    }

    /// What the layout shows around every page.
    pub async fn chrome(&self, state: &AppState, title: &str) -> Chrome {
        let name = municipality_name(state, self.tenant).await;
        Chrome {
            title: title.to_owned(),
            login: self.login.clone(),
            municipality: format!("{} {}", self.tenant.as_string(), name),
            csrf: self.csrf.clone(),
            idle_seconds: state.idle.num_seconds(),
            permissions: self.caller.permissions.clone(),
            signed_in: true,
        }
    }
}

async fn municipality_name(state: &AppState, code: MunicipalityCode) -> String {
    if let Some(n) = state
        .pages
        .names
        .lock()
        .ok()
        .and_then(|m| m.get(&code).cloned())
    {
        return n;
    }
    let name = state
        .app
        .store
        .municipalities()
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|m| m.code == code))
        .map(|m| m.name)
        .unwrap_or_default();
    if let Ok(mut m) = state.pages.names.lock() {
        m.insert(code, name.clone());
    }
    name
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to(LOGIN_PATH).into_response();
        let Some(cookie) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        match state
            .app
            .store
            .session(&cookie, chrono::Utc::now(), state.idle)
            .await
        {
            Ok(Some(s)) => {
                let mut caller = Caller::from_session(s.clone());
                caller.source = crate::state::source_of(&parts.extensions);
                Ok(Staff {
                    tenant: s.tenant,
                    login: s.login,
                    csrf: sesshu_store::csrf_token(&cookie),
                    key: sesshu_store::sha256_hex(&cookie),
                    request: format!("{} {}", parts.method, parts.uri.path()),
                    caller,
                })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Staff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Staff as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// The frame of every page: who is signed in, where, and what they may open.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    pub title: String,
    pub login: String,
    pub municipality: String,
    pub csrf: String,
    pub idle_seconds: i64,
    pub permissions: BTreeSet<Permission>,
    pub signed_in: bool,
}

impl Chrome {
    /// The frame of a page seen before login.
    pub fn public(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    /// Whether the signed-in person holds the permission named by its code (for the menu).
    pub fn can(&self, code: &str) -> bool {
        self.permissions.iter().any(|p| p.code() == code)
    }
}

/// A page's failure, shown as a page in the same frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("この画面を開く権限がありません ({})", .0.label())]
    Forbidden(Permission),
    #[error("見つかりません")]
    NotFound,
    #[error(
        "フォームの有効期限が切れたか、別の画面から送信されました。画面を開き直してやり直してください"
    )]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("内部エラーが発生しました")]
    Internal(#[from] StoreError),
    /// An operation failed for a reason that is not the user's (a file, a font): logged.
    #[error("内部エラーが発生しました")]
    Failed(sesshu_app::AppError),
}

impl From<sesshu_app::AppError> for PageError {
    fn from(e: sesshu_app::AppError) -> Self {
        use sesshu_app::AppError;
        match e {
            AppError::Forbidden(p) => PageError::Forbidden(p),
            AppError::NotFound(_) => PageError::NotFound,
            AppError::Store(e) => PageError::Internal(e),
            e if e.is_users() => PageError::BadRequest(e.to_string()),
            other => PageError::Failed(other),
        }
    }
}

impl From<crate::api::ApiError> for PageError {
    fn from(e: crate::api::ApiError) -> Self {
        match e {
            crate::api::ApiError::Forbidden(p) => PageError::Forbidden(p),
            crate::api::ApiError::NotFound => PageError::NotFound,
            crate::api::ApiError::Internal(e) => PageError::Internal(e),
            crate::api::ApiError::Failed(e) => PageError::Failed(e),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::Forbidden(_) | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Internal(e) => {
                let status = crate::problem::store_status(e);
                if status == StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::error!(error = ?e, "page failed");
                } else {
                    tracing::warn!(error = ?e, "page refused for now");
                }
                status
            }
            PageError::Failed(e) => {
                tracing::error!(error = ?e, "page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let busy = status == StatusCode::SERVICE_UNAVAILABLE;
        let page = ErrorPage {
            chrome: Chrome::public("エラー"),
            status: status.as_u16(),
            message: match &self {
                PageError::Internal(e) if crate::problem::says_why(e) => e.to_string(),
                other => other.to_string(),
            },
        };
        let mut r = (status, render(&page)).into_response();
        if busy {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(crate::problem::RETRY_AFTER_SECONDS),
            );
        }
        r
    }
}

/// Renders a template; a template that fails to render is an internal error, logged.
pub(crate) fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "内部エラーが発生しました",
            )
                .into_response()
        }
    }
}

/// A date as staff read it: 西暦 with the 和暦 beside it.
pub(crate) fn both_calendars(d: sesshu_domain::CivilDate) -> String {
    format!("{d} ({})", sesshu_domain::format_wareki(d))
}

/// Form fields: trimmed, and absent when blank.
pub(crate) fn field(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Each field's error, shown next to it and named by its `aria-describedby`.
pub(crate) struct FieldErrors(std::collections::BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn new(errors: std::collections::BTreeMap<&'static str, String>) -> Self {
        Self(errors)
    }

    pub fn none() -> Self {
        Self(std::collections::BTreeMap::new())
    }

    pub fn error(&self, f: &str) -> Option<&String> {
        self.0.get(f)
    }

    pub fn described_by(&self, f: &str) -> String {
        if self.0.contains_key(f) {
            format!("err-{f}")
        } else {
            String::new()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Template filters: `{{ stamp|jst }}` shows a stored UTC instant in Japan time to the minute.
pub(crate) mod filters {
    #[askama::filter_fn]
    pub fn jst<T: std::fmt::Display>(
        stamp: T,
        _env: &dyn askama::Values,
    ) -> askama::Result<String> {
        Ok(sesshu_domain::japan_minutes(&stamp.to_string()))
    }

    /// `{{ amount|yen }}`: 1234567 → 1,234,567.
    #[askama::filter_fn]
    pub fn yen(amount: &i64, _env: &dyn askama::Values) -> askama::Result<String> {
        Ok(sesshu_domain::digits::grouped(*amount))
    }
}
