//! Counts of residents and doses by product (stats.read), small cells suppressed: a
//! municipality's own, or a prefecture's municipalities for its token. The annual table of
//! routine doses by vaccine and 期/回 (地域保健・健康増進事業報告): exact for the office, hidden
//! and rounded for a prefecture. Never a person.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, FiscalYear, MunicipalityCode};
use sesshu_store::{MunicipalityStats, Outcome};

use crate::spreadsheet::push_row;
use crate::{Actor, App, AppError};

impl App {
    /// The municipality's own counts for the period.
    pub async fn statistics(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<MunicipalityStats>, AppError> {
        self.authorize(actor, tenant, Permission::StatsRead, "stats.read")
            .await?;
        let stats = self.store.statistics(&tenant.as_string(), from, to).await?;
        self.record(
            actor,
            "stats.read",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"from": from.to_string(), "to": to.to_string()}),
        )
        .await?;
        Ok(stats)
    }

    /// A prefecture's view, for its own token only: any other caller finds nothing there.
    pub async fn prefecture_statistics(
        &self,
        actor: &Actor,
        prefecture: &str,
        from: CivilDate,
        to: CivilDate,
    ) -> Result<Vec<MunicipalityStats>, AppError> {
        prefecture_gate(actor, prefecture)?;
        let stats = self.store.statistics(prefecture, from, to).await?;
        self.record(
            actor,
            "stats.read",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"prefecture": prefecture, "from": from.to_string(), "to": to.to_string()}),
        )
        .await?;
        Ok(stats)
    }
}

/// A prefecture's figures are for its own token, holding stats.read: anyone else finds nothing.
fn prefecture_gate(actor: &Actor, prefecture: &str) -> Result<(), AppError> {
    if actor.prefecture.as_deref() != Some(prefecture) {
        return Err(AppError::NotFound(format!("都道府県 {prefecture}")));
    }
    if !actor.can(Permission::StatsRead) {
        return Err(AppError::Forbidden(Permission::StatsRead));
    }
    Ok(())
}

/// The first and last day of a fiscal year, or the field's error.
fn fiscal_year_days(fiscal_year: i32) -> Result<(CivilDate, CivilDate), AppError> {
    let fy = FiscalYear(fiscal_year);
    fy.first_day()
        .zip(fy.last_day())
        .ok_or_else(|| AppError::Field("fiscal_year", format!("年度 {fiscal_year} は扱えません")))
}

/// A count as the caller may see it: exact for the municipality's own staff; for a
/// prefecture, `None` below [`sesshu_store::SMALL_CELL`] and rounded otherwise.
pub type Shown = Option<i64>;

/// `n` as shown: exact, or under the disclosure rule a prefecture's view owes.
fn shown(n: i64, suppressed: bool) -> Shown {
    if suppressed {
        sesshu_store::published_cell(n)
    } else {
        Some(n)
    }
}

/// One line of the annual table: a product's 期/回, by sex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnualLine {
    pub product: String,
    pub product_name: String,
    /// 期/回 as the engine judged the dose (1期初回1回目, 2期, 追加 …).
    pub stage: String,
    pub male: Shown,
    pub female: Shown,
    pub total: Shown,
}

/// 地域保健・健康増進事業報告 style: 定期の予防接種 given in a fiscal year, by vaccine and 期/回.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnualReport {
    pub fiscal_year: i32,
    pub from: CivilDate,
    pub to: CivilDate,
    /// Whether small counts are hidden and the rest rounded (a prefecture's view).
    pub suppressed: bool,
    pub lines: Vec<AnnualLine>,
}

