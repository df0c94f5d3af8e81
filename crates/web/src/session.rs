//! Who is calling: a machine client's token or a staff session, and the staff login, logout and
//! password change. Every failed login gets the same answer, whatever failed.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::{PasswordPolicy, Permission};
use sesshu_store::{ABSOLUTE_HOURS, AuditEvent, LoginOutcome, NewSession, Outcome};

use crate::api::{ApiError, AppState};
use crate::problem::{ApiJson, Problem};

pub const SESSION_COOKIE: &str = "sesshu_session";

/// The caller of an `/api` request or a page, however it authenticated.
pub use sesshu_app::Actor as Caller;

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Permissions that need a second factor before a browser may hold them (P1): such an account
/// without an enrolled TOTP key is refused a session rather than let in on a password.
fn needs_second_factor(p: &BTreeSet<Permission>) -> bool {
    p.iter().any(|x| x.needs_second_factor())
}

#[derive(Debug, Deserialize)]
pub struct LoginBody {
    municipality: String,
    login: String,
    password: String,
    /// The authenticator's code, or a recovery code, when the account has a second factor.
    #[serde(default)]
    totp: Option<String>,
}

fn refused() -> Response {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "login_refused",
        "ログインできません。ログイン名とパスワードを確認してください",
    )
    .into_response()
}

async fn audit_login(
    state: &AppState,
    source: &str,
    tenant: MunicipalityCode,
    login: &str,
    function: &str,
    outcome: Outcome,
    result: &str,
) -> Result<(), ApiError> {
    state
        .app
        .store
        .audit(
            Some(tenant),
            AuditEvent {
                actor: format!("user:{login}"),
                actor_kind: "user",
                source: Some(source.to_owned()),
                function: function.into(),
                outcome,
                persons_acted: vec![],
                persons_shown: vec![],
                detail: json!({ "result": result }),
            },
        )
        .await?;
    Ok(())
}

/// What a login attempt came to, for the API and the login page alike.
pub(crate) enum LoginResult {
    Session {
        session: NewSession,
        tenant: MunicipalityCode,
        permissions: BTreeSet<Permission>,
    },
    Throttled,
    /// Whatever failed: unknown login, wrong password or code, locked, disabled, no grants.
    Refused,
    MustChangePassword,
    /// The password was right; the account must enrol a second factor before any session.
    NeedsEnrolment {
        tenant: MunicipalityCode,
    },
}

/// Verifies a login (password, then the second factor) and starts a fresh session; every
/// outcome is audited.
pub(crate) async fn verify_login(
    state: &AppState,
    source: &str,
    municipality: &str,
    login: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<LoginResult, ApiError> {
    if !state.throttle.allow(source, municipality, login) {
        return Ok(LoginResult::Throttled);
    }
    let Ok(tenant) = MunicipalityCode::parse(municipality) else {
        return Ok(LoginResult::Refused);
    };
    let now = chrono::Utc::now();
    let policy = PasswordPolicy::default();
    let outcome = state
        .app
        .store
        .attempt_login(tenant, login, password, &policy, now)
        .await?;
    let result = match &outcome {
        LoginOutcome::Ok { .. } => "ok",
        LoginOutcome::Invalid => "invalid",
        LoginOutcome::Locked { .. } => "locked",
        LoginOutcome::Disabled => "disabled",
        LoginOutcome::OutsideValidity => "outside validity",
        LoginOutcome::PasswordExpired => "password expired",
    };
    let refuse = |why: &'static str| {
        audit_login(
            state,
            source,
            tenant,
            login,
            "auth.login",
            Outcome::Refused,
            why,
        )
    };
    let LoginOutcome::Ok {
        must_change_password,
    } = outcome
    else {
        refuse(result).await?;
        if outcome == LoginOutcome::PasswordExpired {
            return Ok(LoginResult::MustChangePassword);
        }
        return Ok(LoginResult::Refused);
    };
    if must_change_password {
        refuse("must change password").await?;
        return Ok(LoginResult::MustChangePassword);
    }
    let permissions = state
        .app
        .store
        .permissions(tenant, login, sesshu_store::date_in_japan(now))
        .await?;
    let enrolled = state.app.store.totp_secret(tenant, login).await?;
    if let Some(sealed) = &enrolled {
        let code = totp.unwrap_or("").trim();
        let secret =
            sesshu_crypto::signing::open_account_secret(&*state.keyring()?, tenant, login, sealed)
                .map_err(sesshu_store::StoreError::from)?;
        let unix = u64::try_from(now.timestamp()).unwrap_or(0);
        let ok = match sesshu_crypto::totp::check(&secret, code, unix) {
            // Each code is accepted once: a replay within its window is refused.
            Some(step) if code.len() == 6 => {
                state
                    .app
                    .store
                    .accept_totp_step(tenant, login, step)
                    .await?
            }
            _ => {
                code.len() > 6
                    && state
                        .app
                        .store
                        .use_recovery_code(tenant, login, code)
                        .await?
            }
        };
        if !ok {
            let counted = state
                .app
                .store
                .second_factor_failed(tenant, login, now)
                .await?;
            let why = match counted {
                LoginOutcome::Locked { .. } => "second factor (locked)",
                _ => "second factor",
            };
            refuse(why).await?;
            return Ok(LoginResult::Refused);
        }
    } else if state.totp_for_all || needs_second_factor(&permissions) {
        refuse("second factor required").await?;
        return Ok(LoginResult::NeedsEnrolment { tenant });
    }
    if permissions.is_empty() {
        refuse("no grants").await?;
        return Ok(LoginResult::Refused);
    }
    state.app.store.login_succeeded(tenant, login, now).await?;
    let session = state
        .app
        .store
        .start_session(tenant, login, Some(source), now)
        .await?;
    audit_login(
        state,
        source,
        tenant,
        login,
        "auth.login",
        Outcome::Ok,
        "ok",
    )
    .await?;
    Ok(LoginResult::Session {
        session,
        tenant,
        permissions,
    })
}

