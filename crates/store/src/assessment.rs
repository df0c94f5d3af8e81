//! What the privacy assessment (特定個人情報保護評価書) states and the register itself knows
//! (issue 19, F14): persons in the file, accounts that can use it, the items it records, and
//! the refusals and failures in its audit log. Counts only, never a person.

use sesshu_domain::{CivilDate, MunicipalityCode};
use sqlx::Row;

use crate::{Backend, Store, StoreError};

/// The live counts behind the assessment's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessmentCounts {
    /// Everyone the file holds: residents, the moved-out and the dead still kept, 住登外.
    pub persons: i64,
    pub with_my_number: i64,
    /// Accounts of the municipality that can sign in on `today` (not disabled, not expired).
    pub users: i64,
    /// (table, column) of the person and dose records, from the database's own catalogue.
    pub columns: Vec<(String, String)>,
    /// Audit entries of the municipality since `since`: refused, failed.
    pub refused: i64,
    pub failed: i64,
}

impl Store {
    pub async fn assessment_counts(
        &self,
        tenant: MunicipalityCode,
        today: CivilDate,
        since: CivilDate,
    ) -> Result<AssessmentCounts, StoreError> {
        let code = tenant.as_string();
        let one = |sql: &'static str| sqlx::query(sql).bind(code.clone());
        let r = one(
            "SELECT COUNT(*) AS n, COUNT(my_number_index) AS m FROM person WHERE municipality_code = $1",
        )
        .fetch_one(self.pool())
        .await?;
        let (persons, with_my_number): (i64, i64) = (r.try_get("n")?, r.try_get("m")?);
        let users: i64 = one(
            "SELECT COUNT(*) AS n FROM account WHERE municipality_code = $1 AND disabled = 0 \
             AND (valid_until IS NULL OR valid_until >= $2)",
        )
        .bind(today.to_string())
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        let r = one(
            "SELECT SUM(CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END) AS refused, \
             SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed \
             FROM audit_log WHERE municipality_code = $1 AND at >= $2",
        )
        .bind(since.to_string())
        .fetch_one(self.pool())
        .await?;
        let refused: Option<i64> = r.try_get("refused")?;
        let failed: Option<i64> = r.try_get("failed")?;
        let catalogue = match self.backend() {
            Backend::Sqlite => {
                "SELECT 'person' AS t, name AS c FROM pragma_table_info('person') \
                 UNION ALL SELECT 'dose', name FROM pragma_table_info('dose')"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name IN ('person', 'dose') \
                 ORDER BY table_name DESC, ordinal_position"
            }
        };
        let columns = sqlx::query(catalogue)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("c")?)))
            .collect::<Result<Vec<(String, String)>, StoreError>>()?;
        Ok(AssessmentCounts {
            persons,
            with_my_number,
            users,
            columns,
            refused: refused.unwrap_or(0),
            failed: failed.unwrap_or(0),
        })
    }
}
