//! The date arithmetic of the rules (R-AGE-*, R-INT-*, R-FY-1, R-SCH-1), as small parsed terms so
//! the rules file can say "2m", "6w0d", "fy_end:16y" or "27d" and mean exactly one thing.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use sesshu_domain::CivilDate;
use sesshu_domain::age::{FiscalYear, date_reaching_months, school_entry_date};

use crate::error::RuleError;

/// An age mark counted from birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The birth day itself (BCG and B型肝炎 start at birth).
    Birth,
    /// 生後N月に至った日 (R-AGE-2); years are 12·N months (R-AGE-1).
    Months(u32),
    /// 出生N週M日後: birth + 7N + M days (R-AGE-5).
    Weeks(u32, u32),
    /// The first or last day of the fiscal year in which the person reaches N months (R-FY-1).
    FiscalYearStart(u32),
    FiscalYearEnd(u32),
    /// 小学校就学の始期 (R-SCH-1), shifted by whole years (−1 = a year before).
    SchoolEntry(i32),
}

/// A day fixed by an age mark, optionally the day after (…に至った日の翌日, R-AGE-4) or the day
/// before (e.g. "65歳の者" ends the day before reaching 66).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBound {
    pub mark: Mark,
    pub shift: i8,
}

impl AgeBound {
    pub fn date(self, birth: CivilDate) -> Option<CivilDate> {
        let base = match self.mark {
            Mark::Birth => Some(birth),
            Mark::Months(m) => date_reaching_months(birth, m),
            Mark::Weeks(w, d) => birth.checked_add_days(Days::new(u64::from(w * 7 + d))),
            Mark::FiscalYearStart(m) => {
                date_reaching_months(birth, m).and_then(|d| FiscalYear::of(d).first_day())
            }
            Mark::FiscalYearEnd(m) => {
                date_reaching_months(birth, m).and_then(|d| FiscalYear::of(d).last_day())
            }
            Mark::SchoolEntry(years) => school_entry_date(birth)
                .and_then(|d| NaiveDate::from_ymd_opt(d.year() + years, d.month(), d.day())),
        }?;
        shift_days(base, i64::from(self.shift))
    }

    /// How staff say it: "生後2月", "11歳", "出生6週0日後", "12歳となる年度の初日".
    pub fn label(self) -> String {
        let base = match self.mark {
            Mark::Birth => "出生".to_owned(),
            Mark::Months(m) if m % 12 == 0 && m >= 24 => format!("{}歳", m / 12),
            Mark::Months(m) => format!("生後{m}月"),
            Mark::Weeks(w, d) => format!("出生{w}週{d}日後"),
            Mark::FiscalYearStart(m) => format!("{}歳となる年度の初日", m / 12),
            Mark::FiscalYearEnd(m) => format!("{}歳となる年度の末日", m / 12),
            Mark::SchoolEntry(0) => "小学校就学の始期".to_owned(),
            Mark::SchoolEntry(y) if y < 0 => format!("小学校就学の始期の{}年前", -y),
            Mark::SchoolEntry(y) => format!("小学校就学の始期の{y}年後"),
        };
        match self.shift {
            0 => base,
            1 => format!("{base}の翌日"),
            -1 => format!("{base}の前日"),
            s => format!("{base}{s:+}日"),
        }
    }
}

/// Grammar: `birth` | `<n>m` | `<n>y` | `<n>w<m>d` | `fy_start:<n>y` | `fy_end:<n>y` | `school`
/// | `school-1y`, then an optional `+` (the day after) or `-` (the day before).
impl FromStr for AgeBound {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RuleError::Term(format!("年齢の指定が読めません: {text:?}"));
        let (body, shift) = if let Some(b) = text.strip_suffix('+') {
            (b, 1)
        } else if let Some(b) = text.strip_suffix('-') {
            (b, -1)
        } else {
            (text, 0)
        };
        let months = |s: &str| -> Option<u32> {
            if let Some(n) = s.strip_suffix('y') {
                n.parse::<u32>().ok().map(|y| y * 12)
            } else {
                s.strip_suffix('m')?.parse().ok()
            }
        };
        let mark = if body == "birth" {
            Mark::Birth
        } else if body == "school" {
            Mark::SchoolEntry(0)
        } else if let Some(y) = body.strip_prefix("school") {
            Mark::SchoolEntry(
                y.strip_suffix('y')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            )
        } else if let Some(rest) = body.strip_prefix("fy_start:") {
            Mark::FiscalYearStart(months(rest).ok_or_else(bad)?)
        } else if let Some(rest) = body.strip_prefix("fy_end:") {
            Mark::FiscalYearEnd(months(rest).ok_or_else(bad)?)
        } else if let Some((w, d)) = body.split_once('w') {
            let d = d.strip_suffix('d').ok_or_else(bad)?;
            Mark::Weeks(w.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?)
        } else {
            Mark::Months(months(body).ok_or_else(bad)?)
        };
        Ok(Self { mark, shift })
    }
}

