//! Counts of residents and doses by product (stats.read), small cells suppressed: a
//! municipality's own, or a prefecture's municipalities for its token. Never a person.

use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, MunicipalityCode};
use sesshu_store::{MunicipalityStats, Outcome};

use crate::{Actor, App, AppError};

impl App {
    /// The municipality's own counts for the period.
    pub async fn statistics(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<MunicipalityStats>, AppError> {
        self.authorize(actor, tenant, Permission::StatsRead, "stats.read")
            .await?;
        let stats = self.store.statistics(&tenant.as_string(), from, to).await?;
        self.record(
            actor,
            "stats.read",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"from": from.to_string(), "to": to.to_string()}),
        )
        .await?;
        Ok(stats)
    }

    /// A prefecture's view, for its own token only: any other caller finds nothing there.
    pub async fn prefecture_statistics(
        &self,
        actor: &Actor,
        prefecture: &str,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<MunicipalityStats>, AppError> {
        if actor.prefecture.as_deref() != Some(prefecture) {
            return Err(AppError::NotFound(format!("都道府県 {prefecture}")));
        }
        if !actor.can(Permission::StatsRead) {
            return Err(AppError::Forbidden(Permission::StatsRead));
        }
        let stats = self.store.statistics(prefecture, from, to).await?;
        self.record(
            actor,
            "stats.read",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"prefecture": prefecture, "from": from.to_string(), "to": to.to_string()}),
        )
        .await?;
        Ok(stats)
    }
}
