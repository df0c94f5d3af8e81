//! Aggregate statistics: counts per municipality, never a person. Small cells are suppressed, so
//! that a count cannot single anyone out.

use sesshu_domain::CivilDate;
use sqlx::Row;

use crate::{Store, StoreError};

/// Counts below this are reported as `null` (秘匿).
pub const SMALL_CELL: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MunicipalityStats {
    pub municipality_code: String,
    pub residents: Option<i64>,
    /// Doses given in the period, by product (suppressed cells left out as `null`).
    pub doses: std::collections::BTreeMap<String, Option<i64>>,
    /// Of those, not routine by the rules of their date.
    pub flagged: Option<i64>,
}

fn cell(n: i64) -> Option<i64> {
    (n >= SMALL_CELL).then_some(n)
}

impl Store {
    /// Counts for every municipality whose code starts with `prefix` (a municipality's own code,
    /// or a prefecture's two digits), doses given from `from` to `to` inclusive.
    pub async fn statistics(
        &self,
        prefix: &str,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<MunicipalityStats>, StoreError> {
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Invalid("集計の範囲が不正です".into()));
        }
        let pattern = format!("{prefix}%");
        let mut out: std::collections::BTreeMap<String, MunicipalityStats> = Default::default();
        let municipalities = sqlx::query(
            "SELECT municipality_code FROM municipality WHERE municipality_code LIKE $1 ORDER BY municipality_code",
        )
        .bind(&pattern)
        .fetch_all(self.pool())
        .await?;
        for r in municipalities {
            let code: String = r.try_get("municipality_code")?;
            out.insert(
                code.clone(),
                MunicipalityStats {
                    municipality_code: code,
                    residents: None,
                    doses: Default::default(),
                    flagged: None,
                },
            );
        }
        let residents = sqlx::query(
            "SELECT municipality_code, COUNT(*) AS n FROM person WHERE municipality_code LIKE $1 \
             AND resident_status = 1 GROUP BY municipality_code",
        )
        .bind(&pattern)
        .fetch_all(self.pool())
        .await?;
        for r in residents {
            if let Some(m) = out.get_mut(&r.try_get::<String, _>("municipality_code")?) {
                m.residents = cell(r.try_get("n")?);
            }
        }
        let doses = sqlx::query(
            "SELECT municipality_code, product, COUNT(*) AS n, \
             SUM(CASE WHEN routine = 0 THEN 1 ELSE 0 END) AS flagged FROM dose \
             WHERE municipality_code LIKE $1 AND deleted = 0 AND judgement = 'given' \
             AND given_on >= $2 AND given_on <= $3 GROUP BY municipality_code, product",
        )
        .bind(&pattern)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut flagged: std::collections::BTreeMap<String, i64> = Default::default();
        for r in doses {
            let code: String = r.try_get("municipality_code")?;
            let f: i64 = r.try_get("flagged")?;
            *flagged.entry(code.clone()).or_default() += f;
            if let Some(m) = out.get_mut(&code) {
                m.doses.insert(r.try_get("product")?, cell(r.try_get("n")?));
            }
        }
        for (code, f) in flagged {
            if let Some(m) = out.get_mut(&code) {
                m.flagged = cell(f);
            }
        }
        Ok(out.into_values().collect())
    }
}