impl fmt::Display for AgeBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mark {
            Mark::Birth => write!(f, "birth")?,
            Mark::Months(m) if m % 12 == 0 && m > 0 => write!(f, "{}y", m / 12)?,
            Mark::Months(m) => write!(f, "{m}m")?,
            Mark::Weeks(w, d) => write!(f, "{w}w{d}d")?,
            Mark::FiscalYearStart(m) => write!(f, "fy_start:{}y", m / 12)?,
            Mark::FiscalYearEnd(m) => write!(f, "fy_end:{}y", m / 12)?,
            Mark::SchoolEntry(0) => write!(f, "school")?,
            Mark::SchoolEntry(y) => write!(f, "school{y}y")?,
        }
        match self.shift {
            1 => write!(f, "+"),
            -1 => write!(f, "-"),
            _ => Ok(()),
        }
    }
}

/// What the month part of an interval does when the target day does not exist (R-INT-2, an
/// UNCONFIRMED point: the sources disagree, so the city chooses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthEnd {
    /// 1/31 + 1月 → 2/28 (南九州市).
    #[default]
    LastDay,
    /// 1/31 + 1月 → 3/1 (名取市).
    NextMonthFirst,
}

/// A minimum interval between doses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// "N日以上の間隔をおいて": allowed from date + N + 1 (R-INT-1).
    Days(u32),
    /// "N月以上の間隔": allowed from the same day N months later (R-INT-2), then plus `extra`
    /// calendar days (used only for the "2月半" reading of HPV 2価).
    Months { months: u32, extra: u32 },
}

impl Interval {
    /// The first day on which the next dose satisfies this interval after a dose on `from`.
    pub fn next_allowed(self, from: CivilDate, month_end: MonthEnd) -> Option<CivilDate> {
        match self {
            Self::Days(n) => from.checked_add_days(Days::new(u64::from(n) + 1)),
            Self::Months { months, extra } => {
                let target = add_months(from, months, month_end)?;
                target.checked_add_days(Days::new(u64::from(extra)))
            }
        }
    }

    /// "27日以上", "6月以上".
    pub fn label(self) -> String {
        match self {
            Self::Days(n) => format!("{n}日以上"),
            Self::Months { months, extra: 0 } => format!("{months}月以上"),
            Self::Months { months, extra } => format!("{months}月{extra}日以上"),
        }
    }
}

/// Grammar: `<n>d` | `<n>M` | `<n>M+<k>`.
impl FromStr for Interval {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RuleError::Term(format!("間隔の指定が読めません: {text:?}"));
        if let Some(n) = text.strip_suffix('d') {
            return n.parse().map(Self::Days).map_err(|_| bad());
        }
        let (months, extra) = match text.split_once("M+") {
            Some((m, e)) => (m, e.parse().map_err(|_| bad())?),
            None => (text.strip_suffix('M').ok_or_else(bad)?, 0),
        };
        Ok(Self::Months {
            months: months.parse().map_err(|_| bad())?,
            extra,
        })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Days(n) => write!(f, "{n}d"),
            Self::Months { months, extra: 0 } => write!(f, "{months}M"),
            Self::Months { months, extra } => write!(f, "{months}M+{extra}"),
        }
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
serde_via_str!(AgeBound);
serde_via_str!(Interval);

