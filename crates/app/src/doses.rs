//! Doses by hand (a clinic's phone call, a certificate brought by a mover): recorded, corrected
//! and deleted — each a new version, never an overwrite — judged by the schedule engine against
//! the person's other doses. A dose that breaks a rule is recorded only when the caller says so.

use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, Dose, MunicipalityCode};
use sesshu_store::{DoseRow, DoseVersion, Judged, Outcome};

use crate::{Actor, App, AppError, today_in_japan};

/// A dose to record or the corrected content of one.
#[derive(Debug, Clone)]
pub struct DoseChange {
    pub dose: Dose,
    /// Record it even when the engine finds it outside the routine rules (shown as 要確認).
    pub confirmed: bool,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    Recorded {
        dose_id: i64,
        version: i64,
        judged: Judged,
    },
    /// Nothing recorded: the dose breaks a rule, and the caller did not confirm. Why, as the
    /// engine says it.
    NeedsConfirmation(Option<String>),
}

fn address(s: &str) -> Result<AddressNumber, AppError> {
    AddressNumber::parse(s.trim()).map_err(|e| AppError::Field("address_number", e.to_string()))
}

fn reason_given(reason: &str, field: &'static str, what: &str) -> Result<String, AppError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(AppError::Field(
            field,
            format!("{what}の理由を入力してください"),
        ));
    }
    Ok(r.to_owned())
}

impl App {
    /// The engine's judgement of a dose among the person's others (the one it replaces left
    /// out), with its 接種日年齢. A date the person cannot have been vaccinated on is the
    /// `given_on` field's error.
    async fn judge(
        &self,
        tenant: MunicipalityCode,
        a: &AddressNumber,
        dose: &Dose,
        replacing: Option<i64>,
    ) -> Result<(Judged, Option<String>), AppError> {
        if dose.given_on > today_in_japan() {
            return Err(AppError::Field(
                "given_on",
                format!("接種日が未来の日付です: {}", dose.given_on),
            ));
        }
        self.store
            .judge_dose(&self.engine, tenant, a, dose, replacing)
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::Invalid(m) => AppError::Field("given_on", m),
                other => other,
            })
    }

    /// Records a dose for a person of the register (dose.write).
    pub async fn add_dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        change: DoseChange,
    ) -> Result<Written, AppError> {
        self.authorize(actor, tenant, Permission::DoseWrite, "dose.write")
            .await?;
        let a = address(address_number)?;
        let (judged, age) = self.judge(tenant, &a, &change.dose, None).await?;
        if judged.routine == Some(false) && !change.confirmed {
            return Ok(Written::NeedsConfirmation(judged.evaluation));
        }
        let id = self
            .store
            .record_dose(
                tenant,
                a.as_str(),
                change.dose,
                age,
                judged.clone(),
                &actor.actor,
            )
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::Invalid(m) => AppError::Field("given_on", m),
                other => other,
            })?;
        self.record(
            actor,
            "dose.write",
            Outcome::Ok,
            vec![a.as_str().to_owned()],
            vec![],
            json!({"action": "add", "dose_id": id, "routine": judged.routine}),
        )
        .await?;
        Ok(Written::Recorded {
            dose_id: id,
            version: 1,
            judged,
        })
    }

    /// One dose as recorded now with its earlier versions, oldest first (dose.read; the person
    /// is audited as shown).
    pub async fn dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        dose_id: i64,
    ) -> Result<(DoseRow, Vec<DoseVersion>), AppError> {
        self.authorize(actor, tenant, Permission::DoseRead, "dose.read")
            .await?;
        let current = self.existing_dose(tenant, dose_id).await?;
        let versions = self.store.dose_versions(tenant, dose_id).await?;
        self.record(
            actor,
            "dose.read",
            Outcome::Ok,
            vec![],
            vec![current.address_number.clone()],
            json!({"dose_id": dose_id}),
        )
        .await?;
        Ok((current, versions))
    }

    async fn existing_dose(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
    ) -> Result<DoseRow, AppError> {
        self.store
            .dose(tenant, dose_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("接種記録 {dose_id}")))
    }

    /// Replaces a dose's content with `edit` applied to it, keeping the version it replaces,
    /// with the reason (dose.write).
    pub async fn correct_dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        dose_id: i64,
        reason: &str,
        edit: impl FnOnce(Dose) -> Result<DoseChange, AppError>,
    ) -> Result<Written, AppError> {
        self.authorize(actor, tenant, Permission::DoseWrite, "dose.write")
            .await?;
        let current = self.existing_dose(tenant, dose_id).await?;
        let reason = reason_given(reason, "reason", "訂正")?;
        let change = edit(current.dose.clone())?;
        let a = address(&current.address_number)?;
        let (judged, _) = self.judge(tenant, &a, &change.dose, Some(dose_id)).await?;
        if judged.routine == Some(false) && !change.confirmed {
            return Ok(Written::NeedsConfirmation(judged.evaluation));
        }
        let row = self
            .store
            .correct_dose(
                tenant,
                dose_id,
                change.dose,
                judged.clone(),
                &actor.actor,
                &reason,
            )
            .await?;
        self.record(
            actor,
            "dose.write",
            Outcome::Ok,
            vec![a.as_str().to_owned()],
            vec![],
            json!({"action": "correct", "dose_id": dose_id, "version": row.version,
                   "reason": reason}),
        )
        .await?;
        Ok(Written::Recorded {
            dose_id,
            version: row.version,
            judged,
        })
    }

    /// Deletes a dose: a new version marked deleted, with the reason; nothing is removed.
    pub async fn delete_dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        dose_id: i64,
        reason: &str,
    ) -> Result<DoseRow, AppError> {
        self.authorize(actor, tenant, Permission::DoseWrite, "dose.write")
            .await?;
        self.existing_dose(tenant, dose_id).await?;
        let reason = reason_given(reason, "delete_reason", "削除")?;
        let row = self
            .store
            .delete_dose(tenant, dose_id, &actor.actor, &reason)
            .await?;
        self.record(
            actor,
            "dose.write",
            Outcome::Ok,
            vec![row.address_number.clone()],
            vec![],
            json!({"action": "delete", "dose_id": dose_id, "version": row.version,
                   "reason": reason}),
        )
        .await?;
        Ok(row)
    }
}
