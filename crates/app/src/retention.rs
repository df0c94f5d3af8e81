//! 保存期間 (P10) for the operator: a person's records are kept for the retention period after
//! death or move-out (5 years by the city's published assessment, the least the Act's rules
//! allow; `[retention] years_after_end` lengthens it), then deleted. A plan lists who would go
//! and who is kept and why; someone other than the planner approves it; the deletion re-checks
//! each person, and its certificate — the rule, the periods, the counts, who planned, approved
//! and carried it out, no one named — is signed with the key file's record-signing key, so only
//! the key holder can vouch for it. Every step is audited; the deletion's entry names the
//! address numbers deleted, the only trace of them that remains.

use std::collections::BTreeMap;

use chrono::Months;
use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, CivilDate, MunicipalityCode};
use sesshu_store::{Outcome, PurgeItem, PurgeOutcome, PurgeRun, StoreError, purge_status_label};

use crate::{Actor, App, AppError, today_in_japan};

/// Years kept after death or move-out when the configuration says nothing.
pub const DEFAULT_YEARS: u32 = 5;
/// 予防接種法施行規則 第3条: the record of a vaccination is kept five years from the day it was given.
pub const MIN_YEARS: u32 = 5;

/// The last day of death or move-out whose records may go on `today`.
pub fn cutoff(today: CivilDate, years: u32) -> Option<CivilDate> {
    today.checked_sub_months(Months::new(years.checked_mul(12)?))
}

/// A person of a plan as the approver checks them.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeLine {
    pub address_number: String,
    /// Empty when the person is no longer in the register.
    pub name: String,
    pub birth_date: String,
    pub ended_on: String,
    pub reason: &'static str,
}

/// A plan with its persons and those kept past the period, by why.
#[derive(Debug, Clone, Serialize)]
pub struct PurgePlan {
    pub run: PurgeRun,
    pub status_label: String,
    pub persons: Vec<PurgeLine>,
    pub kept: BTreeMap<String, i64>,
}

fn reason(item: &PurgeItem) -> &'static str {
    if item.resident_status == 3 {
        "死亡"
    } else {
        "転出"
    }
}

/// The certificate's text: what a deletion did, in a stable order so the signature can be
/// checked against it again.
fn certificate(tenant: MunicipalityCode, o: &PurgeOutcome, by: &str) -> String {
    json!({
        "title": "保存期間を過ぎた記録の削除証明",
        "municipality": tenant.as_string(),
        "run": o.run.run_id,
        "rule": {"years_after_end": o.run.years_after_end, "cutoff": o.run.cutoff},
        "planned": {"by": o.run.planned_by, "at": o.run.planned_at},
        "approved": {"by": o.run.approved_by, "at": o.run.approved_at},
        "done": {"by": by},
        "persons": o.persons,
        "by_reason": o.by_status,
        "ended_between": o.ended_between,
        "no_longer_eligible": o.no_longer_eligible,
        "rows_deleted": o.deleted,
    })
    .to_string()
}

impl App {
    async fn purge_allowed(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        function: &str,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        self.authorize_for(actor, tenant, Permission::RegisterPurge, function, detail)
            .await
    }

    async fn plan_view(
        &self,
        tenant: MunicipalityCode,
        run: PurgeRun,
    ) -> Result<PurgePlan, AppError> {
        let kept = self.store.purge_kept(tenant, &run.cutoff).await?;
        let mut persons = Vec::new();
        for item in self.store.purge_items(tenant, run.run_id).await? {
            let found = match AddressNumber::parse(&item.address_number) {
                Ok(a) => self.store.person(tenant, &a).await?,
                Err(_) => None,
            };
            persons.push(PurgeLine {
                name: found
                    .as_ref()
                    .map(|p| p.person.name.to_string())
                    .unwrap_or_default(),
                birth_date: found
                    .as_ref()
                    .map(|p| p.person.birth_date.to_string())
                    .unwrap_or_default(),
                reason: reason(&item),
                ended_on: item.ended_on,
                address_number: item.address_number,
            });
        }
        Ok(PurgePlan {
            status_label: purge_status_label(&run.status).to_owned(),
            run,
            persons,
            kept,
        })
    }

    async fn plan_shown(
        &self,
        actor: &Actor,
        function: &str,
        plan: PurgePlan,
    ) -> Result<PurgePlan, AppError> {
        self.record(
            actor,
            function,
            Outcome::Ok,
            vec![],
            plan.persons
                .iter()
                .map(|p| p.address_number.clone())
                .collect(),
            json!({"run": plan.run.run_id, "cutoff": plan.run.cutoff,
                   "persons": plan.persons.len(), "kept": plan.kept}),
        )
        .await?;
        Ok(plan)
    }

