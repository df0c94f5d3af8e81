//! Ages and periods by the age law (年齢計算ニ関スル法律 with 民法143条), fiscal years and the
//! start of school (R-AGE-1/2, R-FY-1, R-SCH-1 in schedule-rules.md).

use std::fmt;

use chrono::{Datelike, Days, NaiveDate};

use crate::CivilDate;

/// 生後N月に至った日: the day before the N-month 応当日, or the last day of the final month when
/// that month has no 応当日 (R-AGE-2). Returns `None` only beyond chrono's calendar.
pub fn date_reaching_months(birth: CivilDate, months: u32) -> Option<CivilDate> {
    let total = birth.year() * 12 + birth.month0() as i32 + months as i32;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    match NaiveDate::from_ymd_opt(year, month0 + 1, birth.day()) {
        Some(anniversary) => anniversary.pred_opt(),
        None => last_day_of_month(year, month0 + 1),
    }
}

/// The day on which a person reaches `years` of age (the day before the birthday anniversary;
/// 2/29 births reach it on 2/28 in common years).
pub fn date_reaching_age(birth: CivilDate, years: u32) -> Option<CivilDate> {
    date_reaching_months(birth, years * 12)
}

/// Age in completed years on `on`, where a year is complete from the day it is reached (R-AGE-3:
/// "●歳以上" holds from the day before the birthday). `None` before birth.
pub fn age_on(birth: CivilDate, on: CivilDate) -> Option<u32> {
    if on < birth {
        return None;
    }
    // Start from the calendar difference and correct by at most one year either way.
    let mut years = (on.year() - birth.year()).max(0) as u32;
    while years > 0 && date_reaching_age(birth, years).is_none_or(|d| d > on) {
        years -= 1;
    }
    while date_reaching_age(birth, years + 1).is_some_and(|d| d <= on) {
        years += 1;
    }
    Some(years)
}

/// Completed months of age on `on`, by the same rule.
pub fn months_on(birth: CivilDate, on: CivilDate) -> Option<u32> {
    if on < birth {
        return None;
    }
    let mut months =
        ((on.year() - birth.year()) * 12 + on.month() as i32 - birth.month() as i32).max(0) as u32;
    while months > 0 && date_reaching_months(birth, months).is_none_or(|d| d > on) {
        months -= 1;
    }
    while date_reaching_months(birth, months + 1).is_some_and(|d| d <= on) {
        months += 1;
    }
    Some(months)
}

fn last_day_of_month(year: i32, month: u32) -> Option<CivilDate> {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
}

/// 小学校就学の始期: the first April 1 on or after the day after reaching 6 (R-SCH-1).
pub fn school_entry_date(birth: CivilDate) -> Option<CivilDate> {
    let from = date_reaching_age(birth, 6)?.checked_add_days(Days::new(1))?;
    let april = NaiveDate::from_ymd_opt(from.year(), 4, 1)?;
    if april >= from {
        Some(april)
    } else {
        NaiveDate::from_ymd_opt(from.year() + 1, 4, 1)
    }
}

/// 年度: April 1 to March 31, named by the calendar year it starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiscalYear(pub i32);

impl FiscalYear {
    pub fn of(date: CivilDate) -> Self {
        if date.month() >= 4 {
            Self(date.year())
        } else {
            Self(date.year() - 1)
        }
    }

    pub fn first_day(self) -> Option<CivilDate> {
        NaiveDate::from_ymd_opt(self.0, 4, 1)
    }

