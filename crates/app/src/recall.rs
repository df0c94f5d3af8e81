//! 対象者抽出: who is to be notified of one series in one period, why each person is in or out,
//! and an independent second check before anything is printed.
//!
//! Incidents cities publish are notices to the dead and the moved-out, an age window off by a
//! day, tickets to the wrong cohort. So the selection never reasons about ages itself: every
//! person is put to the schedule engine (the same rules that judge doses), and the list it
//! produces is then re-read person by person from the register by [`Recall::check`], which must
//! find nothing wrong before a run may be issued. The store reads (a birth range, or a list of
//! address numbers, on every core); what is decided about each person is decided here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months};
use sesshu_domain::{CivilDate, MunicipalityCode, ResidentStatus};
use sesshu_schedule::contract::SexCode;
use sesshu_schedule::{Engine, EvalRequest, Forecast};
use sesshu_store::{
    CheckFailure, Cohort, Extraction, Listed, PersonFacts, RecallBasis, RecallMember, RecallQuery,
    Store, StoreError, exclusion,
};

/// Why a resident gets no notice whatever their doses say: the key of the extraction's
/// exclusions, and what the second check reports.
struct HeldBack {
    exclusion: &'static str,
    problem: &'static str,
}

/// Residents recall leaves out: a 利用停止 in force, or a record linked into another (the
/// primary record gets the notice, with the doses of both).
async fn held_back(
    store: &Store,
    tenant: MunicipalityCode,
) -> Result<BTreeMap<String, HeldBack>, StoreError> {
    let mut held = BTreeMap::new();
    for a in store.linked_secondaries(tenant).await? {
        let why = HeldBack {
            exclusion: exclusion::LINKED,
            problem: "他の記録に統合されています",
        };
        held.insert(a, why);
    }
    for a in store.suspended_addresses(tenant).await? {
        let why = HeldBack {
            exclusion: exclusion::SUSPENDED,
            problem: "利用停止の請求を受けています",
        };
        held.insert(a, why);
    }
    Ok(held)
}

/// Birth dates probed each side of those the rules name: later doses' windows may extend past
/// the first dose's (a booster given after the age limit of the primary series).
const BIRTH_MARGIN_DAYS: u64 = 400;
/// Days between probed birth dates. Every window is longer than this, so the set of birth dates
/// whose window meets the period is never missed between two probes; the margin covers the ends.
const PROBE_STEP_DAYS: u64 = 7;
/// The oldest person a recall considers.
const MAX_AGE_YEARS: u32 = 125;

/// Reads through the store's bulk readers; decides here.
pub(crate) struct Recall<'a> {
    pub store: &'a Store,
    pub engine: &'a Engine,
}