impl App {
    /// The municipality's own annual table (schedule.read): exact counts, never a person.
    pub async fn annual_report(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        fiscal_year: i32,
    ) -> Result<AnnualReport, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::ScheduleRead,
            "stats.annual",
            json!({"fiscal_year": fiscal_year}),
        )
        .await?;
        let report = self
            .annual_of(&tenant.as_string(), fiscal_year, false)
            .await?;
        self.record(
            actor,
            "stats.annual",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"fiscal_year": fiscal_year}),
        )
        .await?;
        Ok(report)
    }

    /// A prefecture's annual table over its municipalities, for its own token only (stats.read):
    /// small counts hidden, the rest rounded, so that no difference of two cells is exact.
    pub async fn prefecture_annual_report(
        &self,
        actor: &Actor,
        prefecture: &str,
        fiscal_year: i32,
    ) -> Result<AnnualReport, AppError> {
        prefecture_gate(actor, prefecture)?;
        let report = self.annual_of(prefecture, fiscal_year, true).await?;
        self.record(
            actor,
            "stats.annual",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"prefecture": prefecture, "fiscal_year": fiscal_year}),
        )
        .await?;
        Ok(report)
    }

    async fn annual_of(
        &self,
        prefix: &str,
        fiscal_year: i32,
        suppressed: bool,
    ) -> Result<AnnualReport, AppError> {
        let (from, to) = fiscal_year_days(fiscal_year)?;
        let counts = self.store.routine_stage_counts(prefix, from, to).await?;
        // (product order in the rules, stage) → (male, female, all)
        let rules = self.engine.rules();
        let order = |code: &str| {
            rules
                .products
                .iter()
                .position(|p| p.code == code)
                .unwrap_or(usize::MAX)
        };
        let mut sums: BTreeMap<(usize, String, String), (i64, i64, i64)> = BTreeMap::new();
        for c in counts {
            let e = sums
                .entry((order(&c.product), c.product.clone(), c.stage.clone()))
                .or_default();
            match c.sex {
                1 => e.0 += c.count,
                2 => e.1 += c.count,
                _ => {}
            }
            e.2 += c.count;
        }
        let show = |n: i64| shown(n, suppressed);
        let lines = sums
            .into_iter()
            .map(|((_, product, stage), (m, f, all))| AnnualLine {
                product_name: rules
                    .product(&product)
                    .map_or_else(|| product.clone(), |p| p.name.clone()),
                product,
                stage,
                male: show(m),
                female: show(f),
                total: show(all),
            })
            .collect();
        Ok(AnnualReport {
            fiscal_year,
            from,
            to,
            suppressed,
            lines,
        })
    }
}

/// The annual table as CSV (header, one row per line). A hidden count is `x`, as official
/// statistics (e-Stat) mark 秘匿; `-` there means none, which a hidden count is not.
pub fn annual_csv(report: &AnnualReport) -> String {
    let mut out = String::new();
    push_row(
        &mut out,
        &["年度", "ワクチン", "コード", "期・回", "男", "女", "計"],
    );
    let n = |v: Shown| v.map_or_else(|| "x".to_owned(), |v| v.to_string());
    for l in &report.lines {
        push_row(
            &mut out,
            &[
                &report.fiscal_year.to_string(),
                &l.product_name,
                &l.product,
                &l.stage,
                &n(l.male),
                &n(l.female),
                &n(l.total),
            ],
        );
    }
    out
}

/// One cohort's coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortCoverage {
    /// `YYYY-MM`: the month of birth.
    pub cohort: String,
    pub persons: i64,
    pub vaccinated: i64,
    /// 接種率 in percent, one decimal; `None` for an empty cohort.
    pub percent: Option<f64>,
}

/// 接種率 by birth cohort: of the residents born in each month, the share who have the dose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub series: String,
    pub series_name: String,
    pub dose: u32,
    pub born_from: CivilDate,
    pub born_to: CivilDate,
    pub cohorts: Vec<CohortCoverage>,
}

