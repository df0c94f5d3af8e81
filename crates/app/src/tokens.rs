//! API tokens of a municipality (user.admin): created for a machine client with its grants and
//! expiry (the secret is shown once and stored only hashed), listed, revoked. Audited as
//! `token.admin`. (A prefecture's statistics token belongs to no municipality: the host
//! operator creates it with `sesshu token create --prefecture`.)

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::{AllowedSources, Permission, expand, is_sensitive_grant, token_policy};
use sesshu_store::{ApiToken, Outcome};

use crate::{Actor, App, AppError};

/// A token just created: its id, and the secret to hand over once.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_id: String,
    pub secret: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl App {
    /// A token for a machine client, valid for `days` (1 to 3,650), usable from `allow_from`
    /// (anywhere when empty). A token has no second factor, so one holding My Number use or an
    /// administrator's permission is made only by the host's operator at the command line
    /// (an account handing such a token to itself would step round four-eyes), for at most
    /// [`sesshu_domain::access::SENSITIVE_TOKEN_DAYS`] days and from named addresses only.
    pub async fn create_token(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        name: &str,
        grants: &[String],
        allow_from: &[String],
        days: i64,
    ) -> Result<NewToken, AppError> {
        self.authorize(actor, tenant, Permission::UserAdmin, "token.admin")
            .await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Field(
                "name",
                "トークンの名前を入力してください".into(),
            ));
        }
        if grants.is_empty() {
            return Err(AppError::Field(
                "grant",
                "付与する権限を選んでください".into(),
            ));
        }
        for g in grants {
            expand(g).map_err(|e| AppError::Field("grant", e.to_string()))?;
        }
        let sources = AllowedSources::parse(allow_from)
            .map_err(|e| AppError::Field("allow_from", e.to_string()))?;
        let days = days.clamp(1, 3650);
        if grants.iter().any(|g| is_sensitive_grant(g)) && actor.kind != "cli" {
            return Err(AppError::Field(
                "grant",
                "個人番号の利用か管理者の権限を持つトークンは、サーバーの運用者がコマンドラインで作成します"
                    .into(),
            ));
        }
        token_policy(grants, &sources, days)
            .map_err(|e| AppError::Field("allow_from", e.to_string()))?;
        let expires_at = chrono::Utc::now() + chrono::Duration::days(days);
        let (token_id, secret) = self
            .store
            .create_token(tenant, name, grants, &sources, expires_at, &actor.actor)
            .await?;
        self.record(
            actor,
            "token.admin",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"action": "create", "token_id": token_id, "name": name, "grants": grants,
                   "allow_from": sources.to_text(), "expires_at": expires_at.to_rfc3339()}),
        )
        .await?;
        Ok(NewToken {
            token_id,
            secret,
            expires_at,
        })
    }

    /// The municipality's tokens (never their secrets).
    pub async fn tokens(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<ApiToken>, AppError> {
        self.authorize(actor, tenant, Permission::UserAdmin, "token.list")
            .await?;
        Ok(self.store.tokens(tenant).await?)
    }

    /// Revokes a token at once.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        token_id: &str,
    ) -> Result<(), AppError> {
        self.authorize(actor, tenant, Permission::UserAdmin, "token.admin")
            .await?;
        let revoked = self
            .store
            .revoke_token(tenant, token_id.trim(), &actor.actor)
            .await
            .map_err(AppError::from);
        let (outcome, detail) = match &revoked {
            Ok(()) => (
                Outcome::Ok,
                json!({"action": "revoke", "token_id": token_id}),
            ),
            Err(e) => (
                Outcome::Refused,
                json!({"action": "revoke", "token_id": token_id, "refused": e.to_string()}),
            ),
        };
        self.record(actor, "token.admin", outcome, vec![], vec![], detail)
            .await?;
        revoked
    }
}