    pub fn last_day(self) -> Option<CivilDate> {
        NaiveDate::from_ymd_opt(self.0 + 1, 3, 31)
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}年度", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> CivilDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn r_age_2_examples_from_the_sources() {
        let cases = [
            ("2018-04-01", 2, "2018-05-31"),
            ("2018-04-01", 60, "2023-03-31"),
            ("2018-04-01", 90, "2025-09-30"),
            ("2018-12-29", 2, "2019-02-28"),
            ("2018-12-30", 2, "2019-02-28"),
            ("2018-12-31", 2, "2019-02-28"),
            ("2018-07-31", 2, "2018-09-30"),
        ];
        for (birth, months, expected) in cases {
            assert_eq!(
                date_reaching_months(d(birth), months),
                Some(d(expected)),
                "{birth} +{months}"
            );
        }
    }

    #[test]
    fn ages_follow_the_age_law() {
        // Born 2000-04-02: reaches 6 on 2006-04-01, so is 6 on that day and 5 the day before.
        assert_eq!(age_on(d("2000-04-02"), d("2006-03-31")), Some(5));
        assert_eq!(age_on(d("2000-04-02"), d("2006-04-01")), Some(6));
        assert_eq!(age_on(d("2000-04-02"), d("2000-04-02")), Some(0));
        assert_eq!(age_on(d("2000-04-02"), d("2000-04-01")), None);
        // Leap-day births reach their age on 2/28 in common years and on 2/28 in leap years.
        assert_eq!(date_reaching_age(d("2000-02-29"), 1), Some(d("2001-02-28")));
        assert_eq!(date_reaching_age(d("2000-02-29"), 4), Some(d("2004-02-28")));
        assert_eq!(age_on(d("2000-02-29"), d("2001-02-27")), Some(0));
        assert_eq!(age_on(d("2000-02-29"), d("2001-02-28")), Some(1));
        // 65歳に達する日 for a 1961-04-01 birth is 1961+65 = 2026-03-31.
        assert_eq!(
            date_reaching_age(d("1961-04-01"), 65),
            Some(d("2026-03-31"))
        );
    }

    #[test]
    fn fiscal_years_start_in_april() {
        assert_eq!(FiscalYear::of(d("2026-03-31")), FiscalYear(2025));
        assert_eq!(FiscalYear::of(d("2026-04-01")), FiscalYear(2026));
        assert_eq!(FiscalYear(2026).last_day(), Some(d("2027-03-31")));
        assert_eq!(FiscalYear(2026).to_string(), "2026年度");
    }

    #[test]
    fn r_sch_1_school_entry() {
        assert_eq!(school_entry_date(d("2018-04-01")), Some(d("2024-04-01")));
        assert_eq!(school_entry_date(d("2018-01-01")), Some(d("2024-04-01")));
        assert_eq!(school_entry_date(d("2018-04-02")), Some(d("2025-04-01")));
        assert_eq!(school_entry_date(d("2018-12-31")), Some(d("2025-04-01")));
        // MR 2期 FY2024 cohort: born 2018-04-02 … 2019-04-01 enter school 2025-04-01.
        assert_eq!(school_entry_date(d("2019-04-01")), Some(d("2025-04-01")));
    }

    proptest! {
        #[test]
        fn age_increases_exactly_on_the_reaching_day(days in 0i64..40_000, years in 1u32..100) {
            let birth = d("1930-01-01") + chrono::Duration::days(days);
            let reach = date_reaching_age(birth, years).ok_or_else(|| TestCaseError::fail("calendar"))?;
            prop_assert_eq!(age_on(birth, reach), Some(years));
            let before = reach.pred_opt().ok_or_else(|| TestCaseError::fail("calendar"))?;
            prop_assert_eq!(age_on(birth, before), Some(years - 1));
        }

        #[test]
        fn months_and_years_agree(days in 0i64..30_000, offset in 0i64..40_000) {
            let birth = d("1940-01-01") + chrono::Duration::days(days);
            let on = birth + chrono::Duration::days(offset);
            let years = age_on(birth, on).ok_or_else(|| TestCaseError::fail("age"))?;
            let months = months_on(birth, on).ok_or_else(|| TestCaseError::fail("months"))?;
            prop_assert_eq!(months / 12, years);
        }
    }
}