impl App {
    /// Coverage of dose `dose` of a series by month of birth (schedule.read): the residents born
    /// in each month, and those with the dose given (here or before moving in) of a product that
    /// counts for the series. Never a person.
    pub async fn coverage_by_cohort(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        series: &str,
        dose: u32,
        born_from: CivilDate,
        born_to: CivilDate,
    ) -> Result<Coverage, AppError> {
        let asked = json!({"series": series, "dose": dose, "born_from": born_from.to_string(),
                           "born_to": born_to.to_string()});
        self.authorize_for(
            actor,
            tenant,
            Permission::ScheduleRead,
            "stats.coverage",
            asked.clone(),
        )
        .await?;
        let rules = self.engine.rules();
        let mut errors = Vec::new();
        let rule = rules.series(series);
        if rule.is_none() {
            errors.push((
                "series",
                format!("予防接種「{series}」は登録されていません"),
            ));
        }
        if !(1..=9).contains(&dose) {
            errors.push(("dose", "回は 1 から 9 です".to_owned()));
        }
        if born_to < born_from {
            errors.push(("born_to", "生まれ月の終わりが始まりより前です".to_owned()));
        }
        let Some(rule) = rule.filter(|_| errors.is_empty()) else {
            return Err(AppError::Fields(errors));
        };
        // Series sharing a product across periods (MR 1期/2期, JE) number their doses on the form.
        let ordinal = rule.ordinals.map_or(dose, |[first, _]| first + dose - 1);
        let counts = self
            .store
            .cohort_coverage(tenant, &rule.counts, ordinal, born_from, born_to)
            .await?;
        self.record(actor, "stats.coverage", Outcome::Ok, vec![], vec![], asked)
            .await?;
        Ok(Coverage {
            series: rule.key.clone(),
            series_name: rule.name.clone(),
            dose,
            born_from,
            born_to,
            cohorts: counts
                .into_iter()
                .map(|c| CohortCoverage {
                    percent: (c.persons > 0)
                        .then(|| (c.vaccinated as f64 * 1000.0 / c.persons as f64).round() / 10.0),
                    cohort: c.cohort,
                    persons: c.persons,
                    vaccinated: c.vaccinated,
                })
                .collect(),
        })
    }
}

/// One dose's share of a fiscal year's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetDose {
    pub dose: u32,
    /// The dose's stage as the rules name it (1回目, 2期, 追加 …).
    pub stage: String,
    /// Persons of the target with at least this many doses the rules count.
    pub vaccinated: Shown,
    /// 接種率 in percent, one decimal, of the counts as shown.
    pub percent: Option<f64>,
}

/// 接種率 of a fiscal year's target population, the target as the rules define it: the
/// residents for whom the series' routine window (for a person with no doses) opens in that
/// year — 小学校就学前1年 for MR 2期, the year of turning 1 for MR 1期, girls of 小6 for HPV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCoverage {
    pub series: String,
    pub series_name: String,
    pub fiscal_year: i32,
    /// The doses are counted as of this day (today, or a seasonal series' fiscal year end).
    pub as_of: CivilDate,
    /// Whether small counts are hidden and the rest rounded (a prefecture's view).
    pub suppressed: bool,
    pub target: Shown,
    pub doses: Vec<TargetDose>,
    /// Persons of the target whose series is complete by the rules.
    pub complete: Shown,
    pub complete_percent: Option<f64>,
}

/// Exact counts behind a [`TargetCoverage`].
#[derive(Debug, Default)]
struct TargetCounts {
    target: i64,
    /// `had[k]`: persons with at least k + 1 counted doses.
    had: Vec<i64>,
    complete: i64,
}

impl TargetCounts {
    fn add(&mut self, other: TargetCounts) {
        self.target += other.target;
        self.complete += other.complete;
        if self.had.len() < other.had.len() {
            self.had.resize(other.had.len(), 0);
        }
        for (a, b) in self.had.iter_mut().zip(other.had) {
            *a += b;
        }
    }
}

fn percent(part: Shown, whole: Shown) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0 => Some((p as f64 * 1000.0 / w as f64).round() / 10.0),
        _ => None,
    }
}