    /// Lists who would be deleted today under the rule (register.purge), and keeps the list as
    /// a plan waiting for approval. Fewer years than the Act's five are refused.
    pub async fn plan_purge(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        years_after_end: u32,
    ) -> Result<PurgePlan, AppError> {
        let function = "register.purge.plan";
        self.purge_allowed(actor, tenant, function, json!({"years": years_after_end}))
            .await?;
        if years_after_end < MIN_YEARS {
            return Err(AppError::Field(
                "years_after_end",
                format!("保存期間は {MIN_YEARS} 年より短くできません (予防接種法施行規則 第3条)"),
            ));
        }
        let Some(cutoff) = cutoff(today_in_japan(), years_after_end) else {
            return Err(AppError::Field(
                "years_after_end",
                "保存期間が長すぎます".into(),
            ));
        };
        let run = self
            .store
            .plan_purge(
                tenant,
                i64::from(years_after_end),
                &cutoff.to_string(),
                &actor.actor,
            )
            .await?;
        let plan = self.plan_view(tenant, run).await?;
        self.plan_shown(actor, function, plan).await
    }

    /// A plan with its persons (register.purge; those shown are audited).
    pub async fn purge_plan(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<PurgePlan, AppError> {
        let function = "register.purge.read";
        self.purge_allowed(actor, tenant, function, json!({"run": run_id}))
            .await?;
        let run = self.existing_purge(tenant, run_id).await?;
        let plan = self.plan_view(tenant, run).await?;
        self.plan_shown(actor, function, plan).await
    }

    /// Every plan, newest first (register.purge).
    pub async fn purge_runs(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PurgeRun>, AppError> {
        self.authorize(
            actor,
            tenant,
            Permission::RegisterPurge,
            "register.purge.read",
        )
        .await?;
        Ok(self.store.purge_runs(tenant).await?)
    }

    async fn existing_purge(
        &self,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<PurgeRun, AppError> {
        self.store
            .purge_run(tenant, run_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("削除計画 {run_id}")))
    }

    async fn purge_recorded(
        &self,
        actor: &Actor,
        function: &str,
        deleted: Vec<String>,
        result: Result<PurgeRun, StoreError>,
    ) -> Result<PurgeRun, AppError> {
        self.recorded_for_persons(
            actor,
            function,
            deleted,
            result,
            |r| json!({"run": r.run_id, "status": r.status, "cutoff": r.cutoff}),
        )
        .await
    }

    /// Approves a plan (register.purge) — by someone other than who planned it.
    pub async fn approve_purge(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<PurgeRun, AppError> {
        let function = "register.purge.approve";
        self.purge_allowed(actor, tenant, function, json!({"run": run_id}))
            .await?;
        let run = self.existing_purge(tenant, run_id).await?;
        let result = if run.planned_by == actor.actor {
            Err(StoreError::Invalid(
                "計画した人とは別の人が承認してください".into(),
            ))
        } else {
            self.store
                .advance_purge(tenant, run_id, &["planned"], "approved", &actor.actor)
                .await
        };
        self.purge_recorded(actor, function, vec![], result).await
    }

    /// Cancels a plan not yet carried out (register.purge); its list is dropped.
    pub async fn cancel_purge(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<PurgeRun, AppError> {
        let function = "register.purge.cancel";
        self.purge_allowed(actor, tenant, function, json!({"run": run_id}))
            .await?;
        let result = self
            .store
            .advance_purge(
                tenant,
                run_id,
                &["planned", "approved"],
                "cancelled",
                &actor.actor,
            )
            .await;
        self.purge_recorded(actor, function, vec![], result).await
    }

    /// Carries out an approved plan (register.purge): deletes, certifies and signs. The entry
    /// names every address number deleted.
    pub async fn execute_purge(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<PurgeRun, AppError> {
        let function = "register.purge.execute";
        self.purge_allowed(actor, tenant, function, json!({"run": run_id}))
            .await?;
        let keyring = self.keyring()?;
        let by = actor.actor.clone();
        let result = self
            .store
            .execute_purge(tenant, run_id, &actor.actor, |outcome| {
                let text = certificate(tenant, outcome, &by);
                let signature = sesshu_crypto::signing::sign(&keyring, &text)?;
                Ok((text, signature))
            })
            .await;
        let (run, deleted) = match result {
            Ok((run, deleted)) => (Ok(run), deleted),
            Err(e) => (Err(e), Vec::new()),
        };
        self.purge_recorded(actor, function, deleted, run).await
    }

    /// Whether a done plan's certificate is the one the key holder signed (register.purge).
    pub async fn verify_purge(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: i64,
    ) -> Result<(PurgeRun, bool), AppError> {
        self.authorize(
            actor,
            tenant,
            Permission::RegisterPurge,
            "register.purge.read",
        )
        .await?;
        let run = self.existing_purge(tenant, run_id).await?;
        let ok = match (&run.certificate, &run.signature) {
            (Some(c), Some(s)) => sesshu_crypto::signing::verify(&*self.keyring()?, c, s),
            _ => false,
        };
        Ok((run, ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_same_day_years_before() {
        let d = |s: &str| sesshu_domain::parse_date(s).unwrap();
        assert_eq!(cutoff(d("2026-12-08"), 5), Some(d("2021-12-08")));
        assert_eq!(cutoff(d("2028-02-29"), 5), Some(d("2023-02-28")));
    }
}
