//! The interpreter of the rules file: judges each recorded dose by the rules of its date, then
//! forecasts every series on a given day.
//!
//! Doses are processed in date order. Each is judged once, by the first series that judges its
//! product (and ordinal) and whose target admits it; a dose that counts then also advances every
//! other series that counts its product (a 5種混合 dose advances Hib and the DPT 1期).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sesshu_domain::CivilDate;

use crate::arith::{AgeBound, Interval, MonthEnd, shift_days};
use crate::contract::{
    AntibodyResult, Context, EvalRequest, EvalResponse, Forecast, Judgement, SexCode,
};
use crate::rules::{DoseRule, Group, Live, Route, RuleBook, SeriesRule, SexRule};

/// Since 2020-10-01 only injectable live → injectable live needs an interval (R-INT-3).
const LIVE_RULE_FROM: (i32, u32, u32) = (2020, 10, 1);

pub struct Engine {
    book: RuleBook,
}

/// One history entry while it is being judged.
#[derive(Debug, Clone)]
struct Entry {
    input: usize,
    product: String,
    ordinal: u32,
    date: CivilDate,
    result: Option<AntibodyResult>,
    live: Option<Live>,
    test: bool,
    counted: bool,
    /// The series that judged the dose, when it counted.
    judged_in: Option<String>,
    /// Counted under a shorter interval that calls for an extra dose (HPV 9価).
    short: bool,
}

/// A person as the rules see them.
struct Subject<'a> {
    birth: CivilDate,
    sex: SexCode,
    context: &'a Context,
    month_end: MonthEnd,
    as_of: CivilDate,
}

impl Subject<'_> {
    fn at(&self, bound: AgeBound) -> CivilDate {
        bound.date(self.birth).unwrap_or(NaiveDate::MAX)
    }
}

/// Why a dose is not routine, kept apart so voluntary-counts rules can tell kinds apart.
enum Refusal {
    Target(String),
    Other(String),
}

/// The binding constraint on the next dose, for the staff's one-line explanation.
struct Constraint {
    date: CivilDate,
    text: String,
}

impl Engine {
    pub fn new(book: RuleBook) -> Self {
        Self { book }
    }

    pub fn rules(&self) -> &RuleBook {
        &self.book
    }

    /// The judgement a dose of `product` given on `request.as_of` would get, in one line: the
    /// clinic's question before the needle (issue 21). The dose takes the ordinal due next in
    /// the series that judges the product (an eligible one first); the request is not changed.
    pub fn check_dose(&self, request: &EvalRequest, product: &str) -> Judgement {
        let (subject, entries, _) = self.judge_all(request);
        let due: Vec<Forecast> = self
            .book
            .series
            .iter()
            .filter(|s| judges(s, product))
            .map(|s| self.forecast(&subject, s, &entries, request.as_of))
            .collect();
        let ordinal = due
            .iter()
            .filter(|f| f.eligible)
            .chain(&due)
            .find_map(|f| f.next_dose)
            .unwrap_or(1);
        let mut with = request.clone();
        with.history.push(crate::contract::HistoryItem {
            vaccine: product.to_owned(),
            dose: ordinal,
            date: request.as_of,
            result: None,
        });
        let (_, _, judgements) = self.judge_all(&with);
        judgements
            .into_iter()
            .last()
            .flatten()
            .unwrap_or_else(unjudged)
    }

    /// The forecast of one series (or sequence) alone: what a recall over the whole register
    /// needs, without forecasting every other series of every person.
    pub fn forecast_one(&self, request: &EvalRequest, key: &str) -> Option<Forecast> {
        let (subject, entries, _) = self.judge_all(request);
        if let Some(s) = self.book.series.iter().find(|s| s.key == key) {
            return Some(self.forecast(&subject, s, &entries, request.as_of));
        }
        let q = self.book.sequences.iter().find(|q| q.key == key)?;
        let parts: Vec<Forecast> = q
            .parts
            .iter()
            .filter_map(|p| self.book.series.iter().find(|s| &s.key == p))
            .map(|s| self.forecast(&subject, s, &entries, request.as_of))
            .collect();
        Some(sequence_forecast(&parts.iter().collect::<Vec<_>>()))
    }