impl App {
    /// 接種率 of a series over the target population of a fiscal year (schedule.read): exact,
    /// never a person.
    pub async fn target_coverage(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        series: &str,
        fiscal_year: i32,
    ) -> Result<TargetCoverage, AppError> {
        let asked = json!({"series": series, "fiscal_year": fiscal_year});
        self.authorize_for(
            actor,
            tenant,
            Permission::ScheduleRead,
            "stats.target_coverage",
            asked.clone(),
        )
        .await?;
        let (rule, first, last) = self.target_rule(series, fiscal_year)?;
        let as_of = coverage_day(rule, last);
        let counts = self.target_counts(tenant, rule, first, last, as_of).await?;
        self.record(
            actor,
            "stats.target_coverage",
            Outcome::Ok,
            vec![],
            vec![],
            asked,
        )
        .await?;
        Ok(shown_target(rule, fiscal_year, as_of, counts, false))
    }

    /// The same over a prefecture's municipalities, for its own token only (stats.read): small
    /// counts hidden, the rest rounded, the shares computed from what is shown.
    pub async fn prefecture_target_coverage(
        &self,
        actor: &Actor,
        prefecture: &str,
        series: &str,
        fiscal_year: i32,
    ) -> Result<TargetCoverage, AppError> {
        prefecture_gate(actor, prefecture)?;
        let (rule, first, last) = self.target_rule(series, fiscal_year)?;
        let as_of = coverage_day(rule, last);
        let mut counts = TargetCounts::default();
        for m in self.store.municipalities().await? {
            if !m.code.as_string().starts_with(prefecture) {
                continue;
            }
            counts.add(self.target_counts(m.code, rule, first, last, as_of).await?);
        }
        self.record(
            actor,
            "stats.target_coverage",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"prefecture": prefecture, "series": series, "fiscal_year": fiscal_year}),
        )
        .await?;
        Ok(shown_target(rule, fiscal_year, as_of, counts, true))
    }

    /// A series of the rules, or the field's error.
    fn series_rule(&self, series: &str) -> Result<&sesshu_schedule::rules::SeriesRule, AppError> {
        self.engine.rules().series(series).ok_or_else(|| {
            AppError::Field(
                "series",
                format!("予防接種「{series}」は登録されていません"),
            )
        })
    }

    fn target_rule(
        &self,
        series: &str,
        fiscal_year: i32,
    ) -> Result<(&sesshu_schedule::rules::SeriesRule, CivilDate, CivilDate), AppError> {
        let rule = self.series_rule(series)?;
        let (first, last) = fiscal_year_days(fiscal_year)?;
        Ok((rule, first, last))
    }

    /// Every resident born where the series' window may open in the year is put to the engine
    /// twice: with no doses (is the window opening in the year? — the target), and with their
    /// doses up to `as_of` (how many count, is the series complete?).
    async fn target_counts(
        &self,
        tenant: MunicipalityCode,
        rule: &sesshu_schedule::rules::SeriesRule,
        first: CivilDate,
        last: CivilDate,
        as_of: CivilDate,
    ) -> Result<TargetCounts, AppError> {
        let engine = &self.engine;
        let query = sesshu_store::RecallQuery {
            series: rule.key.clone(),
            dose: None,
            from: first,
            to: last,
            basis: sesshu_store::RecallBasis::Opens,
            recall_of: None,
            as_of: first,
        };
        let Some(born) = crate::recall::birth_range(engine, &query) else {
            return Ok(TargetCounts::default());
        };
        let key = rule.key.as_str();
        let first_ordinal = rule.ordinals.map_or(1, |[first, _]| first);
        let judge = |person: sesshu_store::PersonFacts, doses: Vec<sesshu_domain::Dose>| {
            if person.status != sesshu_domain::ResidentStatus::Resident {
                return None;
            }
            let none = sesshu_schedule::EvalRequest::for_person(
                person.birth_date,
                person.sex,
                &[],
                first.max(person.birth_date),
            );
            let [open, _] = engine.forecast_one(&none, key)?.window?;
            if open < first || open > last {
                return None;
            }
            if rule.season.is_some() {
                // One dose a season, which the next season's forecast no longer shows:
                // a dose of the series' products given in the year is this season's.
                let had = doses.iter().any(|d| {
                    d.judgement == sesshu_domain::DoseJudgement::Given
                        && (first..=as_of).contains(&d.given_on)
                        && rule.counts.contains(&d.product)
                });
                return Some((u32::from(had), had));
            }
            let given = doses.iter().filter(|d| d.given_on <= as_of);
            let request = sesshu_schedule::EvalRequest::for_person(
                person.birth_date,
                person.sex,
                given,
                as_of.max(person.birth_date),
            );
            let f = engine.forecast_one(&request, key)?;
            // The next dose is numbered as on the form (MR 2期 is 2); the total is a count.
            Some(match f.next_dose {
                Some(next) => (next.saturating_sub(first_ordinal), false),
                None => (
                    f.total_doses.unwrap_or(0),
                    f.in_target || f.total_doses.is_some(),
                ),
            })
        };
        // A season's figures need only the season's doses of the series: reading just those
        // keeps the yearly influenza table to one dose a person instead of a lifetime's.
        let judged = match rule.season {
            Some(_) => {
                let scope = sesshu_store::DoseScope {
                    products: rule.counts.clone(),
                    from: first,
                    to: as_of.max(first),
                };
                self.store
                    .judge_persons_born_within(tenant, born, &scope, judge)
                    .await?
            }
            None => {
                self.store
                    .judge_persons_born(tenant, Some(born), judge)
                    .await?
            }
        };
        let most = rule.groups.iter().map(|g| g.doses.len()).max().unwrap_or(1);
        let mut counts = TargetCounts {
            had: vec![0; most],
            ..TargetCounts::default()
        };
        for (doses, complete) in judged.into_iter().flatten() {
            counts.target += 1;
            counts.complete += i64::from(complete);
            for had in counts.had.iter_mut().take(doses as usize) {
                *had += 1;
            }
        }
        Ok(counts)
    }
}

