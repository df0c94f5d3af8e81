//! Synthetic vaccination histories: what a town's children and elderly would have had by a given
//! day. Most doses fall near the standard age, some late, a few are missed, and a few break a
//! rule (an interval too short, a dose before the target age) so that demos and tests see the
//! flags the register raises.

use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sesshu_domain::age::{date_reaching_months, school_entry_date};
use sesshu_domain::dose::BillingMonth;
use sesshu_domain::{CivilDate, Dose, DoseJudgement, Person, Sex};

/// A planned dose: product, ordinal, the standard day as months (and extra days) of age, and
/// the least number of days after the previous dose of the same product a clinic would wait.
struct Step {
    product: &'static str,
    ordinal: u32,
    months: u32,
    days: u64,
    gap: u64,
}

const fn step(product: &'static str, ordinal: u32, months: u32, days: u64, gap: u64) -> Step {
    Step {
        product,
        ordinal,
        months,
        days,
        gap,
    }
}

const INSTITUTIONS: [(&str, &str, &str); 6] = [
    ("1310000011", "さくら小児科クリニック", "佐藤 一郎"),
    ("1310000029", "みどり内科医院", "鈴木 花子"),
    ("1310000037", "さくら市立病院", "高橋 健"),
    ("1310000045", "ひかりこどもクリニック", "田中 美咲"),
    ("1310000053", "あおば診療所", "伊藤 誠"),
    ("1310000061", "やまびこ医院", "渡辺 直樹"),
];

/// The doses a person would have had by `as_of`, deterministic for the person and `seed`.
pub fn history(person: &Person, as_of: CivilDate, seed: u64) -> Vec<Dose> {
    let key: u64 = person.address_number.as_str().parse().unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let birth = person.birth_date;
    let mut plan: Vec<Step> = Vec::new();
    let after = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).is_some_and(|day| birth >= day);
    let mut doses = Vec::new();
    // Childhood records before Hib and PCV became routine (2013) live in older systems.
    if !after(2013, 4, 1) {
        elderly(person, as_of, &mut rng, &mut doses);
        return doses;
    }
    let five_in_one = after(2024, 2, 1);
    if five_in_one {
        plan.extend([
            step("dpt_ipv_hib", 1, 2, 0, 0),
            step("dpt_ipv_hib", 2, 3, 0, 28),
            step("dpt_ipv_hib", 3, 4, 0, 28),
            step("dpt_ipv_hib", 4, 13, 0, 215),
        ]);
    } else {
        plan.extend([
            step("hib", 1, 2, 0, 0),
            step("hib", 2, 3, 0, 28),
            step("hib", 3, 4, 0, 28),
            step("hib", 4, 13, 0, 215),
            step("dpt_ipv", 1, 3, 0, 0),
            step("dpt_ipv", 2, 4, 0, 21),
            step("dpt_ipv", 3, 5, 0, 21),
            step("dpt_ipv", 4, 15, 0, 185),
        ]);
    }
    plan.extend([
        step("pcv", 1, 2, 0, 0),
        step("pcv", 2, 3, 0, 28),
        step("pcv", 3, 4, 0, 28),
        step("pcv", 4, 12, 10, 61),
        step("bcg", 1, 5, 10, 0),
        step("mr", 1, 12, 5, 0),
        step("varicella", 1, 12, 5, 0),
        step("varicella", 2, 18, 0, 93),
        step("je", 1, 36, 0, 0),
        step("je", 2, 36, 14, 7),
        step("je", 3, 48, 0, 185),
        step("je", 4, 108, 0, 7),
        step("dt", 1, 132, 0, 0),
    ]);
    if after(2016, 4, 1) {
        plan.extend([
            step("hepb", 1, 2, 0, 0),
            step("hepb", 2, 3, 0, 28),
            step("hepb", 3, 7, 10, 113),
        ]);
    }
    if after(2020, 8, 1) {
        plan.extend([step("rota1", 1, 2, 0, 0), step("rota1", 2, 3, 0, 28)]);
    }
    if person.sex == Sex::Female && rng.gen_bool(0.4) {
        plan.extend([step("hpv9", 1, 156, 0, 0), step("hpv9", 2, 162, 10, 155)]);
    }

    // Doses planned for the same age are given at one visit (同時接種); visits keep the
    // intervals of their time (R-INT-3: before 2020-10-01 any vaccine waited 27 days after a
    // live one and 6 after an inactivated one; since then only injectable live after injectable
    // live).
    plan.sort_by_key(|s| (s.months, s.days));
    let relaxed = NaiveDate::from_ymd_opt(2020, 10, 1).unwrap_or(NaiveDate::MIN);
    let mut skipped: Vec<&'static str> = Vec::new();
    let mut last: Vec<(&'static str, CivilDate)> = Vec::new();
    let mut first_pcv: Option<&'static str> = None;
    let mut previous_visit: Option<(CivilDate, bool)> = None;
    let mut last_live: Option<CivilDate> = None;
    let mut i = 0;
    while i < plan.len() {
        let visit_end = plan[i..]
            .iter()
            .position(|s| (s.months, s.days) != (plan[i].months, plan[i].days))
            .map_or(plan.len(), |n| i + n);
        let steps = &plan[i..visit_end];
        i = visit_end;
        let Some(standard) = date_reaching_months(birth, steps[0].months)
            .and_then(|d| d.checked_add_days(Days::new(steps[0].days)))
        else {
            continue;
        };
        let delay = if rng.gen_bool(0.15) {
            rng.gen_range(30..150)
        } else {
            rng.gen_range(1..15)
        };
        let mut date = standard
            .checked_add_days(Days::new(delay))
            .unwrap_or(standard);
        let mut given: Vec<&Step> = Vec::new();
        for s in steps {
            if skipped.contains(&s.product) {
                continue;
            }
            if rng.gen_bool(0.03) {
                // Missed: the series stops here.
                skipped.push(s.product);
                continue;
            }
            if let Some((_, prev)) = last.iter().rev().find(|(p, _)| *p == s.product)
                && let Some(ok) = prev.checked_add_days(Days::new(s.gap))
            {
                date = date.max(ok);
            }
            given.push(s);
        }
        let live = given.iter().any(|s| LIVE.contains(&s.product));
        if let Some((prev, prev_live)) = previous_visit {
            let wait = if date < relaxed {
                if prev_live { 28 } else { 7 }
            } else {
                1
            };
            date = date.max(prev.checked_add_days(Days::new(wait)).unwrap_or(date));
        }
        if live
            && let Some(l) = last_live
            && let Some(ok) = l.checked_add_days(Days::new(28))
        {
            date = date.max(ok);
        }
        if given.is_empty() || date > as_of {
            continue;
        }
        for s in given {
            // A few doses break a rule: given two weeks after the previous one.
            let mut on = date;
            if rng.gen_bool(0.02)
                && let Some((_, prev)) = last.iter().rev().find(|(p, _)| *p == s.product)
                && let Some(early) = prev.checked_add_days(Days::new(14))
            {
                on = early.min(date);
            }
            let product = pcv_product(s.product, on, &mut first_pcv);
            last.push((s.product, on));
            doses.push(make(&mut rng, product, s.ordinal, on));
        }
        previous_visit = Some((date, live));
        if live {
            last_live = Some(date);
        }
    }
    // The 2期 MR dose in the year before school.
    if let Some(school) = school_entry_date(birth)
        && let Some(date) = NaiveDate::from_ymd_opt(school.year() - 1, 5, 1)
            .and_then(|d| d.checked_add_days(Days::new(rng.gen_range(0..200))))
        && date <= as_of
        && !skipped.contains(&"mr")
        && rng.gen_bool(0.93)
    {
        doses.push(make(&mut rng, "mr", 2, date));
    }
    elderly(person, as_of, &mut rng, &mut doses);
    doses.sort_by_key(|d| d.given_on);
    doses
}

