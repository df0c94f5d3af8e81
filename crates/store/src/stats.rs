//! Aggregate statistics: counts per municipality, never a person. The disclosure rule keeps a
//! count from singling anyone out, alone or subtracted from another:
//! - periods are whole calendar months (from a 1st to a month's last day), so that two queries
//!   cannot differ by a day or a week;
//! - a count below [`SMALL_CELL`] is not shown (`null`, 秘匿);
//! - every other count is rounded to the nearest multiple of [`ROUND_TO`], so that the difference
//!   of two published counts (a year less its other months, one product less another) is never
//!   the exact count of a suppressed cell.

use chrono::Datelike;
use sesshu_domain::CivilDate;
use sqlx::Row;

use crate::{Store, StoreError};

/// Counts below this are reported as `null` (秘匿).
pub const SMALL_CELL: i64 = 5;
/// Every count shown is a multiple of this.
pub const ROUND_TO: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MunicipalityStats {
    pub municipality_code: String,
    pub residents: Option<i64>,
    /// Doses given in the period, by product (suppressed cells left out as `null`).
    pub doses: std::collections::BTreeMap<String, Option<i64>>,
    /// Of those, not routine by the rules of their date.
    pub flagged: Option<i64>,
}

/// A count as published: suppressed when small, else rounded to the nearest multiple.
pub fn cell(n: i64) -> Option<i64> {
    (n >= SMALL_CELL).then_some((n + ROUND_TO / 2) / ROUND_TO * ROUND_TO)
}

/// Whether `from`..=`to` is whole calendar months.
fn whole_months(from: CivilDate, to: CivilDate) -> bool {
    from <= to && from.day() == 1 && to.succ_opt().is_some_and(|next| next.day() == 1)
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
        if !whole_months(from, to) {
            return Err(StoreError::Invalid(format!(
                "集計期間は月単位で指定してください (開始は月の初日、終了は月の末日): {from} 〜 {to}"
            )));
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

/// One cell of the annual table before any disclosure rule: routine doses given, by
/// municipality, product, 期/回 as the engine judged it, and sex (1 男, 2 女).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageCount {
    pub municipality_code: String,
    pub product: String,
    pub stage: String,
    pub sex: i64,
    pub count: i64,
}

impl Store {
    /// Routine doses given from `from` to `to` (inclusive) in the municipalities whose code
    /// starts with `prefix`, counted by product, stage and sex: the 地域保健・健康増進事業報告's
    /// 定期の予防接種 table. Exact counts; the caller applies the disclosure rule it owes.
    pub async fn routine_stage_counts(
        &self,
        prefix: &str,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<StageCount>, StoreError> {
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Invalid("集計の範囲が不正です".into()));
        }
        let upper = crate::sql::prefix_upper_bound(prefix).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT d.municipality_code, d.product, COALESCE(d.stage, '') AS stage, p.sex,              COUNT(*) AS n FROM dose d JOIN person p                ON p.municipality_code = d.municipality_code AND p.address_number = d.address_number              WHERE d.municipality_code >= $1 AND d.municipality_code < $2 AND d.deleted = 0              AND d.routine = 1 AND d.judgement = 'given' AND d.given_elsewhere = 0              AND d.given_on >= $3 AND d.given_on <= $4              GROUP BY d.municipality_code, d.product, COALESCE(d.stage, ''), p.sex",
        )
        .bind(prefix)
        .bind(upper)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StageCount {
                    municipality_code: r.try_get("municipality_code")?,
                    product: r.try_get("product")?,
                    stage: r.try_get("stage")?,
                    sex: r.try_get("sex")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }
}

/// One birth cohort (a month of births): its residents, and how many of them have the dose.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CohortCount {
    /// `YYYY-MM`.
    pub cohort: String,
    pub persons: i64,
    pub vaccinated: i64,
}