/// The day doses are counted on: today; for a seasonal series (one dose a season), the year's
/// last day if that is earlier, so that a later season's dose does not count for this one.
fn coverage_day(rule: &sesshu_schedule::rules::SeriesRule, last: CivilDate) -> CivilDate {
    let today = crate::today_in_japan();
    if rule.season.is_some() {
        today.min(last)
    } else {
        today
    }
}

fn shown_target(
    rule: &sesshu_schedule::rules::SeriesRule,
    fiscal_year: i32,
    as_of: CivilDate,
    counts: TargetCounts,
    suppressed: bool,
) -> TargetCoverage {
    let show = |n: i64| shown(n, suppressed);
    let target = show(counts.target);
    // Stage names from the group with the most doses (a series' groups share their numbering).
    let stages: Vec<String> = rule
        .groups
        .iter()
        .max_by_key(|g| g.doses.len())
        .map(|g| g.doses.iter().map(|d| d.stage.clone()).collect())
        .unwrap_or_default();
    let complete = show(counts.complete);
    TargetCoverage {
        series: rule.key.clone(),
        series_name: rule.name.clone(),
        fiscal_year,
        as_of,
        suppressed,
        doses: counts
            .had
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let vaccinated = show(*n);
                TargetDose {
                    dose: i as u32 + 1,
                    stage: stages
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("{}回目", i + 1)),
                    percent: percent(vaccinated, target),
                    vaccinated,
                }
            })
            .collect(),
        complete_percent: percent(complete, target),
        complete,
        target,
    }
}

