//! A dose as the register records it (REQUIREMENTS §2: 接種コード, 接種回数, 接種日, 接種判定, 実施医療機関,
//! Lot.No., 接種量, 特記事項, 請求月, 助成金額, 転入前実施, 風しん抗体検査 …).

use std::fmt;

use crate::CivilDate;
use crate::digits::normalize_digits;
use crate::era::parse_date;

/// 接種判定: whether the dose was given or the vaccination was deferred at the screening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoseJudgement {
    /// 1 = 接種.
    Given,
    /// 2 = 見合わせ: recorded, never counted.
    Deferred,
}

impl DoseJudgement {
    pub fn parse(input: &str) -> Result<Self, DoseFieldError> {
        match normalize_digits(input).as_str() {
            "" | "1" | "接種" => Ok(Self::Given),
            "2" | "見合わせ" => Ok(Self::Deferred),
            _ => Err(DoseFieldError::Judgement),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Deferred => "deferred",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "given" => Some(Self::Given),
            "deferred" => Some(Self::Deferred),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Given => "接種",
            Self::Deferred => "見合わせ",
        }
    }
}

/// 抗体検査判定結果 of the rubella 5th-period antibody test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AntibodyResult {
    Low,
    Sufficient,
}

impl AntibodyResult {
    pub fn parse(input: &str) -> Result<Self, DoseFieldError> {
        match input.trim() {
            "low" | "不十分" | "陰性" | "低い" => Ok(Self::Low),
            "sufficient" | "十分" | "陽性" => Ok(Self::Sufficient),
            _ => Err(DoseFieldError::Antibody),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Sufficient => "sufficient",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoseFieldError {
    #[error("接種判定は 1 (接種) または 2 (見合わせ) です")]
    Judgement,
    #[error("抗体価は low (不十分) または sufficient (十分) です")]
    Antibody,
    #[error("請求年月は YYYYMM または R0704 の形です")]
    BillingMonth,
    #[error("接種量は mL の数値です (例: 0.5)")]
    Amount,
    #[error("医療機関コードは10桁の数字です")]
    Institution,
    #[error("回数は 0〜9 の数字です")]
    Ordinal,
    #[error("金額は円単位の数字です")]
    Yen,
}

/// 請求年月 as `YYYYMM`, from `YYYYMM` or the era form `R0704`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BillingMonth(String);

impl BillingMonth {
    pub fn parse(input: &str) -> Result<Self, DoseFieldError> {
        let s = normalize_digits(input.trim());
        let date = parse_date(&format!("{s}01")).map_err(|_| DoseFieldError::BillingMonth)?;
        Ok(Self(date.format("%Y%m").to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 医療機関コード: 10 digits.
pub fn parse_institution_code(input: &str) -> Result<String, DoseFieldError> {
    let s = normalize_digits(input.trim());
    if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(DoseFieldError::Institution)
    }
}

/// 接種量 in mL, kept as written once it is a plausible positive number (0.05–5 mL).
pub fn parse_amount_ml(input: &str) -> Result<String, DoseFieldError> {
    let s = normalize_digits(input.trim())
        .trim_end_matches("mL")
        .trim_end_matches("ml")
        .to_owned();
    match s.parse::<f64>() {
        Ok(v) if (0.01..=5.0).contains(&v) => Ok(s),
        _ => Err(DoseFieldError::Amount),
    }
}

pub fn parse_ordinal(input: &str) -> Result<u32, DoseFieldError> {
    match normalize_digits(input.trim()).parse::<u32>() {
        Ok(n) if n <= 9 => Ok(n),
        _ => Err(DoseFieldError::Ordinal),
    }
}

pub fn parse_yen(input: &str) -> Result<i64, DoseFieldError> {
    normalize_digits(input.trim())
        .replace(',', "")
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or(DoseFieldError::Yen)
}

/// One recorded dose (or deferral, or antibody test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dose {
    /// A product code of formats.md §2.
    pub product: String,
    /// The ordinal written on the form (JE 1–4, MR 1–2, DPT 1–4, antibody test 0).
    pub ordinal: u32,
    pub given_on: CivilDate,
    pub judgement: DoseJudgement,
    pub institution_code: Option<String>,
    pub institution_name: Option<String>,
    pub doctor: Option<String>,
    pub lot: Option<String>,
    pub manufacturer: Option<String>,
    pub amount_ml: Option<String>,
    pub screened_on: Option<CivilDate>,
    pub billing_month: Option<BillingMonth>,
    pub subsidy_yen: Option<i64>,
    pub ticket_number: Option<String>,
    pub notes: Option<String>,
    /// Given before moving in or by another municipality (転入前実施).
    pub given_elsewhere: bool,
    pub antibody_result: Option<AntibodyResult>,
}

impl Dose {
    /// A given dose with nothing but what identifies it; the record items are filled in after.
    pub fn given(product: impl Into<String>, ordinal: u32, given_on: CivilDate) -> Self {
        Self {
            product: product.into(),
            ordinal,
            given_on,
            judgement: DoseJudgement::Given,
            institution_code: None,
            institution_name: None,
            doctor: None,
            lot: None,
            manufacturer: None,
            amount_ml: None,
            screened_on: None,
            billing_month: None,
            subsidy_yen: None,
            ticket_number: None,
            notes: None,
            given_elsewhere: false,
            antibody_result: None,
        }
    }
}

/// 接種日年齢 as staff write it ("0歳2か月", "65歳"), counted by the age law like every rule.
pub fn age_label(birth: CivilDate, on: CivilDate) -> Option<String> {
    let months = crate::age::months_on(birth, on)?;
    Some(if months < 12 * 6 {
        format!("{}歳{}か月", months / 12, months % 12)
    } else {
        format!("{}歳", months / 12)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_months_in_both_forms() {
        assert_eq!(BillingMonth::parse("202507").unwrap().as_str(), "202507");
        assert_eq!(BillingMonth::parse("R0704").unwrap().as_str(), "202504");
        assert!(BillingMonth::parse("202513").is_err());
        assert!(BillingMonth::parse("abc").is_err());
    }

    #[test]
    fn fields_of_a_form() {
        assert_eq!(DoseJudgement::parse("").unwrap(), DoseJudgement::Given);
        assert_eq!(DoseJudgement::parse("２").unwrap(), DoseJudgement::Deferred);
        assert!(DoseJudgement::parse("3").is_err());
        assert_eq!(parse_amount_ml("0.5").unwrap(), "0.5");
        assert!(parse_amount_ml("50").is_err());
        assert_eq!(
            parse_institution_code("１３１２３４５６７８").unwrap(),
            "1312345678"
        );
        assert!(parse_institution_code("12345").is_err());
        assert_eq!(parse_yen("3,000").unwrap(), 3000);
    }

    #[test]
    fn ages_at_vaccination() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // By the age law, 生後2月 is reached on the day before the 2-month anniversary.
        assert_eq!(
            age_label(d("2025-01-20"), d("2025-03-18")).unwrap(),
            "0歳1か月"
        );
        assert_eq!(
            age_label(d("2025-01-20"), d("2025-03-19")).unwrap(),
            "0歳2か月"
        );
        assert_eq!(age_label(d("1960-05-10"), d("2025-06-01")).unwrap(), "65歳");
    }
}

/// What staff did about a flagged (要確認) dose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    /// The clinic confirmed the dose as recorded (the date, the product, the ordinal are right).
    Confirmed,
    /// The record was corrected (the dose page keeps the versions).
    Corrected,
    /// Left as a voluntary (任意) dose: it does not count as routine and is not paid as one.
    Voluntary,
}

impl ReviewAction {
    pub const ALL: [ReviewAction; 3] = [Self::Confirmed, Self::Corrected, Self::Voluntary];

    pub fn code(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Corrected => "corrected",
            Self::Voluntary => "voluntary",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Confirmed => "医療機関に確認済み (記録どおり)",
            Self::Corrected => "記録を訂正した",
            Self::Voluntary => "任意接種として扱う",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// The kind of a judgement's reason, without the dates and numbers of the one dose
/// ("対象期間(2026-06-23まで)外のため任意接種" → "対象期間外のため任意接種"): what a worklist
/// groups and filters by.
pub fn reason_kind(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut depth = 0usize;
    for c in reason.chars() {
        match c {
            '(' | '（' => depth += 1,
            ')' | '）' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod review_tests {
    use super::*;

    #[test]
    fn reasons_group_without_their_dates_and_actions_round_trip() {
        assert_eq!(
            reason_kind("対象期間(2026-06-23まで)外のため任意接種"),
            "対象期間外のため任意接種"
        );
        assert_eq!(
            reason_kind("対象年齢前(2016-10-01から)。接種済みとして数える"),
            "対象年齢前。接種済みとして数える"
        );
        assert_eq!(
            reason_kind("定期接種の対象外（任意接種）"),
            "定期接種の対象外"
        );
        for a in ReviewAction::ALL {
            assert_eq!(ReviewAction::parse(a.code()), Some(a));
        }
        assert_eq!(ReviewAction::parse("deleted"), None);
    }
}
