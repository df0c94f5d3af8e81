//! Accounts and their grants (user.admin): create, grant, revoke, disable, enable, unlock,
//! reset a password, enrol a second factor; the list and the periodic access review. Every
//! change is audited as `user.admin`, a refused one too with its reason.

use serde_json::json;
use sesshu_domain::access::{
    PasswordPolicy, Permission, expand, grant_label, is_sensitive_grant, parse_login,
};
use sesshu_domain::{CivilDate, MunicipalityCode};
use sesshu_store::{Account, Grant, NewAccount, Outcome, ReviewRow};

use crate::{Actor, App, AppError, today_in_japan};

/// A change to an account.
#[derive(Debug, Clone)]
pub enum AccountChange {
    /// A new account with a first password to change at first login, and its grants.
    Add {
        login: String,
        display_name: String,
        /// A shared account: allowed only with its registered users and terminals.
        shared: bool,
        shared_with: Option<String>,
        valid_from: Option<CivilDate>,
        valid_until: Option<CivilDate>,
        grants: Vec<String>,
    },
    Grant {
        login: String,
        /// A role (`role:clerk`) or one permission (`dose.write`).
        grant: String,
        valid_from: Option<CivilDate>,
        valid_until: Option<CivilDate>,
    },
    /// Withdraws a grant, in force or still waiting for approval.
    Revoke {
        login: String,
        grant: String,
    },
    /// Puts in force a sensitive grant another administrator asked for (four-eyes).
    Approve {
        login: String,
        grant: String,
    },
    /// At once, or after a last day.
    Disable {
        login: String,
        last_day: Option<CivilDate>,
    },
    Enable {
        login: String,
    },
    Unlock {
        login: String,
    },
    /// A new first password, to be changed at the next login.
    ResetPassword {
        login: String,
    },
    /// A new second-factor key and ten recovery codes (shown once).
    EnrolTotp {
        login: String,
    },
    /// Binds a clinic's account to its medical institution (医療機関コード); empty unbinds it.
    SetInstitution {
        login: String,
        institution_code: String,
    },
}

/// What a change did, with what must be handed to the person once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChanged {
    Added {
        login: String,
        first_password: String,
    },
    Granted {
        login: String,
        grant: String,
    },
    /// Recorded, and in force only once a second administrator approves it.
    Proposed {
        login: String,
        grant: String,
    },
    Approved {
        login: String,
        grant: String,
    },
    Revoked {
        login: String,
        grant: String,
        count: u64,
    },
    Disabled {
        login: String,
        last_day: Option<CivilDate>,
    },
    Enabled {
        login: String,
    },
    Unlocked {
        login: String,
    },
    PasswordReset {
        login: String,
        password: String,
    },
    TotpEnrolled {
        login: String,
        otpauth: String,
        recovery_codes: Vec<String>,
    },
    InstitutionSet {
        login: String,
        institution_code: Option<String>,
    },
}

impl AccountChanged {
    /// What the change did, in the words the page and the command line both show (with what
    /// must be handed to the person once).
    pub fn message(&self) -> String {
        match self {
            AccountChanged::Added {
                login,
                first_password,
            } => format!(
                "{login} を作成しました。初回パスワード: {first_password} (本人に安全な方法で伝えてください。初回ログイン時に変更が必要です)"
            ),
            AccountChanged::Granted { login, grant } => {
                format!("{login} に「{}」を付与しました", grant_label(grant))
            }
            AccountChanged::Revoked {
                login,
                grant,
                count,
            } => {
                format!(
                    "{login} の「{}」を取り消しました ({count}件)",
                    grant_label(grant)
                )
            }
            AccountChanged::Disabled {
                login,
                last_day: Some(d),
            } => {
                format!("{login} は {d} を最後に利用できなくなります")
            }
            AccountChanged::Disabled {
                login,
                last_day: None,
            } => format!("{login} を利用停止にしました"),
            AccountChanged::Enabled { login } => format!("{login} を利用再開にしました"),
            AccountChanged::Unlocked { login } => format!("{login} のロックを解除しました"),
            AccountChanged::PasswordReset { login, password } => {
                format!("{login} の仮パスワード: {password} (次回ログイン時に変更が必要です)")
            }
            AccountChanged::TotpEnrolled { login, .. } => {
                format!("{login} の二要素認証を登録しました")
            }
            AccountChanged::Proposed { login, grant } => format!(
                "{login} への「{}」の付与を記録しました。別の管理者が承認すると有効になります",
                grant_label(grant)
            ),
            AccountChanged::Approved { login, grant } => {
                format!("{login} への「{}」の付与を承認しました", grant_label(grant))
            }
            AccountChanged::InstitutionSet {
                login,
                institution_code: Some(code),
            } => format!("{login} を医療機関 {code} の利用者にしました"),
            AccountChanged::InstitutionSet {
                login,
                institution_code: None,
            } => format!("{login} の医療機関を外しました"),
        }
    }
}