/// The target coverage as CSV; a hidden count is `x`.
pub fn target_csv(c: &TargetCoverage) -> String {
    let n = |v: Shown| v.map_or_else(|| "x".to_owned(), |v| v.to_string());
    let pct = |p: Option<f64>| p.map_or_else(String::new, |p| format!("{p:.1}"));
    let mut out = String::new();
    push_row(
        &mut out,
        &[
            "年度",
            "予防接種",
            "回",
            "対象者数",
            "接種者数",
            "接種率(%)",
            "時点",
        ],
    );
    let rows = c
        .doses
        .iter()
        .map(|d| (d.stage.clone(), d.vaccinated, d.percent))
        .chain(std::iter::once((
            "完了".to_owned(),
            c.complete,
            c.complete_percent,
        )));
    for (stage, v, p) in rows {
        push_row(
            &mut out,
            &[
                &c.fiscal_year.to_string(),
                &c.series_name,
                &stage,
                &n(c.target),
                &n(v),
                &pct(p),
                &c.as_of.to_string(),
            ],
        );
    }
    out
}

/// The coverage as a bar chart: one bar per cohort, 0–100 %, drawn here as SVG so that the page
/// needs no script and the chart is what the table says.
pub fn coverage_svg(c: &Coverage) -> String {
    const HEIGHT: f64 = 200.0;
    const BAR: f64 = 24.0;
    const GAP: f64 = 8.0;
    const LEFT: f64 = 40.0;
    let width = LEFT + (BAR + GAP) * c.cohorts.len() as f64 + GAP;
    // Drawn at its own size: scaled to the page's width, two bars would fill the screen.
    let h = HEIGHT + 60.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {h}\" width=\"{width}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{}の第{}回 生まれ月ごとの接種率\" class=\"chart\">",
        escape(&c.series_name),
        c.dose
    );
    for pct in [0, 50, 100] {
        let y = 10.0 + HEIGHT * (1.0 - f64::from(pct) / 100.0);
        svg.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{width}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ccc\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{pct}%</text>",
            LEFT - 4.0,
            y + 3.0
        ));
    }
    for (i, k) in c.cohorts.iter().enumerate() {
        let x = LEFT + GAP + (BAR + GAP) * i as f64;
        let p = k.percent.unwrap_or(0.0);
        let h = HEIGHT * p / 100.0;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"{BAR}\" height=\"{h}\" fill=\"#2b6cb0\">\
             <title>{} 生まれ: {} / {} 人 ({p}%)</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-60 {} {})\">{}</text>",
            10.0 + HEIGHT - h,
            escape(&k.cohort),
            k.vaccinated,
            k.persons,
            x + BAR / 2.0,
            HEIGHT + 22.0,
            x + BAR / 2.0,
            HEIGHT + 22.0,
            escape(&k.cohort)
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The coverage as CSV.
pub fn coverage_csv(c: &Coverage) -> String {
    let mut out = String::new();
    push_row(
        &mut out,
        &[
            "予防接種",
            "回",
            "生まれ月",
            "人数",
            "接種済み",
            "接種率(%)",
        ],
    );
    for k in &c.cohorts {
        push_row(
            &mut out,
            &[
                &c.series_name,
                &c.dose.to_string(),
                &k.cohort,
                &k.persons.to_string(),
                &k.vaccinated.to_string(),
                &k.percent.map_or_else(String::new, |p| format!("{p:.1}")),
            ],
        );
    }
    out
}

/// Age bands of the breakdown by age: (from, to) in whole years at the dose, inclusive.
pub const AGE_BANDS: [(u32, u32); 19] = [
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 6),
    (7, 9),
    (10, 12),
    (13, 15),
    (16, 19),
    (20, 59),
    (60, 64),
    (65, 69),
    (70, 74),
    (75, 79),
    (80, 84),
    (85, 89),
    (90, 99),
    (100, u32::MAX),
];

/// Doses of a series in a fiscal year, counted by one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub series: String,
    pub series_name: String,
    pub dose: Option<u32>,
    pub fiscal_year: i32,
    pub by: sesshu_store::Dimension,
    /// (label, count), in the dimension's order.
    pub rows: Vec<(String, i64)>,
    pub total: i64,
}

fn age_band(age: u32) -> String {
    AGE_BANDS
        .iter()
        .find(|(from, to)| (*from..=*to).contains(&age))
        .map_or_else(String::new, |(from, to)| match (from, to) {
            (f, t) if f == t => format!("{f}歳"),
            (f, &u32::MAX) => format!("{f}歳以上"),
            (f, t) => format!("{f}〜{t}歳"),
        })
}