/// The session cookie: HttpOnly, Secure, SameSite=Strict, for the absolute lifetime at most.
pub(crate) fn session_cookie(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        ABSOLUTE_HOURS * 3600
    ))
    .ok()
}

pub(crate) const CLEARED_SESSION_COOKIE: &str =
    "sesshu_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0";

/// `POST /api/v1/login`: a fresh session (never one the client names) and its CSRF token.
pub async fn login(
    State(state): State<AppState>,
    Extension(source): Extension<crate::api::Source>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Response {
    let result = verify_login(
        &state,
        &source.0,
        &body.municipality,
        &body.login,
        &body.password,
        body.totp.as_deref(),
    )
    .await;
    match result {
        Ok(LoginResult::Session {
            session,
            tenant,
            permissions,
        }) => {
            let mut response = Json(json!({
                "csrf_token": session.csrf_token,
                "login": body.login,
                "municipality": tenant.as_string(),
                "permissions": permissions.iter().map(|p| p.code()).collect::<Vec<_>>(),
            }))
            .into_response();
            if let Some(v) = session_cookie(&session.cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Ok(LoginResult::Throttled) => throttled(),
        Ok(LoginResult::Refused) => refused(),
        Ok(LoginResult::MustChangePassword) => must_change(),
        Ok(LoginResult::NeedsEnrolment { .. }) => Problem::new(
            StatusCode::FORBIDDEN,
            "second_factor_required",
            "この利用者は二要素認証 (TOTP) の登録が必要です (sesshu user totp またはログイン画面)",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

fn throttled() -> Response {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "試行が多すぎます。1分ほど待ってからやり直してください",
    )
    .into_response()
}

fn must_change() -> Response {
    Problem::new(
        StatusCode::FORBIDDEN,
        "password_change_required",
        "パスワードの変更が必要です (POST /api/v1/password)",
    )
    .into_response()
}

/// `GET /api/v1/session`: who the caller is.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    Json(json!({
        "actor": caller.actor,
        "municipality": caller.tenant.map(|t| t.as_string()),
        "prefecture": caller.prefecture,
        "permissions": caller.permissions.iter().map(|p| p.code()).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `DELETE /api/v1/session`: logout, effective at once (the CSRF check ran in the middleware).
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let Some(cookie) = cookie_value(&headers, SESSION_COOKIE) else {
        return Problem::bad_request("セッションではありません (トークンはログアウトできません)")
            .into_response();
    };
    let done = async {
        state
            .app
            .store
            .end_session(&cookie, chrono::Utc::now())
            .await?;
        crate::api::audit(
            &state,
            &caller,
            "auth.logout",
            Outcome::Ok,
            vec![],
            json!({}),
        )
        .await
    };
    match done.await {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(CLEARED_SESSION_COOKIE),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    municipality: String,
    login: String,
    password: String,
    new_password: String,
}

/// What a password change came to.
pub(crate) enum PasswordChange {
    Changed,
    /// The current password did not verify (the same answer whatever failed).
    Refused,
    Throttled,
    /// The new password breaks the city's policy: the reason, for the person to read.
    Invalid(String),
}

/// The person changes their own password with the current one (also when it expired or must be
/// changed); every session of theirs ends.
pub(crate) async fn change_own_password(
    state: &AppState,
    source: &str,
    municipality: &str,
    login: &str,
    password: &str,
    new_password: &str,
) -> Result<PasswordChange, ApiError> {
    if !state.throttle.allow(source, municipality, login) {
        return Ok(PasswordChange::Throttled);
    }
    let Ok(tenant) = MunicipalityCode::parse(municipality) else {
        return Ok(PasswordChange::Refused);
    };
    let policy = PasswordPolicy::default();
    let outcome = state
        .app
        .store
        .attempt_login(tenant, login, password, &policy, chrono::Utc::now())
        .await?;
    if !matches!(
        outcome,
        LoginOutcome::Ok { .. } | LoginOutcome::PasswordExpired
    ) {
        audit_login(
            state,
            source,
            tenant,
            login,
            "auth.password",
            Outcome::Refused,
            "not verified",
        )
        .await?;
        return Ok(PasswordChange::Refused);
    }
    match state
        .app
        .store
        .set_password(tenant, login, new_password, &policy, false)
        .await
    {
        Ok(()) => {
            audit_login(
                state,
                source,
                tenant,
                login,
                "auth.password",
                Outcome::Ok,
                "changed",
            )
            .await?;
            Ok(PasswordChange::Changed)
        }
        Err(sesshu_store::StoreError::Invalid(m)) => Ok(PasswordChange::Invalid(m)),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// `POST /api/v1/password`.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(source): Extension<crate::api::Source>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Response {
    let result = change_own_password(
        &state,
        &source.0,
        &body.municipality,
        &body.login,
        &body.password,
        &body.new_password,
    )
    .await;
    match result {
        Ok(PasswordChange::Changed) => StatusCode::NO_CONTENT.into_response(),
        Ok(PasswordChange::Refused) => refused(),
        Ok(PasswordChange::Throttled) => throttled(),
        Ok(PasswordChange::Invalid(m)) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "新しいパスワードを受け付けられません",
        )
        .detail(m.clone())
        .fields(vec![("new_password".into(), m)])
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Login throttling: at most [`Throttle::PER_MINUTE`] attempts per login name and municipality in
/// any minute, whether the account exists or not (so the limit tells nothing either), on top of
/// the account lockout.
#[derive(Debug, Default)]
pub struct Throttle {
    attempts: std::sync::Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
}

impl Throttle {
    /// Attempts per login name (in its municipality) in any minute.
    pub const PER_MINUTE: usize = 10;
    /// Attempts from one source in any minute, whatever names it tries: guessing across many
    /// names (or one name spelt many ways) stops here.
    pub const PER_SOURCE_PER_MINUTE: usize = 30;

    /// Records an attempt; `false` when it is one too many for the name or for the source.
    /// The name is keyed as it is read, not as it was typed: " 132098", "１３２０９８" and
    /// "132098" are one municipality, "Tanaka " and "ｔａｎａｋａ" one login.
    pub fn allow(&self, source: &str, municipality: &str, login: &str) -> bool {
        let code = sesshu_domain::digits::half_width_ascii(municipality);
        let code = MunicipalityCode::parse(&code).map_or(code, |c| c.as_string());
        let name = sesshu_domain::digits::half_width_ascii(login).to_ascii_lowercase();
        let now = std::time::Instant::now();
        let Ok(mut map) = self.attempts.lock() else {
            return false;
        };
        if map.len() > 100_000 {
            // Nobody keeps this many names in flight honestly; start afresh rather than grow.
            map.clear();
        }
        let mut full = |key: String, limit: usize| {
            let recent = map.entry(key).or_default();
            recent.retain(|t| now.duration_since(*t) < std::time::Duration::from_secs(60));
            recent.len() >= limit
        };
        if full(format!("{code}|{name}"), Self::PER_MINUTE)
            || full(format!("source|{source}"), Self::PER_SOURCE_PER_MINUTE)
        {
            return false;
        }
        for key in [format!("{code}|{name}"), format!("source|{source}")] {
            map.entry(key).or_default().push(now);
        }
        true
    }
}
