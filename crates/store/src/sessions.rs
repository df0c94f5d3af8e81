//! Server-side sessions of staff logins: random ids stored hashed, an idle timeout (the
//! assessments' "automatic logout", 15 minutes) and an absolute one, ended at once by logout, a
//! password change, a disable or a change of grants.

use std::collections::BTreeSet;

use crate::columns::Columns;
use crate::sql::Value;
use chrono::{DateTime, Duration, Utc};
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;

use crate::{Store, StoreError, random_hex, sha256_hex};

pub const IDLE_MINUTES: i64 = 15;
pub const ABSOLUTE_HOURS: i64 = 8;

/// What the browser receives once: the cookie value and the CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub cookie: String,
    pub csrf_token: String,
}

/// Who a valid session speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCaller {
    pub tenant: MunicipalityCode,
    pub login: String,
    pub permissions: BTreeSet<Permission>,
    pub csrf_sha256: String,
    /// The medical institution a clinic's account speaks for.
    pub institution: Option<String>,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The CSRF token of a session, derived from its cookie: pages put it in every form without the
/// server keeping it in clear, and a page of another site, which cannot read the HttpOnly
/// cookie, cannot compute it.
pub fn csrf_token(cookie: &str) -> String {
    sha256_hex(&format!("sesshu-csrf|{}", cookie.trim()))
}

/// Whether `csrf` is the token issued with the session.
pub fn csrf_matches(caller: &SessionCaller, csrf: &str) -> bool {
    sha256_hex(csrf) == caller.csrf_sha256
}

/// A row of the session check: the session, its account and one of the account's grants.
struct SessionRow {
    login: String,
    csrf_sha256: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    sessions_valid_after: Option<String>,
    disabled: bool,
    valid_from: String,
    valid_until: Option<String>,
    institution: Option<String>,
    grant: Option<crate::Grant>,
}

impl SessionRow {
    fn from_row(r: &impl Columns) -> Result<Self, StoreError> {
        let grant = match r.try_get::<Option<String>>("grant_name")? {
            Some(grant_name) => Some(crate::Grant {
                grant_name,
                valid_from: r.try_get("grant_from")?,
                valid_until: r.try_get("grant_until")?,
                granted_by: String::new(),
                granted_at: String::new(),
                revoked_at: r.try_get("grant_revoked")?,
                revoked_by: None,
                approved_at: r.try_get("grant_approved")?,
                approved_by: None,
            }),
            None => None,
        };
        Ok(Self {
            login: r.try_get("login")?,
            csrf_sha256: r.try_get("csrf_sha256")?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
            revoked_at: r.try_get("revoked_at")?,
            sessions_valid_after: r.try_get("sessions_valid_after")?,
            disabled: r.try_get::<i64>("disabled")? != 0,
            valid_from: r.try_get("valid_from")?,
            valid_until: r.try_get("valid_until")?,
            institution: r.try_get("institution_code")?,
            grant,
        })
    }
}

