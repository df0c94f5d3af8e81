//! The rules file: every series, its routes into the target, its doses and intervals, with the
//! rule and source IDs of schedule-rules.md. The engine interprets it; nothing vaccine-specific is
//! a code path except the few shapes named in [`SeriesRule`] (seasons, pregnancy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sesshu_domain::CivilDate;

use crate::arith::{AgeBound, GestationalAge, Interval, MonthDay, MonthEnd};
use crate::error::RuleError;

/// The rules as shipped: the researched reading of schedule-rules.md.
pub const DEFAULT_RULES: &str = include_str!("../rules/schedule.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBook {
    /// Which research note (and revision) the file encodes.
    pub edition: String,
    pub settings: Settings,
    pub products: Vec<Product>,
    pub series: Vec<SeriesRule>,
    #[serde(default)]
    pub sequences: Vec<Sequence>,
}

/// The UNCONFIRMED points of schedule-rules.md §5 that change a judgement, each with the most
/// common reading as its default. The rest of the file refers to them as `"$name"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// R-INT-2 (§5-1): a month interval ending on a day the month does not have.
    pub month_end: MonthEnd,
    /// Everything else is substituted into the series before they are read.
    #[serde(flatten)]
    pub values: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Live {
    /// Inactivated or toxoid: no interval to other vaccines since 2020-10-01.
    None,
    /// 注射生ワクチン (BCG counted with them): ≥27日 before the next injectable live (R-INT-3).
    Injectable,
    /// Oral live (rotavirus): no restriction since 2020-10-01.
    Oral,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub code: String,
    pub name: String,
    pub live: Live,
    /// Not a vaccine (the rubella antibody test).
    #[serde(default)]
    pub test: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Class {
    A,
    B,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SexRule {
    M,
    F,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesRule {
    /// The contract key of `sesshu schedule eval` ("hib", "mr1", …).
    pub key: String,
    pub name: String,
    pub class: Class,
    /// Rule IDs of schedule-rules.md this series encodes.
    pub rules: Vec<String>,
    /// Products whose doses advance this series.
    pub counts: Vec<String>,
    /// Products judged as doses of this series (default: `counts`). A 5種混合 dose is judged once,
    /// by its own series, and then also counts for Hib and the DPT 1期.
    #[serde(default)]
    pub judges: Option<Vec<String>>,
    /// Form ordinals (回数) that belong to this series, for products shared by periods (JE, MR).
    #[serde(default)]
    pub ordinals: Option<[u32; 2]>,
    #[serde(default)]
    pub sex: Option<SexRule>,
    pub routes: Vec<Route>,
    pub products: Vec<ProductWindow>,
    /// Once started with a product, which products may continue the series.
    #[serde(default)]
    pub switch: Vec<Switch>,
    pub groups: Vec<Group>,
    /// R-PRIOR-1: voluntary doses count as received.
    #[serde(default)]
    pub prior_voluntary_counts: bool,
    /// Doses before this date count as received though the series was not yet routine.
    #[serde(default)]
    pub counts_before: Option<CivilDate>,
    /// A person who has started another product's series is not a target of this one (the 4種混合
    /// and 5種混合 routes of the same 1期).
    #[serde(default)]
    pub exclusive_with: Vec<String>,
    /// Any earlier dose of these products (routine, or any when the setting says so) excludes.
    #[serde(default)]
    pub excluded_after: Vec<String>,
    #[serde(default)]
    pub excluded_after_voluntary_too: bool,
    /// One routine dose per season (B類 influenza, COVID-19).
    #[serde(default)]
    pub season: Option<[MonthDay; 2]>,
    /// Routine only within these weeks of pregnancy (maternal RSV).
    #[serde(default)]
    pub pregnancy: Option<[GestationalAge; 2]>,
    /// 長期療養特例 (R-LTC-1).
    #[serde(default)]
    pub long_term_care: Option<LongTermCare>,
    /// Print the route (HPV) / start-age group (Hib, PCV) in the forecast.
    #[serde(default)]
    pub report_route: bool,
    #[serde(default)]
    pub report_group: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<String>,
    /// The age window (inclusive both ends).
    #[serde(default)]
    pub from: Option<AgeBound>,
    #[serde(default)]
    pub until: Option<AgeBound>,
    #[serde(default)]
    pub born_from: Option<CivilDate>,
    #[serde(default)]
    pub born_until: Option<CivilDate>,
    /// The dates the route is in force (inclusive).
    #[serde(default)]
    pub period_from: Option<CivilDate>,
    #[serde(default)]
    pub period_until: Option<CivilDate>,
    /// A context flag of the request that must be true ("b_class_high_risk", "mr_shortage_fy2024").
    #[serde(default)]
    pub context: Option<String>,
    /// A dose of the series must have been given in this range (HPV 経過措置).
    #[serde(default)]
    pub requires_dose_between: Option<[CivilDate; 2]>,
    /// An antibody test with an insufficient result must have been done by this date.
    #[serde(default)]
    pub requires_low_result_by: Option<CivilDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductWindow {
    pub code: String,
    #[serde(default)]
    pub from: Option<CivilDate>,
    #[serde(default)]
    pub until: Option<CivilDate>,
    /// The product a new starter is given (基本) while it is in force.
    #[serde(default)]
    pub basis: bool,
    #[serde(default)]
    pub source: Option<String>,
}

impl ProductWindow {
    pub fn in_force(&self, on: CivilDate) -> bool {
        self.from.is_none_or(|f| f <= on) && self.until.is_none_or(|u| on <= u)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub started: String,
    pub continue_with: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(default)]
    pub label: Option<String>,
    /// The age at the first dose that puts a person in this group.
    #[serde(default)]
    pub start_from: Option<AgeBound>,
    #[serde(default)]
    pub start_until: Option<AgeBound>,
    /// The product of the first dose that puts a person in this group (HPV, 帯状疱疹).
    #[serde(default)]
    pub first_product: Option<Vec<String>>,
    pub doses: Vec<DoseRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseRule {
    /// The 期/回 label ("1期初回2回目", "追加").
    pub stage: String,
    /// The ordinal written on forms (formats.md §2); defaults to the position in the group.
    #[serde(default)]
    pub ordinal: Option<u32>,
    /// Only these products may be this dose (the antibody test).
    #[serde(default)]
    pub product: Option<Vec<String>>,
    #[serde(default)]
    pub after_previous: Option<Interval>,
    /// A shorter interval that still counts, but then the dose marked `only_if_short` is needed.
    #[serde(default)]
    pub short_ok: Option<Interval>,
    #[serde(default)]
    pub only_if_short: bool,
    /// The interval when the doses before were cut short by their deadline (Hib 追加).
    #[serde(default)]
    pub after_previous_if_skipped: Option<Interval>,
    #[serde(default)]
    pub after_first: Option<Interval>,
    #[serde(default)]
    pub min_age: Option<AgeBound>,
    /// Not given by this age → skipped, and the series goes on with the next dose.
    #[serde(default)]
    pub deadline: Option<AgeBound>,
    /// The last day this dose counts as routine, without skipping it (rotavirus 1回目 setting).
    #[serde(default)]
    pub latest: Option<AgeBound>,
    /// Skipped when the previous dose was given after this age (PCV ア 初回3回目).
    #[serde(default)]
    pub skip_if_previous_after: Option<AgeBound>,
    #[serde(default)]
    pub standard_age: Option<[AgeBound; 2]>,
    #[serde(default)]
    pub standard_after: Option<[Interval; 2]>,
    /// The previous entry (an antibody test) must have had this result ("low").
    #[serde(default)]
    pub requires_result: Option<String>,
    #[serde(default)]
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongTermCare {
    pub years: u32,
    #[serde(default)]
    pub cap: Option<AgeBound>,
}

/// A whole dose sequence across periods (MR 1期→2期, JE 1期→2期 or 特例).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    pub key: String,
    pub parts: Vec<String>,
}

impl RuleBook {
    /// Reads a rules file: `$name` strings are replaced by the `[settings]` value of that name
    /// (a setting of `"none"` removes the key), then the whole is checked.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| RuleError::File(e.to_string()))?;
        let settings = value
            .get("settings")
            .and_then(toml::Value::as_table)
            .cloned()
            .ok_or_else(|| RuleError::File("[settings] がありません".into()))?;
        if let Some(series) = value.get_mut("series") {
            substitute(series, &settings)?;
        }
        let book: RuleBook = value
            .try_into()
            .map_err(|e: toml::de::Error| RuleError::File(e.to_string()))?;
        book.check()?;
        Ok(book)
    }

    pub fn builtin() -> Result<Self, RuleError> {
        Self::parse(DEFAULT_RULES)
    }

    pub fn series(&self, key: &str) -> Option<&SeriesRule> {
        self.series.iter().find(|s| s.key == key)
    }

    /// Every product code the rules know.
    pub fn product_codes(&self) -> Vec<String> {
        self.products.iter().map(|p| p.code.clone()).collect()
    }

    /// The codes that are tests, not vaccines.
    pub fn test_codes(&self) -> Vec<String> {
        self.products
            .iter()
            .filter(|p| p.test)
            .map(|p| p.code.clone())
            .collect()
    }

    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code == code)
    }

    fn check(&self) -> Result<(), RuleError> {
        let known = |code: &str| self.products.iter().any(|p| p.code == code);
        for s in &self.series {
            let codes = s
                .counts
                .iter()
                .chain(s.judges.iter().flatten())
                .chain(s.products.iter().map(|p| &p.code))
                .chain(s.excluded_after.iter())
                .chain(s.exclusive_with.iter())
                .chain(s.switch.iter().flat_map(|w| w.continue_with.iter()))
                .chain(
                    s.groups
                        .iter()
                        .flat_map(|g| g.first_product.iter().flatten()),
                );
            for code in codes {
                if !known(code) {
                    return Err(RuleError::Invalid(format!(
                        "{}: 製品コード {code:?} が products にありません",
                        s.key
                    )));
                }
            }
            if s.groups.is_empty() || s.groups.iter().any(|g| g.doses.is_empty()) {
                return Err(RuleError::Invalid(format!(
                    "{}: 接種回の定義がありません",
                    s.key
                )));
            }
            if s.routes.is_empty() {
                return Err(RuleError::Invalid(format!(
                    "{}: 対象者の定義がありません",
                    s.key
                )));
            }
        }
        for q in &self.sequences {
            if let Some(missing) = q.parts.iter().find(|p| self.series(p).is_none()) {
                return Err(RuleError::Invalid(format!(
                    "{}: {missing} がありません",
                    q.key
                )));
            }
        }
        Ok(())
    }
}

fn substitute(value: &mut toml::Value, settings: &toml::Table) -> Result<(), RuleError> {
    match value {
        toml::Value::Array(items) => items.iter_mut().try_for_each(|v| substitute(v, settings)),
        toml::Value::Table(table) => {
            let mut remove = Vec::new();
            for (key, v) in table.iter_mut() {
                if let Some(name) = v.as_str().and_then(|s| s.strip_prefix('$')) {
                    let replacement = settings
                        .get(name)
                        .ok_or_else(|| RuleError::UnknownSetting(name.to_owned()))?;
                    if replacement.as_str() == Some("none") {
                        remove.push(key.clone());
                    } else {
                        *v = replacement.clone();
                    }
                } else {
                    substitute(v, settings)?;
                }
            }
            for key in remove {
                table.remove(&key);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
