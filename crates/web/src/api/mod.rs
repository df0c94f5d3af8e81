//! The JSON API. Every route names its municipality: no row is reachable without its tenant.
//! Reads are here; the writes that mirror the pages are in modules named after what they change.

mod doses;
mod imports;
mod notices;

use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use sesshu_app::AppError;
use sesshu_domain::access::Permission;
use sesshu_domain::{MunicipalityCode, parse_date};
use sesshu_store::{AuditEvent, Outcome, StoreError};

use crate::problem::{ApiJson, ApiQuery, Problem};
use crate::session::{Caller, SESSION_COOKIE, cookie_value};
pub use crate::state::AppState;
pub(crate) use crate::state::{Source, source_of};

use crate::today_in_japan;
use sesshu_app::audit::{AuditSearch, AuditUse};
use sesshu_app::persons::PersonSearch;
use sesshu_app::view::ImportRunView;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Fields of the request are wrong, each with its message (the field as the body names it).
    #[error("項目に誤りがあります")]
    Fields(Vec<(String, String)>),
    /// The change breaks a rule and was not confirmed: nothing was written.
    #[error("{0}")]
    NeedsConfirmation(String),
    #[error("認証が必要です (Authorization: Bearer <APIトークン>)")]
    Unauthorized,
    #[error("権限がありません: {0}")]
    Forbidden(Permission),
    #[error("見つかりません")]
    NotFound,
    #[error("内部エラーが発生しました")]
    Internal(#[from] StoreError),
    /// An operation failed for a reason that is not the user's (a file, a font): logged.
    #[error("内部エラーが発生しました")]
    Failed(AppError),
    #[error("{0:?}")]
    Problem(Problem),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden(p) => ApiError::Forbidden(p),
            AppError::NotFound(_) => ApiError::NotFound,
            AppError::Store(e) => ApiError::Internal(e),
            AppError::Field(f, m) => ApiError::Fields(vec![(f.to_owned(), m)]),
            AppError::Fields(v) => {
                ApiError::Fields(v.into_iter().map(|(f, m)| (f.to_owned(), m)).collect())
            }
            e if e.is_users() => ApiError::BadRequest(e.to_string()),
            other => ApiError::Failed(other),
        }
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError::Problem(p)
    }
}

impl ApiError {
    fn problem(self) -> Problem {
        match self {
            ApiError::BadRequest(m) => Problem::bad_request(m),
            ApiError::Fields(fields) => {
                let detail = fields
                    .iter()
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join("、");
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    "項目に誤りがあります",
                )
                .detail(detail)
                .fields(fields)
            }
            ApiError::NeedsConfirmation(m) => Problem::new(
                StatusCode::CONFLICT,
                "confirmation_required",
                "確認が必要です: 内容を確かめ、confirm を付けて送り直してください",
            )
            .detail(m),
            ApiError::Unauthorized => Problem::unauthorized(),
            ApiError::Forbidden(p) => Problem::forbidden(p),
            ApiError::NotFound => Problem::not_found(),
            ApiError::Internal(StoreError::Busy) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "混み合っています。少し待ってからやり直してください",
            ),
            ApiError::Internal(e) if crate::problem::says_why(&e) => {
                tracing::warn!(error = ?e, "request refused for now");
                let code = match e.fault() {
                    Some(sesshu_store::Fault::DiskFull | sesshu_store::Fault::DiskIo) => {
                        "disk_full"
                    }
                    Some(sesshu_store::Fault::Damaged) => "damaged",
                    _ => "unavailable",
                };
                Problem::new(crate::problem::store_status(&e), code, e.to_string())
            }
            ApiError::Internal(e) => {
                // The detail goes to the log, never to the client.
                tracing::error!(error = ?e, "request failed");
                Problem::internal()
            }
            ApiError::Failed(e) => {
                tracing::error!(error = ?e, "request failed");
                Problem::internal()
            }
            ApiError::Problem(p) => p,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}

