//! Administration (user.admin): accounts, grants with validity dates, disable and unlock, the
//! periodic access review; and the auditor's pages (audit.read): search, export and the chain's
//! verification. Separation of duties keeps the two apart: no account may hold both.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use sesshu_app::AppError;
use sesshu_app::accounts::AccountChange;
use sesshu_app::audit::{AuditEntries, AuditSearch, AuditUse};
use sesshu_domain::CivilDate;
use sesshu_domain::access::{Permission, ROLES, grant_label};
use sesshu_domain::parse_date;
use sesshu_store::{AuditEntry, ReviewRow};

use super::{Chrome, FieldErrors, PageError, Staff, field, filters, render};
use crate::state::AppState;

/// A role as the grant form offers it.
pub(crate) struct RoleChoice {
    pub grant: String,
    pub label: String,
    pub permissions: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    /// A change that asks to be confirmed first, naming what it will do.
    confirm: Option<Confirm>,
    review: Vec<ReviewRow>,
    /// Some account has a grant waiting for a second administrator.
    has_pending: bool,
    roles: Vec<RoleChoice>,
    notice: Option<String>,
    error: Option<String>,
    today: String,
}

/// A change shown back before it is made: what it will do, and the same form to confirm it.
pub(crate) struct Confirm {
    pub text: String,
    pub action: String,
    pub login: String,
    pub grant: String,
    pub last_day: String,
}

async fn users_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    users_page_with(state, staff, status, notice, error, None).await
}

