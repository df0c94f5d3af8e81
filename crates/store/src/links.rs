//! 記録の統合 (F1): two records of the register found to be one person. Linking moves the
//! secondary's doses to the primary (each by a new version, so the dose's own history says where
//! it came from and why); a dose the primary already holds is marked deleted instead. Undoing
//! the link reverses exactly what it did and nothing else: doses recorded on the primary since
//! stay there. The secondary stays in the register (its notices, tickets and certificates were
//! issued to it), but recall leaves it out while the link is in force.

use std::collections::BTreeSet;

use sesshu_domain::{AddressNumber, MunicipalityCode};

use crate::columns::Columns;
use crate::dose::{current_dose, write_new_version};
use crate::notices::take_numbers;
use crate::sql::Value;
use crate::{Store, StoreError, now_utc};

/// A link, in force or undone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PersonLink {
    pub link_id: i64,
    pub primary_address: String,
    pub secondary_address: String,
    pub reason: String,
    pub linked_by: String,
    pub linked_at: String,
    pub unlinked_by: Option<String>,
    pub unlinked_at: Option<String>,
    pub unlink_reason: Option<String>,
    /// Doses the link moved to the primary.
    pub doses_moved: i64,
    /// Doses of the secondary the primary already held, marked deleted by the link.
    pub doses_duplicate: i64,
}

impl PersonLink {
    pub fn in_force(&self) -> bool {
        self.unlinked_at.is_none()
    }

    /// The other record of the link, seen from `address`.
    pub fn other_than(&self, address: &str) -> &str {
        if self.primary_address == address {
            &self.secondary_address
        } else {
            &self.primary_address
        }
    }
}

const MOVED: &str = "moved";
const DUPLICATE: &str = "duplicate";

const SELECT_LINK: &str = "SELECT l.*, \
     (SELECT COUNT(*) FROM person_link_dose d WHERE d.municipality_code = l.municipality_code \
      AND d.link_id = l.link_id AND d.outcome = 'moved') AS doses_moved, \
     (SELECT COUNT(*) FROM person_link_dose d WHERE d.municipality_code = l.municipality_code \
      AND d.link_id = l.link_id AND d.outcome = 'duplicate') AS doses_duplicate \
     FROM person_link l";

fn from_row(r: &impl Columns) -> Result<PersonLink, StoreError> {
    Ok(PersonLink {
        link_id: r.try_get("link_id")?,
        primary_address: r.try_get("primary_address")?,
        secondary_address: r.try_get("secondary_address")?,
        reason: r.try_get("reason")?,
        linked_by: r.try_get("linked_by")?,
        linked_at: r.try_get("linked_at")?,
        unlinked_by: r.try_get("unlinked_by")?,
        unlinked_at: r.try_get("unlinked_at")?,
        unlink_reason: r.try_get("unlink_reason")?,
        doses_moved: r.try_get("doses_moved")?,
        doses_duplicate: r.try_get("doses_duplicate")?,
    })
}