/// Same day `months` later; a missing day resolves by `month_end`.
pub fn add_months(from: CivilDate, months: u32, month_end: MonthEnd) -> Option<CivilDate> {
    if let Some(d) = from.checked_add_months(Months::new(months)) {
        if d.day() == from.day() {
            return Some(d);
        }
        // chrono clamps to the month's last day; that is the LastDay reading.
        return match month_end {
            MonthEnd::LastDay => Some(d),
            MonthEnd::NextMonthFirst => d.checked_add_days(Days::new(1)),
        };
    }
    None
}

pub fn shift_days(date: CivilDate, days: i64) -> Option<CivilDate> {
    if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

/// A gestational age such as "30w0d" (R-RSV-1), in days since 0w0d.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GestationalAge(pub u32);

impl FromStr for GestationalAge {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RuleError::Term(format!("妊娠週数が読めません: {text:?} (例: 30w0d)"));
        let (w, d) = text.split_once('w').ok_or_else(bad)?;
        let d = d.strip_suffix('d').unwrap_or(d);
        let w: u32 = w.parse().map_err(|_| bad())?;
        let d: u32 = if d.is_empty() {
            0
        } else {
            d.parse().map_err(|_| bad())?
        };
        if d > 6 || w > 45 {
            return Err(bad());
        }
        Ok(Self(w * 7 + d))
    }
}

impl fmt::Display for GestationalAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}w{}d", self.0 / 7, self.0 % 7)
    }
}
serde_via_str!(GestationalAge);

/// A month and day without a year ("10-01"), for seasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    pub fn in_year(self, year: i32) -> Option<CivilDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
    }
}