    /// The request's subject, its history in date order with each entry judged, and the
    /// judgements in request order.
    fn judge_all<'r>(
        &self,
        request: &'r EvalRequest,
    ) -> (Subject<'r>, Vec<Entry>, Vec<Option<Judgement>>) {
        let subject = Subject {
            birth: request.birth_date,
            sex: request.sex,
            context: &request.context,
            month_end: self.book.settings.month_end,
            as_of: request.as_of,
        };
        let mut entries: Vec<Entry> = request
            .history
            .iter()
            .enumerate()
            .map(|(input, h)| {
                let product = self.book.product(&h.vaccine);
                Entry {
                    input,
                    product: h.vaccine.clone(),
                    ordinal: h.dose,
                    date: h.date,
                    result: h.result,
                    live: product.map(|p| p.live),
                    test: product.is_some_and(|p| p.test),
                    counted: false,
                    judged_in: None,
                    short: false,
                }
            })
            .collect();
        entries.sort_by_key(|e| (e.date, e.input));

        let mut judgements: Vec<Option<Judgement>> = vec![None; entries.len()];
        for i in 0..entries.len() {
            let (judgement, counted, short) = self.judge(&subject, &entries, i);
            entries[i].counted = counted;
            entries[i].judged_in = judgement.series.clone().filter(|_| counted);
            entries[i].short = short;
            judgements[entries[i].input] = Some(judgement);
        }
        (subject, entries, judgements)
    }

    pub fn evaluate(&self, request: &EvalRequest) -> EvalResponse {
        let (subject, entries, judgements) = self.judge_all(request);
        let mut series = BTreeMap::new();
        for s in &self.book.series {
            series.insert(
                s.key.clone(),
                self.forecast(&subject, s, &entries, request.as_of),
            );
        }
        for q in &self.book.sequences {
            let parts: Vec<&Forecast> = q.parts.iter().filter_map(|p| series.get(p)).collect();
            let whole = sequence_forecast(&parts);
            series.insert(q.key.clone(), whole);
        }
        EvalResponse {
            series,
            history: judgements
                .into_iter()
                .map(|j| j.unwrap_or_else(unjudged))
                .collect(),
        }
    }

    // ── judging a dose ───────────────────────────────────────────────────────────────────────

    fn judge(&self, subject: &Subject, entries: &[Entry], i: usize) -> (Judgement, bool, bool) {
        let entry = &entries[i];
        if entry.live.is_none() {
            let judgement = Judgement {
                routine: Some(false),
                reason: format!("不明な製品コード {:?}", entry.product),
                series: None,
                stage: None,
            };
            return (judgement, false, false);
        }
        let candidates: Vec<&SeriesRule> = self
            .book
            .series
            .iter()
            .filter(|s| judges(s, &entry.product) && ordinal_fits(s, entry.ordinal))
            .collect();
        if candidates.is_empty() {
            let judgement = Judgement {
                routine: Some(false),
                reason: format!(
                    "{} の{}回目は定期接種の接種回にありません",
                    entry.product, entry.ordinal
                ),
                series: None,
                stage: None,
            };
            return (judgement, false, false);
        }
        let admitted = candidates.iter().copied().find(|s| {
            sex_fits(s, subject.sex)
                && self
                    .routes(subject, s, entries)
                    .iter()
                    .any(|(_, w)| w.0 <= entry.date && entry.date <= w.1)
        });
        let series = admitted.unwrap_or_else(|| closest_candidate(subject, &candidates, entry));
        // A seasonal series starts afresh each season.
        let season = series.season.map(|s| season_around(s, entry.date));
        let routes = self.routes(subject, series, entries);
        let counted_before: Vec<&Entry> = entries[..i]
            .iter()
            .filter(|e| self.counts_for(series, &routes, e))
            .filter(|e| season.is_none_or(|(from, _)| e.date >= from))
            .collect();

        if entry.test {
            let reason = match entry.result {
                Some(AntibodyResult::Low) => "抗体検査: 抗体価不十分(接種対象)",
                Some(AntibodyResult::Sufficient) => "抗体検査: 抗体価十分(接種不要)",
                None => "抗体検査: 結果未登録",
            };
            let judgement = Judgement {
                routine: None,
                reason: reason.into(),
                series: Some(series.key.clone()),
                stage: Some("抗体検査".into()),
            };
            return (judgement, true, false);
        }

        let Some((group, progress)) =
            self.position(subject, series, &counted_before, entry.date, &entry.product)
        else {
            return self.refused(
                series,
                None,
                Refusal::Other(format!(
                    "{}は接種完了済み(全{}回)",
                    series.name,
                    counted_before.len()
                )),
                entry,
            );
        };
        let rule = &group.doses[progress.index];
        match self.check(
            subject,
            series,
            rule,
            &progress,
            &counted_before,
            entries,
            i,
        ) {
            Ok(short) => {
                let reason = if short {
                    format!("定期接種({})。間隔が短いため次の接種が必要", rule.stage)
                } else {
                    format!("定期接種({})", rule.stage)
                };
                let judgement = Judgement {
                    routine: Some(true),
                    reason,
                    series: Some(series.key.clone()),
                    stage: Some(rule.stage.clone()),
                };
                (judgement, true, short)
            }
            Err(refusal) => self.refused(series, Some(rule), refusal, entry),
        }
    }

    fn refused(
        &self,
        series: &SeriesRule,
        rule: Option<&DoseRule>,
        refusal: Refusal,
        entry: &Entry,
    ) -> (Judgement, bool, bool) {
        let before_routine = series.counts_before.is_some_and(|d| entry.date < d);
        let (reason, counted) = match refusal {
            Refusal::Target(r) => (r, series.prior_voluntary_counts || before_routine),
            Refusal::Other(r) => (r, before_routine),
        };
        let reason = if counted {
            format!("{reason}。接種済みとして数える")
        } else {
            reason
        };
        let judgement = Judgement {
            routine: Some(false),
            reason,
            series: Some(series.key.clone()),
            stage: rule.map(|r| r.stage.clone()),
        };
        (judgement, counted, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        subject: &Subject,
        series: &SeriesRule,
        rule: &DoseRule,
        progress: &Progress,
        counted: &[&Entry],
        entries: &[Entry],
        i: usize,
    ) -> Result<bool, Refusal> {
        let entry = &entries[i];
        let date = entry.date;
        if !sex_fits(series, subject.sex) {
            return Err(Refusal::Target(sex_text(series)));
        }
        if let Some(only) = &rule.product
            && !only.contains(&entry.product)
        {
            return Err(Refusal::Other(format!(
                "{}には {} を使用する",
                rule.stage,
                only.join("/")
            )));
        }
        if !series
            .products
            .iter()
            .any(|p| p.code == entry.product && p.in_force(date))
        {
            return Err(Refusal::Other(format!(
                "{} は{}時点で{}の定期接種に使用できない製品",
                entry.product, date, series.name
            )));
        }
        if let Some(first) = counted.first()
            && let Some(switch) = series.switch.iter().find(|w| w.started == first.product)
            && !switch.continue_with.contains(&entry.product)
        {
            return Err(Refusal::Other(format!(
                "{}で開始した接種は{}で継続する",
                first.product,
                switch.continue_with.join("/")
            )));
        }
        if let Some(text) = self.excluded(subject, series, entries, i) {
            return Err(Refusal::Other(text));
        }
        self.route_admits(subject, series, entries, date)?;
        if let Some(min) = rule.min_age
            && date < subject.at(min)
        {
            return Err(Refusal::Other(format!(
                "{}({})以降に接種が必要",
                min.label(),
                subject.at(min)
            )));
        }
        for (bound, word) in [(rule.deadline, "期限"), (rule.latest, "期限")] {
            if let Some(b) = bound
                && date > subject.at(b)
            {
                return Err(Refusal::Target(format!(
                    "{word}({}: {})を過ぎているため任意接種",
                    b.label(),
                    subject.at(b)
                )));
            }
        }
        if let Some(result) = &rule.requires_result {
            let last_test = entries[..i]
                .iter()
                .rev()
                .find(|e| e.test && counts(series, e));
            let ok = last_test
                .and_then(|t| t.result)
                .is_some_and(|r| result_name(r) == result);
            if !ok {
                return Err(Refusal::Other(
                    "抗体検査で抗体価不十分と判定された後に接種する".into(),
                ));
            }
        }
        let mut short = false;
        for c in interval_constraints(subject, rule, progress, counted) {
            if date < c.date {
                let short_ok = rule.short_ok.zip(counted.last()).and_then(|(iv, prev)| {
                    iv.next_allowed(prev.date, subject.month_end)
                        .filter(|d| *d <= date)
                });
                if short_ok.is_some() && c.is_previous {
                    short = true;
                    continue;
                }
                return Err(Refusal::Other(c.text));
            }
        }
        if let Some(c) = live_constraint(entries, i) {
            return Err(Refusal::Other(c.text));
        }
        if let Some(season) = series.season {
            let (from, until) = season_around(season, date);
            if !(from <= date && date <= until) {
                return Err(Refusal::Other(format!(
                    "接種期間({}〜{})外",
                    season[0], season[1]
                )));
            }
            if counted.iter().any(|e| from <= e.date && e.date <= until) {
                return Err(Refusal::Other(format!("今季({from}〜{until})は接種済み")));
            }
        }
        if let Some([lo, hi]) = series.pregnancy
            && let Some(ga) = subject.context.gestational_age
        {
            // Weeks of pregnancy on the dose date, counted back from the request's day.
            let start = pregnancy_start(subject, ga);
            if let Some(start) = start
                && date >= start
            {
                let days = (date - start).num_days();
                if days < i64::from(lo.0) || days > i64::from(hi.0) {
                    return Err(Refusal::Target(format!(
                        "妊娠{lo}から{hi}までに接種する(接種日は{}w{}d)",
                        days / 7,
                        days % 7
                    )));
                }
            }
        }
        Ok(short)
    }

    /// Whether a counted dose counts for `series`: when that series judged it, when it was given
    /// in the series' target (`routes`), or when both series are parts of one sequence (日本脳炎
    /// 1期 doses count for the 特例). A product that serves two series counts only for the one in
    /// whose target it was given: a child's PCV20 doses do not complete 高齢者の肺炎球菌感染症.
    fn counts_for(
        &self,
        series: &SeriesRule,
        routes: &[(&Route, (CivilDate, CivilDate))],
        e: &Entry,
    ) -> bool {
        if !e.counted || !counts(series, e) {
            return false;
        }
        match &e.judged_in {
            Some(k) if *k == series.key => true,
            Some(k)
                if self
                    .book
                    .sequences
                    .iter()
                    .any(|q| q.parts.contains(k) && q.parts.contains(&series.key)) =>
            {
                true
            }
            _ => routes.iter().any(|(_, w)| w.0 <= e.date && e.date <= w.1),
        }
    }

    /// Whether an earlier dose of the excluding products rules this one out (R-PNEU-3).
    fn excluded(
        &self,
        subject: &Subject,
        series: &SeriesRule,
        entries: &[Entry],
        i: usize,
    ) -> Option<String> {
        if series.excluded_after.is_empty() {
            return None;
        }
        let adult = subject.at(AgeBound {
            mark: crate::arith::Mark::Months(18 * 12),
            shift: 0,
        });
        let prior = entries[..i].iter().find(|e| {
            series.excluded_after.contains(&e.product)
                && e.date >= adult
                && (e.counted || series.excluded_after_voluntary_too)
        })?;
        Some(format!(
            "{}({})を接種済みのため対象外",
            prior.product, prior.date
        ))
    }

    fn route_admits(
        &self,
        subject: &Subject,
        series: &SeriesRule,
        entries: &[Entry],
        date: CivilDate,
    ) -> Result<(), Refusal> {
        let routes = self.routes(subject, series, entries);
        if routes.iter().any(|(_, w)| w.0 <= date && date <= w.1) {
            return Ok(());
        }
        Err(Refusal::Target(
            match routes.iter().find(|(_, w)| date < w.0) {
                Some((r, w)) if routes.iter().all(|(_, v)| date < v.0) => {
                    format!("対象年齢前({}から)", describe_start(subject, r, w.0))
                }
                _ => match routes.iter().map(|(_, w)| w.1).max() {
                    Some(end) if end < NaiveDate::MAX => {
                        format!("対象期間({end}まで)外のため任意接種")
                    }
                    _ => "定期接種の対象外(任意接種)".into(),
                },
            },
        ))
    }

    /// The windows in which this person is a target of the series, with their routes.
    fn routes<'r>(
        &self,
        subject: &Subject,
        series: &'r SeriesRule,
        entries: &[Entry],
    ) -> Vec<(&'r Route, (CivilDate, CivilDate))> {
        let mut out = Vec::new();
        if !sex_fits(series, subject.sex) {
            return out;
        }
        for route in &series.routes {
            if route.born_from.is_some_and(|b| subject.birth < b)
                || route.born_until.is_some_and(|b| subject.birth > b)
                || route
                    .context
                    .as_deref()
                    .is_some_and(|c| !subject.context.flag(c))
            {
                continue;
            }
            if let Some([lo, hi]) = route.requires_dose_between
                && !entries
                    .iter()
                    .any(|e| series.counts.contains(&e.product) && lo <= e.date && e.date <= hi)
            {
                continue;
            }
            if let Some(by) = route.requires_low_result_by
                && !entries
                    .iter()
                    .any(|e| e.test && e.result == Some(AntibodyResult::Low) && e.date <= by)
            {
                continue;
            }
            let start = [
                route.from.map(|a| subject.at(a)),
                route.period_from,
                Some(subject.birth),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(subject.birth);
            let end = [route.until.map(|a| subject.at(a)), route.period_until]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(NaiveDate::MAX);
            if start <= end {
                out.push((route, (start, end)));
            }
        }
        // 長期療養特例 (R-LTC-1): the missed doses until `years` after the circumstance ended.
        if let (Some(end_of_care), Some(ltc)) =
            (subject.context.long_term_care_end, &series.long_term_care)
            && let Some(first) = out.first().map(|(r, w)| (*r, w.0))
        {
            let limit = sesshu_domain::age::date_reaching_months(end_of_care, ltc.years * 12)
                .unwrap_or(NaiveDate::MAX);
            let cap = ltc.cap.map(|c| subject.at(c)).unwrap_or(NaiveDate::MAX);
            let end = limit.min(cap);
            if end_of_care >= first.1 && first.1 <= end {
                out.push((first.0, (first.1, end)));
            }
        }
        out
    }

    /// Which group and dose a counted history puts the next dose at, on `on`. `None` when the
    /// series is complete.
    fn position<'g>(
        &self,
        subject: &Subject,
        series: &'g SeriesRule,
        counted: &[&Entry],
        on: CivilDate,
        product: &str,
    ) -> Option<(&'g Group, Progress)> {
        let (start_date, start_product) = counted
            .first()
            .map(|e| (e.date, e.product.as_str()))
            .unwrap_or((on, product));
        let group = pick_group(subject, series, start_date, start_product);
        let mut progress = Progress::default();
        let any_short = counted.iter().any(|e| e.short);
        let mut previous: Option<&Entry> = None;
        for dose in counted {
            progress = advance(subject, group, progress, previous, dose.date, any_short)?;
            progress.index += 1;
            previous = Some(dose);
        }
        let p = advance(subject, group, progress, previous, on, any_short)?;
        Some((group, p))
    }

    // ── forecasting ──────────────────────────────────────────────────────────────────────────

    fn forecast(
        &self,
        subject: &Subject,
        series: &SeriesRule,
        entries: &[Entry],
        as_of: CivilDate,
    ) -> Forecast {
        let routes = self.routes(subject, series, entries);
        let counted: Vec<&Entry> = entries
            .iter()
            .filter(|e| self.counts_for(series, &routes, e) && e.date <= as_of)
            .collect();
        let mut in_target_today = routes.iter().any(|(_, w)| w.0 <= as_of && as_of <= w.1);
        let mut f = Forecast {
            in_target: in_target_today,
            eligible: false,
            next_dose: None,
            next_stage: None,
            earliest_date: None,
            window: None,
            standard_window: None,
            total_doses: None,
            schedule_group: None,
            route: None,
            allowed_products: Vec::new(),
            recommended_product: None,
            reason: String::new(),
        };
        if !sex_fits(series, subject.sex) {
            f.reason = sex_text(series);
            return f;
        }
        if let Some(text) = self.excluded(subject, series, entries, entries.len()) {
            f.in_target = false;
            f.reason = text;
            return f;
        }
        if let Some(other) = entries
            .iter()
            .find(|e| e.counted && e.date <= as_of && series.exclusive_with.contains(&e.product))
        {
            f.in_target = false;
            f.reason = format!("{}で接種中のため対象外", other.product);
            return f;
        }
        if routes.is_empty() {
            f.reason = format!("{}の定期接種の対象外", series.name);
            return f;
        }
        if series.pregnancy.is_some() && subject.context.gestational_age.is_none() {
            f.in_target = false;
            f.reason = "妊娠週数が不明のため判定できない(context.gestational_age)".into();
            return f;
        }

        // The product a new starter would get, to place them in a group before any dose.
        let start_on = routes
            .iter()
            .map(|(_, w)| w.0)
            .filter(|d| *d >= as_of)
            .min()
            .map_or(as_of, |d| if in_target_today { as_of } else { d });
        let basis = basis_product(series, start_on)
            .or_else(|| series.products.iter().find(|p| p.in_force(start_on)))
            .map(|p| p.code.clone())
            .unwrap_or_default();
        // One routine dose per season: a dose this season moves the next to the following one.
        let mut season_from = None;
        let counted = match series.season {
            Some(season) => {
                let current = season_around(season, as_of);
                let done = counted
                    .iter()
                    .any(|e| current.0 <= e.date && e.date <= current.1);
                season_from = Some(if done {
                    shift_days(current.1, 1).unwrap_or(NaiveDate::MAX)
                } else {
                    as_of
                });
                Vec::new()
            }
            None => counted,
        };
        let mut pregnancy_window = None;
        if let (Some([lo, hi]), Some(ga)) = (series.pregnancy, subject.context.gestational_age) {
            // This pregnancy only: doses before its start belong to an earlier one.
            let start = pregnancy_start(subject, ga).unwrap_or(as_of);
            let done = counted.iter().any(|e| e.date >= start);
            if done {
                f.total_doses = Some(1);
                f.reason = "今回の妊娠中に接種済み".into();
                return f;
            }
            let window = (
                shift_days(start, i64::from(lo.0)).unwrap_or(start),
                shift_days(start, i64::from(hi.0)).unwrap_or(start),
            );
            // The target is the weeks of pregnancy, as an age window is for other series: a
            // woman before or past them is not in target today.
            in_target_today = in_target_today && window.0 <= as_of && as_of <= window.1;
            f.in_target = in_target_today;
            pregnancy_window = Some(window);
        }

        let first_product = counted
            .first()
            .map_or(basis.as_str(), |e| e.product.as_str());
        let counted = &counted;
        let Some((group, mut progress)) =
            self.position(subject, series, counted, as_of, first_product)
        else {
            let start = counted.first().map_or(as_of, |e| e.date);
            let group = pick_group(subject, series, start, first_product);
            f.total_doses = Some(expected_total(subject, group, counted, None));
            f.schedule_group = group.label.clone().filter(|_| series.report_group);
            f.reason = format!("接種完了(全{}回)", counted.len());
            return f;
        };
        if series.report_group {
            f.schedule_group = group.label.clone();
        }
        if let Some(last_test) = counted.last().filter(|e| e.test)
            && last_test.result == Some(AntibodyResult::Sufficient)
        {
            f.total_doses = Some(0);
            f.reason = "抗体価が十分なため接種不要".into();
            return f;
        }

        // Walk past doses whose deadline cannot be met any more.
        let (rule, constraints) = loop {
            let rule = &group.doses[progress.index];
            let mut constraints = interval_constraints(subject, rule, &progress, counted)
                .into_iter()
                .map(|c| Constraint {
                    date: c.date,
                    text: c.text,
                })
                .collect::<Vec<_>>();
            if let Some(min) = rule.min_age {
                constraints.push(Constraint {
                    date: subject.at(min),
                    text: format!("{}({})から接種可能", min.label(), subject.at(min)),
                });
            }
            let earliest = constraints
                .iter()
                .map(|c| c.date)
                .max()
                .unwrap_or(as_of)
                .max(as_of);
            let over = rule.deadline.is_some_and(|d| earliest > subject.at(d));
            if over {
                let previous = counted.last().copied();
                match advance(
                    subject,
                    group,
                    Progress {
                        index: progress.index + 1,
                        skipped: true,
                    },
                    previous,
                    as_of,
                    counted.iter().any(|e| e.short),
                ) {
                    Some(p) => {
                        progress = p;
                        continue;
                    }
                    None => {
                        f.reason = "定期接種の期限を過ぎ、残りの接種はない".into();
                        f.total_doses = Some(expected_total(subject, group, counted, None));
                        return f;
                    }
                }
            }
            break (rule, constraints);
        };
        let mut constraints = constraints;

        // Products for this dose.
        let started = counted.first().map(|e| e.product.clone());
        let continue_with = started
            .as_ref()
            .and_then(|s| series.switch.iter().find(|w| &w.started == s))
            .map(|w| w.continue_with.clone());
        let allowed_on = |day: CivilDate| -> Vec<String> {
            let mut codes: Vec<String> = Vec::new();
            for p in &series.products {
                if p.in_force(day)
                    && rule
                        .product
                        .as_ref()
                        .is_none_or(|only| only.contains(&p.code))
                    && continue_with.as_ref().is_none_or(|c| c.contains(&p.code))
                    && !codes.contains(&p.code)
                {
                    codes.push(p.code.clone());
                }
            }
            codes
        };

        // Live-vaccine interval (R-INT-3) when every product of this dose is injectable live.
        let probe = allowed_on(as_of);
        let all_live = !probe.is_empty()
            && probe.iter().all(|c| {
                self.book
                    .product(c)
                    .is_some_and(|p| p.live == Live::Injectable)
            });
        if all_live
            && let Some(last) = entries
                .iter()
                .filter(|e| {
                    e.live == Some(Live::Injectable)
                        && e.date <= as_of
                        && !probe.contains(&e.product)
                })
                .max_by_key(|e| e.date)
            && let Some(next) = shift_days(last.date, 28)
        {
            constraints.push(Constraint {
                date: next,
                text: format!(
                    "注射生ワクチン({} {})から27日以上の間隔が必要: {}以降",
                    last.product, last.date, next
                ),
            });
        }

        // The window: the route this dose falls in, narrowed by the dose's own deadline.
        let not_before = constraints.iter().map(|c| c.date).max().unwrap_or(as_of);
        let mut windows: Vec<(&Route, (CivilDate, CivilDate))> = routes
            .iter()
            .map(|(r, w)| {
                let mut w = *w;
                for b in [rule.deadline, rule.latest].into_iter().flatten() {
                    w.1 = w.1.min(subject.at(b));
                }
                if let Some((s, e)) = pregnancy_window {
                    w = (w.0.max(s), w.1.min(e));
                }
                if let (Some(season), Some(from)) = (series.season, season_from) {
                    let (s, e) = season_around(season, from.max(w.0));
                    w = (w.0.max(s), w.1.min(e));
                }
                (*r, w)
            })
            .filter(|(_, w)| w.0 <= w.1)
            .collect();
        windows.sort_by_key(|(_, w)| w.0);
        let chosen = windows
            .iter()
            .find(|(_, w)| w.1 >= as_of.max(not_before))
            .or_else(|| windows.iter().find(|(_, w)| w.1 >= as_of));
        let stage = rule.stage.clone();
        let ordinal = rule
            .ordinal
            .unwrap_or(progress.index as u32 + first_ordinal(series));
        f.total_doses = Some(expected_total(
            subject,
            group,
            counted,
            Some((progress.index, not_before.max(as_of))),
        ));
        let Some((route, window)) = chosen.copied() else {
            let end = windows.iter().map(|(_, w)| w.1).max();
            f.reason = match end {
                Some(end) => format!("定期接種の期間({end}まで)を過ぎている"),
                None => format!("{}の定期接種の対象外", series.name),
            };
            if series.report_route {
                f.route = None;
            }
            return f;
        };
        let earliest = not_before.max(window.0).max(as_of);
        f.next_dose = Some(ordinal);
        f.next_stage = Some(stage.clone());
        f.window = Some([window.0, window.1]);
        if series.report_route {
            f.route = Some(route.name.clone());
        }
        // A standard period that closed before this route opened (a catch-up) says nothing.
        f.standard_window = standard_window(subject, rule, counted).filter(|w| w[1] >= window.0);
        if earliest > window.1 {
            f.reason = format!(
                "{}: 必要な間隔をおくと定期接種の期間({}まで)を過ぎる",
                stage, window.1
            );
            f.next_dose = None;
            f.next_stage = None;
            f.window = None;
            f.standard_window = None;
            return f;
        }
        f.earliest_date = Some(earliest);
        f.eligible = in_target_today && earliest <= as_of;
        f.allowed_products = allowed_on(earliest);
        let recommended = started
            .filter(|s| f.allowed_products.contains(s))
            .or_else(|| {
                basis_product(series, earliest)
                    .map(|p| p.code.clone())
                    .filter(|c| f.allowed_products.contains(c))
            })
            .or_else(|| f.allowed_products.first().cloned());
        f.recommended_product = recommended;

        let binding = constraints
            .iter()
            .filter(|c| c.date > as_of && c.date >= window.0)
            .max_by_key(|c| c.date);
        f.reason = if f.eligible {
            format!("接種可能: {stage}({}〜{})", window.0, window.1)
        } else if let Some(c) = binding {
            c.text.clone()
        } else if earliest == window.0 {
            format!(
                "{stage}: {}から接種可能",
                describe_start(subject, route, window.0)
            )
        } else {
            format!("{stage}: {earliest}から接種可能")
        };
        f
    }
}