impl Recall<'_> {
    /// The dry run: who would be notified and why, who would not and why, by birth month.
    pub(crate) async fn extract(
        &self,
        tenant: MunicipalityCode,
        query: &RecallQuery,
    ) -> Result<Extraction, StoreError> {
        let engine = self.engine;
        let series_name = series_name(engine, &query.series)
            .ok_or_else(|| StoreError::Invalid(format!("系列 {} はありません", query.series)))?;
        if query.to < query.from {
            return Err(StoreError::Invalid("期間の終わりが始まりより前です".into()));
        }
        let notified: Option<BTreeSet<String>> = match &query.recall_of {
            Some(run) => Some(self.store.notified_in(tenant, run, &query.series).await?),
            None => None,
        };
        let born = birth_range(engine, query);
        let mut extraction = Extraction {
            series: query.series.clone(),
            series_name,
            examined: 0,
            born: born.map(|(a, b)| [a, b]),
            members: Vec::new(),
            excluded: BTreeMap::new(),
            exclusions: BTreeMap::new(),
            cohorts: Vec::new(),
        };
        let Some((lo, hi)) = born else {
            return Ok(extraction);
        };
        let held = held_back(self.store, tenant).await?;
        let judged = self
            .store
            .judge_persons_born(tenant, Some((lo, hi)), |person, doses| {
                let verdict = match person.status {
                    ResidentStatus::MovedOut => Err(exclusion::MOVED_OUT),
                    ResidentStatus::Deceased => Err(exclusion::DECEASED),
                    ResidentStatus::NonResident => Err(exclusion::NON_RESIDENT),
                    ResidentStatus::Resident
                        if let Some(why) = held.get(&person.address_number) =>
                    {
                        Err(why.exclusion)
                    }
                    ResidentStatus::Resident => {
                        let request = EvalRequest::for_person(
                            person.birth_date,
                            person.sex,
                            &doses,
                            query.as_of,
                        );
                        match engine.forecast_one(&request, &query.series) {
                            Some(f) => judge(&f, query, &person.address_number, notified.as_ref()),
                            None => Err(exclusion::NOT_IN_TARGET),
                        }
                    }
                };
                (person, verdict)
            })
            .await?;
        for (person, verdict) in judged {
            extraction.examined += 1;
            match verdict {
                Ok((dose, stage, window, standard_window, reason)) => {
                    extraction.members.push(RecallMember {
                        address_number: person.address_number,
                        birth_date: person.birth_date,
                        protected: person.protected,
                        dose,
                        stage,
                        window,
                        standard_window,
                        reason,
                    })
                }
                Err(why) => {
                    *extraction.excluded.entry(why.to_owned()).or_default() += 1;
                    extraction.exclusions.insert(person.address_number, why);
                }
            }
        }
        // Read in pieces on several threads: the list is kept in address-number order.
        extraction
            .members
            .sort_by(|a, b| a.address_number.cmp(&b.address_number));
        extraction.cohorts = cohorts(&extraction.members);
        Ok(extraction)
    }

    /// The second, independent check of a list: each member re-read from the register by
    /// address number and put to the engine again. Anything found blocks issuing.
    pub(crate) async fn check(
        &self,
        tenant: MunicipalityCode,
        query: &RecallQuery,
        members: &[Listed<'_>],
        release_protected: bool,
    ) -> Result<Vec<CheckFailure>, StoreError> {
        let engine = self.engine;
        let mut failures = Vec::new();
        let mut listed: BTreeMap<&str, &Listed<'_>> = BTreeMap::new();
        for m in members {
            if listed.insert(m.address_number, m).is_some() {
                failures.push(CheckFailure {
                    address_number: m.address_number.to_owned(),
                    problem: "同じ人が二度含まれています".into(),
                });
            }
        }
        // Read at check time, not planning time: a request made after approval still stops it.
        let held = held_back(self.store, tenant).await?;
        let addresses: Vec<&str> = listed.keys().copied().collect();
        let found = self
            .store
            .judge_persons_at(tenant, &addresses, |p, doses| {
                let problems = listed
                    .get(p.address_number.as_str())
                    .map_or_else(Vec::new, |m| {
                        problems(engine, query, m, &p, &doses, &held, release_protected)
                    });
                (p.address_number, problems)
            })
            .await?;
        let mut seen = BTreeSet::new();
        for (address, problems) in found {
            failures.extend(problems.into_iter().map(|problem| CheckFailure {
                address_number: address.clone(),
                problem,
            }));
            seen.insert(address);
        }
        for a in addresses {
            if !seen.contains(a) {
                failures.push(CheckFailure {
                    address_number: a.to_owned(),
                    problem: "宛名にいません".into(),
                });
            }
        }
        failures.sort_by(|a, b| a.address_number.cmp(&b.address_number));
        Ok(failures)
    }
}

/// What is wrong with one listed person, re-read from the register: nothing, for a list that
/// may be printed.
fn problems(
    engine: &Engine,
    query: &RecallQuery,
    m: &Listed<'_>,
    p: &PersonFacts,
    doses: &[sesshu_domain::Dose],
    held: &BTreeMap<String, HeldBack>,
    release_protected: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    match p.status {
        ResidentStatus::Resident => {}
        ResidentStatus::MovedOut => out.push("転出しています".into()),
        ResidentStatus::Deceased => out.push("死亡しています".into()),
        ResidentStatus::NonResident => out.push("住登外者です".into()),
    }
    if let Some(why) = held.get(m.address_number) {
        out.push(why.problem.into());
    }
    if p.protected && !release_protected && !m.protected {
        out.push("支援措置の対象なのに住所を伏せる印がありません".into());
    }
    let request = EvalRequest::for_person(p.birth_date, p.sex, doses, query.as_of);
    let Some(f) = engine.forecast_one(&request, &query.series) else {
        out.push("系列がありません".into());
        return out;
    };
    match (f.next_dose, f.window) {
        (None, _) => out.push("接種は完了しています".into()),
        (Some(_), None) => out.push(format!("対象外です: {}", f.reason)),
        (Some(n), Some([a, b])) => {
            if n != m.dose {
                out.push(format!("次は{n}回目です"));
            }
            if [a, b] != m.window {
                out.push(format!("接種できる期間が {a}〜{b} です"));
            }
            if b < query.from || a > query.to {
                out.push("接種できる期間が抽出期間と重なりません".into());
            }
        }
    }
    out
}