impl AccountChange {
    fn login(&self) -> &str {
        match self {
            Self::Add { login, .. }
            | Self::Grant { login, .. }
            | Self::Revoke { login, .. }
            | Self::Approve { login, .. }
            | Self::Disable { login, .. }
            | Self::Enable { login }
            | Self::Unlock { login }
            | Self::ResetPassword { login }
            | Self::EnrolTotp { login }
            | Self::SetInstitution { login, .. } => login,
        }
    }

    /// What the audit entry says was asked (never a password).
    fn detail(&self) -> serde_json::Value {
        match self {
            Self::Add {
                login,
                grants,
                shared,
                ..
            } => json!({"action": "add", "login": login, "grants": grants, "shared": shared}),
            Self::Grant {
                login,
                grant,
                valid_from,
                valid_until,
            } => json!({"action": "grant", "login": login, "grant": grant,
                        "from": valid_from.map(|d| d.to_string()),
                        "until": valid_until.map(|d| d.to_string())}),
            Self::Revoke { login, grant } => {
                json!({"action": "revoke", "login": login, "grant": grant})
            }
            Self::Approve { login, grant } => {
                json!({"action": "approve", "login": login, "grant": grant})
            }
            Self::Disable { login, last_day } => json!({"action": "disable", "login": login,
                        "last_day": last_day.map(|d| d.to_string())}),
            Self::Enable { login } => json!({"action": "enable", "login": login}),
            Self::Unlock { login } => json!({"action": "unlock", "login": login}),
            Self::ResetPassword { login } => json!({"action": "reset-password", "login": login}),
            Self::EnrolTotp { login } => json!({"action": "totp", "login": login}),
            Self::SetInstitution {
                login,
                institution_code,
            } => json!({"action": "institution", "login": login,
                        "institution": institution_code.trim()}),
        }
    }
}