/// What an entry the judging loop never reached says (none does; kept total rather than panic).
fn unjudged() -> Judgement {
    Judgement {
        routine: Some(false),
        reason: "判定できません".into(),
        series: None,
        stage: None,
    }
}

// ── helpers ─────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    index: usize,
    /// A dose before was skipped by its deadline (Hib 追加 then needs only 27日).
    skipped: bool,
}

/// Moves past doses that no longer apply on `on`. `None` when none is left.
fn advance(
    subject: &Subject,
    group: &Group,
    mut p: Progress,
    previous: Option<&Entry>,
    on: CivilDate,
    any_short: bool,
) -> Option<Progress> {
    while let Some(rule) = group.doses.get(p.index) {
        let past_deadline = rule.deadline.is_some_and(|d| on > subject.at(d));
        let skip_after = rule
            .skip_if_previous_after
            .zip(previous)
            .is_some_and(|(a, prev)| prev.date > subject.at(a));
        if past_deadline || skip_after {
            p.skipped = true;
            p.index += 1;
            continue;
        }
        if rule.only_if_short && !any_short {
            p.index += 1;
            continue;
        }
        return Some(p);
    }
    None
}

struct IntervalConstraint {
    date: CivilDate,
    text: String,
    is_previous: bool,
}

fn interval_constraints(
    subject: &Subject,
    rule: &DoseRule,
    progress: &Progress,
    counted: &[&Entry],
) -> Vec<IntervalConstraint> {
    let mut out = Vec::new();
    let after_previous = if progress.skipped {
        rule.after_previous_if_skipped.or(rule.after_previous)
    } else {
        rule.after_previous
    };
    if let (Some(iv), Some(prev)) = (after_previous, counted.last())
        && let Some(date) = iv.next_allowed(prev.date, subject.month_end)
    {
        out.push(IntervalConstraint {
            date,
            text: format!(
                "前回接種({})から{}の間隔が必要: {}以降",
                prev.date,
                iv.label(),
                date
            ),
            is_previous: true,
        });
    }
    if let (Some(iv), Some(first)) = (rule.after_first, counted.first())
        && let Some(date) = iv.next_allowed(first.date, subject.month_end)
    {
        out.push(IntervalConstraint {
            date,
            text: format!(
                "1回目({})から{}の間隔が必要: {}以降",
                first.date,
                iv.label(),
                date
            ),
            is_previous: false,
        });
    }
    out
}

