//! API tokens: random, stored hashed, scoped to grants and one municipality, expiring and
//! revocable. A token reads `sesshu_<municipality>_<id>_<secret>`; only the id and the secret's
//! digest are stored.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::{AllowedSources, Permission, expand};
use sqlx::Row;

use crate::{Store, StoreError, now_utc, random_hex, sha256_hex};

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub token_id: String,
    pub name: String,
    pub grants: Vec<String>,
    pub expires_at: String,
    /// Where it may be used from (`10.0.0.5/32 192.168.1.0/24`); empty is anywhere.
    pub allow_from: String,
    pub revoked_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub last_used_at: Option<String>,
}

/// Where a token may act: one municipality, or — for a prefecture — only aggregate statistics
/// of the municipalities whose code begins with its two digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    Municipality(MunicipalityCode),
    Prefecture(String),
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCaller {
    pub scope: TokenScope,
    pub token_id: String,
    pub name: String,
    pub permissions: BTreeSet<Permission>,
    /// The caller must check the request's source against these.
    pub allow_from: AllowedSources,
}

fn stored_sources(text: Option<String>) -> Result<AllowedSources, StoreError> {
    AllowedSources::parse(&[text.unwrap_or_default()])
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Creates a token and returns it whole — the only time its secret is seen.
    pub async fn create_token(
        &self,
        tenant: MunicipalityCode,
        name: &str,
        grants: &[String],
        allow_from: &AllowedSources,
        expires_at: DateTime<Utc>,
        by: &str,
    ) -> Result<(String, String), StoreError> {
        self.require_municipality(tenant).await?;
        let code = tenant.as_string();
        self.insert_token(&code, name, grants, allow_from, expires_at, by)
            .await
    }

    /// A prefecture's token: aggregate statistics of its municipalities, nothing else.
    pub async fn create_prefecture_token(
        &self,
        prefecture: &str,
        name: &str,
        expires_at: DateTime<Utc>,
        by: &str,
    ) -> Result<(String, String), StoreError> {
        parse_prefecture(prefecture)?;
        self.insert_token(
            &format!("P{prefecture}"),
            name,
            &["role:statistics".to_owned()],
            &AllowedSources::default(),
            expires_at,
            by,
        )
        .await
    }

    async fn insert_token(
        &self,
        code: &str,
        name: &str,
        grants: &[String],
        allow_from: &AllowedSources,
        expires_at: DateTime<Utc>,
        by: &str,
    ) -> Result<(String, String), StoreError> {
        let mut all = BTreeSet::new();
        for g in grants {
            all.extend(expand(g).map_err(|e| StoreError::Invalid(e.to_string()))?);
        }
        if let Some(conflict) = sesshu_domain::access::separation_conflict(&all) {
            return Err(StoreError::Invalid(conflict.to_string()));
        }
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("トークンの名前が必要です".into()));
        }
        let id = random_hex(8);
        let secret = random_hex(32);
        sqlx::query(
            "INSERT INTO api_token (municipality_code, token_id, name, secret_sha256, grants, expires_at, \
             revoked_at, revoked_by, created_at, created_by, last_used_at, allow_from) \
             VALUES ($1,$2,$3,$4,$5,$6,NULL,NULL,$7,$8,NULL,$9)",
        )
        .bind(code)
        .bind(&id)
        .bind(name.trim())
        .bind(sha256_hex(&secret))
        .bind(grants.join(" "))
        .bind(expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .bind(now_utc())
        .bind(by)
        .bind((!allow_from.is_anywhere()).then(|| allow_from.to_text()))
        .execute(self.pool())
        .await?;
        Ok((id.clone(), format!("sesshu_{code}_{id}_{secret}")))
    }

    pub async fn tokens(&self, tenant: MunicipalityCode) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM api_token WHERE municipality_code = $1 ORDER BY created_at, token_id",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    token_id: r.try_get("token_id")?,
                    name: r.try_get("name")?,
                    grants: r
                        .try_get::<String, _>("grants")?
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    expires_at: r.try_get("expires_at")?,
                    allow_from: r
                        .try_get::<Option<String>, _>("allow_from")?
                        .unwrap_or_default(),
                    revoked_at: r.try_get("revoked_at")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_token(
        &self,
        tenant: MunicipalityCode,
        token_id: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        let n = sqlx::query(
            "UPDATE api_token SET revoked_at = $1, revoked_by = $2 \
             WHERE municipality_code = $3 AND token_id = $4 AND revoked_at IS NULL",
        )
        .bind(now_utc())
        .bind(by)
        .bind(tenant.as_string())
        .bind(token_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("有効なトークン {token_id}")));
        }
        Ok(())
    }

    /// The caller a presented token speaks for, or `None` for anything not a valid, unexpired,
    /// unrevoked token of an existing municipality.
    pub async fn authenticate_token(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenCaller>, StoreError> {
        let mut parts = presented.trim().splitn(4, '_');
        let (Some("sesshu"), Some(code), Some(id), Some(secret)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let (scope, stored_code) = match code.strip_prefix('P') {
            Some(pref) if parse_prefecture(pref).is_ok() => {
                (TokenScope::Prefecture(pref.to_owned()), code.to_owned())
            }
            Some(_) => return Ok(None),
            None => match MunicipalityCode::parse(code) {
                Ok(t) => (TokenScope::Municipality(t), t.as_string()),
                Err(_) => return Ok(None),
            },
        };
        let Some(r) =
            sqlx::query("SELECT * FROM api_token WHERE municipality_code = $1 AND token_id = $2")
                .bind(&stored_code)
                .bind(id)
                .fetch_optional(self.pool())
                .await?
        else {
            return Ok(None);
        };
        let stored: String = r.try_get("secret_sha256")?;
        let revoked: Option<String> = r.try_get("revoked_at")?;
        let expires: String = r.try_get("expires_at")?;
        let expired = DateTime::parse_from_rfc3339(&expires).map_or(true, |e| e <= now);
        if sha256_hex(secret) != stored || revoked.is_some() || expired {
            return Ok(None);
        }
        let mut permissions = BTreeSet::new();
        for g in r.try_get::<String, _>("grants")?.split_whitespace() {
            permissions.extend(expand(g).map_err(|e| StoreError::Invalid(e.to_string()))?);
        }
        // Last use to the minute: a write per request would double the cost of a read.
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let last: Option<String> = r.try_get("last_used_at")?;
        if last
            .as_deref()
            .is_none_or(|l| l.get(..16) != stamp.get(..16))
        {
            sqlx::query(
            "UPDATE api_token SET last_used_at = $1 WHERE municipality_code = $2 AND token_id = $3",
        )
            .bind(&stamp)
            .bind(&stored_code)
            .bind(id)
            .execute(self.pool())
            .await?;
        }
        Ok(Some(TokenCaller {
            scope,
            token_id: id.to_owned(),
            name: r.try_get("name")?,
            permissions,
            allow_from: stored_sources(r.try_get("allow_from")?)?,
        }))
    }
}

/// A prefecture code: 01 (北海道) to 47 (沖縄県).
pub fn parse_prefecture(code: &str) -> Result<u8, StoreError> {
    code.parse::<u8>()
        .ok()
        .filter(|n| code.len() == 2 && (1..=47).contains(n))
        .ok_or_else(|| StoreError::Invalid(format!("都道府県コード {code:?} は 01〜47 です")))
}