impl App {
    /// The doses of a series (dose `dose`, or every dose) given in a fiscal year, counted by
    /// month, sex, age band or 町丁目 (schedule.read). Never a person; a protected person's
    /// address is not read (their doses count under 不明・非表示).
    pub async fn dose_breakdown(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        series: &str,
        dose: Option<u32>,
        fiscal_year: i32,
        by: sesshu_store::Dimension,
    ) -> Result<Breakdown, AppError> {
        use sesshu_store::Dimension;
        let asked = json!({"series": series, "dose": dose, "fiscal_year": fiscal_year, "by": by});
        self.authorize_for(
            actor,
            tenant,
            Permission::ScheduleRead,
            "stats.breakdown",
            asked.clone(),
        )
        .await?;
        let rule = self.series_rule(series)?;
        let (from, to) = fiscal_year_days(fiscal_year)?;
        // One dose of the series, or every dose of it: series sharing a product across periods
        // (MR 1期/2期, JE) are told apart by the form ordinal.
        let ordinals = match dose {
            Some(d) => {
                let o = rule.ordinals.map_or(d, |[first, _]| first + d - 1);
                Some([o, o])
            }
            None => rule.ordinals,
        };
        let raw = self
            .store
            .dose_breakdown(tenant, &rule.counts, ordinals, from, to, by)
            .await?;
        let unknown = "(不明・非表示)".to_owned();
        let rows: Vec<(String, i64)> =
            match by {
                Dimension::Month => raw,
                Dimension::Sex => raw
                    .into_iter()
                    .map(|(k, n)| {
                        let label = match k.as_str() {
                            "1" => "男".to_owned(),
                            "2" => "女".to_owned(),
                            _ => unknown.clone(),
                        };
                        (label, n)
                    })
                    .collect(),
                Dimension::Age => {
                    let mut bands: BTreeMap<usize, i64> = BTreeMap::new();
                    let mut odd = 0;
                    for (k, n) in raw {
                        match k.trim().parse::<u32>().ok().and_then(|a| {
                            AGE_BANDS.iter().position(|(f, t)| (*f..=*t).contains(&a))
                        }) {
                            Some(i) => *bands.entry(i).or_default() += n,
                            None => odd += n,
                        }
                    }
                    let mut rows: Vec<(String, i64)> = bands
                        .into_iter()
                        .map(|(i, n)| (age_band(AGE_BANDS[i].0), n))
                        .collect();
                    if odd > 0 {
                        rows.push((unknown.clone(), odd));
                    }
                    rows
                }
                Dimension::Address => {
                    let mut districts: BTreeMap<String, i64> = BTreeMap::new();
                    for (address, n) in raw {
                        let d = sesshu_domain::district::of_address(&address)
                            .unwrap_or_else(|| unknown.clone());
                        *districts.entry(d).or_default() += n;
                    }
                    districts.into_iter().collect()
                }
            };
        self.record(actor, "stats.breakdown", Outcome::Ok, vec![], vec![], asked)
            .await?;
        Ok(Breakdown {
            series: rule.key.clone(),
            series_name: rule.name.clone(),
            dose,
            fiscal_year,
            by,
            total: rows.iter().map(|(_, n)| n).sum(),
            rows,
        })
    }
}

