#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The engine against the rules of schedule-rules.md, one scenario per rule, each naming its ID.

use serde_json::{Value, json};
use sesshu_schedule::rules::DEFAULT_RULES;
use sesshu_schedule::{Engine, EvalRequest, RuleBook};

fn eval_with(rules: &str, request: Value) -> Value {
    let engine = Engine::new(RuleBook::parse(rules).unwrap());
    let request: EvalRequest = serde_json::from_value(request).unwrap();
    serde_json::to_value(engine.evaluate(&request)).unwrap()
}

fn eval(request: Value) -> Value {
    eval_with(DEFAULT_RULES, request)
}

fn child(birth: &str, history: Value, as_of: &str) -> Value {
    eval(json!({"birth_date": birth, "sex": "M", "history": history, "as_of": as_of}))
}

const KEYS: [&str; 25] = [
    "hib",
    "pcv",
    "hepb",
    "rota1",
    "rota5",
    "dpt_1ki",
    "dpt_ipv_hib",
    "dpt_ipv",
    "dt2",
    "bcg",
    "mr1",
    "mr2",
    "rubella5",
    "varicella",
    "je1",
    "je2",
    "je_tokurei",
    "hpv",
    "flu_b",
    "covid_b",
    "pneumo_b",
    "hz_b",
    "rsv_maternal",
    "mr",
    "je",
];

#[test]
fn every_contract_key_is_present_with_every_field() {
    let out = child("2025-02-10", json!([]), "2025-05-20");
    let series = out["series"].as_object().unwrap();
    for key in KEYS {
        let f = &series[key];
        for field in [
            "in_target",
            "eligible",
            "next_dose",
            "next_stage",
            "earliest_date",
            "window",
            "standard_window",
            "total_doses",
            "schedule_group",
            "route",
            "allowed_products",
            "recommended_product",
            "reason",
        ] {
            assert!(f.get(field).is_some(), "{key}.{field} missing");
        }
    }
    assert_eq!(series.len(), KEYS.len());
}

