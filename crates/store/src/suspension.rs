//! 利用停止: a resident has asked the city to stop using their data (個人情報の利用停止請求).
//!
//! The register still records their doses (the Immunization Act requires it); what stops is the
//! use of their data for recall: a person with a suspension in force is left out of every
//! extraction and refused by the second check before printing. A request is never deleted: lifting
//! it records who lifted it, when and why, so the auditor sees the whole story.

use std::collections::BTreeSet;

use crate::columns::Columns;
use crate::sql::Value;
use sesshu_domain::{AddressNumber, CivilDate, MunicipalityCode};

use crate::notices::take_numbers;
use crate::{Store, StoreError, now_utc};

/// One request, in force or lifted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UseSuspension {
    pub suspension_id: i64,
    pub address_number: String,
    /// The day the resident made the request.
    pub requested_on: String,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: String,
    pub lifted: Option<Lifted>,
}

/// Why and by whom a suspension ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lifted {
    pub by: String,
    pub at: String,
    pub reason: String,
}

impl UseSuspension {
    pub fn in_force(&self) -> bool {
        self.lifted.is_none()
    }
}

fn from_row(r: &impl Columns) -> Result<UseSuspension, StoreError> {
    let lifted_at: Option<String> = r.try_get("lifted_at")?;
    Ok(UseSuspension {
        suspension_id: r.try_get("suspension_id")?,
        address_number: r.try_get("address_number")?,
        requested_on: r.try_get("requested_on")?,
        reason: r.try_get("reason")?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
        lifted: match lifted_at {
            Some(at) => Some(Lifted {
                by: r
                    .try_get::<Option<String>>("lifted_by")?
                    .unwrap_or_default(),
                at,
                reason: r
                    .try_get::<Option<String>>("lift_reason")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
    })
}

fn required(text: &str, what: &str) -> Result<String, StoreError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(StoreError::Invalid(format!("{what}を入力してください")));
    }
    Ok(t.to_owned())
}

impl Store {
    /// Records a request in force from now. Refused for a person not in the register or one
    /// whose earlier request is still in force.
    pub async fn suspend_use(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
        requested_on: CivilDate,
        reason: &str,
        by: &str,
    ) -> Result<UseSuspension, StoreError> {
        let reason = required(reason, "理由")?;
        if self.person(tenant, address).await?.is_none() {
            return Err(StoreError::NotFound(format!("宛名番号 {address} の人")));
        }
        let mut db = self.begin_write().await?;
        let held = sqlx::query(
            "SELECT 1 FROM use_suspension WHERE municipality_code = $1 AND address_number = $2 \
             AND lifted_at IS NULL",
        )
        .bind(tenant.as_string())
        .bind(address.as_str())
        .fetch_optional(&mut *db)
        .await?;
        if held.is_some() {
            return Err(StoreError::Invalid(format!(
                "宛名番号 {address} は既に利用停止中です"
            )));
        }
        let id = take_numbers(&mut db, tenant, "use_suspension", 1).await?;
        let id = i64::try_from(id).map_err(|_| StoreError::Corrupt("use_suspension".into()))?;
        sqlx::query(
            "INSERT INTO use_suspension (municipality_code, suspension_id, address_number, \
             requested_on, reason, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_string())
        .bind(id)
        .bind(address.as_str())
        .bind(requested_on.to_string())
        .bind(&reason)
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        self.suspension_in_force(tenant, address.as_str())
            .await?
            .ok_or_else(|| StoreError::Corrupt("use_suspension".into()))
    }

    /// Ends the request in force (the resident withdrew it, or it was found unfounded).
    pub async fn lift_suspension(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
        reason: &str,
        by: &str,
    ) -> Result<UseSuspension, StoreError> {
        let reason = required(reason, "解除の理由")?;
        let Some(current) = self.suspension_in_force(tenant, address.as_str()).await? else {
            return Err(StoreError::Invalid(format!(
                "宛名番号 {address} に有効な利用停止はありません"
            )));
        };
        let changed = sqlx::query(
            "UPDATE use_suspension SET lifted_by = $1, lifted_at = $2, lift_reason = $3 \
             WHERE municipality_code = $4 AND suspension_id = $5 AND lifted_at IS NULL",
        )
        .bind(by)
        .bind(now_utc())
        .bind(&reason)
        .bind(tenant.as_string())
        .bind(current.suspension_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid("利用停止は既に解除されています".into()));
        }
        self.suspensions_of_person(tenant, address.as_str())
            .await?
            .into_iter()
            .find(|s| s.suspension_id == current.suspension_id)
            .ok_or_else(|| StoreError::Corrupt("use_suspension".into()))
    }

    pub async fn suspension_in_force(
        &self,
        tenant: MunicipalityCode,
        address: &str,
    ) -> Result<Option<UseSuspension>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM use_suspension WHERE municipality_code = $1 AND address_number = $2 \
             AND lifted_at IS NULL",
            &[Value::text(tenant.as_string()), Value::text(address)],
            |r| from_row(r),
        )
        .await
    }

    /// Every request of a person, newest first.
    pub async fn suspensions_of_person(
        &self,
        tenant: MunicipalityCode,
        address: &str,
    ) -> Result<Vec<UseSuspension>, StoreError> {
        sqlx::query(
            "SELECT * FROM use_suspension WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY suspension_id DESC",
        )
        .bind(tenant.as_string())
        .bind(address)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Address numbers with a request in force: few in any town, so recall holds them all.
    pub async fn suspended_addresses(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<BTreeSet<String>, StoreError> {
        sqlx::query(
            "SELECT address_number FROM use_suspension WHERE municipality_code = $1 \
             AND lifted_at IS NULL",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("address_number"))
        .collect()
    }
}
