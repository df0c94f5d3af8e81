//! Accounts (one per person unless marked shared), their passwords (Argon2id, history, expiry,
//! lockout) and their grants (roles or single permissions with validity dates), all within one
//! municipality.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use sesshu_crypto::password::{hash_password, needs_rehash};
use sesshu_domain::access::{PasswordPolicy, Permission, expand, separation_conflict};
use sesshu_domain::{CivilDate, MunicipalityCode};
use sqlx::Row;

use crate::{Store, StoreError, now_utc};

/// Failed logins before the account locks.
pub const LOCK_AFTER: i64 = 5;
/// How long a lock lasts before it lifts by itself (an administrator may unlock sooner).
pub const LOCK_MINUTES: i64 = 15;
/// No login for this many days makes an account dormant in the access review.
pub const DORMANT_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    pub shared: bool,
    /// For a shared account: its registered users and terminals.
    pub shared_with: Option<String>,
    pub valid_from: CivilDate,
    pub valid_until: Option<CivilDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub login: String,
    pub display_name: String,
    pub shared: bool,
    pub shared_with: Option<String>,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<String>,
    pub must_change_password: bool,
    pub password_changed_at: String,
    pub last_login_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
    /// 医療機関コード of the clinic a `role:clinic` account speaks for.
    pub institution_code: Option<String>,
    #[serde(skip)]
    password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    pub grant_name: String,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub granted_by: String,
    pub granted_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    /// `None` while a sensitive grant waits for a second administrator: it counts for nothing.
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
}

impl Grant {
    /// Waiting for a second administrator's approval (and not withdrawn).
    pub fn pending(&self) -> bool {
        self.revoked_at.is_none() && self.approved_at.is_none()
    }

    pub fn active_on(&self, day: CivilDate) -> bool {
        let d = day.to_string();
        self.revoked_at.is_none()
            && self.approved_at.is_some()
            && self.valid_from <= d
            && self.valid_until.as_ref().is_none_or(|u| d <= *u)
    }
}

/// How a login attempt ended. The web layer answers every failure with the same message, so
/// that nobody learns whether a login exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok { must_change_password: bool },
    Invalid,
    Locked { until: String },
    Disabled,
    OutsideValidity,
    PasswordExpired,
}

/// Whether an account (enabled, within its validity) may act on `day`.
pub(crate) fn usable_on(
    disabled: bool,
    valid_from: &str,
    valid_until: Option<&str>,
    day: CivilDate,
) -> bool {
    let d = day.to_string();
    !disabled && valid_from <= d.as_str() && valid_until.is_none_or(|u| d.as_str() <= u)
}

/// The permissions of the grants active on `day`.
pub(crate) fn active_permissions(
    grants: &[Grant],
    day: CivilDate,
) -> Result<BTreeSet<Permission>, StoreError> {
    let mut out = BTreeSet::new();
    for g in grants.iter().filter(|g| g.active_on(day)) {
        out.extend(expand(&g.grant_name).map_err(invalid)?);
    }
    Ok(out)
}

fn account_from_row(r: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        login: r.try_get("login")?,
        display_name: r.try_get("display_name")?,
        shared: r.try_get::<i64, _>("shared")? != 0,
        shared_with: r.try_get("shared_with")?,
        valid_from: r.try_get("valid_from")?,
        valid_until: r.try_get("valid_until")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        failed_logins: r.try_get("failed_logins")?,
        locked_until: r.try_get("locked_until")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        password_changed_at: r.try_get("password_changed_at")?,
        last_login_at: r.try_get("last_login_at")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        institution_code: r.try_get("institution_code")?,
        password_hash: r.try_get("password_hash")?,
    })
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

