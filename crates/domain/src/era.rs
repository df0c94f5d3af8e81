//! Japanese era dates (和暦): parsing every date form of formats.md and printing 令和8年4月1日.

use chrono::{Datelike, NaiveDate};

use crate::CivilDate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("日付の形式が正しくありません")]
    Format,
    #[error("存在しない日付です")]
    Impossible,
    #[error("元号の期間外の日付です")]
    OutsideEra,
    #[error("明治より前の日付は扱えません (年を確かめてください)")]
    BeforeMeiji,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    Meiji,
    Taisho,
    Showa,
    Heisei,
    Reiwa,
}

impl Era {
    const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    pub fn kanji(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    pub fn letter(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// First day of the era (Gregorian). Meiji's first years used the old calendar; dates before
    /// 1873 are converted arithmetically, which no living person's record needs.
    fn first_day(self) -> (i32, u32, u32) {
        match self {
            Era::Meiji => (1868, 1, 1),
            Era::Taisho => (1912, 7, 30),
            Era::Showa => (1926, 12, 25),
            Era::Heisei => (1989, 1, 8),
            Era::Reiwa => (2019, 5, 1),
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.letter() == c.to_ascii_uppercase())
    }

    fn from_kanji(s: &str) -> Option<(Self, &str)> {
        Self::ALL
            .into_iter()
            .find_map(|e| s.strip_prefix(e.kanji()).map(|rest| (e, rest)))
    }

    /// The era a date belongs to.
    pub fn of(date: CivilDate) -> Option<Self> {
        Self::ALL.into_iter().rev().find(|e| {
            let (y, m, d) = e.first_day();
            NaiveDate::from_ymd_opt(y, m, d).is_some_and(|start| date >= start)
        })
    }

    fn start(self) -> Option<CivilDate> {
        let (y, m, d) = self.first_day();
        NaiveDate::from_ymd_opt(y, m, d)
    }

    fn next(self) -> Option<Self> {
        let i = Self::ALL.iter().position(|e| *e == self)?;
        Self::ALL.get(i + 1).copied()
    }

    /// Converts an era date, refusing dates before the era began or after it ended (平成32年,
    /// 平成31年5月1日).
    pub fn to_date(self, year: u32, month: u32, day: u32) -> Result<CivilDate, DateError> {
        if year == 0 {
            return Err(DateError::Format);
        }
        // Found by fuzzing: 令和8190年 is a year no four-digit date can write back. No era has
        // lasted a hundred years; the current one is held to that too.
        if year > 99 {
            return Err(DateError::OutsideEra);
        }
        let gregorian_year = self.first_day().0 + year as i32 - 1;
        let date =
            NaiveDate::from_ymd_opt(gregorian_year, month, day).ok_or(DateError::Impossible)?;
        let starts = self.start().ok_or(DateError::Impossible)?;
        let ends_before = self.next().and_then(Era::start);
        if date < starts || ends_before.is_some_and(|next| date >= next) {
            return Err(DateError::OutsideEra);
        }
        Ok(date)
    }
}

/// Parses `YYYYMMDD`, `YYYY-MM-DD`, `YYYY/M/D`, `R7.4.1`, `R070401`, `令和7年4月1日`, `令和元年5月1日`
/// (full-width digits, letters and punctuation and surrounding spaces allowed).
pub fn parse_date(input: &str) -> Result<CivilDate, DateError> {
    // Full-width ASCII (Ｒ８．１２．１, ２０２６／１２／０３) as typed with the IME on.
    let s: String = crate::digits::half_width_ascii(input)
        .chars()
        .map(|c| match c {
            '‐' | '−' | 'ー' => '-',
            other => other,
        })
        .collect();
    if s.is_empty() {
        return Err(DateError::Format);
    }
    if let Some((era, rest)) = Era::from_kanji(&s) {
        return parse_kanji_era(era, rest);
    }
    let mut chars = s.chars();
    if let Some(first) = chars.next()
        && first.is_ascii_alphabetic()
    {
        let era = Era::from_letter(first).ok_or(DateError::Format)?;
        return parse_letter_era(era, chars.as_str());
    }
    parse_gregorian(&s)
}

fn num(s: &str) -> Result<u32, DateError> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Format);
    }
    s.parse().map_err(|_| DateError::Format)
}

fn parse_gregorian(s: &str) -> Result<CivilDate, DateError> {
    let parts: Vec<&str> = if s.contains('-') {
        s.split('-').collect()
    } else if s.contains('/') {
        s.split('/').collect()
    } else if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        vec![&s[..4], &s[4..6], &s[6..]]
    } else {
        return Err(DateError::Format);
    };
    let [y, m, d] = parts.as_slice() else {
        return Err(DateError::Format);
    };
    if y.len() != 4 || m.len() > 2 || d.len() > 2 {
        return Err(DateError::Format);
    }
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or(DateError::Impossible)?;
    // Found by fuzzing: "0026/12/7" read as the year 26 and "24261230" as 令和408年, which
    // no 和暦 the register reads can name. Nobody it holds was born, nor dosed, before 明治 or
    // a century into 令和, so such a year is a typing slip.
    match era_year(date) {
        None => Err(DateError::BeforeMeiji),
        Some((_, year)) if year > 99 => Err(DateError::OutsideEra),
        Some(_) => Ok(date),
    }
}