fn tenant(code: &str) -> Result<MunicipalityCode, ApiError> {
    MunicipalityCode::parse(code).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Every `/api` request presents a token or a staff session; a missing, malformed, expired,
/// revoked or unknown one is refused alike (and recorded in the deployment's log). A session
/// (a cookie, which the browser sends by itself) must also show its CSRF token on every request
/// that changes something.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let cookie = cookie_value(request.headers(), SESSION_COOKIE);
    let now = chrono::Utc::now();
    let source = source_of(request.extensions());
    let caller = match (&bearer, &cookie) {
        (Some(t), _) => match state.app.store.authenticate_token(t, now).await {
            Ok(Some(token)) if !token.allow_from.allows(&source) => {
                // A valid token from an address it may not be used from: refused like an
                // unknown one, and recorded in its municipality's chain under its own name.
                let who = Caller::from_token(token);
                let detail = json!({"reason": "source not allowed", "source": source});
                if let Err(e) = state
                    .app
                    .record(&who, "auth.token", Outcome::Refused, vec![], vec![], detail)
                    .await
                {
                    return ApiError::from(e).into_response();
                }
                Ok(None)
            }
            other => other.map(|c| c.map(Caller::from_token)),
        },
        (None, Some(c)) => match state.app.store.session(c, now, state.idle).await {
            Ok(Some(s)) => {
                let safe = matches!(request.method().as_str(), "GET" | "HEAD");
                let csrf = request
                    .headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !safe && !sesshu_store::csrf_matches(&s, csrf) {
                    let mut who = Caller::from_session(s);
                    who.source = source.clone();
                    let path = request.uri().path().to_owned();
                    let detail = json!({"reason": "forged form", "request": format!("{} {path}", request.method())});
                    if let Err(e) = state
                        .app
                        .record(&who, "page.form", Outcome::Refused, vec![], vec![], detail)
                        .await
                    {
                        return ApiError::from(e).into_response();
                    }
                    return Problem::new(
                        StatusCode::FORBIDDEN,
                        "csrf",
                        "CSRF トークンがありません (X-CSRF-Token ヘッダー)",
                    )
                    .into_response();
                }
                Ok(Some(Caller::from_session(s)))
            }
            other => other.map(|_| None),
        },
        (None, None) => Ok(None),
    };
    match caller {
        Ok(Some(mut c)) => {
            c.source = source;
            request.extensions_mut().insert(c);
            next.run(request).await
        }
        Ok(None) => {
            let logged = state
                .app
                .store
                .audit(
                    None,
                    AuditEvent {
                        actor: "anonymous".into(),
                        actor_kind: "api",
                        source: Some(source_of(request.extensions())),
                        function: "auth.token".into(),
                        outcome: Outcome::Refused,
                        persons_acted: vec![],
                        persons_shown: vec![],
                        detail: json!({
                            "token_presented": bearer.is_some(),
                            "session_presented": cookie.is_some(),
                        }),
                    },
                )
                .await;
            match logged {
                Ok(_) => ApiError::Unauthorized.into_response(),
                Err(e) => ApiError::Internal(e).into_response(),
            }
        }
        Err(e) => ApiError::Internal(e).into_response(),
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(crate::pages::routes())
        .merge(
            Router::new()
                .route("/api/v1/municipalities", get(municipalities))
                .route("/api/v1/municipalities/{code}/persons", get(search))
                .route(
                    "/api/v1/municipalities/{code}/persons/{address_number}",
                    get(person),
                )
                .route(
                    "/api/v1/municipalities/{code}/persons/{address_number}/my-number",
                    get(reveal_my_number),
                )
                .route(
                    "/api/v1/municipalities/{code}/persons/by-my-number",
                    post(find_by_my_number),
                )
                .route(
                    "/api/v1/municipalities/{code}/clinic-checks",
                    post(clinic_check),
                )
                .route(
                    "/api/v1/municipalities/{code}/imports",
                    get(imports)
                        .post(imports::upload)
                        .layer(axum::extract::DefaultBodyLimit::max(
                            crate::pages::MAX_UPLOAD_BYTES,
                        )),
                )
                .route(
                    "/api/v1/municipalities/{code}/persons/{address_number}/doses",
                    post(doses::record),
                )
                .route(
                    "/api/v1/municipalities/{code}/doses/flagged",
                    get(doses::flagged),
                )
                .route(
                    "/api/v1/municipalities/{code}/doses/{id}",
                    get(doses::show).put(doses::correct).delete(doses::delete),
                )
                .route(
                    "/api/v1/municipalities/{code}/doses/{id}/review",
                    post(doses::review),
                )
                .route(
                    "/api/v1/municipalities/{code}/notice-runs",
                    get(notices::list).post(notices::plan),
                )
                .route(
                    "/api/v1/municipalities/{code}/notice-runs/{run}",
                    get(notices::show),
                )
                .route(
                    "/api/v1/municipalities/{code}/notice-runs/{run}/approve",
                    post(notices::approve),
                )
                .route(
                    "/api/v1/municipalities/{code}/access-review",
                    get(access_review),
                )
                .route("/api/v1/municipalities/{code}/audit", get(audit_search))
                .route(
                    "/api/v1/municipalities/{code}/statistics",
                    get(municipality_statistics),
                )
                .route(
                    "/api/v1/prefectures/{pref}/statistics",
                    get(prefecture_statistics),
                )
                .route(
                    "/api/v1/municipalities/{code}/statistics/annual",
                    get(municipality_annual),
                )
                .route(
                    "/api/v1/prefectures/{pref}/statistics/annual",
                    get(prefecture_annual),
                )
                .route(
                    "/api/v1/municipalities/{code}/statistics/coverage",
                    get(municipality_coverage),
                )
                .route(
                    "/api/v1/prefectures/{pref}/statistics/coverage",
                    get(prefecture_coverage),
                )
                .route(
                    "/api/v1/session",
                    get(crate::session::whoami).delete(crate::session::logout),
                )
                .route_layer(middleware::from_fn_with_state(state.clone(), authenticate)),
        )
        .route("/api/v1/login", post(crate::session::login))
        .route("/api/v1/password", post(crate::session::change_password))
        .layer(middleware::from_fn(crate::problem::for_api))
        .layer(middleware::from_fn(headers_and_log))
        .with_state(state)
}

/// No personal data may linger in a browser cache or be framed elsewhere; the log names the
/// route template, never the path with its identifiers.
async fn headers_and_log(mut request: Request, next: Next) -> Response {
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    request.extensions_mut().insert(Source(source));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    tracing::info!(
        %method,
        route = route.as_deref().unwrap_or("(unmatched)"),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn health(State(state): State<AppState>) -> Response {
    match state.app.store.municipalities().await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// The caller's own municipality: a token never learns which others the deployment holds.
async fn municipalities(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let list = state.app.store.municipalities().await?;
    let out: Vec<_> = list
        .iter()
        .filter(|m| caller.tenant == Some(m.code))
        .map(|m| json!({ "code": m.code.to_string(), "name": m.name }))
        .collect();
    Ok(Json(out).into_response())
}

/// One page of a search with the total, and the links to the pages beside it: the same query
/// with the cursor the page gave.
async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
    ApiQuery(params): ApiQuery<PersonSearch>,
) -> Result<Response, ApiError> {
    let page = state
        .app
        .search_persons(&caller, tenant(&code)?, &params)
        .await?;
    let link = |cursor: &Option<String>| {
        cursor.as_ref().map(|c| {
            let mut pairs: Vec<&str> = raw
                .as_deref()
                .unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
                .collect();
            let cursor = format!("cursor={c}");
            pairs.push(&cursor);
            format!("/api/v1/municipalities/{code}/persons?{}", pairs.join("&"))
        })
    };
    let links = json!({
        "next": link(&page.next_cursor),
        "previous": link(&page.previous_cursor),
    });
    Ok(Json(SearchBody { page, links }).into_response())
}

#[derive(serde::Serialize)]
struct SearchBody {
    #[serde(flatten)]
    page: sesshu_app::persons::PersonSearchPage,
    links: serde_json::Value,
}

async fn person(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, address_number)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let detail = state
        .app
        .read_person(&caller, tenant(&code)?, &address_number)
        .await?;
    Ok(Json(detail).into_response())
}

#[derive(Debug, Deserialize)]
struct Purpose {
    purpose: Option<String>,
}

/// Reveals one person's My Number: mynumber.use, a stated purpose, and an audit entry naming
/// both (never the number).
async fn reveal_my_number(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, address_number)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<Purpose>,
) -> Result<Response, ApiError> {
    let digits = state
        .app
        .reveal_my_number(&caller, tenant(&code)?, &address_number, q.purpose)
        .await?;
    Ok(Json(json!({
        "address_number": address_number,
        "my_number": digits,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ByMyNumber {
    my_number: String,
    purpose: Option<String>,
}

/// Finds persons by My Number (POST, so the number is never in a URL or a log line).
async fn find_by_my_number(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<ByMyNumber>,
) -> Result<Response, ApiError> {
    let shown = state
        .app
        .find_by_my_number(&caller, tenant(&code)?, &body.my_number, body.purpose)
        .await?;
    Ok(Json(json!({ "address_numbers": shown })).into_response())
}

/// A clinic system's question: `ticket` (the 18-digit line or its QR text), or
/// `address_number` with `birth_date`; `product` optional.
#[derive(Debug, Deserialize)]
struct ClinicBody {
    ticket: Option<String>,
    address_number: Option<String>,
    birth_date: Option<String>,
    product: Option<String>,
}

/// 接種前確認 for a clinic's system, signed in as the clinic's account (with its second
/// factor): the same answer as the page, as JSON.
async fn clinic_check(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<ClinicBody>,
) -> Result<Response, ApiError> {
    use sesshu_app::clinics::{ClinicKey, ClinicQuestion};
    let key = match (body.ticket, body.address_number, body.birth_date) {
        (Some(t), None, None) => ClinicKey::Ticket(t),
        (None, Some(address_number), Some(birth_date)) => ClinicKey::Person {
            address_number,
            birth_date,
        },
        _ => {
            return Err(ApiError::BadRequest(
                "ticket か、address_number と birth_date の組のどちらかを指定してください".into(),
            ));
        }
    };
    let question = ClinicQuestion {
        key,
        product: body.product,
    };
    let answer = state
        .app
        .clinic_check(&caller, tenant(&code)?, &question)
        .await?;
    Ok(Json(answer).into_response())
}

#[derive(Debug, Deserialize)]
struct Period {
    from: Option<String>,
    to: Option<String>,
}

/// The period asked for, by default the current fiscal year.
fn period(p: &Period) -> Result<(sesshu_domain::CivilDate, sesshu_domain::CivilDate), ApiError> {
    let fy = sesshu_domain::FiscalYear::of(today_in_japan());
    let day = |s: &Option<String>, default: Option<sesshu_domain::CivilDate>, what: &str| {
        let wrong = |m: String| ApiError::Fields(vec![(what.to_owned(), format!("{what}: {m}"))]);
        match s {
            Some(s) => parse_date(s).map_err(|e| wrong(e.to_string())),
            None => default.ok_or_else(|| wrong("日付を指定してください".into())),
        }
    };
    Ok((
        day(&p.from, fy.first_day(), "from")?,
        day(&p.to, fy.last_day(), "to")?,
    ))
}

/// A municipality's own counts (stats.read).
async fn municipality_statistics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(p): ApiQuery<Period>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&code)?;
    let (from, to) = period(&p)?;
    let stats = state.app.statistics(&caller, tenant, from, to).await?;
    Ok(Json(stats).into_response())
}

/// A prefecture's view: counts of each of its municipalities, never a person (stats.read on a
/// prefecture token). Any other caller finds nothing there.
async fn prefecture_statistics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(pref): Path<String>,
    ApiQuery(p): ApiQuery<Period>,
) -> Result<Response, ApiError> {
    let (from, to) = period(&p)?;
    let stats = state
        .app
        .prefecture_statistics(&caller, &pref, from, to)
        .await?;
    Ok(Json(stats).into_response())
}

#[derive(Debug, Deserialize)]
struct Year {
    fiscal_year: Option<i32>,
}

fn fiscal_year(y: &Year) -> i32 {
    y.fiscal_year
        .unwrap_or(sesshu_domain::FiscalYear::of(today_in_japan()).0)
}

/// The municipality's annual table of routine doses by vaccine, 期/回 and sex (schedule.read).
async fn municipality_annual(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(y): ApiQuery<Year>,
) -> Result<Response, ApiError> {
    let report = state
        .app
        .annual_report(&caller, tenant(&code)?, fiscal_year(&y))
        .await?;
    Ok(Json(report).into_response())
}

/// A prefecture's annual table over its municipalities: small counts `null`, the rest rounded
/// (stats.read on the prefecture's own token).
async fn prefecture_annual(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(pref): Path<String>,
    ApiQuery(y): ApiQuery<Year>,
) -> Result<Response, ApiError> {
    let report = state
        .app
        .prefecture_annual_report(&caller, &pref, fiscal_year(&y))
        .await?;
    Ok(Json(report).into_response())
}

#[derive(Debug, Deserialize)]
struct SeriesYear {
    series: String,
    fiscal_year: Option<i32>,
}

/// 接種率 of a series over the fiscal year's target as the rules define it (schedule.read).
async fn municipality_coverage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<SeriesYear>,
) -> Result<Response, ApiError> {
    let year = fiscal_year(&Year {
        fiscal_year: q.fiscal_year,
    });
    let c = state
        .app
        .target_coverage(&caller, tenant(&code)?, &q.series, year)
        .await?;
    Ok(Json(c).into_response())
}

/// The same over a prefecture's municipalities: small counts `null`, the rest rounded, the
/// shares computed from what is shown (stats.read on the prefecture's own token).
async fn prefecture_coverage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(pref): Path<String>,
    ApiQuery(q): ApiQuery<SeriesYear>,
) -> Result<Response, ApiError> {
    let year = fiscal_year(&Year {
        fiscal_year: q.fiscal_year,
    });
    let c = state
        .app
        .prefecture_target_coverage(&caller, &pref, &q.series, year)
        .await?;
    Ok(Json(c).into_response())
}

/// The periodic access review (user.admin).
async fn access_review(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let rows = state
        .app
        .access_review(&caller, tenant(&code)?, None)
        .await?;
    Ok(Json(rows).into_response())
}

/// The auditor's search (audit.read), itself recorded with its conditions: oldest first
/// unless `newest_first=true`, a page of `limit` (default 100) with `more` saying whether the
/// search goes on (`before=<the last seq>` for the next newest-first page).
async fn audit_search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(search): ApiQuery<AuditSearch>,
) -> Result<Response, ApiError> {
    let page = state
        .app
        .audit_entries(&caller, tenant(&code)?, &search, AuditUse::Search)
        .await?;
    Ok(Json(page).into_response())
}

/// The audit entry of a read (or a refusal), in the caller's municipality's chain.
pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    function: &str,
    outcome: Outcome,
    shown: Vec<String>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    record(state, caller, function, outcome, vec![], shown, detail).await
}

pub(crate) async fn record(
    state: &AppState,
    caller: &Caller,
    function: &str,
    outcome: Outcome,
    acted: Vec<String>,
    shown: Vec<String>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .app
        .record(caller, function, outcome, acted, shown, detail)
        .await?;
    Ok(())
}

async fn imports(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let runs = state.app.import_runs(&caller, tenant(&code)?, 100).await?;
    let out: Vec<ImportRunView> = runs.iter().map(ImportRunView::from).collect();
    Ok(Json(out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login refused because too many are being checked at once says so and when to retry,
    /// on the API and on the pages alike — not a 500.
    #[test]
    fn busy_is_a_503_with_retry_after_on_api_and_pages() {
        let api = ApiError::Internal(StoreError::Busy).into_response();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.headers()[header::RETRY_AFTER], "2");
        let page =
            crate::pages::PageError::from(ApiError::Internal(StoreError::Busy)).into_response();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers()[header::RETRY_AFTER], "2");
    }
}