#[test]
fn history_aligns_with_the_input_order_and_the_antibody_test_is_null() {
    let out = eval(json!({
        "birth_date": "1970-06-01", "sex": "M", "as_of": "2024-08-01",
        "history": [
            {"vaccine": "mr", "dose": 1, "date": "2024-06-01"},
            {"vaccine": "rubella_antibody_test", "dose": 0, "date": "2024-05-01", "result": "low"}
        ]
    }));
    let h = out["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["routine"], json!(true), "{h:?}");
    assert_eq!(h[0]["series"], json!("rubella5"));
    assert_eq!(h[1]["routine"], Value::Null);
    assert_eq!(
        out["series"]["rubella5"]["reason"],
        json!("接種完了(全2回)")
    );
}

/// R-INT-1 and the example sentence.
#[test]
fn r_int_1_an_interval_too_short_is_explained_with_its_date() {
    let out = child(
        "2025-01-20",
        json!([{"vaccine": "hib", "dose": 1, "date": "2025-04-01"}]),
        "2025-04-10",
    );
    let hib = &out["series"]["hib"];
    assert_eq!(hib["eligible"], json!(false));
    assert_eq!(hib["next_dose"], json!(2));
    assert_eq!(hib["next_stage"], json!("初回2回目"));
    assert_eq!(hib["earliest_date"], json!("2025-04-29"));
    assert_eq!(
        hib["reason"],
        json!("前回接種(2025-04-01)から27日以上の間隔が必要: 2025-04-29以降")
    );
    let too_soon = child(
        "2025-01-20",
        json!([
            {"vaccine": "hib", "dose": 1, "date": "2025-04-01"},
            {"vaccine": "hib", "dose": 2, "date": "2025-04-28"}
        ]),
        "2025-05-01",
    );
    assert_eq!(too_soon["history"][1]["routine"], json!(false));
    assert_eq!(too_soon["series"]["hib"]["next_dose"], json!(2));
}

/// R-HIB-2: start-age groups ア/イ/ウ and their totals; the 12-month limit skips 初回 doses.
#[test]
fn r_hib_2_start_age_groups() {
    let birth = "2024-01-15"; // 生後7月 2024-08-14, 生後12月 2025-01-14
    let a = child(
        birth,
        json!([{"vaccine": "hib", "dose": 1, "date": "2024-04-01"}]),
        "2024-04-02",
    );
    assert_eq!(a["series"]["hib"]["schedule_group"], json!("ア"));
    assert_eq!(a["series"]["hib"]["total_doses"], json!(4));
    let i = child(
        birth,
        json!([{"vaccine": "hib", "dose": 1, "date": "2024-08-15"}]),
        "2024-08-16",
    );
    assert_eq!(i["series"]["hib"]["schedule_group"], json!("イ"));
    assert_eq!(i["series"]["hib"]["total_doses"], json!(3));
    let u = child(birth, json!([]), "2025-01-15");
    assert_eq!(u["series"]["hib"]["schedule_group"], json!("ウ"));
    assert_eq!(u["series"]["hib"]["total_doses"], json!(1));
    // ア started at 11 months: the 2nd dose would fall after 生後12月, so 初回 is cut short and
    // the booster follows 27 days after the last 初回 dose.
    let cut = child(
        birth,
        json!([{"vaccine": "hib", "dose": 1, "date": "2024-08-14"}]),
        "2025-01-20",
    );
    let hib = &cut["series"]["hib"];
    assert_eq!(hib["next_stage"], json!("追加"), "{hib}");
    assert_eq!(hib["earliest_date"], json!("2025-01-20"));
    // total_doses counts what this child will have: 初回1回目 and the booster.
    assert_eq!(hib["total_doses"], json!(2), "{hib}");
}

/// R-PCV-2: if 初回2回目 is after 生後12月, 初回3回目 is not given; the booster needs 60 days
/// and 生後12月.
#[test]
fn r_pcv_2_third_primary_dropped_after_twelve_months() {
    let out = child(
        "2024-01-15",
        json!([
            {"vaccine": "pcv15", "dose": 1, "date": "2024-06-01"},
            {"vaccine": "pcv15", "dose": 2, "date": "2025-01-20"}
        ]),
        "2025-02-01",
    );
    let pcv = &out["series"]["pcv"];
    assert_eq!(pcv["schedule_group"], json!("ア"));
    assert_eq!(pcv["next_stage"], json!("追加"));
    assert_eq!(pcv["next_dose"], json!(4));
    assert_eq!(pcv["earliest_date"], json!("2025-03-22"));
    // total_doses agrees with the skipped dose, before the booster and after it.
    assert_eq!(pcv["total_doses"], json!(3), "{pcv}");
    let done = child(
        "2024-01-15",
        json!([
            {"vaccine": "pcv15", "dose": 1, "date": "2024-06-01"},
            {"vaccine": "pcv15", "dose": 2, "date": "2025-01-20"},
            {"vaccine": "pcv15", "dose": 4, "date": "2025-03-25"}
        ]),
        "2025-04-01",
    );
    let pcv = &done["series"]["pcv"];
    assert_eq!(pcv["reason"], json!("接種完了(全3回)"), "{pcv}");
    assert_eq!(pcv["total_doses"], json!(3), "{pcv}");
}

/// total_doses never contradicts the explanation: a completed series says as many doses as it
/// counted, for every series and a spread of histories.
#[test]
fn total_doses_agrees_with_a_completed_series() {
    let histories = [
        json!([
            {"vaccine": "hib", "dose": 1, "date": "2024-06-01"},
            {"vaccine": "hib", "dose": 2, "date": "2025-01-20"},
            {"vaccine": "hib", "dose": 4, "date": "2025-03-25"},
            {"vaccine": "pcv20", "dose": 1, "date": "2024-06-01"},
            {"vaccine": "pcv20", "dose": 2, "date": "2024-07-01"},
            {"vaccine": "pcv20", "dose": 3, "date": "2024-08-01"},
            {"vaccine": "pcv20", "dose": 4, "date": "2025-01-20"},
        ]),
        json!([
            {"vaccine": "pcv20", "dose": 1, "date": "2024-12-01"},
            {"vaccine": "pcv20", "dose": 2, "date": "2025-01-20"},
            {"vaccine": "pcv20", "dose": 3, "date": "2025-03-25"},
            {"vaccine": "hepb", "dose": 1, "date": "2024-04-01"},
            {"vaccine": "hepb", "dose": 2, "date": "2024-05-01"},
            {"vaccine": "hepb", "dose": 3, "date": "2024-10-01"},
        ]),
    ];
    for history in histories {
        let out = child("2024-01-15", history, "2026-01-01");
        for (key, f) in out["series"].as_object().unwrap() {
            let reason = f["reason"].as_str().unwrap_or_default();
            if let Some(n) = reason
                .strip_prefix("接種完了(全")
                .and_then(|r| r.strip_suffix("回)"))
            {
                assert_eq!(
                    f["total_doses"],
                    json!(n.parse::<u32>().unwrap()),
                    "{key}: {f}"
                );
            }
        }
    }
}

/// R-PCV-3: PCV13 is not routine from 2024-10-01; a PCV15 starter continues with PCV15; new
/// starters get PCV20.
#[test]
fn r_pcv_3_product_transition() {
    let late13 = child(
        "2024-06-01",
        json!([{"vaccine": "pcv13", "dose": 1, "date": "2024-10-05"}]),
        "2024-10-06",
    );
    assert_eq!(late13["history"][0]["routine"], json!(false));
    let started15 = child(
        "2024-06-01",
        json!([{"vaccine": "pcv15", "dose": 1, "date": "2024-08-05"}]),
        "2024-10-06",
    );
    assert_eq!(
        started15["series"]["pcv"]["allowed_products"],
        json!(["pcv15"])
    );
    let new = child("2024-08-01", json!([]), "2024-10-06");
    assert_eq!(new["series"]["pcv"]["recommended_product"], json!("pcv20"));
}

/// R-ROTA-1: 1価 from 出生6週0日後 to 出生24週0日後; before 6 weeks is too early.
#[test]
fn r_rota_1_weeks_window() {
    let birth = "2025-01-01";
    let out = child(
        birth,
        json!([{"vaccine": "rota1", "dose": 1, "date": "2025-02-11"}]),
        "2025-02-12",
    );
    assert_eq!(out["history"][0]["routine"], json!(false));
    assert!(
        out["history"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("対象年齢前")
    );
    let fresh = child(birth, json!([]), "2025-01-10");
    assert_eq!(
        fresh["series"]["rota1"]["window"],
        json!(["2025-02-12", "2025-06-18"])
    );
    assert_eq!(
        fresh["series"]["rota5"]["window"],
        json!(["2025-02-12", "2025-08-13"])
    );
}

/// R-HEPB: 3rd dose ≥139日 after the 1st.
#[test]
fn r_hepb_third_dose_counts_from_the_first() {
    let out = child(
        "2025-01-01",
        json!([
            {"vaccine": "hepb", "dose": 1, "date": "2025-03-01"},
            {"vaccine": "hepb", "dose": 2, "date": "2025-03-29"}
        ]),
        "2025-05-01",
    );
    assert_eq!(out["series"]["hepb"]["earliest_date"], json!("2025-07-19"));
}

/// R-INT-3: injectable live → injectable live needs 27 days; oral rota does not.
#[test]
fn r_int_3_live_vaccine_interval() {
    let out = child(
        "2024-01-15",
        json!([
            {"vaccine": "mr", "dose": 1, "date": "2025-01-20"},
            {"vaccine": "varicella", "dose": 1, "date": "2025-02-01"}
        ]),
        "2025-02-05",
    );
    assert_eq!(out["history"][1]["routine"], json!(false));
    assert!(
        out["history"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("27日以上")
    );
    assert_eq!(
        out["series"]["varicella"]["earliest_date"],
        json!("2025-02-17")
    );
    let same_day = child(
        "2024-01-15",
        json!([
            {"vaccine": "mr", "dose": 1, "date": "2025-01-20"},
            {"vaccine": "varicella", "dose": 1, "date": "2025-01-20"}
        ]),
        "2025-02-05",
    );
    assert_eq!(
        same_day["history"][1]["routine"],
        json!(true),
        "R-INT-4 同時接種"
    );
}

/// R-MR-2 and R-MR-EXT.
#[test]
fn r_mr_periods_and_the_shortage_extension() {
    let out = child(
        "2018-06-01",
        json!([{"vaccine": "mr", "dose": 1, "date": "2019-06-10"}]),
        "2024-05-01",
    );
    assert_eq!(out["series"]["mr"]["next_dose"], json!(2));
    assert_eq!(out["series"]["mr"]["next_stage"], json!("2期"));
    assert_eq!(
        out["series"]["mr2"]["window"],
        json!(["2024-04-01", "2025-03-31"])
    );
    assert_eq!(out["series"]["mr2"]["eligible"], json!(true));
    let late = child("2018-06-01", json!([]), "2025-06-01");
    assert_eq!(late["series"]["mr2"]["eligible"], json!(false));
    let ext = eval(
        json!({"birth_date": "2018-06-01", "sex": "F", "history": [], "as_of": "2025-06-01",
        "context": {"mr_shortage_fy2024": true}}),
    );
    assert_eq!(ext["series"]["mr2"]["eligible"], json!(true));
    assert_eq!(
        ext["series"]["mr2"]["window"],
        json!(["2025-04-01", "2027-03-31"])
    );
}

/// R-RUB5-1: men born 1962-04-02…1979-04-01, antibody test first; women are not targets.
#[test]
fn r_rub5_antibody_then_dose() {
    let man =
        eval(json!({"birth_date": "1970-06-01", "sex": "M", "history": [], "as_of": "2024-06-01"}));
    assert_eq!(man["series"]["rubella5"]["next_dose"], json!(0));
    assert_eq!(man["series"]["rubella5"]["next_stage"], json!("抗体検査"));
    let enough = eval(
        json!({"birth_date": "1970-06-01", "sex": "M", "as_of": "2024-06-01",
        "history": [{"vaccine": "rubella_antibody_test", "dose": 0, "date": "2024-05-01", "result": "sufficient"}]}),
    );
    assert_eq!(enough["series"]["rubella5"]["next_dose"], Value::Null);
    assert_eq!(enough["series"]["rubella5"]["eligible"], json!(false));
    let woman =
        eval(json!({"birth_date": "1970-06-01", "sex": "F", "history": [], "as_of": "2024-06-01"}));
    assert_eq!(woman["series"]["rubella5"]["in_target"], json!(false));
}

/// R-JE-SP1: born 1995-04-02…2007-04-01, missing doses until 20.
#[test]
fn r_je_sp1_special_cohort() {
    let out = eval(
        json!({"birth_date": "2005-06-01", "sex": "F", "as_of": "2024-06-01",
        "history": [{"vaccine": "je", "dose": 1, "date": "2009-01-10"}, {"vaccine": "je", "dose": 2, "date": "2009-01-20"}]}),
    );
    assert_eq!(out["series"]["je_tokurei"]["eligible"], json!(true));
    assert_eq!(out["series"]["je"]["next_dose"], json!(3));
    assert_eq!(
        out["series"]["je_tokurei"]["window"][1],
        json!("2025-05-31")
    );
    let young = child("2015-06-01", json!([]), "2024-06-01");
    assert_eq!(young["series"]["je_tokurei"]["in_target"], json!(false));
}

/// R-HPV-1/2/CU: the routes and the 9価 two-dose schedule.
#[test]
fn r_hpv_routes_and_doses() {
    let girl = eval(
        json!({"birth_date": "2012-06-01", "sex": "F", "as_of": "2025-06-01",
        "history": [{"vaccine": "hpv9", "dose": 1, "date": "2025-05-01"}]}),
    );
    let hpv = &girl["series"]["hpv"];
    assert_eq!(hpv["route"], json!("regular"));
    assert_eq!(hpv["total_doses"], json!(2));
    assert_eq!(hpv["earliest_date"], json!("2025-10-01"));
    let catchup =
        eval(json!({"birth_date": "2000-06-01", "sex": "F", "history": [], "as_of": "2024-06-01"}));
    assert_eq!(catchup["series"]["hpv"]["route"], json!("catchup"));
    assert_eq!(catchup["series"]["hpv"]["total_doses"], json!(3));
    let transitional = eval(
        json!({"birth_date": "2000-06-01", "sex": "F", "as_of": "2025-06-01",
        "history": [{"vaccine": "hpv9", "dose": 1, "date": "2024-12-01"}]}),
    );
    assert_eq!(
        transitional["series"]["hpv"]["route"],
        json!("transitional")
    );
    assert_eq!(transitional["series"]["hpv"]["eligible"], json!(true));
    let none =
        eval(json!({"birth_date": "2000-06-01", "sex": "F", "history": [], "as_of": "2025-06-01"}));
    assert_eq!(none["series"]["hpv"]["in_target"], json!(false));
    let boy =
        eval(json!({"birth_date": "2012-06-01", "sex": "M", "history": [], "as_of": "2025-06-01"}));
    assert_eq!(boy["series"]["hpv"]["in_target"], json!(false));
}

/// The 9価 short second dose is a named setting (UNCONFIRMED §5-8).
#[test]
fn the_hpv9_short_interval_setting_changes_the_judgement() {
    let request = json!({"birth_date": "2012-06-01", "sex": "F", "as_of": "2025-08-01",
        "history": [{"vaccine": "hpv9", "dose": 1, "date": "2025-05-01"}, {"vaccine": "hpv9", "dose": 2, "date": "2025-07-01"}]});
    let default = eval(request.clone());
    assert_eq!(default["history"][1]["routine"], json!(true));
    assert_eq!(default["series"]["hpv"]["next_stage"], json!("3回目"));
    let strict = DEFAULT_RULES.replace(
        "hpv9_short_second_ok = \"1M\"",
        "hpv9_short_second_ok = \"none\"",
    );
    let out = eval_with(&strict, request);
    assert_eq!(out["history"][1]["routine"], json!(false));
    assert_eq!(out["series"]["hpv"]["next_stage"], json!("2回目"));
}

/// R-INT-2's month-end reading is a setting.
#[test]
fn the_month_end_setting_moves_a_month_interval() {
    let request = json!({"birth_date": "2023-01-15", "sex": "M", "as_of": "2025-02-01",
        "history": [{"vaccine": "varicella", "dose": 1, "date": "2024-11-30"}]});
    let out = eval(request.clone());
    assert_eq!(
        out["series"]["varicella"]["earliest_date"],
        json!("2025-02-28")
    );
    let other = DEFAULT_RULES.replace(
        "month_end = \"last_day\"",
        "month_end = \"next_month_first\"",
    );
    let out = eval_with(&other, request);
    assert_eq!(
        out["series"]["varicella"]["earliest_date"],
        json!("2025-03-01")
    );
}

/// R-FLU-1 / R-COVID-1: one dose per season; the 60–64 high-risk route needs the context flag.
#[test]
fn b_class_seasons_and_high_risk() {
    let done = eval(
        json!({"birth_date": "1955-06-01", "sex": "M", "as_of": "2025-11-01",
        "history": [{"vaccine": "flu", "dose": 1, "date": "2025-10-15"}]}),
    );
    assert_eq!(done["series"]["flu_b"]["eligible"], json!(false));
    assert_eq!(
        done["series"]["flu_b"]["earliest_date"],
        json!("2026-10-01")
    );
    assert_eq!(
        done["series"]["covid_b"]["window"],
        json!(["2025-10-01", "2026-03-31"])
    );
    let summer =
        eval(json!({"birth_date": "1955-06-01", "sex": "M", "history": [], "as_of": "2025-06-01"}));
    assert_eq!(summer["series"]["covid_b"]["eligible"], json!(false));
    assert_eq!(
        summer["series"]["covid_b"]["earliest_date"],
        json!("2025-10-01")
    );
    let sixty_two =
        json!({"birth_date": "1963-06-01", "sex": "F", "history": [], "as_of": "2025-11-01"});
    assert_eq!(
        eval(sixty_two.clone())["series"]["flu_b"]["in_target"],
        json!(false)
    );
    let mut risky = sixty_two;
    risky["context"] = json!({"b_class_high_risk": true});
    assert_eq!(eval(risky)["series"]["flu_b"]["eligible"], json!(true));
}

/// R-PNEU-1/2/3: 65歳の者 only; PPSV23 until 2026-03-31, PCV20 after; a prior dose excludes.
#[test]
fn r_pneu_elderly_pneumococcal() {
    let p =
        eval(json!({"birth_date": "1960-05-10", "sex": "M", "history": [], "as_of": "2025-06-01"}));
    let f = &p["series"]["pneumo_b"];
    assert_eq!(f["window"], json!(["2025-05-09", "2026-05-09"]));
    assert_eq!(f["allowed_products"], json!(["ppsv23"]));
    let p =
        eval(json!({"birth_date": "1960-05-10", "sex": "M", "history": [], "as_of": "2026-04-02"}));
    assert_eq!(
        p["series"]["pneumo_b"]["allowed_products"],
        json!(["pcv20"])
    );
    let had = eval(
        json!({"birth_date": "1960-05-10", "sex": "M", "as_of": "2025-08-01",
        "history": [{"vaccine": "ppsv23", "dose": 1, "date": "2025-06-01"}]}),
    );
    assert_eq!(had["history"][0]["routine"], json!(true));
    assert_eq!(had["series"]["pneumo_b"]["eligible"], json!(false));
    assert_eq!(had["series"]["pneumo_b"]["in_target"], json!(false));
}

/// R-PNEU-1 with R-AGE-1/R-AGE-3: "六十五歳の者" runs from the day before the 65th birthday to
/// the day before the 66th, both days included (the engine once ended it a day early).
#[test]
fn r_pneu_1_the_year_of_being_65_includes_its_last_day() {
    let on = |day: &str| {
        eval(json!({"birth_date": "1960-05-10", "sex": "F", "history": [], "as_of": day}))["series"]
            ["pneumo_b"]
            .clone()
    };
    assert_eq!(on("2025-05-08")["in_target"], json!(false));
    assert_eq!(on("2025-05-09")["eligible"], json!(true));
    let last = on("2026-05-09");
    assert_eq!(
        (last["in_target"].clone(), last["eligible"].clone()),
        (json!(true), json!(true))
    );
    let after = on("2026-05-10");
    assert_eq!(
        (after["in_target"].clone(), after["eligible"].clone()),
        (json!(false), json!(false))
    );
    // A dose on the last day is routine.
    let given = eval(
        json!({"birth_date": "1960-05-10", "sex": "F", "as_of": "2026-06-01",
        "history": [{"vaccine": "pcv20", "dose": 1, "date": "2026-05-09"}]}),
    );
    assert_eq!(given["history"][0]["routine"], json!(true), "{given}");
}

/// R-HZ-1/2/3: the fiscal-year cohort, the 経過措置 ages, the recombinant two-dose series.
#[test]
fn r_hz_shingles() {
    // Reaches 65 on 2026-01-09 (FY2025): eligible the whole FY2025, while still 64.
    let p =
        eval(json!({"birth_date": "1961-01-10", "sex": "F", "history": [], "as_of": "2025-06-01"}));
    assert_eq!(p["series"]["hz_b"]["eligible"], json!(true));
    assert_eq!(
        p["series"]["hz_b"]["window"],
        json!(["2025-04-01", "2026-03-31"])
    );
    let seventy =
        eval(json!({"birth_date": "1955-06-01", "sex": "M", "history": [], "as_of": "2025-11-01"}));
    assert_eq!(seventy["series"]["hz_b"]["eligible"], json!(true));
    let sixty_eight =
        eval(json!({"birth_date": "1957-06-01", "sex": "M", "history": [], "as_of": "2025-11-01"}));
    assert_eq!(sixty_eight["series"]["hz_b"]["eligible"], json!(false));
    let second = eval(
        json!({"birth_date": "1961-01-10", "sex": "F", "as_of": "2025-06-01",
        "history": [{"vaccine": "hz_recombinant", "dose": 1, "date": "2025-05-01"}]}),
    );
    assert_eq!(second["series"]["hz_b"]["next_dose"], json!(2));
    assert_eq!(
        second["series"]["hz_b"]["earliest_date"],
        json!("2025-07-01")
    );
    assert_eq!(second["series"]["hz_b"]["total_doses"], json!(2));
}

/// in_target means the same in every series: a person whose window has passed is not in target,
/// the maternal RSV series (whose window is weeks of pregnancy) included.
#[test]
fn in_target_is_false_once_the_window_has_passed_in_every_series() {
    let past = eval(
        json!({"birth_date": "1995-06-01", "sex": "F", "history": [], "as_of": "2026-05-01",
        "context": {"gestational_age": "38w0d"}}),
    );
    for (key, f) in past["series"].as_object().unwrap() {
        assert_eq!(f["in_target"], json!(false), "{key}: {f}");
        assert_eq!(f["eligible"], json!(false), "{key}: {f}");
    }
    let during = eval(
        json!({"birth_date": "1995-06-01", "sex": "F", "history": [], "as_of": "2026-05-01",
        "context": {"gestational_age": "30w0d"}}),
    );
    assert_eq!(during["series"]["rsv_maternal"]["in_target"], json!(true));
    let before = eval(
        json!({"birth_date": "1995-06-01", "sex": "F", "history": [], "as_of": "2026-05-01",
        "context": {"gestational_age": "20w3d"}}),
    );
    // Not yet in target, as a child before its first window is not.
    assert_eq!(before["series"]["rsv_maternal"]["in_target"], json!(false));
    assert_eq!(before["series"]["pcv"]["in_target"], json!(false));
}

/// A product serving two series counts for the one in whose target it was given: four PCV20
/// doses as a child complete 小児の肺炎球菌 and leave 高齢者の肺炎球菌 to be given at 65.
#[test]
fn a_childs_pcv20_doses_do_not_count_for_the_elderly_series() {
    let out = eval(
        json!({"birth_date": "2024-08-01", "sex": "M", "as_of": "2089-08-01",
        "history": [
            {"vaccine": "pcv20", "dose": 1, "date": "2024-10-05"},
            {"vaccine": "pcv20", "dose": 2, "date": "2024-11-05"},
            {"vaccine": "pcv20", "dose": 3, "date": "2024-12-05"},
            {"vaccine": "pcv20", "dose": 4, "date": "2025-08-05"}
        ]}),
    );
    assert_eq!(out["series"]["pcv"]["reason"], json!("接種完了(全4回)"));
    let elderly = &out["series"]["pneumo_b"];
    assert_eq!(elderly["eligible"], json!(true), "{elderly}");
    assert_eq!(elderly["next_dose"], json!(1), "{elderly}");
    assert_eq!(elderly["total_doses"], json!(1), "{elderly}");
    // And a dose at 65 is routine for the elderly series, not a fifth childhood dose.
    let mut history = out["history"].clone();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["series"] == json!("pcv"))
    );
    history = json!([
        {"vaccine": "pcv20", "dose": 1, "date": "2024-10-05"},
        {"vaccine": "pcv20", "dose": 2, "date": "2024-11-05"},
        {"vaccine": "pcv20", "dose": 3, "date": "2024-12-05"},
        {"vaccine": "pcv20", "dose": 4, "date": "2025-08-05"},
        {"vaccine": "pcv20", "dose": 1, "date": "2089-08-01"}
    ]);
    let after = eval(
        json!({"birth_date": "2024-08-01", "sex": "M", "as_of": "2089-09-01",
        "history": history}),
    );
    assert_eq!(after["history"][4]["routine"], json!(true), "{after}");
    assert_eq!(after["history"][4]["series"], json!("pneumo_b"));
    // R-PNEU-3: having had it, the person is out of target.
    let elderly = &after["series"]["pneumo_b"];
    assert_eq!(elderly["in_target"], json!(false), "{elderly}");
    assert_eq!(elderly["eligible"], json!(false), "{elderly}");
}

/// R-HIST-*: an old dose is judged by the rule in force on its date, not today's.
#[test]
fn r_hist_old_doses_are_judged_by_the_rules_of_their_date() {
    let judged = |birth: &str, vaccine: &str, dose: u32, date: &str| {
        let out = eval(
            json!({"birth_date": birth, "sex": "M", "as_of": "2026-01-01",
            "history": [{"vaccine": vaccine, "dose": dose, "date": date}]}),
        );
        out["history"][0].clone()
    };
    // BCG: 4歳 under the 結核予防法 before 2005-04, 生後6月 from then to 2013-03, 1歳 after.
    assert_eq!(
        judged("2001-05-01", "bcg", 1, "2003-06-01")["routine"],
        json!(true)
    );
    assert_eq!(
        judged("2005-05-01", "bcg", 1, "2006-01-01")["routine"],
        json!(false)
    );
    assert_eq!(
        judged("2005-05-01", "bcg", 1, "2005-10-30")["routine"],
        json!(true)
    );
    assert_eq!(
        judged("2013-05-01", "bcg", 1, "2014-01-01")["routine"],
        json!(true)
    );
    // 麻しん: one dose up to 生後90月 before 2006-04; 1期 up to 生後24月 after.
    assert_eq!(
        judged("2000-05-01", "measles", 1, "2004-05-01")["routine"],
        json!(true)
    );
    assert_eq!(
        judged("2006-05-01", "mr", 1, "2010-05-01")["routine"],
        json!(false)
    );
    // The MR 3期 (the fiscal year of reaching 13) and 4期 (18) of FY2008–FY2012.
    let third = judged("1996-01-10", "mr", 2, "2008-06-01");
    assert_eq!(third["routine"], json!(true), "{third}");
    assert_eq!(third["series"], json!("mr2"));
    let fourth = judged("1991-01-10", "mr", 2, "2008-06-01");
    assert_eq!(fourth["routine"], json!(true), "{fourth}");
    // A 13-year-old's second dose after the catch-up ended is voluntary.
    assert_eq!(
        judged("2001-01-10", "mr", 2, "2013-06-01")["routine"],
        json!(false)
    );
}

/// Every R-HIST reading is a named setting a city can change: a later BCG limit under the old
/// law changes the judgement of an old dose.
#[test]
fn the_historical_readings_are_settings() {
    let rules = DEFAULT_RULES.replace(
        "bcg_until_before_2005 = \"4y\"",
        "bcg_until_before_2005 = \"2y\"",
    );
    assert_ne!(rules, DEFAULT_RULES);
    let out = eval_with(
        &rules,
        json!({"birth_date": "2001-05-01", "sex": "M", "as_of": "2026-01-01",
            "history": [{"vaccine": "bcg", "dose": 1, "date": "2003-06-01"}]}),
    );
    assert_eq!(out["history"][0]["routine"], json!(false));
}

/// R-RSV-1: 妊娠28週0日…36週6日 from 2026-04-01.
#[test]
fn r_rsv_maternal_window_from_gestational_age() {
    let p = eval(
        json!({"birth_date": "1995-06-01", "sex": "F", "history": [], "as_of": "2026-05-01",
        "context": {"gestational_age": "30w0d"}}),
    );
    let f = &p["series"]["rsv_maternal"];
    assert_eq!(f["eligible"], json!(true));
    assert_eq!(f["window"], json!(["2026-04-17", "2026-06-18"]));
    let early = eval(
        json!({"birth_date": "1995-06-01", "sex": "F", "history": [], "as_of": "2026-05-01",
        "context": {"gestational_age": "20w3d"}}),
    );
    assert_eq!(
        early["series"]["rsv_maternal"]["earliest_date"],
        json!("2026-06-23")
    );
}

/// R-LTC-1: 2 years after the illness ended, capped (Hib 10歳, PCV 6歳, BCG 4歳).
#[test]
fn r_ltc_1_long_term_care_extension() {
    let request = json!({"birth_date": "2020-01-01", "sex": "M", "history": [], "as_of": "2025-06-01",
        "context": {"long_term_care_end": "2025-03-01"}});
    let out = eval(request);
    assert_eq!(out["series"]["hib"]["eligible"], json!(true));
    assert_eq!(out["series"]["hib"]["window"][1], json!("2027-02-28"));
    assert_eq!(out["series"]["pcv"]["window"][1], json!("2025-12-31"));
    assert_eq!(out["series"]["bcg"]["eligible"], json!(false));
    let without = child("2020-01-01", json!([]), "2025-06-01");
    assert_eq!(without["series"]["hib"]["eligible"], json!(false));
}

/// R-PRIOR-1: a voluntary 水痘 dose before 生後12月 counts as received.
#[test]
fn r_prior_1_voluntary_doses_count_for_varicella() {
    let out = child(
        "2024-01-15",
        json!([{"vaccine": "varicella", "dose": 1, "date": "2024-12-01"}]),
        "2025-02-01",
    );
    assert_eq!(out["history"][0]["routine"], json!(false));
    assert_eq!(out["series"]["varicella"]["next_dose"], json!(2));
}

/// R-DPT-1/2: 5種混合 advances Hib and the DPT 1期 together.
#[test]
fn r_dpt_five_in_one_counts_for_hib_too() {
    let out = child(
        "2024-06-01",
        json!([
            {"vaccine": "dpt_ipv_hib", "dose": 1, "date": "2024-08-05"},
            {"vaccine": "dpt_ipv_hib", "dose": 2, "date": "2024-09-05"}
        ]),
        "2024-09-10",
    );
    assert_eq!(out["series"]["dpt_1ki"]["next_dose"], json!(3));
    assert_eq!(out["series"]["dpt_ipv_hib"]["next_dose"], json!(3));
    assert_eq!(out["series"]["hib"]["next_dose"], json!(3));
    assert_eq!(
        out["series"]["dpt_1ki"]["earliest_date"],
        json!("2024-09-26")
    );
}

#[test]
fn a_rules_file_naming_an_unknown_setting_or_product_is_refused() {
    let bad = DEFAULT_RULES.replace("\"$hepb_third_after_second\"", "\"$no_such_setting\"");
    assert!(RuleBook::parse(&bad).is_err());
    let bad = DEFAULT_RULES.replace("counts = [\"dt\"]", "counts = [\"dtx\"]");
    let err = RuleBook::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("dtx"), "{err}");
}