impl App {
    /// Applies one change to an account (user.admin); the entry records what was asked and,
    /// when refused, why.
    pub async fn change_account(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        change: &AccountChange,
    ) -> Result<AccountChanged, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::UserAdmin,
            "user.admin",
            change.detail(),
        )
        .await?;
        let done = self.apply_change(actor, tenant, change).await;
        let mut detail = change.detail();
        let outcome = match &done {
            Ok(_) => Outcome::Ok,
            Err(e) => {
                detail["error"] = json!(e.to_string());
                Outcome::Refused
            }
        };
        self.record(actor, "user.admin", outcome, vec![], vec![], detail)
            .await?;
        done
    }

    async fn apply_change(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        change: &AccountChange,
    ) -> Result<AccountChanged, AppError> {
        let store = &self.store;
        let by = actor.actor.as_str();
        let policy = PasswordPolicy::default();
        let today = today_in_japan();
        if change.login().trim().is_empty() {
            return Err(AppError::Field(
                "login",
                "ログイン名を入力してください".into(),
            ));
        }
        let login = change.login().trim().to_owned();
        Ok(match change {
            AccountChange::Add {
                display_name,
                shared,
                shared_with,
                valid_from,
                valid_until,
                grants,
                ..
            } => {
                let login =
                    parse_login(&login).map_err(|e| AppError::Field("login", e.to_string()))?;
                // The access review is read by people: an account nobody can put a name to is
                // exactly what it must find, so none is created without one.
                if display_name.trim().is_empty() {
                    return Err(AppError::Field(
                        "display_name",
                        "氏名を入れてください (アクセス権の棚卸しで本人を確認するため)".into(),
                    ));
                }
                for g in grants {
                    expand(g).map_err(|e| AppError::Field("grant", e.to_string()))?;
                }
                let first_password = sesshu_crypto::password::first_password(&login, &policy);
                let new = NewAccount {
                    login: login.clone(),
                    display_name: display_name.trim().to_owned(),
                    shared: *shared,
                    shared_with: shared_with.clone(),
                    valid_from: valid_from.unwrap_or(today),
                    valid_until: *valid_until,
                };
                store
                    .create_account(tenant, &new, &first_password, &policy, by)
                    .await?;
                for g in grants {
                    if self.needs_approval(actor, g) {
                        store
                            .propose_grant(tenant, &login, g, new.valid_from, new.valid_until, by)
                            .await?;
                    } else {
                        store
                            .grant(tenant, &login, g, new.valid_from, new.valid_until, by)
                            .await?;
                    }
                }
                AccountChanged::Added {
                    login,
                    first_password,
                }
            }
            AccountChange::Grant {
                grant,
                valid_from,
                valid_until,
                ..
            } => {
                let grant = grant.trim();
                if grant.is_empty() {
                    return Err(AppError::Field(
                        "grant",
                        "付与するロールを選んでください".into(),
                    ));
                }
                // An administrator does not hand himself the keys: My Number use or an
                // administrator's permission comes from another administrator.
                if is_sensitive_grant(grant) && is_self(actor, &login) {
                    return Err(AppError::Field(
                        "grant",
                        format!(
                            "自分自身に「{}」は付与できません。別の管理者が付与してください",
                            grant_label(grant)
                        ),
                    ));
                }
                let from = valid_from.unwrap_or(today);
                let grant = grant.to_owned();
                if self.needs_approval(actor, &grant) {
                    store
                        .propose_grant(tenant, &login, &grant, from, *valid_until, by)
                        .await?;
                    AccountChanged::Proposed { login, grant }
                } else {
                    store
                        .grant(tenant, &login, &grant, from, *valid_until, by)
                        .await?;
                    AccountChanged::Granted { login, grant }
                }
            }
            AccountChange::Approve { grant, .. } => {
                let grant = grant.trim().to_owned();
                if is_self(actor, &login) {
                    return Err(AppError::Field(
                        "grant",
                        "自分自身への付与は承認できません。別の管理者が承認してください".into(),
                    ));
                }
                let pending: Vec<_> = store
                    .grants(tenant, &login)
                    .await?
                    .into_iter()
                    .filter(|g| g.pending() && g.grant_name == grant)
                    .collect();
                if pending.is_empty() {
                    return Err(AppError::Invalid(format!(
                        "{login} に承認待ちの「{}」はありません",
                        grant_label(&grant)
                    )));
                }
                if pending.iter().all(|g| g.granted_by == by) {
                    return Err(AppError::Field(
                        "grant",
                        "自分が付与したものは承認できません。別の管理者が承認してください".into(),
                    ));
                }
                store.approve_grant(tenant, &login, &grant, by).await?;
                AccountChanged::Approved { login, grant }
            }
            AccountChange::Revoke { grant, .. } => {
                let grant = grant.trim();
                if grant.is_empty() {
                    return Err(AppError::Field(
                        "grant",
                        "取り消すロールを選んでください".into(),
                    ));
                }
                let count = store.revoke(tenant, &login, grant, by).await?;
                if count == 0 {
                    return Err(AppError::Invalid(format!(
                        "{login} に有効な {grant} はありません"
                    )));
                }
                AccountChanged::Revoked {
                    login,
                    grant: grant.to_owned(),
                    count,
                }
            }
            AccountChange::Disable { last_day, .. } => {
                store.disable_account(tenant, &login, *last_day).await?;
                AccountChanged::Disabled {
                    login,
                    last_day: *last_day,
                }
            }
            AccountChange::Enable { .. } => {
                store.enable_account(tenant, &login).await?;
                AccountChanged::Enabled { login }
            }
            AccountChange::Unlock { .. } => {
                store.unlock_account(tenant, &login).await?;
                AccountChanged::Unlocked { login }
            }
            AccountChange::ResetPassword { .. } => {
                let password = sesshu_crypto::password::first_password(&login, &policy);
                store
                    .set_password(tenant, &login, &password, &policy, true)
                    .await?;
                AccountChanged::PasswordReset { login, password }
            }
            AccountChange::EnrolTotp { .. } => {
                let secret = sesshu_crypto::totp::new_secret();
                let sealed = sesshu_crypto::signing::seal_account_secret(
                    &*self.keyring()?,
                    tenant,
                    &login,
                    &secret,
                )?;
                let recovery_codes: Vec<String> = (0..10)
                    .map(|_| sesshu_crypto::totp::recovery_code())
                    .collect();
                store
                    .enroll_totp(tenant, &login, &sealed, &recovery_codes)
                    .await?;
                let otpauth = sesshu_crypto::totp::enrolment_url(
                    &secret,
                    &format!("{login}@{}", tenant.as_string()),
                )?;
                AccountChanged::TotpEnrolled {
                    login,
                    otpauth,
                    recovery_codes,
                }
            }
            AccountChange::SetInstitution {
                institution_code, ..
            } => {
                let code = match institution_code.trim() {
                    "" => None,
                    c => Some(
                        sesshu_domain::dose::parse_institution_code(c)
                            .map_err(|e| AppError::Field("institution_code", e.to_string()))?,
                    ),
                };
                store
                    .set_institution(tenant, &login, code.as_deref())
                    .await?;
                AccountChanged::InstitutionSet {
                    login,
                    institution_code: code,
                }
            }
        })
    }

    /// Whether a grant by `actor` waits for a second administrator. The host's operator at the
    /// command line is not held to it: he creates the first administrator, and already holds
    /// the key file and the database that any approval would be written to.
    fn needs_approval(&self, actor: &Actor, grant: &str) -> bool {
        actor.kind != "cli" && is_sensitive_grant(grant)
    }

    /// Every account with its grants (user.admin).
    pub async fn accounts(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<(Account, Vec<Grant>)>, AppError> {
        self.authorize(actor, tenant, Permission::UserAdmin, "user.list")
            .await?;
        let mut rows = Vec::new();
        for a in self.store.accounts(tenant).await? {
            let grants = self.store.grants(tenant, &a.login).await?;
            rows.push((a, grants));
        }
        Ok(rows)
    }

    /// The periodic access review (user.admin): every account, its grants, last login, and
    /// whether it is dormant or about to expire, on `as_of`. Audited as `user.review`.
    pub async fn access_review(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        as_of: Option<CivilDate>,
    ) -> Result<Vec<ReviewRow>, AppError> {
        self.authorize(actor, tenant, Permission::UserAdmin, "user.review")
            .await?;
        let as_of = as_of.unwrap_or_else(today_in_japan);
        let rows = self.store.access_review(tenant, as_of).await?;
        self.record(
            actor,
            "user.review",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"as_of": as_of.to_string(), "accounts": rows.len()}),
        )
        .await?;
        Ok(rows)
    }
}