impl Store {
    /// Creates an account with an initial password the person must change at first login.
    pub async fn create_account(
        &self,
        tenant: MunicipalityCode,
        new: &NewAccount,
        password: &str,
        policy: &PasswordPolicy,
        by: &str,
    ) -> Result<(), StoreError> {
        self.require_municipality(tenant).await?;
        policy.check(&new.login, password).map_err(invalid)?;
        if new.shared
            && new
                .shared_with
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
        {
            return Err(invalid(
                "共用アカウントには利用者と端末の登録が必要です (--shared-with)",
            ));
        }
        if self.account(tenant, &new.login).await?.is_some() {
            return Err(invalid(format!(
                "ログイン名 {} は既に使われています",
                new.login
            )));
        }
        let hash = self.hashing.hash(password).await?;
        let now = now_utc();
        let mut db = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO account (municipality_code, login, display_name, password_hash, shared, shared_with, \
             valid_from, valid_until, disabled, failed_logins, locked_until, must_change_password, \
             password_changed_at, last_login_at, created_at, created_by) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0,0,NULL,1,$9,NULL,$10,$11)",
        )
        .bind(tenant.as_string())
        .bind(&new.login)
        .bind(&new.display_name)
        .bind(&hash)
        .bind(i64::from(new.shared))
        .bind(new.shared_with.as_deref())
        .bind(new.valid_from.to_string())
        .bind(new.valid_until.map(|d| d.to_string()))
        .bind(&now)
        .bind(&now)
        .bind(by)
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "INSERT INTO password_history (municipality_code, login, changed_at, password_hash) VALUES ($1,$2,$3,$4)",
        )
        .bind(tenant.as_string())
        .bind(&new.login)
        .bind(&now)
        .bind(&hash)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(())
    }

    pub async fn account(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM account WHERE municipality_code = $1 AND login = $2")
            .bind(tenant.as_string())
            .bind(login)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn accounts(&self, tenant: MunicipalityCode) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT * FROM account WHERE municipality_code = $1 ORDER BY login")
            .bind(tenant.as_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn require_account(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<Account, StoreError> {
        self.account(tenant, login)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("利用者 {login}")))
    }

    pub async fn grants(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM access_grant WHERE municipality_code = $1 AND login = $2 ORDER BY granted_at, grant_name",
        )
        .bind(tenant.as_string())
        .bind(login)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    grant_name: r.try_get("grant_name")?,
                    valid_from: r.try_get("valid_from")?,
                    valid_until: r.try_get("valid_until")?,
                    granted_by: r.try_get("granted_by")?,
                    granted_at: r.try_get("granted_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    revoked_by: r.try_get("revoked_by")?,
                    approved_at: r.try_get("approved_at")?,
                    approved_by: r.try_get("approved_by")?,
                })
            })
            .collect()
    }

    /// What the account may do on `day`: its active grants, if the account itself is valid,
    /// enabled and not locked.
    pub async fn permissions(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        day: CivilDate,
    ) -> Result<BTreeSet<Permission>, StoreError> {
        let Some(account) = self.account(tenant, login).await? else {
            return Ok(BTreeSet::new());
        };
        if !usable_on(
            account.disabled,
            &account.valid_from,
            account.valid_until.as_deref(),
            day,
        ) {
            return Ok(BTreeSet::new());
        }
        active_permissions(&self.grants(tenant, login).await?, day)
    }

    /// Grants a role or a permission, in force at once; refused when it would give one account
    /// both sides of the separation of duties (counting every grant not revoked, whatever its
    /// dates, pending ones too).
    pub async fn grant(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        grant_name: &str,
        valid_from: CivilDate,
        valid_until: Option<CivilDate>,
        by: &str,
    ) -> Result<(), StoreError> {
        let period = (valid_from, valid_until);
        self.insert_grant(tenant, login, grant_name, period, by, true)
            .await
    }

    /// Records a grant that is in force only once [`Store::approve_grant`] is called by someone
    /// else (four-eyes); the same separation-of-duties check as [`Store::grant`].
    pub async fn propose_grant(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        grant_name: &str,
        valid_from: CivilDate,
        valid_until: Option<CivilDate>,
        by: &str,
    ) -> Result<(), StoreError> {
        let period = (valid_from, valid_until);
        self.insert_grant(tenant, login, grant_name, period, by, false)
            .await
    }

    async fn insert_grant(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        grant_name: &str,
        (valid_from, valid_until): (CivilDate, Option<CivilDate>),
        by: &str,
        approved: bool,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        let adding = expand(grant_name).map_err(invalid)?;
        let mut all: BTreeSet<Permission> = adding.into_iter().collect();
        for g in self.grants(tenant, login).await? {
            if g.revoked_at.is_none() {
                all.extend(expand(&g.grant_name).map_err(invalid)?);
            }
        }
        if let Some(conflict) = separation_conflict(&all) {
            return Err(invalid(conflict));
        }
        let now = now_utc();
        let approval = approved.then(|| (now.clone(), by.to_owned()));
        sqlx::query(
            "INSERT INTO access_grant (municipality_code, login, grant_name, valid_from, valid_until, granted_by, granted_at, approved_at, approved_by) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(tenant.as_string())
        .bind(login)
        .bind(grant_name)
        .bind(valid_from.to_string())
        .bind(valid_until.map(|d| d.to_string()))
        .bind(by)
        .bind(&now)
        .bind(approval.as_ref().map(|a| a.0.clone()))
        .bind(approval.map(|a| a.1))
        .execute(self.pool())
        .await?;
        self.end_sessions_of(tenant, login).await?;
        Ok(())
    }

    /// Puts in force the pending grants of `grant_name` that someone other than `by` made; the
    /// number approved. The holder's sessions end, so that the next login meets the new rules.
    pub async fn approve_grant(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        grant_name: &str,
        by: &str,
    ) -> Result<u64, StoreError> {
        self.require_account(tenant, login).await?;
        let done = sqlx::query(
            "UPDATE access_grant SET approved_at = $1, approved_by = $2 \
             WHERE municipality_code = $3 AND login = $4 AND grant_name = $5 \
             AND revoked_at IS NULL AND approved_at IS NULL AND granted_by <> $2",
        )
        .bind(now_utc())
        .bind(by)
        .bind(tenant.as_string())
        .bind(login)
        .bind(grant_name)
        .execute(self.pool())
        .await?
        .rows_affected();
        if done > 0 {
            self.end_sessions_of(tenant, login).await?;
        }
        Ok(done)
    }

    /// Revokes every active grant of `grant_name`; the rows stay with who revoked them and when.
    pub async fn revoke(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        grant_name: &str,
        by: &str,
    ) -> Result<u64, StoreError> {
        self.require_account(tenant, login).await?;
        let done = sqlx::query(
            "UPDATE access_grant SET revoked_at = $1, revoked_by = $2 \
             WHERE municipality_code = $3 AND login = $4 AND grant_name = $5 AND revoked_at IS NULL",
        )
        .bind(now_utc())
        .bind(by)
        .bind(tenant.as_string())
        .bind(login)
        .bind(grant_name)
        .execute(self.pool())
        .await?
        .rows_affected();
        self.end_sessions_of(tenant, login).await?;
        Ok(done)
    }

    /// Binds an account to the medical institution it speaks for (`None` unbinds it). Its
    /// sessions end: a clinic's checks are never audited under an institution it has left.
    pub async fn set_institution(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        institution_code: Option<&str>,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        sqlx::query(
            "UPDATE account SET institution_code = $1 WHERE municipality_code = $2 AND login = $3",
        )
        .bind(institution_code)
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        self.end_sessions_of(tenant, login).await?;
        Ok(())
    }

    /// Disables an account now, or lets it end on `last_day` (a transfer: "disable from
    /// tomorrow" is `last_day` = today).
    pub async fn disable_account(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        last_day: Option<CivilDate>,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        let q = match last_day {
            None => sqlx::query(
                "UPDATE account SET disabled = 1 WHERE municipality_code = $1 AND login = $2",
            ),
            Some(_) => sqlx::query(
                "UPDATE account SET valid_until = $3 WHERE municipality_code = $1 AND login = $2",
            ),
        };
        let q = q.bind(tenant.as_string()).bind(login);
        let q = match last_day {
            Some(d) => q.bind(d.to_string()),
            None => q,
        };
        q.execute(self.pool()).await?;
        self.end_sessions_of(tenant, login).await?;
        Ok(())
    }

    pub async fn enable_account(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        sqlx::query(
            "UPDATE account SET disabled = 0, valid_until = NULL WHERE municipality_code = $1 AND login = $2",
        )
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn unlock_account(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        sqlx::query(
            "UPDATE account SET failed_logins = 0, locked_until = NULL WHERE municipality_code = $1 AND login = $2",
        )
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets a new password: the policy, then no reuse of the last `policy.history` ones.
    /// `must_change` marks a password an administrator set (changed at the next login).
    pub async fn set_password(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        password: &str,
        policy: &PasswordPolicy,
        must_change: bool,
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        policy.check(login, password).map_err(invalid)?;
        let recent = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT password_hash FROM password_history WHERE municipality_code = $1 AND login = $2 \
             ORDER BY changed_at DESC LIMIT {}",
            policy.history.max(1)
        )))
        .bind(tenant.as_string())
        .bind(login)
        .fetch_all(self.pool())
        .await?;
        for r in &recent {
            if self
                .hashing
                .verify(password, &r.try_get::<String, _>("password_hash")?)
                .await?
            {
                return Err(invalid(format!(
                    "パスワードが規則に合いません: 直近{}回と同じパスワードは使えません",
                    policy.history
                )));
            }
        }
        let hash = self.hashing.hash(password).await?;
        let now = now_utc();
        let mut db = self.begin_write().await?;
        sqlx::query(
            "UPDATE account SET password_hash = $1, password_changed_at = $2, must_change_password = $3, \
             failed_logins = 0, locked_until = NULL WHERE municipality_code = $4 AND login = $5",
        )
        .bind(&hash)
        .bind(&now)
        .bind(i64::from(must_change))
        .bind(tenant.as_string())
        .bind(login)
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "INSERT INTO password_history (municipality_code, login, changed_at, password_hash) VALUES ($1,$2,$3,$4)",
        )
        .bind(tenant.as_string())
        .bind(login)
        .bind(&now)
        .bind(&hash)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        self.end_sessions_of(tenant, login).await?;
        Ok(())
    }

    /// One login attempt at `now`: counts failures, locks after [`LOCK_AFTER`] of them for
    /// [`LOCK_MINUTES`], upgrades the hash when its parameters are outdated.
    pub async fn attempt_login(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        password: &str,
        policy: &PasswordPolicy,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, StoreError> {
        let Some(a) = self.account(tenant, login).await? else {
            // Spend the same time as a real check, so timing does not tell logins apart.
            self.hashing.verify(password, dummy_hash()).await?;
            return Ok(LoginOutcome::Invalid);
        };
        // A locked account does the same work too: answering at once would tell a real login
        // (locked: ~2 ms) from an unknown one (a full check).
        let right = self.hashing.verify(password, &a.password_hash).await?;
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if let Some(until) = &a.locked_until
            && *until > stamp(now)
        {
            return Ok(LoginOutcome::Locked {
                until: until.clone(),
            });
        }
        if !right {
            return self
                .count_failure(tenant, login, a.failed_logins, now)
                .await;
        }
        let today = crate::date_in_japan(now).to_string();
        if a.disabled {
            return Ok(LoginOutcome::Disabled);
        }
        if a.valid_from > today || a.valid_until.as_ref().is_some_and(|u| today > *u) {
            return Ok(LoginOutcome::OutsideValidity);
        }
        if needs_rehash(&a.password_hash) {
            sqlx::query(
                "UPDATE account SET password_hash = $1 WHERE municipality_code = $2 AND login = $3",
            )
            .bind(self.hashing.hash(password).await?)
            .bind(tenant.as_string())
            .bind(login)
            .execute(self.pool())
            .await?;
        }
        // The failures are not cleared here: a right password followed by a wrong second factor
        // must go on counting ([`Store::login_succeeded`] clears them once every factor passed).
        let expired = policy.max_age_days > 0
            && DateTime::parse_from_rfc3339(&a.password_changed_at).is_ok_and(|changed| {
                now.signed_duration_since(changed.with_timezone(&Utc))
                    > Duration::days(i64::from(policy.max_age_days))
            });
        if expired && !a.must_change_password {
            return Ok(LoginOutcome::PasswordExpired);
        }
        Ok(LoginOutcome::Ok {
            must_change_password: a.must_change_password,
        })
    }
}

