//! 記録の統合 (F1) for staff: a clerk who finds two records of one person (usually a 住登外
//! record made for a dose given before the person moved in, beside the resident record) links
//! them with the reason; the doses follow to the primary record and the schedule reads one
//! history. A link is undone the same way. Both need person.write; each entry names both records,
//! refusals too.

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_store::{Outcome, PersonLink};

use crate::doses::{address, reason_given};
use crate::{Actor, App, AppError};

impl App {
    /// Links `secondary` into `primary` (person.write). Refused, and audited as refused, when
    /// the pair is already linked or either record is missing.
    pub async fn link_persons(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        primary: &str,
        secondary: &str,
        reason: &str,
    ) -> Result<PersonLink, AppError> {
        let function = "person.link";
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonWrite,
            function,
            json!({"primary": primary, "secondary": secondary}),
        )
        .await?;
        let p = address(primary)?;
        let s = address(secondary).map_err(|e| match e {
            AppError::Field(_, m) => AppError::Field("secondary", m),
            e => e,
        })?;
        let reason = reason_given(reason, "reason", "統合")?;
        let result = self
            .store
            .link_persons(tenant, &p, &s, &reason, &actor.actor)
            .await;
        self.link_recorded(actor, function, [p.as_str(), s.as_str()], result)
            .await
    }

    /// Undoes a link in force, with the reason (person.write).
    pub async fn unlink_persons(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        link_id: i64,
        reason: &str,
    ) -> Result<PersonLink, AppError> {
        let function = "person.unlink";
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonWrite,
            function,
            json!({"link": link_id}),
        )
        .await?;
        let reason = reason_given(reason, "reason", "統合の解除")?;
        let Some(link) = self.store.person_link(tenant, link_id).await? else {
            return Err(AppError::NotFound(format!("統合 {link_id}")));
        };
        let result = self
            .store
            .unlink_persons(tenant, link_id, &reason, &actor.actor)
            .await;
        self.link_recorded(
            actor,
            function,
            [
                link.primary_address.as_str(),
                link.secondary_address.as_str(),
            ],
            result,
        )
        .await
    }

    async fn link_recorded(
        &self,
        actor: &Actor,
        function: &str,
        persons: [&str; 2],
        result: Result<PersonLink, sesshu_store::StoreError>,
    ) -> Result<PersonLink, AppError> {
        let persons = persons.iter().map(|p| (*p).to_owned()).collect();
        self.recorded_for_persons(actor, function, persons, result, |l| {
            json!({"link": l.link_id, "primary": l.primary_address,
                   "secondary": l.secondary_address, "doses_moved": l.doses_moved,
                   "doses_duplicate": l.doses_duplicate})
        })
        .await
    }

    /// Every link of the municipality, newest first (person.read; the records named are in the
    /// entry).
    pub async fn person_links(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PersonLink>, AppError> {
        self.authorize(actor, tenant, Permission::PersonRead, "person.links")
            .await?;
        let links = self.store.person_links(tenant).await?;
        let mut shown: Vec<String> = links
            .iter()
            .flat_map(|l| [l.primary_address.clone(), l.secondary_address.clone()])
            .collect();
        shown.sort_unstable();
        shown.dedup();
        self.record(
            actor,
            "person.links",
            Outcome::Ok,
            vec![],
            shown,
            json!({"links": links.len()}),
        )
        .await?;
        Ok(links)
    }
}