/// R-INT-3: another injectable live vaccine within 27 days before (since 2020-10-01), or before
/// that date any live vaccine within 27 days / any inactivated within 6 days.
fn live_constraint(entries: &[Entry], i: usize) -> Option<Constraint> {
    let entry = &entries[i];
    let since = NaiveDate::from_ymd_opt(LIVE_RULE_FROM.0, LIVE_RULE_FROM.1, LIVE_RULE_FROM.2)?;
    entries[..i]
        .iter()
        .filter(|e| e.date < entry.date && e.product != entry.product && !e.test)
        .filter_map(|e| {
            let gap: u32 = if entry.date >= since {
                match (e.live, entry.live) {
                    (Some(Live::Injectable), Some(Live::Injectable)) => 27,
                    _ => return None,
                }
            } else {
                match e.live {
                    Some(Live::Injectable | Live::Oral) => 27,
                    Some(Live::None) => 6,
                    None => return None,
                }
            };
            let next = Interval::Days(gap).next_allowed(e.date, MonthEnd::LastDay)?;
            (entry.date < next).then(|| Constraint {
                date: next,
                text: if gap == 27 {
                    format!(
                        "生ワクチン({} {})から27日以上の間隔が必要: {}以降",
                        e.product, e.date, next
                    )
                } else {
                    format!(
                        "不活化ワクチン({} {})から6日以上の間隔が必要: {}以降",
                        e.product, e.date, next
                    )
                },
            })
        })
        .max_by_key(|c| c.date)
}