#[test]
fn every_series_cites_rules_of_the_research_note() {
    let book = RuleBook::builtin().unwrap();
    for s in &book.series {
        assert!(!s.rules.is_empty(), "{}", s.key);
        for r in &s.rules {
            assert!(r.starts_with("R-"), "{}: {r}", s.key);
        }
    }
}

// ── one test per rule of schedule-rules.md that had none (issue 21, 6) ─────────────────────

fn one(birth: &str, sex: &str, history: Value, as_of: &str, key: &str) -> Value {
    let out = eval(json!({"birth_date": birth, "sex": sex, "history": history, "as_of": as_of}));
    let mut f = out["series"][key].clone();
    f["history"] = out["history"].clone();
    f
}

fn target_is(birth: &str, sex: &str, as_of: &str, key: &str, expected: bool) {
    let f = one(birth, sex, json!([]), as_of, key);
    assert_eq!(f["in_target"], json!(expected), "{key} on {as_of}: {f}");
}

/// R-HIB-1, R-PCV-1: 生後二月から生後六十月に至るまで, both ends included (R-AGE-2).
#[test]
fn r_hib_1_and_r_pcv_1_targets() {
    // Born 2024-01-15: 生後2月 2024-03-14, 生後60月 2029-01-14.
    for key in ["hib", "pcv"] {
        target_is("2024-01-15", "M", "2024-03-13", key, false);
        target_is("2024-01-15", "M", "2024-03-14", key, true);
        target_is("2024-01-15", "M", "2029-01-14", key, true);
        target_is("2024-01-15", "M", "2029-01-15", key, false);
    }
}

