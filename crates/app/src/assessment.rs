//! 評価の裏付け (F14): the figures a privacy assessment states — persons in the file, users,
//! record items, refusals and failures — read from the live register, each placed in the
//! assessment's own bands, and a warning wherever a band differs from the one the assessment
//! declared: that is when a re-assessment is due. Counts only, never a person (audit.read).

use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, MunicipalityCode};
use sesshu_store::Outcome;

use crate::{Actor, App, AppError};

/// A band: counts below `.0` (the last band has no upper end), and the assessment's wording.
pub type Band = (i64, &'static str);

/// 対象人数 (基礎項目評価書 I-2 ③).
pub const PERSONS: [Band; 5] = [
    (1_000, "1,000人未満"),
    (10_000, "1,000人以上1万人未満"),
    (100_000, "1万人以上10万人未満"),
    (300_000, "10万人以上30万人未満"),
    (i64::MAX, "30万人以上"),
];
/// 使用者数 (and 取扱者数).
pub const USERS: [Band; 6] = [
    (10, "10人未満"),
    (50, "10人以上50人未満"),
    (100, "50人以上100人未満"),
    (500, "100人以上500人未満"),
    (1_000, "500人以上1,000人未満"),
    (i64::MAX, "1,000人以上"),
];
/// 主な記録項目の数.
pub const ITEMS: [Band; 4] = [
    (10, "10項目未満"),
    (50, "10項目以上50項目未満"),
    (100, "50項目以上100項目未満"),
    (i64::MAX, "100項目以上"),
];

/// The band `n` falls in.
pub fn band(bands: &[Band], n: i64) -> &'static str {
    bands
        .iter()
        .find(|(below, _)| n < *below)
        .or(bands.last())
        .map_or("", |(_, label)| label)
}

/// Columns that keep the records, not record items: keys, versions, derived search keys (the
/// My Number's index is the 個人番号 item itself) and who-and-when, which the audit log holds.
const NOT_ITEMS: &[&str] = &[
    "municipality_code",
    "my_number_key_version",
    "my_number_index",
    "kana_key",
    "name_key",
    "content_hash",
    "version",
    "updated_at",
    "import_id",
    "source_line",
    "recorded_at",
    "recorded_by",
    "change_reason",
    "deleted",
    "dose_id",
    "evaluation",
];

/// The bands the municipality's published assessment declares (the wording of its choices).
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub persons: Option<String>,
    pub users: Option<String>,
    pub items: Option<String>,
}

/// One figure of the assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub item: &'static str,
    pub value: i64,
    pub band: &'static str,
    pub declared: Option<String>,
    /// The live band differs from the declared one: a re-assessment is due.
    pub crossed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssessmentFacts {
    pub municipality: String,
    pub as_of: CivilDate,
    pub facts: Vec<Fact>,
    pub with_my_number: i64,
    /// The record items counted, as `table.column`.
    pub record_items: Vec<String>,
    /// Refused and failed operations in the audit log since `since` (a year).
    pub since: CivilDate,
    pub refused: i64,
    pub failed: i64,
    pub warnings: Vec<String>,
}

impl App {
    /// The assessment's figures from the live register (audit.read).
    pub async fn assessment_facts(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        declared: &Declared,
    ) -> Result<AssessmentFacts, AppError> {
        self.authorize(actor, tenant, Permission::AuditRead, "assessment.facts")
            .await?;
        let mut errors = Vec::new();
        for (field, value, bands) in [
            ("persons", &declared.persons, &PERSONS[..]),
            ("users", &declared.users, &USERS[..]),
            ("items", &declared.items, &ITEMS[..]),
        ] {
            if let Some(v) = value
                && !bands.iter().any(|(_, label)| label == v)
            {
                let choices: Vec<&str> = bands.iter().map(|(_, l)| *l).collect();
                errors.push((
                    field,
                    format!(
                        "「{v}」は評価書の選択肢にありません ({})",
                        choices.join(" / ")
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Fields(errors));
        }
        let today = crate::today_in_japan();
        let since = today
            .checked_sub_months(chrono::Months::new(12))
            .unwrap_or(today);
        let counts = self.store.assessment_counts(tenant, today, since).await?;
        let record_items: Vec<String> = counts
            .columns
            .iter()
            .filter(|(_, c)| !NOT_ITEMS.contains(&c.as_str()))
            .map(|(t, c)| format!("{t}.{c}"))
            .collect();
        let fact = |item, value: i64, bands: &[Band], declared: &Option<String>| {
            let band = band(bands, value);
            Fact {
                item,
                value,
                band,
                crossed: declared.as_deref().is_some_and(|d| d != band),
                declared: declared.clone(),
            }
        };
        let facts = vec![
            fact("対象人数", counts.persons, &PERSONS, &declared.persons),
            fact("使用者数", counts.users, &USERS, &declared.users),
            fact(
                "主な記録項目",
                record_items.len() as i64,
                &ITEMS,
                &declared.items,
            ),
        ];
        let warnings = facts
            .iter()
            .filter(|f| f.crossed)
            .map(|f| {
                format!(
                    "{}が評価書の「{}」から「{}」({}) に変わりました: 特定個人情報保護評価の再実施を検討してください",
                    f.item,
                    f.declared.as_deref().unwrap_or_default(),
                    f.band,
                    f.value
                )
            })
            .collect();
        let facts = AssessmentFacts {
            municipality: tenant.as_string(),
            as_of: today,
            facts,
            with_my_number: counts.with_my_number,
            record_items,
            since,
            refused: counts.refused,
            failed: counts.failed,
            warnings,
        };
        self.record(
            actor,
            "assessment.facts",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"persons": counts.persons, "users": counts.users,
                   "warnings": facts.warnings.len()}),
        )
        .await?;
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_in_the_assessments_bands_at_their_edges() {
        assert_eq!(band(&PERSONS, 999), "1,000人未満");
        assert_eq!(band(&PERSONS, 1_000), "1,000人以上1万人未満");
        assert_eq!(band(&PERSONS, 299_999), "10万人以上30万人未満");
        assert_eq!(band(&PERSONS, 300_000), "30万人以上");
        assert_eq!(band(&USERS, 9), "10人未満");
        assert_eq!(band(&USERS, 10), "10人以上50人未満");
        assert_eq!(band(&USERS, 1_000), "1,000人以上");
        assert_eq!(band(&ITEMS, 49), "10項目以上50項目未満");
        assert_eq!(band(&ITEMS, 50), "50項目以上100項目未満");
    }
}