fn parse_letter_era(era: Era, rest: &str) -> Result<CivilDate, DateError> {
    let parts: Vec<&str> = rest.split(['.', '/', '-']).collect();
    let (y, m, d) = match parts.as_slice() {
        [compact] if compact.len() == 6 && compact.is_ascii() => (
            num(&compact[..2])?,
            num(&compact[2..4])?,
            num(&compact[4..])?,
        ),
        [y, m, d] if (y.len() <= 2 || *y == "元") && m.len() <= 2 && d.len() <= 2 => {
            let y = if *y == "元" { 1 } else { num(y)? };
            (y, num(m)?, num(d)?)
        }
        _ => return Err(DateError::Format),
    };
    era.to_date(y, m, d)
}

fn parse_kanji_era(era: Era, rest: &str) -> Result<CivilDate, DateError> {
    let (y, rest) = rest.split_once('年').ok_or(DateError::Format)?;
    let (m, rest) = rest.split_once('月').ok_or(DateError::Format)?;
    let d = rest.strip_suffix('日').ok_or(DateError::Format)?;
    let y = if y == "元" { 1 } else { num(y)? };
    era.to_date(y, num(m)?, num(d)?)
}

/// 令和8年4月1日 (元年 for the first year).
pub fn format_wareki(date: CivilDate) -> String {
    match era_year(date) {
        Some((era, 1)) => format!("{}元年{}月{}日", era.kanji(), date.month(), date.day()),
        Some((era, y)) => format!("{}{}年{}月{}日", era.kanji(), y, date.month(), date.day()),
        None => date.format("%Y年%-m月%-d日").to_string(),
    }
}

/// The era and its year for a date.
pub fn era_year(date: CivilDate) -> Option<(Era, u32)> {
    let era = Era::of(date)?;
    Some((era, (date.year() - era.first_day().0 + 1) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_before_meiji_is_a_slip_not_a_date() {
        for typed in ["0026/12/7", "0026-12-07", "18671231", "1000/1/1"] {
            assert_eq!(parse_date(typed), Err(DateError::BeforeMeiji), "{typed}");
        }
        assert_eq!(parse_date("令和8190年06月7日"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("24261230"), Err(DateError::OutsideEra));
        assert!(parse_date("2117-12-31").is_ok() && parse_date("2118-01-01").is_err());
        let first = parse_date("1868/1/1").unwrap();
        assert_eq!(parse_date(&format_wareki(first)), Ok(first));
    }

    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> CivilDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn every_form_of_formats_md_parses() {
        let cases = [
            ("20250401", d(2025, 4, 1)),
            ("2025-04-01", d(2025, 4, 1)),
            ("2025/04/01", d(2025, 4, 1)),
            ("2025/4/1", d(2025, 4, 1)),
            ("R7.4.1", d(2025, 4, 1)),
            ("R070401", d(2025, 4, 1)),
            ("令和7年4月1日", d(2025, 4, 1)),
            ("H31.4.30", d(2019, 4, 30)),
            ("平成31年4月30日", d(2019, 4, 30)),
            ("S62.1.5", d(1987, 1, 5)),
            ("令和元年5月1日", d(2019, 5, 1)),
            ("R元.5.1", d(2019, 5, 1)),
            ("T15.12.24", d(1926, 12, 24)),
            ("昭和元年12月25日", d(1926, 12, 25)),
            ("昭和64年1月7日", d(1989, 1, 7)),
            ("平成元年1月8日", d(1989, 1, 8)),
            ("M45.7.29", d(1912, 7, 29)),
            ("　２０２５－０４－０１ ", d(2025, 4, 1)),
            ("２０２５０４０１", d(2025, 4, 1)),
            ("r7.4.1", d(2025, 4, 1)),
            ("Ｒ８．１２．１", d(2026, 12, 1)),
            ("２０２６／１２／０３", d(2026, 12, 3)),
            ("令和８年１２月１日", d(2026, 12, 1)),
            ("2026ー12ー03", d(2026, 12, 3)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_date(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn impossible_and_out_of_era_dates_are_refused() {
        assert_eq!(parse_date("2025-02-30"), Err(DateError::Impossible));
        assert_eq!(parse_date("20250230"), Err(DateError::Impossible));
        assert_eq!(parse_date("平成32年1月1日"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("H32.1.1"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("平成31年5月1日"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("昭和64年1月8日"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("令和元年4月30日"), Err(DateError::OutsideEra));
        assert_eq!(parse_date("R0.4.1"), Err(DateError::Format));
        for bad in [
            "",
            "2025",
            "2025-4",
            "X7.4.1",
            "令和7年4月",
            "2025-04-01x",
            "202504011",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wareki_printing() {
        assert_eq!(format_wareki(d(2026, 4, 1)), "令和8年4月1日");
        assert_eq!(format_wareki(d(2019, 5, 1)), "令和元年5月1日");
        assert_eq!(format_wareki(d(2019, 4, 30)), "平成31年4月30日");
        assert_eq!(format_wareki(d(1989, 1, 7)), "昭和64年1月7日");
    }

    proptest! {
        #[test]
        fn wareki_round_trips(days in 0i64..60_000) {
            let date = d(1900, 1, 1) + chrono::Duration::days(days);
            prop_assert_eq!(parse_date(&format_wareki(date)), Ok(date));
            let (era, y) = era_year(date).ok_or_else(|| TestCaseError::fail("era"))?;
            let short = format!("{}{}.{}.{}", era.letter(), y, date.month(), date.day());
            prop_assert_eq!(parse_date(&short), Ok(date));
            prop_assert_eq!(parse_date(&date.format("%Y%m%d").to_string()), Ok(date));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,20}") {
            let _ = parse_date(&s);
        }
    }
}
