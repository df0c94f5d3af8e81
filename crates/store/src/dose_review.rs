//! Flagged doses (要確認) as work: the current doses recorded though a routine rule was broken,
//! with their person, their import, and what staff last did about each (`dose_review`,
//! append-only).

use sesshu_domain::MunicipalityCode;
use sesshu_domain::dose::ReviewAction;
use sqlx::Row;

use crate::dose::dose_from_row;
use crate::{DoseRow, Store, StoreError, now_utc};

/// Which flagged doses: still to be looked at, already dealt with, or all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReviewState {
    #[default]
    Open,
    Done,
    All,
}

/// What staff last did about a flagged dose.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseReview {
    pub action: String,
    pub note: Option<String>,
    pub decided_at: String,
    pub decided_by: String,
}

/// A flagged dose with what the worklist shows beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlaggedDose {
    pub row: DoseRow,
    /// 氏名 as registered (empty if the person has since left the register's current rows).
    pub person_name: String,
    pub import_file: Option<String>,
    pub review: Option<DoseReview>,
}

const FLAGGED: &str = "SELECT d.*, p.family_name, p.given_name, ir.file_name AS import_file, \
     r.action AS review_action, r.note AS review_note, r.decided_at AS review_at, \
     r.decided_by AS review_by \
     FROM dose d \
     LEFT JOIN person p ON p.municipality_code = d.municipality_code \
       AND p.address_number = d.address_number \
     LEFT JOIN import_run ir ON ir.municipality_code = d.municipality_code \
       AND ir.import_id = d.import_id \
     LEFT JOIN dose_review r ON r.municipality_code = d.municipality_code \
       AND r.dose_id = d.dose_id \
       AND r.seq = (SELECT MAX(r2.seq) FROM dose_review r2 \
         WHERE r2.municipality_code = d.municipality_code AND r2.dose_id = d.dose_id) \
     WHERE d.municipality_code = $1 AND d.routine = 0 AND d.deleted = 0";

impl Store {
    /// The municipality's flagged doses in `state`, the latest given first.
    pub async fn flagged_doses(
        &self,
        tenant: MunicipalityCode,
        state: ReviewState,
    ) -> Result<Vec<FlaggedDose>, StoreError> {
        let filter = match state {
            ReviewState::Open => " AND r.action IS NULL",
            ReviewState::Done => " AND r.action IS NOT NULL",
            ReviewState::All => "",
        };
        let sql = format!("{FLAGGED}{filter} ORDER BY d.given_on DESC, d.dose_id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let family: Option<String> = r.try_get("family_name")?;
                let given: Option<String> = r.try_get("given_name")?;
                let action: Option<String> = r.try_get("review_action")?;
                Ok(FlaggedDose {
                    row: dose_from_row(r)?,
                    person_name: [family, given]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("\u{3000}"),
                    import_file: r.try_get("import_file")?,
                    review: match action {
                        Some(action) => Some(DoseReview {
                            action,
                            note: r.try_get("review_note")?,
                            decided_at: r.try_get("review_at")?,
                            decided_by: r.try_get("review_by")?,
                        }),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// Records what was done about a flagged dose of this municipality; refused for a dose that
    /// is not there (or not flagged), which is the same to the caller.
    pub async fn review_dose(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
        action: ReviewAction,
        note: Option<&str>,
        by: &str,
    ) -> Result<DoseRow, StoreError> {
        let mut db = self.begin_write().await?;
        let current = sqlx::query(
            "SELECT * FROM dose WHERE municipality_code = $1 AND dose_id = $2 \
             AND routine = 0 AND deleted = 0",
        )
        .bind(tenant.as_string())
        .bind(dose_id)
        .fetch_optional(&mut *db)
        .await?;
        let Some(current) = current else {
            return Err(StoreError::NotFound(format!("要確認の接種記録 {dose_id}")));
        };
        let row = dose_from_row(&current)?;
        let seq: i64 = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM dose_review \
             WHERE municipality_code = $1 AND dose_id = $2",
        )
        .bind(tenant.as_string())
        .bind(dose_id)
        .fetch_one(&mut *db)
        .await?
        .try_get("next")?;
        sqlx::query(
            "INSERT INTO dose_review (municipality_code, dose_id, seq, action, note, decided_at, \
             decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_string())
        .bind(dose_id)
        .bind(seq)
        .bind(action.code())
        .bind(note.map(str::trim).filter(|n| !n.is_empty()))
        .bind(now_utc())
        .bind(by)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(row)
    }
}
