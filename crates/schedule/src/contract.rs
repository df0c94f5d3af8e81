//! The JSON contract of `sesshu schedule eval`: what is read and what is printed. Other programs
//! depend on these names; change them only with a new contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sesshu_domain::CivilDate;

use crate::arith::GestationalAge;

#[derive(Debug, Clone, Deserialize)]
pub struct EvalRequest {
    pub birth_date: CivilDate,
    pub sex: SexCode,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
    pub as_of: CivilDate,
    #[serde(default)]
    pub context: Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SexCode {
    M,
    F,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryItem {
    /// A product code of formats.md §2 ("hib", "pcv20", "rubella_antibody_test", …).
    pub vaccine: String,
    /// The ordinal as written on the form (JE 1–4, MR 1–2, DPT 1–4, antibody test 0).
    #[serde(default)]
    pub dose: u32,
    pub date: CivilDate,
    #[serde(default)]
    pub result: Option<AntibodyResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AntibodyResult {
    Low,
    Sufficient,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub b_class_high_risk: bool,
    #[serde(default)]
    pub long_term_care_end: Option<CivilDate>,
    #[serde(default)]
    pub mr_shortage_fy2024: bool,
    #[serde(default)]
    pub gestational_age: Option<GestationalAge>,
}

impl Context {
    pub fn flag(&self, name: &str) -> bool {
        match name {
            "b_class_high_risk" => self.b_class_high_risk,
            "mr_shortage_fy2024" => self.mr_shortage_fy2024,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalResponse {
    pub series: BTreeMap<String, Forecast>,
    pub history: Vec<Judgement>,
}

/// Where one series stands on `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub in_target: bool,
    pub eligible: bool,
    pub next_dose: Option<u32>,
    pub next_stage: Option<String>,
    pub earliest_date: Option<CivilDate>,
    pub window: Option<[CivilDate; 2]>,
    pub standard_window: Option<[CivilDate; 2]>,
    pub total_doses: Option<u32>,
    pub schedule_group: Option<String>,
    pub route: Option<String>,
    pub allowed_products: Vec<String>,
    pub recommended_product: Option<String>,
    pub reason: String,
}

/// The judgement of one history entry, in the order of the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// `null` for an antibody test, which is not a dose.
    pub routine: Option<bool>,
    pub reason: String,
    pub series: Option<String>,
    pub stage: Option<String>,
}

impl HistoryItem {
    /// The history entry of a recorded dose; `None` for a deferral (見合わせ), which never counts.
    pub fn from_dose(dose: &sesshu_domain::Dose) -> Option<Self> {
        if dose.judgement == sesshu_domain::DoseJudgement::Deferred {
            return None;
        }
        Some(Self {
            vaccine: dose.product.clone(),
            dose: dose.ordinal,
            date: dose.given_on,
            result: dose.antibody_result.map(|r| match r {
                sesshu_domain::AntibodyResult::Low => AntibodyResult::Low,
                sesshu_domain::AntibodyResult::Sufficient => AntibodyResult::Sufficient,
            }),
        })
    }
}

impl SexCode {
    pub fn of(sex: sesshu_domain::Sex) -> Self {
        match sex {
            sesshu_domain::Sex::Male => Self::M,
            sesshu_domain::Sex::Female => Self::F,
        }
    }
}

impl EvalRequest {
    /// A person's recorded doses as a request (deferrals left out), evaluated on `as_of`.
    pub fn for_person<'d>(
        birth_date: CivilDate,
        sex: sesshu_domain::Sex,
        doses: impl IntoIterator<Item = &'d sesshu_domain::Dose>,
        as_of: CivilDate,
    ) -> Self {
        Self {
            birth_date,
            sex: SexCode::of(sex),
            history: doses
                .into_iter()
                .filter_map(HistoryItem::from_dose)
                .collect(),
            as_of,
            context: Context::default(),
        }
    }
}