/// R-HEPB-1: 一歳に至るまで, for those born on or after 2016-04-01; 2回目 ≥27日 and 3回目 ≥139日
/// after the 1st.
#[test]
fn r_hepb_1_target_and_intervals() {
    target_is("2016-03-31", "F", "2016-11-01", "hepb", false);
    target_is("2016-04-01", "F", "2016-11-01", "hepb", true);
    target_is("2024-01-15", "F", "2025-01-14", "hepb", true);
    target_is("2024-01-15", "F", "2025-01-15", "hepb", false);
    let second = one(
        "2024-01-15",
        "F",
        json!([{"vaccine": "hepb", "dose": 1, "date": "2024-03-20"}]),
        "2024-03-21",
        "hepb",
    );
    assert_eq!(second["earliest_date"], json!("2024-04-17"), "{second}");
    let third = one(
        "2024-01-15",
        "F",
        json!([
        {"vaccine": "hepb", "dose": 1, "date": "2024-03-20"},
        {"vaccine": "hepb", "dose": 2, "date": "2024-04-20"}]),
        "2024-04-21",
        "hepb",
    );
    assert_eq!(third["earliest_date"], json!("2024-08-07"), "{third}");
}

/// R-BCG-1: 一歳に至るまで; R-BCG-2: standard 生後5月に達した時から生後8月に達するまで.
#[test]
fn r_bcg_1_target_and_r_bcg_2_standard_window() {
    let on = |date: &str| {
        one(
            "2024-01-15",
            "M",
            json!([{"vaccine": "bcg", "dose": 1, "date": date}]),
            "2025-06-01",
            "bcg",
        )["history"][0]["routine"]
            .clone()
    };
    assert_eq!(on("2025-01-14"), json!(true));
    assert_eq!(on("2025-01-15"), json!(false));
    let due = one("2024-01-15", "M", json!([]), "2024-03-01", "bcg");
    assert_eq!(
        due["standard_window"],
        json!(["2024-06-14", "2024-09-14"]),
        "{due}"
    );
}