impl Store {
    /// One more failed attempt (a wrong password, a wrong second factor): locks the account
    /// for [`LOCK_MINUTES`] at the [`LOCK_AFTER`]th.
    async fn count_failure(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        failed_before: i64,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, StoreError> {
        let failed = failed_before + 1;
        let locked = (failed >= LOCK_AFTER).then(|| {
            (now + Duration::minutes(LOCK_MINUTES))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        });
        sqlx::query(
            "UPDATE account SET failed_logins = $1, locked_until = $2 WHERE municipality_code = $3 AND login = $4",
        )
        .bind(if locked.is_some() { 0 } else { failed })
        .bind(locked.as_deref())
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(match locked {
            Some(until) => LoginOutcome::Locked { until },
            None => LoginOutcome::Invalid,
        })
    }

    /// A wrong second factor after a right password: counted toward the lockout like a wrong
    /// password, so the six digits cannot be tried one after another.
    pub async fn second_factor_failed(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, StoreError> {
        let Some(a) = self.account(tenant, login).await? else {
            return Ok(LoginOutcome::Invalid);
        };
        self.count_failure(tenant, login, a.failed_logins, now)
            .await
    }

    /// Every factor passed: the failures so far are forgotten and the login is recorded.
    pub async fn login_succeeded(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE account SET failed_logins = 0, locked_until = NULL, last_login_at = $1 \
             WHERE municipality_code = $2 AND login = $3",
        )
        .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Enrols (or re-enrols) the second factor: the sealed TOTP key and new recovery codes
    /// (stored as digests; earlier ones stop working). Every session of the account ends.
    pub async fn enroll_totp(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        sealed_secret: &str,
        recovery_codes: &[String],
    ) -> Result<(), StoreError> {
        self.require_account(tenant, login).await?;
        let mut db = self.begin_write().await?;
        sqlx::query(
            "UPDATE account SET totp_secret = $1, totp_enrolled_at = $2 WHERE municipality_code = $3 AND login = $4",
        )
        .bind(sealed_secret)
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(login)
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM recovery_code WHERE municipality_code = $1 AND login = $2")
            .bind(tenant.as_string())
            .bind(login)
            .execute(&mut *db)
            .await?;
        for code in recovery_codes {
            sqlx::query(
                "INSERT INTO recovery_code (municipality_code, login, code_sha256, used_at) VALUES ($1,$2,$3,NULL)",
            )
            .bind(tenant.as_string())
            .bind(login)
            .bind(code_digest(code))
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        self.end_sessions_of(tenant, login).await?;
        Ok(())
    }

    /// The account's sealed TOTP key, when it has enrolled one.
    pub async fn totp_secret(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT totp_secret FROM account WHERE municipality_code = $1 AND login = $2",
        )
        .bind(tenant.as_string())
        .bind(login)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => r.try_get("totp_secret")?,
            None => None,
        })
    }