fn standard_window(
    subject: &Subject,
    rule: &DoseRule,
    counted: &[&Entry],
) -> Option<[CivilDate; 2]> {
    if let Some([a, b]) = rule.standard_age {
        return Some([subject.at(a), subject.at(b)]);
    }
    let [a, b] = rule.standard_after?;
    let prev = counted.last()?;
    Some([
        a.next_allowed(prev.date, subject.month_end)?,
        b.next_allowed(prev.date, subject.month_end)?,
    ])
}

fn pick_group<'g>(
    subject: &Subject,
    series: &'g SeriesRule,
    date: CivilDate,
    product: &str,
) -> &'g Group {
    let product_fits = |g: &Group| {
        g.first_product
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == product))
    };
    let age_fits = |g: &Group| {
        g.start_from.is_none_or(|a| subject.at(a) <= date)
            && g.start_until.is_none_or(|a| date <= subject.at(a))
    };
    series
        .groups
        .iter()
        .find(|g| product_fits(g) && age_fits(g))
        .or_else(|| {
            // Before the first group opens, a person will start in it.
            series
                .groups
                .iter()
                .find(|g| product_fits(g) && g.start_from.is_some_and(|a| date < subject.at(a)))
        })
        .or_else(|| series.groups.iter().rev().find(|g| product_fits(g)))
        .unwrap_or(&series.groups[0])
}