/// R-DPT-CHG: the 1期 lower bound was 生後3月 before 2023-04-01 and 生後2月 from then.
#[test]
fn r_dpt_chg_lower_bound_by_date() {
    // 生後2月 reached, 生後3月 not yet: not routine in March 2023, routine in April 2023.
    let before = one(
        "2022-12-20",
        "M",
        json!([{"vaccine": "dpt_ipv", "dose": 1, "date": "2023-03-01"}]),
        "2023-03-02",
        "dpt_ipv",
    );
    assert_eq!(before["history"][0]["routine"], json!(false), "{before}");
    let after = one(
        "2023-02-20",
        "M",
        json!([{"vaccine": "dpt_ipv", "dose": 1, "date": "2023-04-25"}]),
        "2023-04-26",
        "dpt_ipv",
    );
    assert_eq!(after["history"][0]["routine"], json!(true), "{after}");
}

/// R-DPT-2: 1期初回 3 doses ≥20日 apart, 1期追加 ≥6月 after the 3rd.
#[test]
fn r_dpt_2_primary_and_booster_intervals() {
    let second = one(
        "2024-02-01",
        "F",
        json!([{"vaccine": "dpt_ipv_hib", "dose": 1, "date": "2024-04-01"}]),
        "2024-04-02",
        "dpt_ipv_hib",
    );
    assert_eq!(second["earliest_date"], json!("2024-04-22"), "{second}");
    let booster = one(
        "2024-02-01",
        "F",
        json!([
        {"vaccine": "dpt_ipv_hib", "dose": 1, "date": "2024-04-01"},
        {"vaccine": "dpt_ipv_hib", "dose": 2, "date": "2024-05-01"},
        {"vaccine": "dpt_ipv_hib", "dose": 3, "date": "2024-06-01"}]),
        "2024-06-02",
        "dpt_ipv_hib",
    );
    assert_eq!(booster["next_dose"], json!(4), "{booster}");
    assert_eq!(booster["earliest_date"], json!("2024-12-01"), "{booster}");
}