    /// Accepts a TOTP time step once: false when this step (or a later one) was used already.
    pub async fn accept_totp_step(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        step: u64,
    ) -> Result<bool, StoreError> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let n = sqlx::query(
            "UPDATE account SET totp_last_step = $1 WHERE municipality_code = $2 AND login = $3 \
             AND (totp_last_step IS NULL OR totp_last_step < $4)",
        )
        .bind(step)
        .bind(tenant.as_string())
        .bind(login)
        .bind(step)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Spends a recovery code: true once per code, false ever after.
    pub async fn use_recovery_code(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        code: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE recovery_code SET used_at = $1 WHERE municipality_code = $2 AND login = $3 \
             AND code_sha256 = $4 AND used_at IS NULL",
        )
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(login)
        .bind(code_digest(code))
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

/// Recovery codes are compared without case or separators (read aloud, typed by hand).
fn code_digest(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    crate::sha256_hex(&normal)
}

/// A grant waiting for a second administrator's approval.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingGrant {
    pub grant: String,
    pub label: String,
    pub granted_by: String,
    pub granted_at: String,
}

/// One line of the access review.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewRow {
    pub login: String,
    pub name: String,
    pub grants: String,
    pub permissions: String,
    /// Grants waiting for a second administrator, each with who asked for it.
    pub pending: Vec<PendingGrant>,
    pub valid_from: String,
    pub valid_until: String,
    pub last_login: String,
    pub shared: bool,
    pub disabled: bool,
    pub locked: bool,
    pub dormant: bool,
    pub expiring: bool,
    pub findings: String,
}

