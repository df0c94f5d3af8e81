#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Any request — births before or after the day, doses before birth, unknown products, odd
//! ordinals, every context — gets an answer with every series and one judgement per entry.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use sesshu_schedule::contract::{Context, HistoryItem, SexCode};
use sesshu_schedule::{Engine, EvalRequest, RuleBook};

const PRODUCTS: [&str; 29] = [
    "hib",
    "pcv13",
    "pcv15",
    "pcv20",
    "ppsv23",
    "hepb",
    "rota1",
    "rota5",
    "dpt_ipv_hib",
    "dpt_ipv",
    "dpt",
    "ipv",
    "dt",
    "bcg",
    "mr",
    "measles",
    "rubella",
    "varicella",
    "je",
    "hpv2",
    "hpv4",
    "hpv9",
    "flu",
    "covid",
    "hz_live",
    "hz_recombinant",
    "rsv",
    "rubella_antibody_test",
    "bogus",
];

fn day(offset: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + Days::new(u64::from(offset))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn every_request_gets_every_series_and_one_judgement_per_entry(
        birth in 0u32..40_000,
        as_of in 36_000u32..40_000,
        female in any::<bool>(),
        history in prop::collection::vec((0usize..PRODUCTS.len(), 0u32..7, 25_000u32..40_000), 0..14),
        ltc in prop::option::of(34_000u32..40_000),
        weeks in prop::option::of(0u32..43),
        flags in any::<(bool, bool)>(),
    ) {
        let engine = Engine::new(RuleBook::builtin().unwrap());
        let request = EvalRequest {
            birth_date: day(birth),
            sex: if female { SexCode::F } else { SexCode::M },
            history: history
                .iter()
                .map(|(p, n, d)| HistoryItem {
                    vaccine: PRODUCTS[*p].to_owned(),
                    dose: *n,
                    date: day(*d),
                    result: None,
                })
                .collect(),
            as_of: day(as_of),
            context: Context {
                b_class_high_risk: flags.0,
                long_term_care_end: ltc.map(day),
                mr_shortage_fy2024: flags.1,
                gestational_age: weeks.map(|w| format!("{w}w3d").parse().unwrap()),
            },
        };
        let out = engine.evaluate(&request);
        prop_assert_eq!(out.series.len(), 25);
        prop_assert_eq!(out.history.len(), history.len());
        for f in out.series.values() {
            // Eligible means a next dose that can be given today.
            if f.eligible {
                prop_assert!(f.in_target && f.next_dose.is_some());
                prop_assert!(f.earliest_date.is_some_and(|e| e <= request.as_of));
            }
            if let (Some(e), Some([a, b])) = (f.earliest_date, f.window) {
                prop_assert!(a <= e && e <= b, "earliest inside its window");
            }
        }
        // A recall forecasts one series alone; it must agree with the whole evaluation.
        for (key, f) in &out.series {
            let alone = engine.forecast_one(&request, key);
            prop_assert_eq!(alone.as_ref(), Some(f), "{}", key);
        }
        prop_assert!(engine.forecast_one(&request, "no_such_series").is_none());
    }
}
