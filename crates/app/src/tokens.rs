//! API tokens of a municipality (user.admin): created for a machine client with its grants and
//! expiry (the secret is shown once and stored only hashed), listed, revoked. Audited as
//! `token.admin`. (A prefecture's statistics token belongs to no municipality: the host
//! operator creates it with `sesshu token create --prefecture`.)

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::{Permission, expand};
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
    /// A token for a machine client, valid for `days` (1 to 3,650).
    pub async fn create_token(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        name: &str,
        grants: &[String],
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
        let expires_at = chrono::Utc::now() + chrono::Duration::days(days.clamp(1, 3650));
        let (token_id, secret) = self
            .store
            .create_token(tenant, name, grants, expires_at, &actor.actor)
            .await?;
        self.record(
            actor,
            "token.admin",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"action": "create", "token_id": token_id, "name": name, "grants": grants,
                   "expires_at": expires_at.to_rfc3339()}),
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
