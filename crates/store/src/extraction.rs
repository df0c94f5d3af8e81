//! Ad-hoc extraction (EUC, F12): the doses matching a clerk's conditions, each with its person's
//! plain fields. The row type has no My Number field: whatever columns an extraction asks for,
//! the sealed number is never read.

use sesshu_domain::MunicipalityCode;
use sqlx::{AssertSqlSafe, Row};

use crate::sql::Params;
use crate::{Store, StoreError};

/// Which doses by the engine's judgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutineFilter {
    #[default]
    Any,
    /// 定期接種 only.
    Routine,
    /// 要確認 only (recorded though a routine rule was broken).
    Flagged,
}

/// The conditions the database applies; the application adds age and district.
#[derive(Debug, Clone, Default)]
pub struct DoseFilter {
    pub products: Vec<String>,
    pub ordinal: Option<u32>,
    pub given_from: Option<String>,
    pub given_to: Option<String>,
    pub institution: Option<String>,
    pub routine: RoutineFilter,
    pub include_deferred: bool,
    pub include_elsewhere: bool,
    pub include_former_residents: bool,
}

/// One dose with its person, as an extraction may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedDose {
    pub address_number: String,
    pub family_name: String,
    pub given_name: String,
    pub family_kana: String,
    pub given_kana: String,
    pub birth_date: String,
    pub sex: i64,
    pub address: Option<String>,
    pub protected: bool,
    pub resident_status: i64,
    pub product: String,
    pub ordinal: i64,
    pub given_on: String,
    pub judgement: String,
    pub institution_code: Option<String>,
    pub institution_name: Option<String>,
    pub lot: Option<String>,
    pub routine: Option<bool>,
    pub given_elsewhere: bool,
    pub billing_month: Option<String>,
    pub age_at_dose: Option<String>,
}

impl Store {
    /// The doses matching `f`, by person and date.
    pub async fn extract_doses(
        &self,
        tenant: MunicipalityCode,
        f: &DoseFilter,
    ) -> Result<Vec<ExtractedDose>, StoreError> {
        let mut p = Params::new(self.backend());
        let mut sql = format!(
            "SELECT d.address_number, p.family_name, p.given_name, p.family_kana, p.given_kana, \
             p.birth_date, p.sex, p.address, p.protected, p.resident_status, d.product, d.ordinal, \
             d.given_on, d.judgement, d.institution_code, d.institution_name, d.lot, d.routine, \
             d.given_elsewhere, d.billing_month, d.age_at_dose \
             FROM dose d JOIN person p \
               ON p.municipality_code = d.municipality_code AND p.address_number = d.address_number \
             WHERE d.municipality_code = {} AND d.deleted = 0",
            p.next()
        );
        let mut binds: Vec<String> = vec![tenant.as_string()];
        if !f.products.is_empty() {
            sql.push_str(&format!(" AND d.product IN ({})", p.list(f.products.len())));
            binds.extend(f.products.iter().cloned());
        }
        let mut add = |sql: &mut String, clause: &str, value: &str| {
            sql.push_str(&clause.replace('?', &p.next()));
            binds.push(value.to_owned());
        };
        if let Some(from) = &f.given_from {
            add(&mut sql, " AND d.given_on >= ?", from);
        }
        if let Some(to) = &f.given_to {
            add(&mut sql, " AND d.given_on <= ?", to);
        }
        if let Some(i) = &f.institution {
            add(&mut sql, " AND d.institution_code = ?", i);
        }
        // Integers, written in place: a text bind would not compare with an integer column.
        if let Some(n) = f.ordinal {
            sql.push_str(&format!(" AND d.ordinal = {n}"));
        }
        match f.routine {
            RoutineFilter::Any => {}
            RoutineFilter::Routine => sql.push_str(" AND d.routine = 1"),
            RoutineFilter::Flagged => sql.push_str(" AND d.routine = 0"),
        }
        if !f.include_deferred {
            sql.push_str(" AND d.judgement = 'given'");
        }
        if !f.include_elsewhere {
            sql.push_str(" AND d.given_elsewhere = 0");
        }
        if !f.include_former_residents {
            // 1 住民 and 4 住登外 (ResidentStatus::code): not those moved out or dead.
            sql.push_str(" AND p.resident_status IN (1, 4)");
        }
        sql.push_str(" ORDER BY d.address_number, d.given_on, d.dose_id");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(ExtractedDose {
                    address_number: r.try_get("address_number")?,
                    family_name: r.try_get("family_name")?,
                    given_name: r.try_get("given_name")?,
                    family_kana: r.try_get("family_kana")?,
                    given_kana: r.try_get("given_kana")?,
                    birth_date: r.try_get("birth_date")?,
                    sex: r.try_get("sex")?,
                    address: r.try_get("address")?,
                    protected: r.try_get::<i64, _>("protected")? != 0,
                    resident_status: r.try_get("resident_status")?,
                    product: r.try_get("product")?,
                    ordinal: r.try_get("ordinal")?,
                    given_on: r.try_get("given_on")?,
                    judgement: r.try_get("judgement")?,
                    institution_code: r.try_get("institution_code")?,
                    institution_name: r.try_get("institution_name")?,
                    lot: r.try_get("lot")?,
                    routine: r.try_get::<Option<i64>, _>("routine")?.map(|v| v != 0),
                    given_elsewhere: r.try_get::<i64, _>("given_elsewhere")? != 0,
                    billing_month: r.try_get("billing_month")?,
                    age_at_dose: r.try_get("age_at_dose")?,
                })
            })
            .collect()
    }
}