impl Store {
    /// For residents born from `born_from` to `born_to`, by month of birth: how many there are,
    /// and how many have a dose given (here or before moving in) of one of `products` with the
    /// form ordinal `ordinal`. The numerator and denominator of coverage (接種率).
    pub async fn cohort_coverage(
        &self,
        tenant: sesshu_domain::MunicipalityCode,
        products: &[String],
        ordinal: u32,
        born_from: CivilDate,
        born_to: CivilDate,
    ) -> Result<Vec<CohortCount>, StoreError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        // Placeholders in the order they appear in the text (SQLite's `?` binds by position).
        let mut p = crate::sql::Params::new(self.backend());
        let list = p.list(products.len());
        let (code, from, to) = (p.next(), p.next(), p.next());
        // The ordinal is an integer written in place: a text bind would not compare with it.
        let sql = format!(
            "SELECT substr(p.birth_date, 1, 7) AS cohort, COUNT(*) AS persons,              SUM(CASE WHEN EXISTS (SELECT 1 FROM dose d WHERE d.municipality_code = p.municipality_code                AND d.address_number = p.address_number AND d.deleted = 0 AND d.judgement = 'given'                AND d.ordinal = {ordinal} AND d.product IN ({list})) THEN 1 ELSE 0 END) AS vaccinated              FROM person p WHERE p.municipality_code = {code} AND p.resident_status = 1              AND p.birth_date >= {from} AND p.birth_date <= {to}              GROUP BY substr(p.birth_date, 1, 7) ORDER BY cohort"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for product in products {
            q = q.bind(product.as_str());
        }
        let q = q
            .bind(tenant.as_string())
            .bind(born_from.to_string())
            .bind(born_to.to_string());
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(CohortCount {
                    cohort: r.try_get("cohort")?,
                    persons: r.try_get("persons")?,
                    vaccinated: r.try_get("vaccinated")?,
                })
            })
            .collect()
    }
}

/// What a breakdown of doses groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// `YYYY-MM` of the dose.
    Month,
    /// 1 男, 2 女.
    Sex,
    /// Whole years of age on the day of the dose (the caller bands them).
    Age,
    /// The person's address as registered (the caller reads the 町丁目 from it); a protected
    /// person's address is not read: their doses fall under an empty key.
    Address,
}

impl Store {
    /// Doses given from `from` to `to` of one of `products` with a form ordinal within
    /// `ordinals` (inclusive; none: any), not deleted and not deferrals, counted by `by`.
    pub async fn dose_breakdown(
        &self,
        tenant: sesshu_domain::MunicipalityCode,
        products: &[String],
        ordinals: Option<[u32; 2]>,
        from: CivilDate,
        to: CivilDate,
        by: Dimension,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        // Age in whole years: the year's difference, less one before the birthday.
        let key = match by {
            Dimension::Month => "substr(d.given_on, 1, 7)",
            Dimension::Sex => "CAST(p.sex AS TEXT)",
            Dimension::Age => {
                "CAST(CAST(substr(d.given_on, 1, 4) AS INTEGER) - CAST(substr(p.birth_date, 1, 4) AS INTEGER) \
                 - CASE WHEN substr(d.given_on, 6, 5) < substr(p.birth_date, 6, 5) THEN 1 ELSE 0 END AS TEXT)"
            }
            Dimension::Address => {
                "CASE WHEN p.protected = 0 THEN COALESCE(p.address, '') ELSE '' END"
            }
        };
        let mut p = crate::sql::Params::new(self.backend());
        let (code, start, end) = (p.next(), p.next(), p.next());
        let list = p.list(products.len());
        let ordinal = ordinals.map_or_else(String::new, |[a, b]| {
            format!(" AND d.ordinal >= {a} AND d.ordinal <= {b}")
        });
        let sql = format!(
            "SELECT {key} AS k, COUNT(*) AS n FROM dose d JOIN person p \
               ON p.municipality_code = d.municipality_code AND p.address_number = d.address_number \
             WHERE d.municipality_code = {code} AND d.deleted = 0 AND d.judgement = 'given' \
             AND d.given_on >= {start} AND d.given_on <= {end} AND d.product IN ({list}){ordinal} \
             GROUP BY {key} ORDER BY k"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_string())
            .bind(from.to_string())
            .bind(to.to_string());
        for product in products {
            q = q.bind(product.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("k")?, r.try_get::<i64, _>("n")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_hidden_and_the_rest_rounded_to_fives() {
        let shown: Vec<Option<i64>> = [0, 4, 5, 7, 8, 12, 13, 1000].map(cell).into();
        assert_eq!(
            shown,
            [
                None,
                None,
                Some(5),
                Some(5),
                Some(10),
                Some(10),
                Some(15),
                Some(1000)
            ]
        );
    }

    #[test]
    fn periods_are_whole_months() {
        let d = |s: &str| sesshu_domain::parse_date(s).unwrap();
        assert!(whole_months(d("2026-04-01"), d("2027-03-31")));
        assert!(whole_months(d("2028-02-01"), d("2028-02-29")));
        assert!(!whole_months(d("2026-04-02"), d("2026-04-30")));
        assert!(!whole_months(d("2026-04-01"), d("2026-04-29")));
        assert!(!whole_months(d("2026-05-01"), d("2026-04-30")));
    }
}