impl Store {
    /// Links `secondary` to `primary`. Refused when the two are the same record, either is
    /// missing, the pair is already linked, or either record is already the secondary of a link
    /// (a chain would hide where a dose went), or the secondary has records linked to it.
    pub async fn link_persons(
        &self,
        tenant: MunicipalityCode,
        primary: &AddressNumber,
        secondary: &AddressNumber,
        reason: &str,
        by: &str,
    ) -> Result<PersonLink, StoreError> {
        if primary == secondary {
            return Err(StoreError::Invalid("同じ記録どうしは統合できません".into()));
        }
        for a in [primary, secondary] {
            if self.person(tenant, a).await?.is_none() {
                return Err(StoreError::NotFound(format!("宛名番号 {a} の人")));
            }
        }
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let in_force = sqlx::query(
            "SELECT primary_address, secondary_address FROM person_link \
             WHERE municipality_code = $1 AND unlinked_at IS NULL \
             AND (primary_address IN ($2, $3) OR secondary_address IN ($2, $3))",
        )
        .bind(&code)
        .bind(primary.as_str())
        .bind(secondary.as_str())
        .fetch_all(&mut *db)
        .await?;
        for r in &in_force {
            let p: String = r.try_get("primary_address")?;
            let s: String = r.try_get("secondary_address")?;
            let why = if (p == primary.as_str() && s == secondary.as_str())
                || (p == secondary.as_str() && s == primary.as_str())
            {
                "この二つの記録は既に統合されています".to_owned()
            } else if s == primary.as_str() || s == secondary.as_str() {
                format!("宛名番号 {s} は既に {p} に統合されています")
            } else if p == secondary.as_str() {
                format!(
                    "宛名番号 {secondary} には他の記録が統合されています: 先にその統合を解除してください"
                )
            } else {
                continue;
            };
            return Err(StoreError::Invalid(why));
        }
        let id = take_numbers(&mut db, tenant, "person_link", 1).await?;
        let link_id = i64::try_from(id).map_err(|_| StoreError::Corrupt("person_link".into()))?;
        sqlx::query(
            "INSERT INTO person_link (municipality_code, link_id, primary_address, \
             secondary_address, reason, linked_by, linked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code)
        .bind(link_id)
        .bind(primary.as_str())
        .bind(secondary.as_str())
        .bind(reason.trim())
        .bind(by)
        .bind(now_utc())
        .execute(&mut *db)
        .await?;
        let held = doses_in(&mut db, &code, primary.as_str()).await?;
        let moving = doses_in(&mut db, &code, secondary.as_str()).await?;
        let why =
            format!("記録の統合 (統合番号 {link_id}): 宛名番号 {secondary} から {primary} へ");
        for (dose_id, key) in moving {
            let old = current_dose(&mut db, &code, dose_id).await?;
            let (outcome, new) = if held.iter().any(|(_, k)| *k == key) {
                let why = format!("{why}: 統合先に同じ接種記録があります");
                let new = write_new_version(&mut db, self.backend(), &code, old, by, &why, |d| {
                    d.deleted = true
                })
                .await?;
                (DUPLICATE, new)
            } else {
                let new = write_new_version(&mut db, self.backend(), &code, old, by, &why, |d| {
                    d.address_number = primary.as_str().to_owned()
                })
                .await?;
                (MOVED, new)
            };
            sqlx::query(
                "INSERT INTO person_link_dose (municipality_code, link_id, dose_id, outcome, \
                 version_after) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&code)
            .bind(link_id)
            .bind(dose_id)
            .bind(outcome)
            .bind(new.version)
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        self.person_link(tenant, link_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("person_link".into()))
    }

    /// Undoes a link in force: the doses it moved go back to the secondary (those still on the
    /// primary and not deleted since), and those it marked deleted as duplicates are restored
    /// (unless changed since). Doses recorded on the primary after the link stay there.
    pub async fn unlink_persons(
        &self,
        tenant: MunicipalityCode,
        link_id: i64,
        reason: &str,
        by: &str,
    ) -> Result<PersonLink, StoreError> {
        let link = self
            .person_link(tenant, link_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("統合 {link_id}")))?;
        if !link.in_force() {
            return Err(StoreError::Invalid(format!(
                "統合 {link_id} は既に解除されています"
            )));
        }
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE person_link SET unlinked_by = $1, unlinked_at = $2, unlink_reason = $3 \
             WHERE municipality_code = $4 AND link_id = $5 AND unlinked_at IS NULL",
        )
        .bind(by)
        .bind(now_utc())
        .bind(reason.trim())
        .bind(&code)
        .bind(link_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Invalid(format!(
                "統合 {link_id} は既に解除されています"
            )));
        }
        let done = sqlx::query(
            "SELECT dose_id, outcome, version_after FROM person_link_dose \
             WHERE municipality_code = $1 AND link_id = $2 ORDER BY dose_id",
        )
        .bind(&code)
        .bind(link_id)
        .fetch_all(&mut *db)
        .await?;
        let why = format!(
            "記録の統合の解除 (統合番号 {link_id}): 宛名番号 {} へ戻す",
            link.secondary_address
        );
        for r in &done {
            let dose_id: i64 = r.try_get("dose_id")?;
            let outcome: String = r.try_get("outcome")?;
            let version_after: i64 = r.try_get("version_after")?;
            let current = current_dose(&mut db, &code, dose_id).await?;
            if outcome == MOVED
                && !current.deleted
                && current.address_number == link.primary_address
            {
                let back = link.secondary_address.clone();
                write_new_version(&mut db, self.backend(), &code, current, by, &why, |d| {
                    d.address_number = back
                })
                .await?;
            } else if outcome == DUPLICATE && current.deleted && current.version == version_after {
                write_new_version(&mut db, self.backend(), &code, current, by, &why, |d| {
                    d.deleted = false
                })
                .await?;
            }
        }
        db.commit().await?;
        self.person_link(tenant, link_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("person_link".into()))
    }

    pub async fn person_link(
        &self,
        tenant: MunicipalityCode,
        link_id: i64,
    ) -> Result<Option<PersonLink>, StoreError> {
        self.fetch_optional(
            &format!("{SELECT_LINK} WHERE l.municipality_code = $1 AND l.link_id = $2"),
            &[Value::text(tenant.as_string()), Value::Int(Some(link_id))],
            |r| from_row(r),
        )
        .await
    }

    /// Every link either side of which is `address`, undone ones too, newest first.
    pub async fn links_of_person(
        &self,
        tenant: MunicipalityCode,
        address: &AddressNumber,
    ) -> Result<Vec<PersonLink>, StoreError> {
        self.fetch_all(
            &format!(
                "{SELECT_LINK} WHERE l.municipality_code = $1 \
                 AND (l.primary_address = $2 OR l.secondary_address = $2) ORDER BY l.link_id DESC"
            ),
            &[
                Value::text(tenant.as_string()),
                Value::text(address.as_str()),
            ],
            |r| from_row(r),
        )
        .await
    }

    /// Every link of the municipality, newest first (the auditor's list).
    pub async fn person_links(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<PersonLink>, StoreError> {
        self.fetch_all(
            &format!("{SELECT_LINK} WHERE l.municipality_code = $1 ORDER BY l.link_id DESC"),
            &[Value::text(tenant.as_string())],
            |r| from_row(r),
        )
        .await
    }

    /// Records linked into another while the link is in force: recall leaves them out.
    pub async fn linked_secondaries(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<BTreeSet<String>, StoreError> {
        sqlx::query(
            "SELECT secondary_address FROM person_link WHERE municipality_code = $1 \
             AND unlinked_at IS NULL",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("secondary_address"))
        .collect()
    }
}

/// The live doses of a record with their natural key (the duplicate rule of `dose_natural`).
async fn doses_in(
    db: &mut sqlx::Transaction<'static, sqlx::Any>,
    code: &str,
    address: &str,
) -> Result<Vec<(i64, (String, i64, String, String))>, StoreError> {
    sqlx::query(
        "SELECT dose_id, product, ordinal, given_on, judgement FROM dose \
         WHERE municipality_code = $1 AND address_number = $2 AND deleted = 0 ORDER BY dose_id",
    )
    .bind(code)
    .bind(address)
    .fetch_all(&mut **db)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("dose_id")?,
            (
                r.try_get("product")?,
                r.try_get("ordinal")?,
                r.try_get("given_on")?,
                r.try_get("judgement")?,
            ),
        ))
    })
    .collect()
}