impl FromStr for MonthDay {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RuleError::Term(format!("月日が読めません: {text:?} (例: 10-01)"));
        let (m, d) = text.split_once('-').ok_or_else(bad)?;
        let md = Self {
            month: m.parse().map_err(|_| bad())?,
            day: d.parse().map_err(|_| bad())?,
        };
        // 2000 is a leap year, so 02-29 is accepted as a month-day.
        md.in_year(2000).ok_or_else(bad)?;
        Ok(md)
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}
serde_via_str!(MonthDay);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> CivilDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    fn at(birth: &str, bound: &str) -> CivilDate {
        bound.parse::<AgeBound>().unwrap().date(d(birth)).unwrap()
    }

    /// R-AGE-2: "born 2018-04-01 → 生後2月 2018-05-31, 生後60月 2023-03-31, 生後90月 2025-09-30;
    /// born 2018-12-29/30/31 → 生後2月 = 2019-02-28; born 07-31 → 生後2月 = 09-30".
    #[test]
    fn r_age_2_month_marks() {
        for (birth, bound, expected) in [
            ("2018-04-01", "2m", "2018-05-31"),
            ("2018-04-01", "60m", "2023-03-31"),
            ("2018-04-01", "90m", "2025-09-30"),
            ("2018-12-29", "2m", "2019-02-28"),
            ("2018-12-30", "2m", "2019-02-28"),
            ("2018-12-31", "2m", "2019-02-28"),
            ("2018-07-31", "2m", "2018-09-30"),
        ] {
            assert_eq!(at(birth, bound), d(expected), "{birth} {bound}");
        }
    }

    /// R-AGE-1/3: a person reaches N the day before the birthday; 2024-02-29 reaches 1 on
    /// 2025-02-28. R-AGE-4: "…に至った日の翌日" is the anniversary itself.
    #[test]
    fn r_age_1_3_4_years_and_the_day_after() {
        assert_eq!(at("2000-04-02", "6y"), d("2006-04-01"));
        assert_eq!(at("2024-02-29", "1y"), d("2025-02-28"));
        assert_eq!(at("2018-04-01", "7m+"), d("2018-11-01"));
        assert_eq!(at("1960-05-10", "66y-"), d("2026-05-08"));
    }

    /// R-AGE-5: "出生6週0日後 = birth+42, 14週6日後 = birth+104, 24週0日後 = birth+168,
    /// 32週0日後 = birth+224".
    #[test]
    fn r_age_5_weeks() {
        let birth = "2025-01-01";
        for (bound, days) in [("6w0d", 42), ("14w6d", 104), ("24w0d", 168), ("32w0d", 224)] {
            assert_eq!(
                at(birth, bound),
                d(birth) + chrono::Days::new(days),
                "{bound}"
            );
        }
    }

    /// R-INT-1: "6日→+7, 20日→+21, 27日→+28, 60日→+61, 139日→+140".
    #[test]
    fn r_int_1_day_intervals() {
        let from = d("2025-04-01");
        for (n, plus) in [(6, 7), (20, 21), (27, 28), (60, 61), (139, 140)] {
            assert_eq!(
                Interval::Days(n).next_allowed(from, MonthEnd::LastDay),
                Some(from + chrono::Days::new(plus)),
                "{n}日"
            );
        }
        // The example: 27日以上 after 2025-04-01 → 2025-04-29.
        assert_eq!(
            "27d"
                .parse::<Interval>()
                .unwrap()
                .next_allowed(from, MonthEnd::LastDay),
            Some(d("2025-04-29"))
        );
    }

    /// R-INT-2: "5/1 + 6月 → 11/1"; a missing day: 南九州市 8/30 + 6月 → 2/28 (last_day),
    /// 名取市 1/31 + 1月 → 3/1 (next_month_first).
    #[test]
    fn r_int_2_month_intervals_and_the_month_end_setting() {
        let six: Interval = "6M".parse().unwrap();
        assert_eq!(
            six.next_allowed(d("2025-05-01"), MonthEnd::LastDay),
            Some(d("2025-11-01"))
        );
        assert_eq!(
            six.next_allowed(d("2025-08-30"), MonthEnd::LastDay),
            Some(d("2026-02-28"))
        );
        let one: Interval = "1M".parse().unwrap();
        assert_eq!(
            one.next_allowed(d("2025-01-31"), MonthEnd::LastDay),
            Some(d("2025-02-28"))
        );
        assert_eq!(
            one.next_allowed(d("2025-01-31"), MonthEnd::NextMonthFirst),
            Some(d("2025-03-01"))
        );
        let two_and_half: Interval = "2M+15".parse().unwrap();
        assert_eq!(
            two_and_half.next_allowed(d("2025-05-01"), MonthEnd::LastDay),
            Some(d("2025-07-16"))
        );
    }

    /// R-FY-1 with R-HPV-1: "FY2024: 小6 = born 2012-04-02…2013-04-01"; April-1 births belong to
    /// the earlier cohort.
    #[test]
    fn r_fy_1_fiscal_year_of_reaching_an_age() {
        assert_eq!(at("2012-04-02", "fy_start:12y"), d("2024-04-01"));
        assert_eq!(at("2013-04-01", "fy_start:12y"), d("2024-04-01"));
        assert_eq!(at("2013-04-02", "fy_start:12y"), d("2025-04-01"));
        assert_eq!(at("2008-04-02", "fy_end:16y"), d("2025-03-31"));
    }

    /// R-SCH-1 with R-MR-2: "2期 FY2024 = born 2018-04-02…2019-04-01".
    #[test]
    fn r_sch_1_the_year_before_school() {
        for birth in ["2018-04-02", "2018-12-31", "2019-04-01"] {
            assert_eq!(at(birth, "school-1y"), d("2024-04-01"), "{birth}");
            assert_eq!(at(birth, "school-"), d("2025-03-31"), "{birth}");
        }
        assert_eq!(at("2019-04-02", "school-1y"), d("2025-04-01"));
    }

    #[test]
    fn terms_print_as_they_are_written() {
        for text in [
            "2m",
            "7m+",
            "66y-",
            "6w0d",
            "fy_start:12y",
            "school-1y",
            "birth",
        ] {
            assert_eq!(text.parse::<AgeBound>().unwrap().to_string(), text);
        }
        for text in ["27d", "6M", "2M+15"] {
            assert_eq!(text.parse::<Interval>().unwrap().to_string(), text);
        }
        assert!("2x".parse::<AgeBound>().is_err());
        assert!("12".parse::<Interval>().is_err());
        assert_eq!("30w0d".parse::<GestationalAge>().unwrap().0, 210);
        assert!("30w9d".parse::<GestationalAge>().is_err());
    }
}
