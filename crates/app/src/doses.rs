//! Doses by hand (a clinic's phone call, a certificate brought by a mover): recorded, corrected
//! and deleted — each a new version, never an overwrite — judged by the schedule engine against
//! the person's other doses. A dose that breaks a rule is recorded only when the caller says so.

use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::dose::{parse_amount_ml, parse_institution_code};
use sesshu_domain::{AddressNumber, Dose, DoseJudgement, MunicipalityCode, parse_date};
use sesshu_schedule::RuleBook;
use sesshu_store::{DoseRow, DoseVersion, Judged, Outcome};

use crate::{Actor, App, AppError, today_in_japan};

/// A dose to record or the corrected content of one.
#[derive(Debug, Clone)]
pub struct DoseChange {
    pub dose: Dose,
    /// Record it even when the engine finds it outside the routine rules (shown as 要確認).
    pub confirmed: bool,
}

/// A dose as a person gives it (the page's form, the API's body): every field as text, so a
/// mistake can be shown as it was typed; parsed here once for every interface.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DoseInput {
    pub given_on: Option<String>,
    pub product: Option<String>,
    pub ordinal: Option<String>,
    pub lot: Option<String>,
    pub amount: Option<String>,
    pub institution_code: Option<String>,
    pub institution_name: Option<String>,
    pub doctor: Option<String>,
    pub ticket: Option<String>,
    pub notes: Option<String>,
    /// Given outside the municipality's contract (a mover's earlier dose, travel).
    pub elsewhere: bool,
    /// 見合わせ: the visit happened, the dose was not given.
    pub deferred: bool,
}

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A code typed with the IME on (ＭＲ, １) read as its ASCII.
fn code(v: &Option<String>) -> Option<String> {
    text(v)
        .map(sesshu_domain::digits::half_width_ascii)
        .filter(|s| !s.is_empty())
}

impl DoseInput {
    /// The input that describes `d` as recorded.
    pub fn of(d: &Dose) -> Self {
        Self {
            given_on: Some(d.given_on.to_string()),
            product: Some(d.product.clone()),
            ordinal: Some(d.ordinal.to_string()),
            lot: d.lot.clone(),
            amount: d.amount_ml.clone(),
            institution_code: d.institution_code.clone(),
            institution_name: d.institution_name.clone(),
            doctor: d.doctor.clone(),
            ticket: d.ticket_number.clone(),
            notes: d.notes.clone(),
            elsewhere: d.given_elsewhere,
            deferred: d.judgement == DoseJudgement::Deferred,
        }
    }

    /// The dose described, on top of `base` (the recorded dose a correction starts from, whose
    /// fields the input does not cover are kept), or every field's error at once
    /// ([`AppError::Fields`], keyed by the names above).
    pub fn dose(&self, rules: &RuleBook, base: Option<Dose>) -> Result<Dose, AppError> {
        let mut errors: Vec<(&'static str, String)> = Vec::new();
        let given_on = match text(&self.given_on) {
            None => {
                errors.push(("given_on", "接種日を入力してください".to_owned()));
                None
            }
            Some(s) => match parse_date(s) {
                Ok(d) if d > today_in_japan() => {
                    errors.push(("given_on", format!("接種日が未来の日付です: {d}")));
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(("given_on", format!("接種日: {e}")));
                    None
                }
            },
        };
        let product = code(&self.product).map(|p| p.to_ascii_lowercase());
        match &product {
            None => errors.push(("product", "ワクチンを選んでください".to_owned())),
            Some(p) if rules.product(p).is_none() => {
                errors.push(("product", format!("不明なワクチンコード「{p}」")));
            }
            _ => {}
        }
        let ordinal = match code(&self.ordinal).map(|s| s.parse::<u32>()) {
            None => {
                errors.push(("ordinal", "回数を入力してください".to_owned()));
                None
            }
            Some(Ok(n)) if n <= 9 => Some(n),
            Some(_) => {
                errors.push(("ordinal", "回数は 0〜9 の数字で入力してください".to_owned()));
                None
            }
        };
        let institution_code = code(&self.institution_code)
            .as_deref()
            .map(parse_institution_code)
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(("institution_code", e.to_string()));
                None
            });
        let amount = code(&self.amount)
            .as_deref()
            .map(parse_amount_ml)
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(("amount", e.to_string()));
                None
            });
        let (Some(given_on), Some(product), Some(ordinal), true) =
            (given_on, product, ordinal, errors.is_empty())
        else {
            return Err(AppError::Fields(errors));
        };
        let mut d = base.unwrap_or_else(|| Dose::given(product.clone(), ordinal, given_on));
        d.product = product;
        d.ordinal = ordinal;
        d.given_on = given_on;
        d.institution_code = institution_code;
        d.amount_ml = amount;
        let owned = |v: &Option<String>| text(v).map(str::to_owned);
        d.lot = code(&self.lot);
        d.institution_name = owned(&self.institution_name);
        d.doctor = owned(&self.doctor);
        d.ticket_number = owned(&self.ticket);
        d.notes = owned(&self.notes);
        d.given_elsewhere = self.elsewhere;
        d.judgement = if self.deferred {
            DoseJudgement::Deferred
        } else {
            DoseJudgement::Given
        };
        Ok(d)
    }
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

pub(crate) fn address(s: &str) -> Result<AddressNumber, AppError> {
    AddressNumber::parse(s.trim()).map_err(|e| AppError::Field("address_number", e.to_string()))
}

pub(crate) fn reason_given(
    reason: &str,
    field: &'static str,
    what: &str,
) -> Result<String, AppError> {
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
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseWrite,
            "dose.write",
            json!({"person": address_number}),
        )
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

    /// Records a dose as a person gave it (the page's form, an API body): the permission first,
    /// so a caller without it learns nothing from the fields' errors; then every wrong field at
    /// once ([`AppError::Fields`]); then [`App::add_dose`].
    pub async fn add_dose_as_given(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        input: &DoseInput,
        confirmed: bool,
    ) -> Result<Written, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseWrite,
            "dose.write",
            json!({"person": address_number}),
        )
        .await?;
        let dose = input.dose(self.engine.rules(), None)?;
        self.add_dose(
            actor,
            tenant,
            address_number,
            DoseChange { dose, confirmed },
        )
        .await
    }

    /// One dose as recorded now with its earlier versions, oldest first (dose.read; the person
    /// is audited as shown).
    pub async fn dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        dose_id: i64,
    ) -> Result<(DoseRow, Vec<DoseVersion>), AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseRead,
            "dose.read",
            json!({"dose_id": dose_id}),
        )
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
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseWrite,
            "dose.write",
            json!({"dose_id": dose_id}),
        )
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
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseWrite,
            "dose.write",
            json!({"dose_id": dose_id}),
        )
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