impl Store {
    /// Starts a session for a login that has just been verified; the id is always fresh, so a
    /// cookie planted before login (session fixation) never becomes valid.
    pub async fn start_session(
        &self,
        tenant: MunicipalityCode,
        login: &str,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<NewSession, StoreError> {
        let id = random_hex(32);
        let cookie = format!("{}.{id}", tenant.as_string());
        let csrf = csrf_token(&cookie);
        sqlx::query(
            "INSERT INTO session (municipality_code, session_sha256, login, csrf_sha256, created_at, \
             last_seen_at, expires_at, revoked_at, source) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,$8)",
        )
        .bind(tenant.as_string())
        .bind(sha256_hex(&id))
        .bind(login)
        .bind(sha256_hex(&csrf))
        .bind(stamp(now))
        .bind(stamp(now))
        .bind(stamp(now + Duration::hours(ABSOLUTE_HOURS)))
        .bind(source)
        .execute(self.pool())
        .await?;
        Ok(NewSession {
            cookie,
            csrf_token: csrf,
        })
    }

    /// The caller of a presented cookie at `now`, or `None` for anything but a live session of
    /// a usable account that was used within `idle` (the city's automatic logout, by default
    /// [`IDLE_MINUTES`]).
    pub async fn session(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
        idle: Duration,
    ) -> Result<Option<SessionCaller>, StoreError> {
        let Some((code, id)) = cookie.trim().split_once('.') else {
            return Ok(None);
        };
        let Ok(tenant) = MunicipalityCode::parse(code) else {
            return Ok(None);
        };
        // The session, its account and the account's grants in one statement (a row per grant):
        // this runs before every page and API call.
        let rows = self
            .fetch_all(
                "SELECT s.login, s.csrf_sha256, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, \
                 a.sessions_valid_after, a.disabled, a.valid_from, a.valid_until, a.institution_code, g.grant_name, \
                 g.valid_from AS grant_from, g.valid_until AS grant_until, g.revoked_at AS grant_revoked, g.approved_at AS grant_approved \
                 FROM session s JOIN account a \
                 ON a.municipality_code = s.municipality_code AND a.login = s.login \
                 LEFT JOIN access_grant g ON g.municipality_code = s.municipality_code AND g.login = s.login \
                 WHERE s.municipality_code = $1 AND s.session_sha256 = $2",
                &[Value::text(tenant.as_string()), Value::text(sha256_hex(id))],
                |r| SessionRow::from_row(r),
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let now_s = stamp(now);
        let idle_limit = stamp(now - idle);
        if r.revoked_at.is_some()
            || r.expires_at <= now_s
            || r.last_seen_at < idle_limit
            || r.sessions_valid_after
                .as_ref()
                .is_some_and(|v| &r.created_at <= v)
        {
            return Ok(None);
        }
        // The account is read with the session (one statement less on every request).
        let day = crate::date_in_japan(now);
        if !crate::accounts::usable_on(r.disabled, &r.valid_from, r.valid_until.as_deref(), day) {
            return Ok(None);
        }
        let last_seen_at = r.last_seen_at.clone();
        let login = r.login.clone();
        let csrf_sha256 = r.csrf_sha256.clone();
        let institution = r.institution.clone();
        let grants: Vec<crate::Grant> = rows.into_iter().filter_map(|r| r.grant).collect();
        let permissions = crate::accounts::active_permissions(&grants, day)?;
        if permissions.is_empty() {
            // Disabled, outside its validity or without any grant: nothing it could do.
            return Ok(None);
        }
        // Seen again: pushed forward at most once a minute, or every quarter of a shorter idle
        // limit (a write per request would double the cost of a read).
        let step = std::cmp::min(Duration::minutes(1), idle / 4);
        if last_seen_at <= stamp(now - step) {
            sqlx::query(
                "UPDATE session SET last_seen_at = $1 WHERE municipality_code = $2 AND session_sha256 = $3",
            )
            .bind(&now_s)
            .bind(tenant.as_string())
            .bind(sha256_hex(id))
            .execute(self.pool())
            .await?;
        }
        Ok(Some(SessionCaller {
            tenant,
            login,
            permissions,
            csrf_sha256,
            institution,
        }))
    }

    /// Logout: the session ends at once.
    pub async fn end_session(&self, cookie: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let Some((code, id)) = cookie.trim().split_once('.') else {
            return Ok(());
        };
        sqlx::query(
            "UPDATE session SET revoked_at = $1 WHERE municipality_code = $2 AND session_sha256 = $3 AND revoked_at IS NULL",
        )
        .bind(stamp(now))
        .bind(code)
        .bind(sha256_hex(id))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends every session of an account begun before now (password change, disable, grants).
    pub(crate) async fn end_sessions_of(
        &self,
        tenant: MunicipalityCode,
        login: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE account SET sessions_valid_after = $1 WHERE municipality_code = $2 AND login = $3",
        )
        .bind(stamp(Utc::now()))
        .bind(tenant.as_string())
        .bind(login)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