/// How many doses this person's series will have: the doses counted so far, and of those still
/// to come the ones the skipping rules leave (R-HIB-2, R-PCV-2: an 初回 dose that cannot be given
/// by its deadline, or follows a dose given too late, drops out). `next` is the dose due next and
/// the earliest day it can be given, which bounds every later dose from below.
fn expected_total(
    subject: &Subject,
    group: &Group,
    counted: &[&Entry],
    next: Option<(usize, CivilDate)>,
) -> u32 {
    let given = counted.iter().filter(|e| !e.test).count();
    let Some((index, earliest)) = next else {
        return given as u32;
    };
    let short = counted.iter().any(|e| e.short);
    let to_come = group
        .doses
        .iter()
        .enumerate()
        .skip(index)
        .filter(|(_, d)| {
            d.product
                .as_ref()
                .is_none_or(|p| p.iter().all(|c| !c.contains("test")))
        })
        .filter(|(_, d)| !d.only_if_short || short)
        .filter(|(i, d)| {
            *i == index
                || !(d.deadline.is_some_and(|a| earliest > subject.at(a))
                    || d.skip_if_previous_after
                        .is_some_and(|a| earliest > subject.at(a)))
        })
        .count();
    (given + to_come) as u32
}

fn first_ordinal(series: &SeriesRule) -> u32 {
    series.ordinals.map_or(1, |[lo, _]| lo.max(1))
}