/// Injectable live vaccines (BCG counted with them).
const LIVE: [&str; 3] = ["bcg", "mr", "varicella"];

/// The pneumococcal product of the day, kept for the series once started (R-PCV-3: PCV13
/// starters move to PCV20 when PCV13 leaves; PCV15 starters stay with PCV15).
fn pcv_product(
    product: &'static str,
    date: CivilDate,
    first: &mut Option<&'static str>,
) -> &'static str {
    if product != "pcv" {
        return product;
    }
    let on = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).is_some_and(|day| date >= day);
    let of_the_day = if on(2024, 10, 1) {
        "pcv20"
    } else if on(2024, 4, 1) {
        "pcv15"
    } else {
        "pcv13"
    };
    match *first {
        None => {
            *first = Some(of_the_day);
            of_the_day
        }
        Some("pcv13") if on(2024, 10, 1) => "pcv20",
        Some(started) => started,
    }
}

/// Influenza most autumns after 65, the pneumococcal dose at 65 for some.
fn elderly(person: &Person, as_of: CivilDate, rng: &mut ChaCha8Rng, doses: &mut Vec<Dose>) {
    let Some(sixty_five) = date_reaching_months(person.birth_date, 65 * 12) else {
        return;
    };
    if sixty_five > as_of {
        return;
    }
    for year in (as_of.year() - 3).max(sixty_five.year())..=as_of.year() {
        if let Some(date) = NaiveDate::from_ymd_opt(year, 10, 15)
            .and_then(|d| d.checked_add_days(Days::new(rng.gen_range(0..60))))
            && date >= sixty_five
            && date <= as_of
            && rng.gen_bool(0.5)
        {
            doses.push(make(rng, "flu", 1, date));
        }
    }
    if let Some(date) = sixty_five.checked_add_days(Days::new(rng.gen_range(20..200)))
        && date <= as_of
        && as_of.year() - sixty_five.year() < 4
        && rng.gen_bool(0.3)
    {
        let product = if date.year() >= 2026 && date.month() >= 4 || date.year() > 2026 {
            "pcv20"
        } else {
            "ppsv23"
        };
        doses.push(make(rng, product, 1, date));
    }
}

fn make(rng: &mut ChaCha8Rng, product: &str, ordinal: u32, given_on: CivilDate) -> Dose {
    let (code, name, doctor) = INSTITUTIONS[rng.gen_range(0..INSTITUTIONS.len())];
    let billing = given_on
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| BillingMonth::parse(&d.format("%Y%m").to_string()).ok());
    Dose {
        product: product.to_owned(),
        ordinal,
        given_on,
        judgement: DoseJudgement::Given,
        institution_code: Some(code.to_owned()),
        institution_name: Some(name.to_owned()),
        doctor: Some(doctor.to_owned()),
        lot: Some(format!(
            "{}{:03}",
            product.chars().next().unwrap_or('X').to_ascii_uppercase(),
            rng.gen_range(1..999)
        )),
        manufacturer: None,
        amount_ml: Some(if product == "bcg" { "0.03" } else { "0.5" }.to_owned()),
        screened_on: Some(given_on),
        billing_month: billing,
        subsidy_yen: None,
        ticket_number: None,
        notes: None,
        given_elsewhere: false,
        antibody_result: None,
    }
}