async fn users_page_with(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    confirm: Option<&UserAction>,
) -> Result<Response, PageError> {
    let today = crate::today_in_japan();
    let review = state
        .app
        .access_review(&staff.caller, staff.tenant, None)
        .await?;
    let confirm = confirm.map(|f| confirmation(f, &review));
    let page = UsersPage {
        chrome: staff.chrome(state, "利用者管理").await,
        confirm,
        has_pending: review.iter().any(|r| !r.pending.is_empty()),
        review,
        roles: ROLES
            .iter()
            .map(|r| RoleChoice {
                grant: format!("role:{}", r.name),
                label: r.label.to_owned(),
                permissions: r
                    .permissions
                    .iter()
                    .map(|p| p.label())
                    .collect::<Vec<_>>()
                    .join("、"),
            })
            .collect(),
        notice,
        error,
        today: today.to_string(),
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn users(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::UserAdmin, "user.admin")
        .await?;
    users_page(&state, &staff, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    login: String,
    display_name: Option<String>,
    grant: Option<String>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    /// Disable: the last day the account may be used (empty: at once).
    last_day: Option<String>,
    /// `1` once the administrator has seen what a disable or a revoke will do.
    confirm: Option<String>,
    /// A clinic's 医療機関コード (empty: unbind).
    institution_code: Option<String>,
}

/// What a disable or a revoke will do, in words, with the account's name.
fn confirmation(f: &UserAction, review: &[ReviewRow]) -> Confirm {
    let login = f.login.trim();
    let who = match review.iter().find(|r| r.login == login) {
        Some(r) => format!("{login} ({})", r.name),
        None => login.to_owned(),
    };
    let grant = field(&f.grant).unwrap_or("");
    let last_day = field(&f.last_day).unwrap_or("");
    let text = if f.action == "revoke" {
        format!(
            "{who} から「{}」を取り消します。取り消した時点から、その権限の画面と操作は使えなくなります。",
            grant_label(grant)
        )
    } else if last_day.is_empty() {
        format!(
            "{who} を今すぐ利用停止します。ログインできなくなり、開いている画面も使えなくなります。"
        )
    } else {
        format!("{who} を {last_day} を最後に利用停止します。翌日からログインできなくなります。")
    };
    Confirm {
        text,
        action: f.action.clone(),
        login: login.to_owned(),
        grant: grant.to_owned(),
        last_day: last_day.to_owned(),
    }
}

/// Every change to accounts is one POST with its action; each is audited, refused ones too.
pub(crate) async fn user_action(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<UserAction>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::UserAdmin, "user.admin")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let confirmed = f.confirm.as_deref() == Some("1");
    if matches!(f.action.as_str(), "disable" | "revoke") && !confirmed {
        return users_page_with(&state, &staff, StatusCode::OK, None, None, Some(&f)).await;
    }
    let done = match change_of(&f) {
        Ok(change) => {
            state
                .app
                .change_account(&staff.caller, staff.tenant, &change)
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(changed) => {
            users_page(
                &state,
                &staff,
                StatusCode::OK,
                Some(changed.message()),
                None,
            )
            .await
        }
        Err(AppError::NotFound(m)) => {
            let m = format!("{m} が見つかりません");
            users_page(&state, &staff, StatusCode::NOT_FOUND, None, Some(m)).await
        }
        Err(e) if e.is_users() && !matches!(e, AppError::Forbidden(_)) => {
            users_page(
                &state,
                &staff,
                StatusCode::BAD_REQUEST,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn date_field(
    v: &Option<String>,
    name: &'static str,
    what: &str,
) -> Result<Option<CivilDate>, AppError> {
    field(v)
        .map(|s| parse_date(s).map_err(|e| AppError::Field(name, format!("{what}: {e}"))))
        .transpose()
}

/// The form's action as a change to an account.
fn change_of(f: &UserAction) -> Result<AccountChange, AppError> {
    let login = f.login.trim().to_owned();
    let grant = field(&f.grant).unwrap_or("").to_owned();
    Ok(match f.action.as_str() {
        "add" => AccountChange::Add {
            display_name: field(&f.display_name).unwrap_or("").to_owned(),
            shared: false,
            shared_with: None,
            valid_from: date_field(&f.valid_from, "valid_from", "有効開始日")?,
            valid_until: date_field(&f.valid_until, "valid_until", "有効終了日")?,
            grants: vec![],
            login,
        },
        "grant" => AccountChange::Grant {
            valid_from: date_field(&f.valid_from, "valid_from", "有効開始日")?,
            valid_until: date_field(&f.valid_until, "valid_until", "有効終了日")?,
            login,
            grant,
        },
        "revoke" => AccountChange::Revoke { login, grant },
        "approve" => AccountChange::Approve { login, grant },
        "disable" => AccountChange::Disable {
            last_day: date_field(&f.last_day, "last_day", "最終利用日")?,
            login,
        },
        "enable" => AccountChange::Enable { login },
        "unlock" => AccountChange::Unlock { login },
        "reset" => AccountChange::ResetPassword { login },
        "institution" => AccountChange::SetInstitution {
            institution_code: field(&f.institution_code).unwrap_or("").to_owned(),
            login,
        },
        other => return Err(AppError::Invalid(format!("不明な操作です: {other}"))),
    })
}

/// The access review as CSV (UTF-8 with BOM, for Excel), the periodic review's record.
pub(crate) async fn access_review_csv(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::UserAdmin, "user.review")
        .await?;
    let rows = state
        .app
        .access_review(&staff.caller, staff.tenant, None)
        .await?;
    let out = sesshu_app::accounts::access_review_csv(&rows);
    Ok(csv_response(out, "access-review.csv"))
}

fn csv_response(body: String, name: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct AuditForm {
    #[serde(default)]
    csrf: String,
    pub person: Option<String>,
    pub actor: Option<String>,
    pub function: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    /// The next page: entries older than this number.
    pub before: Option<String>,
}

impl AuditForm {
    fn search(&self, usage: AuditUse) -> Result<AuditSearch, AppError> {
        let before =
            match field(&self.before) {
                None => None,
                Some(b) => Some(b.parse::<i64>().map_err(|_| {
                    AppError::Field("before", "ページの指定が正しくありません".into())
                })?),
            };
        Ok(AuditSearch {
            person: field(&self.person).map(str::to_owned),
            actor: field(&self.actor).map(str::to_owned),
            function: field(&self.function).map(str::to_owned),
            from: field(&self.from).map(str::to_owned),
            until: field(&self.until).map(str::to_owned),
            before,
            // A page reads the newest first; a file keeps the chain's order.
            newest_first: usage == AuditUse::Search,
            limit: None,
        })
    }

    fn function_is(&self, code: &str) -> bool {
        field(&self.function) == Some(code)
    }
}

/// One line of the log as the auditor reads it.
pub(crate) struct AuditLine {
    seq: i64,
    at: String,
    actor: String,
    function: String,
    function_code: String,
    outcome: String,
    refused: bool,
    acted: Vec<String>,
    shown: Vec<String>,
    detail: String,
}

impl AuditLine {
    fn new(e: &AuditEntry) -> Self {
        let persons = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        Self {
            seq: e.seq,
            at: sesshu_domain::japan_seconds(&e.at),
            actor: e.actor.clone(),
            function: sesshu_app::audit::function_label(&e.function).to_owned(),
            function_code: e.function.clone(),
            outcome: sesshu_app::audit::outcome_label(&e.outcome).to_owned(),
            refused: e.outcome != "ok",
            acted: persons(&e.persons_acted),
            shown: persons(&e.persons_shown),
            detail: e.detail.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    form: AuditForm,
    lines: Option<Vec<AuditLine>>,
    /// The `before` of the next (older) page, when there is one.
    older: Option<i64>,
    actors: Vec<(String, String)>,
    functions: &'static [(&'static str, &'static str)],
    verification: Option<String>,
    broken: bool,
    errors: FieldErrors,
}

async fn audit_page(
    state: &AppState,
    staff: &Staff,
    form: AuditForm,
    found: Option<AuditEntries>,
    verification: Option<(String, bool)>,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let (verification, broken) = match verification {
        Some((v, b)) => (Some(v), b),
        None => (None, false),
    };
    let actors = state.app.audit_actors(&staff.caller, staff.tenant).await?;
    let older = found
        .as_ref()
        .filter(|f| f.more)
        .and_then(|f| f.entries.last().map(|e| e.seq));
    let page = AuditPage {
        chrome: staff.chrome(state, "操作ログ").await,
        form,
        lines: found.map(|f| f.entries.iter().map(AuditLine::new).collect()),
        older,
        actors,
        functions: sesshu_app::audit::FUNCTIONS,
        verification,
        broken,
        errors,
    };
    Ok(render(&page))
}

pub(crate) async fn audit_form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::AuditRead, "audit.read")
        .await?;
    audit_page(
        &state,
        &staff,
        AuditForm::default(),
        None,
        None,
        FieldErrors::none(),
    )
    .await
}

/// A wrong field is shown next to it with the form as typed.
async fn refused_search(
    state: &AppState,
    staff: &Staff,
    form: AuditForm,
    e: AppError,
) -> Result<Response, PageError> {
    let errors = match e {
        AppError::Field(f, m) => std::collections::BTreeMap::from([(f, m)]),
        AppError::Fields(list) => list.into_iter().collect(),
        other => return Err(other.into()),
    };
    audit_page(state, staff, form, None, None, FieldErrors::new(errors)).await
}

/// The form's search, for a page or a file.
async fn searched(
    state: &AppState,
    staff: &Staff,
    form: &AuditForm,
    usage: AuditUse,
) -> Result<AuditEntries, AppError> {
    let search = form.search(usage)?;
    state
        .app
        .audit_entries(&staff.caller, staff.tenant, &search, usage)
        .await
}

pub(crate) async fn audit_search(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<AuditForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::AuditRead, "audit.read")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    match searched(&state, &staff, &form, AuditUse::Search).await {
        Ok(found) => audit_page(&state, &staff, form, Some(found), None, FieldErrors::none()).await,
        Err(e) => refused_search(&state, &staff, form, e).await,
    }
}

/// The search's entries as CSV, with the extraction conditions recorded in the log.
pub(crate) async fn audit_export(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<AuditForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::AuditRead, "audit.read")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    let entries = match searched(&state, &staff, &form, AuditUse::Export).await {
        Ok(found) => found.entries,
        Err(e) => return refused_search(&state, &staff, form, e).await,
    };
    Ok(csv_response(
        sesshu_app::audit::audit_csv(&entries),
        "audit-log.csv",
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct VerifyForm {
    #[serde(default)]
    csrf: String,
}

/// Verifies this municipality's chain now and says whether it is intact.
pub(crate) async fn audit_verify(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<VerifyForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::AuditRead, "audit.verify")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let v = state.app.verify_audit(&staff.caller, staff.tenant).await?;
    let (text, broken) = match &v.broken {
        None => (
            format!(
                "検証済み: {} 件の記録の連鎖は完全です (改ざん・削除・挿入・入れ替えなし)。{}",
                v.entries,
                match v.anchored {
                    Some(_) => "データベースの外に保管した先頭とも一致しました (末尾の削除なし)。",
                    None =>
                        "先頭がデータベースの外に保管されていないため、末尾の削除は確かめていません。",
                }
            ),
            false,
        ),
        Some(b) => (
            format!("不整合を検出しました: 連番 {} — {}", b.seq, b.reason),
            true,
        ),
    };
    audit_page(
        &state,
        &staff,
        AuditForm::default(),
        None,
        Some((text, broken)),
        FieldErrors::none(),
    )
    .await
}