fn basis_product(series: &SeriesRule, on: CivilDate) -> Option<&crate::rules::ProductWindow> {
    series.products.iter().find(|p| p.basis && p.in_force(on))
}

fn judges(series: &SeriesRule, product: &str) -> bool {
    series
        .judges
        .as_ref()
        .unwrap_or(&series.counts)
        .iter()
        .any(|p| p == product)
}

fn ordinal_fits(series: &SeriesRule, ordinal: u32) -> bool {
    series
        .ordinals
        .is_none_or(|[lo, hi]| lo <= ordinal && ordinal <= hi)
}

fn counts(series: &SeriesRule, e: &Entry) -> bool {
    series.counts.contains(&e.product) && ordinal_fits(series, e.ordinal)
}

fn sex_fits(series: &SeriesRule, sex: SexCode) -> bool {
    match series.sex {
        None => true,
        Some(SexRule::M) => sex == SexCode::M,
        Some(SexRule::F) => sex == SexCode::F,
    }
}

fn sex_text(series: &SeriesRule) -> String {
    match series.sex {
        Some(SexRule::F) => format!("{}の定期接種は女性のみ", series.name),
        Some(SexRule::M) => format!("{}の定期接種は男性のみ", series.name),
        None => String::new(),
    }
}

fn result_name(r: AntibodyResult) -> &'static str {
    match r {
        AntibodyResult::Low => "low",
        AntibodyResult::Sufficient => "sufficient",
    }
}