type Verdict = Result<(u32, String, [CivilDate; 2], Option<[CivilDate; 2]>, String), &'static str>;

fn judge(
    f: &Forecast,
    q: &RecallQuery,
    address: &str,
    notified: Option<&BTreeSet<String>>,
) -> Verdict {
    let Some(dose) = f.next_dose else {
        return Err(if f.in_target || f.total_doses.is_some() {
            exclusion::COMPLETE
        } else {
            exclusion::NOT_IN_TARGET
        });
    };
    let Some([open, close]) = f.window else {
        return Err(exclusion::NOT_IN_TARGET);
    };
    if q.dose.is_some_and(|d| d != dose) {
        return Err(exclusion::OTHER_DOSE);
    }
    let fits = match q.basis {
        RecallBasis::Opens => q.from <= open && open <= q.to,
        RecallBasis::Open => open <= q.to && close >= q.from,
    };
    if !fits {
        return Err(exclusion::OUTSIDE_PERIOD);
    }
    if let Some(n) = notified
        && !n.contains(address)
    {
        return Err(exclusion::NOT_NOTIFIED);
    }
    let stage = f
        .next_stage
        .clone()
        .unwrap_or_else(|| format!("{dose}回目"));
    let reason = match (q.basis, notified.is_some()) {
        (_, true) => format!("{stage}: 前回の通知の後も接種記録なし、{open}〜{close} に接種可能"),
        (RecallBasis::Opens, false) => {
            format!("{stage}: 接種できる期間が {open} に始まる(〜{close})")
        }
        (RecallBasis::Open, false) => format!("{stage}: 未接種、{open}〜{close} に接種可能"),
    };
    Ok((dose, stage, [open, close], f.standard_window, reason))
}

fn series_name(engine: &Engine, key: &str) -> Option<String> {
    let book = engine.rules();
    book.series
        .iter()
        .find(|s| s.key == key)
        .map(|s| s.name.clone())
        .or_else(|| {
            book.sequences.iter().find(|q| q.key == key).map(|q| {
                q.parts
                    .iter()
                    .filter_map(|p| book.series.iter().find(|s| &s.key == p))
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join("・")
            })
        })
}