/// R-DT-1: 十一歳以上十三歳未満.
#[test]
fn r_dt_1_target() {
    // Born 2010-05-10: 11歳以上 from 2021-05-09; 13歳未満 up to 2023-05-09 (R-AGE-3).
    target_is("2010-05-10", "M", "2021-05-08", "dt2", false);
    target_is("2010-05-10", "M", "2021-05-09", "dt2", true);
    target_is("2010-05-10", "M", "2023-05-09", "dt2", true);
    target_is("2010-05-10", "M", "2023-05-10", "dt2", false);
}

/// R-JE-1: 1期 生後六月から生後九十月に至るまで, 2期 九歳以上十三歳未満; R-JE-2: 初回 ≥6日 apart,
/// 追加 ≥6月 after the 2nd.
#[test]
fn r_je_1_targets_and_r_je_2_intervals() {
    // Born 2018-01-15: 生後6月 2018-07-14, 生後90月 2025-07-14, 9歳 2027-01-14, and 13歳未満
    // up to 2031-01-14, the day before the 13th birthday (R-AGE-3).
    target_is("2018-01-15", "M", "2018-07-13", "je1", false);
    target_is("2018-01-15", "M", "2018-07-14", "je1", true);
    target_is("2018-01-15", "M", "2025-07-14", "je1", true);
    target_is("2018-01-15", "M", "2025-07-15", "je1", false);
    target_is("2018-01-15", "M", "2027-01-13", "je2", false);
    target_is("2018-01-15", "M", "2027-01-14", "je2", true);
    target_is("2018-01-15", "M", "2031-01-14", "je2", true);
    target_is("2018-01-15", "M", "2031-01-15", "je2", false);
    let second = one(
        "2018-01-15",
        "M",
        json!([{"vaccine": "je", "dose": 1, "date": "2021-03-01"}]),
        "2021-03-02",
        "je1",
    );
    assert_eq!(second["earliest_date"], json!("2021-03-08"), "{second}");
    let booster = one(
        "2018-01-15",
        "M",
        json!([
        {"vaccine": "je", "dose": 1, "date": "2021-03-01"},
        {"vaccine": "je", "dose": 2, "date": "2021-03-29"}]),
        "2021-03-30",
        "je1",
    );
    assert_eq!(booster["earliest_date"], json!("2021-09-29"), "{booster}");
}

