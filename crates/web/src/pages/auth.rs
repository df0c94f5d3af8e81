//! Login (password, then the second factor), second-factor enrolment with a QR code, the forced
//! password change, logout and the idle keep-alive.
//!
//! Before a session exists the forms are protected by a signed double-submitted token: a cookie
//! (`sesshu_pre`, SameSite=Strict) holding when it was issued and a random nonce, and a form
//! field holding the deployment's HMAC of that cookie (the record-signing key of the key file).
//! Another site cannot log a browser in to an account of its choosing: a cookie and field pair
//! it makes up does not verify, and one it fetched itself expires within the hour.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_domain::MunicipalityCode;
use sesshu_store::{AuditEvent, Outcome};

use super::{Chrome, PageError, Staff, render};
use crate::session::{
    CLEARED_SESSION_COOKIE, LoginResult, PasswordChange, SESSION_COOKIE, change_own_password,
    cookie_value, session_cookie, verify_login,
};
use crate::state::{AppState, Source};

pub(crate) const LOGIN_PATH: &str = "/login";
const PRE_COOKIE: &str = "sesshu_pre";
const ENROL_COOKIE: &str = "sesshu_enrol";
const ENROL_MINUTES: i64 = 10;

/// A second-factor enrolment begun by a verified password, waiting for the first code.
#[derive(Debug, Clone)]
pub(crate) struct PendingEnrolment {
    tenant: MunicipalityCode,
    login: String,
    secret: Vec<u8>,
    expires: chrono::DateTime<chrono::Utc>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    pre: String,
    municipality: String,
    login: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Notice {
    m: Option<String>,
}

fn notice_text(m: Option<&str>) -> Option<String> {
    match m? {
        "logout" => Some("ログアウトしました。".into()),
        "idle" => Some(
            "一定時間操作がなかったため、自動的にログアウトしました。個人情報は画面から消去されています。"
                .into(),
        ),
        "password" => {
            Some("パスワードを変更しました。新しいパスワードでログインしてください。".into())
        }
        _ => None,
    }
}

/// How long a login form stays good.
const PRE_SECONDS: i64 = 3600;

/// What the form token signs: the cookie's value, under a label of its own so that a token can
/// never pass for another of the deployment's signatures.
fn pre_message(cookie: &str) -> String {
    format!("sesshu/login-form/v1|{cookie}")
}

/// A fresh pre-session cookie and the form token bound to it. Without the key file no token is
/// made, and the form is refused as expired (a login could not be checked anyway).
fn pre_token(state: &AppState) -> (String, HeaderValue) {
    let value = format!(
        "{}.{}",
        chrono::Utc::now().timestamp(),
        sesshu_store::random_hex(16)
    );
    let token = state
        .app
        .keyring()
        .ok()
        .and_then(|k| sesshu_crypto::signing::sign(&k, &pre_message(&value)).ok())
        .unwrap_or_default();
    let cookie = HeaderValue::from_str(&format!(
        "{PRE_COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={PRE_SECONDS}"
    ))
    .unwrap_or(HeaderValue::from_static(""));
    (token, cookie)
}

/// The form repeats the token the deployment signed for this cookie, issued within the hour.
fn pre_matches(state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
    let Some(value) = cookie_value(headers, PRE_COOKIE) else {
        return false;
    };
    let Some(issued) = value
        .split_once('.')
        .and_then(|(t, _)| t.parse::<i64>().ok())
    else {
        return false;
    };
    let age = chrono::Utc::now().timestamp() - issued;
    // A minute's grace for a clock stepped back between two requests.
    if !(-60..=PRE_SECONDS).contains(&age) {
        return false;
    }
    state
        .app
        .keyring()
        .is_ok_and(|k| sesshu_crypto::signing::verify(&k, &pre_message(&value), presented))
}

fn with_cookie(mut r: Response, cookie: HeaderValue) -> Response {
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    municipality: &str,
    login: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let (pre, cookie) = pre_token(state);
    let page = LoginPage {
        chrome: Chrome::public("ログイン"),
        pre,
        municipality: municipality.to_owned(),
        login: login.to_owned(),
        notice,
        error,
    };
    with_cookie((status, render(&page)).into_response(), cookie)
}

/// The login form; a deployment of one municipality fills its code in.
pub(crate) async fn login_form(State(state): State<AppState>, Query(n): Query<Notice>) -> Response {
    let only = match state.app.store.municipalities().await {
        Ok(all) if all.len() == 1 => all[0].code.as_string(),
        _ => String::new(),
    };
    login_page(
        &state,
        StatusCode::OK,
        &only,
        "",
        notice_text(n.m.as_deref()),
        None,
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    pre: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !pre_matches(&state, &headers, &f.pre) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &f.municipality,
            &f.login,
            None,
            Some("画面の有効期限が切れました。もう一度入力してください。".into()),
        );
    }
    let result = verify_login(
        &state,
        &source.0,
        f.municipality.trim(),
        f.login.trim(),
        &f.password,
        Some(f.totp.as_str()),
    )
    .await;
    match result {
        Ok(LoginResult::Session { session, .. }) => {
            let mut r = Redirect::to("/").into_response();
            if let Some(c) = session_cookie(&session.cookie) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Ok(LoginResult::Refused) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &f.municipality,
            &f.login,
            None,
            Some(
                "ログインできません。団体コード・ログイン名・パスワード・確認コードを確かめてください。続けて誤るとしばらくロックされます。"
                    .into(),
            ),
        ),
        Ok(LoginResult::Throttled) => login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &f.municipality,
            &f.login,
            None,
            Some("試行が多すぎます。1分ほど待ってからやり直してください。".into()),
        ),
        Ok(LoginResult::MustChangePassword) => password_page(
            &state,
            StatusCode::OK,
            &f.municipality,
            &f.login,
            Some("パスワードの変更が必要です (初回または有効期限切れ)。".into()),
            None,
        ),
        Ok(LoginResult::NeedsEnrolment { tenant }) => {
            let token = sesshu_store::random_hex(24);
            let pending = PendingEnrolment {
                tenant,
                login: f.login.trim().to_owned(),
                secret: sesshu_crypto::totp::new_secret(),
                expires: chrono::Utc::now() + chrono::Duration::minutes(ENROL_MINUTES),
            };
            if let Ok(mut m) = state.pages.enrolments.lock() {
                let now = chrono::Utc::now();
                m.retain(|_, p| p.expires > now);
                m.insert(token.clone(), pending);
            }
            let cookie = HeaderValue::from_str(&format!(
                "{ENROL_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/enrol; Max-Age={}",
                ENROL_MINUTES * 60
            ))
            .unwrap_or(HeaderValue::from_static(""));
            with_cookie(Redirect::to("/enrol").into_response(), cookie)
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `POST /logout`: the session ends at once.
pub(crate) async fn logout(
    State(state): State<AppState>,
    staff: Option<Staff>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let reason = if f.reason.as_deref() == Some("idle") {
        "idle"
    } else {
        "logout"
    };
    if let (Some(staff), Some(cookie)) = (staff, cookie_value(&headers, SESSION_COOKIE)) {
        if let Err(e) = staff.check_csrf(&state, &f.csrf).await {
            return e.into_response();
        }
        let done = async {
            state
                .app
                .store
                .end_session(&cookie, chrono::Utc::now())
                .await?;
            state
                .app
                .record(
                    &staff.caller,
                    "auth.logout",
                    Outcome::Ok,
                    vec![],
                    vec![],
                    serde_json::json!({"reason": reason}),
                )
                .await
        };
        if let Err(e) = done.await {
            return PageError::from(e).into_response();
        }
    }
    with_cookie(
        Redirect::to(&format!("{LOGIN_PATH}?m={reason}")).into_response(),
        HeaderValue::from_static(CLEARED_SESSION_COOKIE),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
    pub reason: Option<String>,
}

/// `POST /session/keepalive`: the page's "作業を続ける" and typing in long forms keep the
/// session from idling out (the extractor records the use).
pub(crate) async fn keepalive(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<CsrfForm>,
) -> Response {
    match staff.check_csrf(&state, &f.csrf).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    pre: String,
    municipality: String,
    login: String,
    notice: Option<String>,
    error: Option<String>,
    policy: String,
}

fn password_page(
    state: &AppState,
    status: StatusCode,
    municipality: &str,
    login: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let (pre, cookie) = pre_token(state);
    let policy = sesshu_domain::access::PasswordPolicy::default();
    let page = PasswordPage {
        chrome: Chrome::public("パスワード変更"),
        pre,
        municipality: municipality.to_owned(),
        login: login.to_owned(),
        notice,
        error,
        policy: format!(
            "{}文字以上、英字と数字を含め、ログイン名や直近{}回のパスワードと異なるもの",
            policy.min_length, policy.history
        ),
    };
    with_cookie((status, render(&page)).into_response(), cookie)
}

pub(crate) async fn password_form(State(state): State<AppState>) -> Response {
    password_page(&state, StatusCode::OK, "", "", None, None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    pre: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn password(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let again = |status, error: &str| {
        password_page(
            &state,
            status,
            &f.municipality,
            &f.login,
            None,
            Some(error.into()),
        )
    };
    if !pre_matches(&state, &headers, &f.pre) {
        return again(
            StatusCode::FORBIDDEN,
            "画面の有効期限が切れました。もう一度入力してください。",
        );
    }
    if f.new_password != f.confirm {
        return again(
            StatusCode::BAD_REQUEST,
            "新しいパスワードと確認用の入力が一致しません。",
        );
    }
    let result = change_own_password(
        &state,
        &source.0,
        f.municipality.trim(),
        f.login.trim(),
        &f.password,
        &f.new_password,
    )
    .await;
    match result {
        Ok(PasswordChange::Changed) => {
            Redirect::to(&format!("{LOGIN_PATH}?m=password")).into_response()
        }
        Ok(PasswordChange::Refused) => again(
            StatusCode::UNAUTHORIZED,
            "現在のパスワードを確認できません。団体コード・ログイン名・現在のパスワードを確かめてください。",
        ),
        Ok(PasswordChange::Throttled) => again(
            StatusCode::TOO_MANY_REQUESTS,
            "試行が多すぎます。1分ほど待ってからやり直してください。",
        ),
        Ok(PasswordChange::Invalid(m)) => again(StatusCode::BAD_REQUEST, &m),
        Err(e) => PageError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    login: String,
    qr_svg: String,
    secret: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    chrome: Chrome,
    codes: Vec<String>,
}

fn pending(state: &AppState, headers: &HeaderMap) -> Option<(String, PendingEnrolment)> {
    let token = cookie_value(headers, ENROL_COOKIE)?;
    let p = state.pages.enrolments.lock().ok()?.get(&token).cloned()?;
    (p.expires > chrono::Utc::now()).then_some((token, p))
}

fn enrol_page(p: &PendingEnrolment, error: Option<String>) -> Result<EnrolPage, PageError> {
    let account = format!("{}@{}", p.login, p.tenant.as_string());
    let url = sesshu_crypto::totp::enrolment_url(&p.secret, &account)
        .map_err(|e| PageError::Internal(e.into()))?;
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map_err(|_| PageError::BadRequest("QRコードを作成できません".into()))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .build();
    // The key for typing into an app by hand: the `secret` parameter of the URL, in groups.
    let secret = url
        .split_once("secret=")
        .map(|(_, rest)| rest.split('&').next().unwrap_or(""))
        .unwrap_or("")
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(EnrolPage {
        chrome: Chrome::public("二要素認証の登録"),
        login: p.login.clone(),
        qr_svg,
        secret,
        error,
    })
}

pub(crate) async fn enrol_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, p)) = pending(&state, &headers) else {
        return Redirect::to(LOGIN_PATH).into_response();
    };
    match enrol_page(&p, None) {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EnrolForm {
    #[serde(default)]
    code: String,
}

/// The first code proves the app holds the key: the key is sealed into the account, ten
/// recovery codes are shown once, and the session begins.
pub(crate) async fn enrol(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    headers: HeaderMap,
    Form(f): Form<EnrolForm>,
) -> Response {
    let Some((token, p)) = pending(&state, &headers) else {
        return Redirect::to(LOGIN_PATH).into_response();
    };
    let now = chrono::Utc::now();
    let unix = u64::try_from(now.timestamp()).unwrap_or(0);
    let Some(step) = sesshu_crypto::totp::check(&p.secret, f.code.trim(), unix) else {
        return match enrol_page(
            &p,
            Some(
                "確認コードが正しくありません。アプリに表示されている6桁を入力してください。"
                    .into(),
            ),
        ) {
            Ok(page) => (StatusCode::BAD_REQUEST, render(&page)).into_response(),
            Err(e) => e.into_response(),
        };
    };
    let done = async {
        let sealed = sesshu_crypto::signing::seal_account_secret(
            &*state.keyring()?,
            p.tenant,
            &p.login,
            &p.secret,
        )
        .map_err(sesshu_store::StoreError::from)?;
        let codes: Vec<String> = (0..10)
            .map(|_| sesshu_crypto::totp::recovery_code())
            .collect();
        state
            .app
            .store
            .enroll_totp(p.tenant, &p.login, &sealed, &codes)
            .await?;
        // The code just shown may not open a second session.
        state
            .app
            .store
            .accept_totp_step(p.tenant, &p.login, step)
            .await?;
        state
            .app
            .store
            .audit(
                Some(p.tenant),
                AuditEvent {
                    actor: format!("user:{}", p.login),
                    actor_kind: "user",
                    source: Some(source.0.clone()),
                    function: "auth.totp".into(),
                    outcome: Outcome::Ok,
                    persons_acted: vec![],
                    persons_shown: vec![],
                    detail: serde_json::json!({"action": "enrolled"}),
                },
            )
            .await?;
        let session = state
            .app
            .store
            // Enrolling ended the account's earlier sessions as of now: this one starts after.
            .start_session(p.tenant, &p.login, Some(&source.0), chrono::Utc::now())
            .await?;
        Ok::<_, sesshu_store::StoreError>((session, codes))
    };
    match done.await {
        Ok((session, codes)) => {
            if let Ok(mut m) = state.pages.enrolments.lock() {
                m.remove(&token);
            }
            let page = RecoveryPage {
                chrome: Chrome::public("回復コード"),
                codes,
            };
            let mut r = render(&page);
            if let Some(c) = session_cookie(&session.cookie) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) => PageError::from(e).into_response(),
    }
}