/// Grants waiting for approval as one cell: `個人番号の利用 — 付与 user:kanri 2026-12-07 09:12`.
pub fn pending_text(pending: &[sesshu_store::PendingGrant]) -> String {
    pending
        .iter()
        .map(|p| {
            format!(
                "{} — 付与 {} {}",
                p.label,
                p.granted_by,
                sesshu_domain::japan_minutes(&p.granted_at)
            )
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// Whether `login` is the acting account itself.
fn is_self(actor: &Actor, login: &str) -> bool {
    actor.actor == format!("user:{login}")
}

/// The access review as the auditor's spreadsheet reads it: UTF-8 with BOM, Japanese headers and
/// names, Japan time, cells defused against formulas. The page's download and the command line's
/// `--csv` both write this.
pub fn access_review_csv(rows: &[ReviewRow]) -> String {
    use crate::spreadsheet::{BOM, push_row};
    let mut out = String::from(BOM);
    push_row(
        &mut out,
        &[
            "ログイン名",
            "氏名",
            "ロール",
            "権限",
            "承認待ち",
            "有効開始",
            "有効終了",
            "最終ログイン",
            "共用",
            "停止",
            "ロック",
            "休眠",
            "期限間近",
            "所見",
        ],
    );
    let mark = |on: bool, word: &'static str| if on { word } else { "" };
    for r in rows {
        let last_login = sesshu_domain::japan_minutes(&r.last_login);
        let pending = pending_text(&r.pending);
        push_row(
            &mut out,
            &[
                &r.login,
                &r.name,
                &r.grants,
                &r.permissions,
                &pending,
                &r.valid_from,
                &r.valid_until,
                &last_login,
                mark(r.shared, "共用"),
                mark(r.disabled, "停止"),
                mark(r.locked, "ロック"),
                mark(r.dormant, "休眠"),
                mark(r.expiring, "期限間近"),
                &r.findings,
            ],
        );
    }
    out
}
