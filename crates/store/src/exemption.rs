//! 実費徴収の免除 (F7): the city's decision, per person and fiscal year, that a B類 dose is free
//! to the person (生活保護, 市民税非課税世帯 …) — or that the grounds were not met. Payments read
//! it: a clinic is paid the whole price for an exempt person's dose, and the price less the
//! self-payment it collected for anyone else. A decision is never deleted; revoking it keeps who,
//! when and why.

use sesshu_domain::{AddressNumber, MunicipalityCode};

use crate::columns::Columns;
use crate::notices::take_numbers;
use crate::sql::Value;
use crate::{Store, StoreError, now_utc};

/// A decision as it is to be recorded (checked by the application layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExemption {
    pub fiscal_year: i32,
    pub exempt: bool,
    pub ground: String,
    pub evidence: String,
    pub applied_on: String,
    pub decided_on: String,
    pub valid_from: String,
    pub valid_to: String,
    pub notes: String,
}

/// A recorded decision, in force or revoked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CostExemption {
    pub exemption_id: i64,
    pub address_number: String,
    pub fiscal_year: i32,
    pub exempt: bool,
    pub ground: String,
    pub evidence: String,
    pub applied_on: String,
    pub decided_on: String,
    pub valid_from: String,
    pub valid_to: String,
    pub notes: String,
    pub recorded_by: String,
    pub recorded_at: String,
    pub revoked: Option<crate::Lifted>,
}

impl CostExemption {
    pub fn in_force(&self) -> bool {
        self.revoked.is_none()
    }
}

fn from_row(r: &impl Columns) -> Result<CostExemption, StoreError> {
    let revoked_at: Option<String> = r.try_get("revoked_at")?;
    Ok(CostExemption {
        exemption_id: r.try_get("exemption_id")?,
        address_number: r.try_get("address_number")?,
        fiscal_year: i32::try_from(r.try_get::<i64>("fiscal_year")?)
            .map_err(|_| StoreError::Corrupt("cost_exemption.fiscal_year".into()))?,
        exempt: r.try_get::<String>("decision")? == "exempt",
        ground: r.try_get("ground")?,
        evidence: r.try_get("evidence")?,
        applied_on: r.try_get("applied_on")?,
        decided_on: r.try_get("decided_on")?,
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
        notes: r.try_get("notes")?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
        revoked: match revoked_at {
            Some(at) => Some(crate::Lifted {
                by: r
                    .try_get::<Option<String>>("revoked_by")?
                    .unwrap_or_default(),
                at,
                reason: r
                    .try_get::<Option<String>>("revoke_reason")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
    })
}

impl Store {
    /// Records a decision. Refused for a person not in the register, or when a decision for the
    /// same fiscal year is in force (it is revoked first, with its reason).
    pub async fn record_exemption(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
        new: &NewExemption,
        by: &str,
    ) -> Result<CostExemption, StoreError> {
        if self.person(tenant, address).await?.is_none() {
            return Err(StoreError::NotFound(format!("宛名番号 {address} の人")));
        }
        let mut db = self.begin_write().await?;
        let held = sqlx::query(
            "SELECT exemption_id FROM cost_exemption WHERE municipality_code = $1 \
             AND address_number = $2 AND fiscal_year = $3 AND revoked_at IS NULL",
        )
        .bind(tenant.as_string())
        .bind(address.as_str())
        .bind(i64::from(new.fiscal_year))
        .fetch_optional(&mut *db)
        .await?;
        if held.is_some() {
            return Err(StoreError::Invalid(format!(
                "宛名番号 {address} の {}年度の決定は既にあります: 変えるときは先に取り消してください",
                new.fiscal_year
            )));
        }
        let id = take_numbers(&mut db, tenant, "cost_exemption", 1).await?;
        let id = i64::try_from(id).map_err(|_| StoreError::Corrupt("cost_exemption".into()))?;
        sqlx::query(
            "INSERT INTO cost_exemption (municipality_code, exemption_id, address_number, \
             fiscal_year, decision, ground, evidence, applied_on, decided_on, valid_from, \
             valid_to, notes, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(tenant.as_string())
        .bind(id)
        .bind(address.as_str())
        .bind(i64::from(new.fiscal_year))
        .bind(if new.exempt { "exempt" } else { "not_exempt" })
        .bind(&new.ground)
        .bind(&new.evidence)
        .bind(&new.applied_on)
        .bind(&new.decided_on)
        .bind(&new.valid_from)
        .bind(&new.valid_to)
        .bind(&new.notes)
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        self.exemption(tenant, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("cost_exemption".into()))
    }

    /// Revokes a decision in force (wrongly recorded, or the grounds ended).
    pub async fn revoke_exemption(
        &self,
        tenant: MunicipalityCode,
        exemption_id: i64,
        reason: &str,
        by: &str,
    ) -> Result<CostExemption, StoreError> {
        let Some(current) = self.exemption(tenant, exemption_id).await? else {
            return Err(StoreError::NotFound(format!("免除決定 {exemption_id}")));
        };
        if !current.in_force() {
            return Err(StoreError::Invalid(format!(
                "免除決定 {exemption_id} は既に取り消されています"
            )));
        }
        let changed = sqlx::query(
            "UPDATE cost_exemption SET revoked_by = $1, revoked_at = $2, revoke_reason = $3 \
             WHERE municipality_code = $4 AND exemption_id = $5 AND revoked_at IS NULL",
        )
        .bind(by)
        .bind(now_utc())
        .bind(reason)
        .bind(tenant.as_string())
        .bind(exemption_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "免除決定 {exemption_id} は既に取り消されています"
            )));
        }
        self.exemption(tenant, exemption_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("cost_exemption".into()))
    }

    pub async fn exemption(
        &self,
        tenant: MunicipalityCode,
        exemption_id: i64,
    ) -> Result<Option<CostExemption>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM cost_exemption WHERE municipality_code = $1 AND exemption_id = $2",
            &[Value::text(tenant.as_string()), Value::int(exemption_id)],
            |r| from_row(r),
        )
        .await
    }

    /// Every decision of a person, newest fiscal year first.
    pub async fn exemptions_of_person(
        &self,
        tenant: MunicipalityCode,
        address: &str,
    ) -> Result<Vec<CostExemption>, StoreError> {
        self.fetch_all(
            "SELECT * FROM cost_exemption WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY fiscal_year DESC, exemption_id DESC",
            &[Value::text(tenant.as_string()), Value::text(address)],
            |r| from_row(r),
        )
        .await
    }

    /// The register of a fiscal year's decisions (免除決定簿), in the order they were made.
    pub async fn exemptions_of_year(
        &self,
        tenant: MunicipalityCode,
        fiscal_year: i32,
    ) -> Result<Vec<CostExemption>, StoreError> {
        self.fetch_all(
            "SELECT * FROM cost_exemption WHERE municipality_code = $1 AND fiscal_year = $2 \
             ORDER BY decided_on, exemption_id",
            &[
                Value::text(tenant.as_string()),
                Value::int(i64::from(fiscal_year)),
            ],
            |r| from_row(r),
        )
        .await
    }
}