/// When no candidate series admits a dose, judge it by the one whose target it is nearest to in
/// age: the last whose window opened before the dose, else the first.
fn closest_candidate<'s>(
    subject: &Subject,
    candidates: &[&'s SeriesRule],
    entry: &Entry,
) -> &'s SeriesRule {
    candidates
        .iter()
        .filter(|s| sex_fits(s, subject.sex))
        .filter_map(|s| {
            let opens = s
                .routes
                .iter()
                .filter_map(|r| r.from.map(|a| subject.at(a)))
                .min()?;
            (opens <= entry.date).then_some((opens, *s))
        })
        .max_by_key(|(opens, _)| *opens)
        .map(|(_, s)| s)
        .unwrap_or(candidates[0])
}

fn describe_start(subject: &Subject, route: &Route, start: CivilDate) -> String {
    match route.from {
        Some(a) if subject.at(a) == start => format!("{}({start})", a.label()),
        _ => start.to_string(),
    }
}

/// The season (from, until) that contains `date`, or the next one after it.
fn season_around(season: [crate::arith::MonthDay; 2], date: CivilDate) -> (CivilDate, CivilDate) {
    use chrono::Datelike;
    let [from, until] = season;
    let wraps = until < from;
    let make = |year: i32| -> Option<(CivilDate, CivilDate)> {
        let start = from.in_year(year)?;
        let end = until.in_year(if wraps { year + 1 } else { year })?;
        Some((start, end))
    };
    for year in [date.year() - 1, date.year(), date.year() + 1] {
        if let Some((s, e)) = make(year)
            && date <= e
        {
            return (s, e);
        }
    }
    (NaiveDate::MAX, NaiveDate::MAX)
}

fn pregnancy_start(subject: &Subject, ga: crate::arith::GestationalAge) -> Option<CivilDate> {
    shift_days(subject.as_of, -i64::from(ga.0))
}

/// MR and JE as one sequence: the first period still to come or open decides.
fn sequence_forecast(parts: &[&Forecast]) -> Forecast {
    let open = parts.iter().find(|f| f.next_dose.is_some());
    match open {
        Some(f) => Forecast {
            in_target: parts.iter().any(|p| p.in_target),
            ..(*f).clone()
        },
        None => Forecast {
            in_target: parts.iter().any(|p| p.in_target),
            eligible: false,
            next_dose: None,
            next_stage: None,
            earliest_date: None,
            window: None,
            standard_window: None,
            total_doses: None,
            schedule_group: None,
            route: None,
            allowed_products: Vec::new(),
            recommended_product: None,
            reason: parts
                .iter()
                .map(|p| p.reason.as_str())
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>()
                .join(" / "),
        },
    }
}