fn review_row(a: &Account, grants: &[Grant], today: CivilDate) -> ReviewRow {
    let active: Vec<&Grant> = grants.iter().filter(|g| g.active_on(today)).collect();
    let mut perms: Vec<&str> = active
        .iter()
        .filter_map(|g| expand(&g.grant_name).ok())
        .flatten()
        .map(|p| p.code())
        .collect();
    perms.sort_unstable();
    perms.dedup();
    let labels: Vec<&str> = Permission::ALL
        .iter()
        .filter(|p| perms.contains(&p.code()))
        .map(|p| p.label())
        .collect();
    let days_since = |stamp: &str| {
        chrono::DateTime::parse_from_rfc3339(stamp)
            .ok()
            .map(|t| (today - crate::date_in_japan(t.with_timezone(&chrono::Utc))).num_days())
    };
    let dormant = !a.disabled
        && match &a.last_login_at {
            Some(t) => days_since(t).is_some_and(|d| d > DORMANT_DAYS),
            None => days_since(&a.created_at).is_some_and(|d| d > DORMANT_DAYS),
        };
    let soon = today + chrono::Days::new(30);
    let expiring = a
        .valid_until
        .as_ref()
        .is_some_and(|u| *u >= today.to_string() && *u <= soon.to_string())
        || active.iter().any(|g| {
            g.valid_until
                .as_ref()
                .is_some_and(|u| *u >= today.to_string() && *u <= soon.to_string())
        });
    let locked = a
        .locked_until
        .as_ref()
        .is_some_and(|u| *u > chrono::Utc::now().to_rfc3339());
    let mut findings = Vec::new();
    if dormant {
        findings.push(format!("{DORMANT_DAYS}日以上ログインなし"));
    }
    if expiring {
        findings.push("30日以内に期限".to_owned());
    }
    if perms.contains(&"mynumber.use") {
        findings.push("個人番号利用".to_owned());
    }
    if a.shared {
        findings.push("共用アカウント".to_owned());
    }
    match &a.institution_code {
        Some(code) => findings.push(format!("医療機関 {code}")),
        None if perms.contains(&Permission::ClinicCheck.code()) => {
            findings.push("医療機関コード未登録 (接種前確認はできません)".to_owned());
        }
        None => {}
    }
    let pending: Vec<PendingGrant> = grants
        .iter()
        .filter(|g| g.pending())
        .map(|g| PendingGrant {
            grant: g.grant_name.clone(),
            label: sesshu_domain::access::grant_label(&g.grant_name),
            granted_by: g.granted_by.clone(),
            granted_at: g.granted_at.clone(),
        })
        .collect();
    if !pending.is_empty() {
        findings.push("承認待ちの付与あり".to_owned());
    }
    ReviewRow {
        login: a.login.clone(),
        name: a.display_name.clone(),
        grants: active
            .iter()
            .map(|g| sesshu_domain::access::grant_label(&g.grant_name))
            .collect::<Vec<_>>()
            .join("、"),
        permissions: labels.join("、"),
        pending,
        valid_from: a.valid_from.clone(),
        valid_until: a.valid_until.clone().unwrap_or_default(),
        last_login: a.last_login_at.clone().unwrap_or_default(),
        shared: a.shared,
        disabled: a.disabled,
        locked,
        dormant,
        expiring,
        findings: findings.join("、"),
    }
}

impl Store {
    /// The periodic access review: every account, its grants, last login, dormant or expiring.
    pub async fn access_review(
        &self,
        tenant: MunicipalityCode,
        today: CivilDate,
    ) -> Result<Vec<ReviewRow>, StoreError> {
        let mut rows = Vec::new();
        for a in self.accounts(tenant).await? {
            let grants = self.grants(tenant, &a.login).await?;
            rows.push(review_row(&a, &grants, today));
        }
        Ok(rows)
    }
}

/// A real Argon2id hash (of nothing anyone types), verified against when a login does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("\u{0}sesshu-no-such-login\u{0}").unwrap_or_default())
}