/// The birth dates whose series window meets the period, found by asking the engine about a
/// person with no history born every [`PROBE_STEP_DAYS`], widened by [`BIRTH_MARGIN_DAYS`]; `None` when no
/// birth date qualifies. Reading only these persons is what makes a recall over a large town
/// fast, and asking the engine (not a table of ages) is what keeps it right.
pub(crate) fn birth_range(engine: &Engine, q: &RecallQuery) -> Option<(CivilDate, CivilDate)> {
    let oldest = q.to.checked_sub_months(Months::new(12 * MAX_AGE_YEARS))?;
    let mut found: Option<(CivilDate, CivilDate)> = None;
    // A cohort notice of the dose a person with no history would get next (Hib's first, MR's
    // second period) depends on the birth date alone: only births whose window opens in the
    // period qualify. Anything else may depend on earlier doses: every birth whose window
    // meets the period, widened by the margin.
    let mut tight = q.basis == RecallBasis::Opens;
    let mut day = oldest;
    // Each sex's previous probe: its birth date and the day its window opened.
    let mut last_opening: [Option<(CivilDate, CivilDate)>; 2] = [None, None];
    // One probe past the period's end, so that its last days fall between two probes too.
    let last = q.to.checked_add_days(chrono::Days::new(PROBE_STEP_DAYS))?;
    while day <= last {
        for sex in [SexCode::F, SexCode::M] {
            let request = EvalRequest {
                birth_date: day,
                sex,
                history: Vec::new(),
                as_of: q.as_of.max(day),
                context: Default::default(),
            };
            let Some(f) = engine.forecast_one(&request, &q.series) else {
                continue;
            };
            let Some([a, b]) = f.window else {
                continue;
            };
            let first_dose =
                f.total_doses == Some(1) || (q.dose.is_some() && q.dose == f.next_dose);
            tight &= first_dose;
            let previous = last_opening[usize::from(sex == SexCode::M)].replace((day, a));
            let keep = if first_dose && q.basis == RecallBasis::Opens {
                // Probes are a week apart, so a short period may fall between the openings of
                // two probes: then the births between them are the cohort.
                let straddled = previous.filter(|(_, before)| *before < q.from && a > q.to);
                if let Some((before, _)) = straddled {
                    found = Some(found.map_or((before, before), |(lo, _)| (lo, before)));
                }
                straddled.is_some() || (q.from <= a && a <= q.to)
            } else {
                a <= q.to && b >= q.from
            };
            if keep {
                found = Some(match found {
                    None => (day, day),
                    Some((lo, _)) => (lo, day),
                });
            }
        }
        day = day.checked_add_days(chrono::Days::new(PROBE_STEP_DAYS))?;
    }
    let (a, b) = found?;
    let margin = chrono::Days::new(if tight {
        2 * PROBE_STEP_DAYS
    } else {
        BIRTH_MARGIN_DAYS + PROBE_STEP_DAYS
    });
    Some((
        a.checked_sub_days(margin).unwrap_or(a),
        b.checked_add_days(margin).unwrap_or(b).min(q.to),
    ))
}

fn cohorts(members: &[RecallMember]) -> Vec<Cohort> {
    let mut by_month: BTreeMap<String, Cohort> = BTreeMap::new();
    for m in members {
        let key = format!("{:04}-{:02}", m.birth_date.year(), m.birth_date.month());
        let c = by_month.entry(key.clone()).or_insert(Cohort {
            born: key,
            count: 0,
            window: m.window,
        });
        c.count += 1;
        c.window = [c.window[0].min(m.window[0]), c.window[1].max(m.window[1])];
    }
    by_month.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> CivilDate {
        sesshu_domain::parse_date(s).unwrap()
    }

    /// The day the window of a first dose opens for a person born on `birth`.
    fn opening(engine: &Engine, series: &str, birth: CivilDate) -> CivilDate {
        let request = EvalRequest {
            birth_date: birth,
            sex: SexCode::F,
            history: Vec::new(),
            as_of: birth,
            context: Default::default(),
        };
        engine
            .forecast_one(&request, series)
            .unwrap()
            .window
            .unwrap()[0]
    }

    #[test]
    fn a_period_of_one_day_still_finds_the_births_whose_window_opens_on_it() {
        let engine = Engine::new(sesshu_schedule::RuleBook::builtin().unwrap());
        // Eight births in a row: whatever the probes' phase, some fall between two probes.
        let week = |series: &'static str, first: &str| {
            let first = day(first);
            (0..8).map(move |n| (series, first + chrono::Days::new(n)))
        };
        for (series, birth) in week("hib", "2025-12-27")
            .chain(week("hib", "2026-02-24"))
            .chain(week("bcg", "2026-03-01"))
            .chain(week("mr2", "2020-03-29"))
        {
            let opens = opening(&engine, series, birth);
            let q = RecallQuery {
                series: series.into(),
                dose: Some(1),
                from: opens,
                to: opens,
                basis: RecallBasis::Opens,
                recall_of: None,
                as_of: day("2025-01-01"),
            };
            let (lo, hi) = birth_range(&engine, &q)
                .unwrap_or_else(|| panic!("{series} opening {opens}: no births at all"));
            assert!(
                lo <= birth && birth <= hi,
                "{series}: born {birth}, opens {opens}, range {lo}..{hi}"
            );
        }
    }
}