/// R-JE-SP2: born 2007-04-02…2009-10-01 without a complete 1期 by 生後90月: the remaining 1期
/// doses at 9歳以上13歳未満 (expired by 2022-09-30; kept for old doses).
#[test]
fn r_je_sp2_remaining_first_period_doses_at_nine() {
    let history = json!([{"vaccine": "je", "dose": 1, "date": "2011-06-01"},
        {"vaccine": "je", "dose": 2, "date": "2018-06-01"}]);
    let out = one("2008-05-01", "F", history, "2018-07-01", "je1");
    assert_eq!(out["history"][1]["routine"], json!(true), "{out}");
    let later = json!([{"vaccine": "je", "dose": 1, "date": "2011-06-01"},
        {"vaccine": "je", "dose": 2, "date": "2018-06-01"}]);
    let out = one("2009-10-02", "F", later, "2018-07-01", "je1");
    assert_eq!(
        out["history"][1]["routine"],
        json!(false),
        "born after the cohort: {out}"
    );
}

/// R-MR-1: 1期 生後十二月から生後二十四月に至るまで.
#[test]
fn r_mr_1_target() {
    // Born 2023-05-10: 生後12月 2024-05-09, 生後24月 2025-05-09.
    target_is("2023-05-10", "F", "2024-05-08", "mr1", false);
    target_is("2023-05-10", "F", "2024-05-09", "mr1", true);
    target_is("2023-05-10", "F", "2025-05-09", "mr1", true);
    target_is("2023-05-10", "F", "2025-05-10", "mr1", false);
}

/// R-VAR-1: 生後十二月から生後三十六月に至るまで; 2 doses ≥3月 apart.
#[test]
fn r_var_1_target_and_interval() {
    target_is("2023-05-10", "M", "2024-05-09", "varicella", true);
    target_is("2023-05-10", "M", "2026-05-09", "varicella", true);
    target_is("2023-05-10", "M", "2026-05-10", "varicella", false);
    let second = one(
        "2023-05-10",
        "M",
        json!([{"vaccine": "varicella", "dose": 1, "date": "2024-06-15"}]),
        "2024-06-16",
        "varicella",
    );
    assert_eq!(second["earliest_date"], json!("2024-09-15"), "{second}");
    assert_eq!(second["total_doses"], json!(2));
}

/// R-ROTA-2: routine from 2020-10-01 for those born on or after 2020-08-01; doses before
/// 2020-10-01 count as received.
#[test]
fn r_rota_2_start() {
    target_is("2020-07-31", "M", "2020-10-05", "rota1", false);
    target_is("2020-08-01", "M", "2020-10-05", "rota1", true);
    let early = one(
        "2020-08-01",
        "M",
        json!([{"vaccine": "rota1", "dose": 1, "date": "2020-09-20"}]),
        "2020-10-20",
        "rota1",
    );
    assert_eq!(early["history"][0]["routine"], json!(false), "{early}");
    assert_eq!(
        early["next_dose"],
        json!(2),
        "the early dose counts: {early}"
    );
}

/// R-HPV-2: 2価 3回目 ≥5月 after the 1st and ≥2月半 after the 2nd; 4価 3回目 ≥3月 after the 2nd;
/// 9価 begun before 15歳 is 2 doses ≥5月 apart.
#[test]
fn r_hpv_2_intervals_by_product() {
    let girl = "2011-06-01";
    // 2価 was routine until 2023-03: a girl 12 in FY2020.
    let bivalent = one(
        "2008-06-01",
        "F",
        json!([
        {"vaccine": "hpv2", "dose": 1, "date": "2021-04-10"},
        {"vaccine": "hpv2", "dose": 2, "date": "2021-05-10"}]),
        "2021-05-11",
        "hpv",
    );
    // 1st + 5月 = 2021-09-10; 2nd + 2月半 = 2021-07-25: the later binds.
    assert_eq!(bivalent["earliest_date"], json!("2021-09-10"), "{bivalent}");
    let quadrivalent = one(
        girl,
        "F",
        json!([
        {"vaccine": "hpv4", "dose": 1, "date": "2023-04-10"},
        {"vaccine": "hpv4", "dose": 2, "date": "2023-06-10"}]),
        "2023-06-11",
        "hpv",
    );
    assert_eq!(
        quadrivalent["earliest_date"],
        json!("2023-09-10"),
        "{quadrivalent}"
    );
    let nonavalent = one(
        girl,
        "F",
        json!([{"vaccine": "hpv9", "dose": 1, "date": "2024-04-10"}]),
        "2024-04-11",
        "hpv",
    );
    assert_eq!(nonavalent["total_doses"], json!(2), "{nonavalent}");
    assert_eq!(
        nonavalent["earliest_date"],
        json!("2024-09-10"),
        "{nonavalent}"
    );
}