/// The annual table, the coverage by cohort and the year's target coverage as an Excel
/// workbook: a sheet each, the cohorts with their column chart. Cells are written as strings
/// and numbers, never formulas, so nothing in them can run.
pub fn workbook(
    report: &AnnualReport,
    coverage: &Coverage,
    target: &TargetCoverage,
) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Chart, ChartType, Format, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("Excel: {e}"));
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let annual = wb.add_worksheet();
    annual.set_name("定期接種").map_err(x)?;
    annual
        .write_string(
            0,
            0,
            format!("{}年度 定期の予防接種 被接種者数", report.fiscal_year),
        )
        .map_err(x)?;
    for (col, h) in ["ワクチン", "期・回", "男", "女", "計"].iter().enumerate() {
        annual
            .write_string_with_format(2, col as u16, *h, &bold)
            .map_err(x)?;
    }
    for (i, l) in report.lines.iter().enumerate() {
        let row = 3 + i as u32;
        annual.write_string(row, 0, &l.product_name).map_err(x)?;
        annual.write_string(row, 1, &l.stage).map_err(x)?;
        for (col, v) in [(2u16, l.male), (3, l.female), (4, l.total)] {
            match v {
                Some(n) => annual.write_number(row, col, n as f64).map_err(x)?,
                None => annual.write_string(row, col, "x").map_err(x)?,
            };
        }
    }
    annual.set_column_width(0, 40).map_err(x)?;
    annual.set_column_width(1, 16).map_err(x)?;

    let sheet = "接種率";
    let cov = wb.add_worksheet();
    cov.set_name(sheet).map_err(x)?;
    cov.write_string(
        0,
        0,
        format!(
            "{} 第{}回 生まれ月ごとの接種率",
            coverage.series_name, coverage.dose
        ),
    )
    .map_err(x)?;
    for (col, h) in ["生まれ月", "人数", "接種済み", "接種率(%)"]
        .iter()
        .enumerate()
    {
        cov.write_string_with_format(2, col as u16, *h, &bold)
            .map_err(x)?;
    }
    for (i, k) in coverage.cohorts.iter().enumerate() {
        let row = 3 + i as u32;
        cov.write_string(row, 0, &k.cohort).map_err(x)?;
        cov.write_number(row, 1, k.persons as f64).map_err(x)?;
        cov.write_number(row, 2, k.vaccinated as f64).map_err(x)?;
        if let Some(p) = k.percent {
            cov.write_number(row, 3, p).map_err(x)?;
        }
    }
    if !coverage.cohorts.is_empty() {
        let last = 2 + coverage.cohorts.len() as u32;
        let mut chart = Chart::new(ChartType::Column);
        chart
            .add_series()
            .set_categories((sheet, 3, 0, last, 0))
            .set_values((sheet, 3, 3, last, 3))
            .set_name("接種率(%)");
        chart
            .title()
            .set_name(&format!("{} 第{}回", coverage.series_name, coverage.dose));
        chart.y_axis().set_min(0).set_max(100);
        cov.insert_chart(2, 5, &chart).map_err(x)?;
    }

    let sheet = wb.add_worksheet();
    sheet.set_name("対象者接種率").map_err(x)?;
    sheet
        .write_string(
            0,
            0,
            format!(
                "{} {}年度の対象者に対する接種率 ({} 時点)",
                target.series_name, target.fiscal_year, target.as_of
            ),
        )
        .map_err(x)?;
    for (col, h) in ["回", "対象者数", "接種者数", "接種率(%)"]
        .iter()
        .enumerate()
    {
        sheet
            .write_string_with_format(2, col as u16, *h, &bold)
            .map_err(x)?;
    }
    let rows = target
        .doses
        .iter()
        .map(|d| (d.stage.as_str(), d.vaccinated, d.percent))
        .chain(std::iter::once((
            "完了",
            target.complete,
            target.complete_percent,
        )));
    for (i, (stage, vaccinated, percent)) in rows.enumerate() {
        let row = 3 + i as u32;
        sheet.write_string(row, 0, stage).map_err(x)?;
        for (col, v) in [(1u16, target.target), (2, vaccinated)] {
            match v {
                Some(n) => sheet.write_number(row, col, n as f64).map_err(x)?,
                None => sheet.write_string(row, col, "x").map_err(x)?,
            };
        }
        if let Some(p) = percent {
            sheet.write_number(row, 3, p).map_err(x)?;
        }
    }
    sheet.set_column_width(0, 16).map_err(x)?;
    wb.save_to_buffer().map_err(x)
}