/// R-HPV-CU: the catch-up for women born 1997-04-02…2008-04-01 from 2022-04 to 2025-03, and the
/// FY2025 経過措置 only for those with a dose in that period.
#[test]
fn r_hpv_cu_catch_up_and_transition() {
    let catch_up = one(
        "2000-06-01",
        "F",
        json!([{"vaccine": "hpv4", "dose": 1, "date": "2023-01-10"}]),
        "2023-01-11",
        "hpv",
    );
    assert_eq!(catch_up["history"][0]["routine"], json!(true), "{catch_up}");
    let too_old = one(
        "1997-04-01",
        "F",
        json!([{"vaccine": "hpv4", "dose": 1, "date": "2023-01-10"}]),
        "2023-01-11",
        "hpv",
    );
    assert_eq!(too_old["history"][0]["routine"], json!(false), "{too_old}");
    let started = one(
        "2000-06-01",
        "F",
        json!([{"vaccine": "hpv9", "dose": 1, "date": "2025-01-10"}]),
        "2025-06-01",
        "hpv",
    );
    assert_eq!(started["eligible"], json!(true), "{started}");
    let never = one("2000-06-01", "F", json!([]), "2025-06-01", "hpv");
    assert_eq!(never["eligible"], json!(false), "{never}");
    let before_catch_up = one(
        "2000-06-01",
        "F",
        json!([{"vaccine": "hpv4", "dose": 1, "date": "2014-01-10"}]),
        "2025-06-01",
        "hpv",
    );
    assert_eq!(
        before_catch_up["eligible"],
        json!(false),
        "{before_catch_up}"
    );
}

/// R-HZ-2: 経過措置 ages 70…100 in FY2025–FY2029, and everyone 100 or over in FY2025 only.
#[test]
fn r_hz_2_transitional_ages() {
    // Reaches 75 in FY2026 (born 1951-05-01, 75歳 2026-04-30).
    target_is("1951-05-01", "F", "2026-06-01", "hz_b", true);
    target_is("1951-05-01", "F", "2025-06-01", "hz_b", false);
    // 105 years old: FY2025 only.
    target_is("1920-06-01", "F", "2025-06-01", "hz_b", true);
    target_is("1920-06-01", "F", "2026-06-01", "hz_b", false);
    // The 経過措置 ends with FY2029: reaching 70 in FY2030 is not enough.
    target_is("1960-06-01", "F", "2030-06-01", "hz_b", false);
}

/// R-HZ-3: the live vaccine is one dose; the recombinant is two doses ≥2月 apart, both inside the
/// person's fiscal year.
#[test]
fn r_hz_3_products_and_the_fiscal_year() {
    let live = one(
        "1961-01-10",
        "M",
        json!([{"vaccine": "hz_live", "dose": 1, "date": "2025-06-01"}]),
        "2025-07-01",
        "hz_b",
    );
    assert_eq!(live["reason"], json!("接種完了(全1回)"), "{live}");
    let late = one(
        "1961-01-10",
        "M",
        json!([
        {"vaccine": "hz_recombinant", "dose": 1, "date": "2026-02-10"},
        {"vaccine": "hz_recombinant", "dose": 2, "date": "2026-04-15"}]),
        "2026-05-01",
        "hz_b",
    );
    assert_eq!(late["history"][0]["routine"], json!(true), "{late}");
    assert_eq!(
        late["history"][1]["routine"],
        json!(false),
        "after the fiscal year: {late}"
    );
}

/// R-PNEU-2: PPSV23 is the routine product until 2026-03-31, PCV20 from 2026-04-01.
#[test]
fn r_pneu_2_product_by_date() {
    let on = |product: &str, date: &str| {
        one(
            "1960-05-10",
            "M",
            json!([{"vaccine": product, "dose": 1, "date": date}]),
            "2026-06-01",
            "pneumo_b",
        )["history"][0]["routine"]
            .clone()
    };
    assert_eq!(on("ppsv23", "2026-03-31"), json!(true));
    assert_eq!(on("ppsv23", "2026-04-01"), json!(false));
    assert_eq!(on("pcv20", "2026-03-31"), json!(false));
    assert_eq!(on("pcv20", "2026-04-01"), json!(true));
}

/// R-EXCL-1: of the exclusions of 施行規則第2条, those the register can know are applied —
/// immunity shown by an antibody test (風しん第5期) and a prior routine 高齢者肺炎球菌 dose. The
/// rest (fever, acute illness, anaphylaxis, pregnancy, keloid) are the physician's judgement at
/// the 予診 on the day, which the register does not hold.
#[test]
fn r_excl_1_exclusions_the_register_can_know() {
    let immune = one(
        "1970-06-01",
        "M",
        json!([{"vaccine": "rubella_antibody_test", "dose": 0, "date": "2024-06-01", "result": "sufficient"}]),
        "2024-07-01",
        "rubella5",
    );
    assert_eq!(immune["eligible"], json!(false), "{immune}");
    assert_eq!(immune["total_doses"], json!(0), "{immune}");
    let had = one(
        "1960-05-10",
        "M",
        json!([{"vaccine": "ppsv23", "dose": 1, "date": "2025-06-01"}]),
        "2025-08-01",
        "pneumo_b",
    );
    assert_eq!(had["eligible"], json!(false), "{had}");
    assert_eq!(had["in_target"], json!(false), "{had}");
}

// ── the clinic's check before the needle (issue 21) ─────────────────────────────────────────

fn check(birth: &str, sex: &str, history: Value, on: &str, product: &str) -> Value {
    let engine = Engine::new(RuleBook::builtin().unwrap());
    let request: EvalRequest = serde_json::from_value(
        json!({"birth_date": birth, "sex": sex, "history": history, "as_of": on}),
    )
    .unwrap();
    serde_json::to_value(engine.check_dose(&request, product)).unwrap()
}

/// A dose given today: routine with its stage when due, and when not, why in one line — the
/// interval (R-INT-1), the live-vaccine spacing (R-INT-3), the age, the product.
#[test]
fn a_dose_today_is_judged_before_it_is_given() {
    let first_hib = json!([{"vaccine": "hib", "dose": 1, "date": "2024-04-01"}]);
    let early = check("2024-01-15", "M", first_hib.clone(), "2024-04-20", "hib");
    assert_eq!(early["routine"], json!(false), "{early}");
    assert!(
        early["reason"].as_str().unwrap().contains("2024-04-29"),
        "{early}"
    );
    let due = check("2024-01-15", "M", first_hib, "2024-04-29", "hib");
    assert_eq!(due["routine"], json!(true), "{due}");
    assert_eq!(due["stage"], json!("初回2回目"));

    let varicella = json!([{"vaccine": "varicella", "dose": 1, "date": "2025-03-01"}]);
    let live = check("2024-01-15", "F", varicella, "2025-03-10", "mr");
    assert_eq!(live["routine"], json!(false), "{live}");
    assert!(live["reason"].as_str().unwrap().contains("27日"), "{live}");

    let too_young = check("2024-01-15", "F", json!([]), "2024-02-01", "hib");
    assert_eq!(too_young["routine"], json!(false), "{too_young}");

    let elderly = check("1961-05-10", "M", json!([]), "2026-06-01", "pcv20");
    assert_eq!(
        (elderly["routine"].clone(), elderly["series"].clone()),
        (json!(true), json!("pneumo_b")),
        "{elderly}"
    );
    let old_product = check("1961-05-10", "M", json!([]), "2026-06-01", "ppsv23");
    assert_eq!(old_product["routine"], json!(false), "{old_product}");
}
