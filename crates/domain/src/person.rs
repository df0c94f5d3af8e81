//! A person of the register: the resident-register columns (formats.md §1), their resident
//! status, protection flag and the guardians inferred from the household.

use std::fmt;

use crate::digits::{normalize_digits, trim_spaces};
use crate::{
    AddressNumber, CivilDate, HouseholdNumber, IntegratedAddressNumber, KanaName, MyNumber,
};
use crate::{PersonName, age_on};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("性別は 1, 2, 男, 女 のいずれかです")]
    Sex,
    #[error("住民区分は 1 (住民), 2 (転出者), 3 (死亡者), 4 (住登外者) のいずれかです")]
    ResidentStatus,
    #[error("異動事由のコードが不明です (01〜09, 99)")]
    ChangeReason,
    #[error("郵便番号は7桁の数字です (ハイフン可)")]
    PostalCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        match normalize_digits(input).as_str() {
            "1" | "男" => Ok(Sex::Male),
            "2" | "女" => Ok(Sex::Female),
            _ => Err(CodeError::Sex),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// 住民区分.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResidentStatus {
    Resident,
    MovedOut,
    Deceased,
    NonResident,
}

impl ResidentStatus {
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        Self::from_code(
            normalize_digits(input)
                .parse()
                .map_err(|_| CodeError::ResidentStatus)?,
        )
        .ok_or(CodeError::ResidentStatus)
    }

    pub fn code(self) -> u8 {
        match self {
            ResidentStatus::Resident => 1,
            ResidentStatus::MovedOut => 2,
            ResidentStatus::Deceased => 3,
            ResidentStatus::NonResident => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(ResidentStatus::Resident),
            2 => Some(ResidentStatus::MovedOut),
            3 => Some(ResidentStatus::Deceased),
            4 => Some(ResidentStatus::NonResident),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ResidentStatus::Resident => "住民",
            ResidentStatus::MovedOut => "転出者",
            ResidentStatus::Deceased => "死亡者",
            ResidentStatus::NonResident => "住登外者",
        }
    }
}

/// 異動事由.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeReason {
    Birth,
    MoveIn,
    MoveWithin,
    MoveOut,
    Death,
    NameChange,
    AddressChange,
    OfficialEntry,
    OfficialRemoval,
    Other,
}

impl ChangeReason {
    const TABLE: [(u8, ChangeReason, &'static str); 10] = [
        (1, ChangeReason::Birth, "出生"),
        (2, ChangeReason::MoveIn, "転入"),
        (3, ChangeReason::MoveWithin, "転居"),
        (4, ChangeReason::MoveOut, "転出"),
        (5, ChangeReason::Death, "死亡"),
        (6, ChangeReason::NameChange, "氏名変更"),
        (7, ChangeReason::AddressChange, "住所変更(その他)"),
        (8, ChangeReason::OfficialEntry, "職権記載"),
        (9, ChangeReason::OfficialRemoval, "職権消除"),
        (99, ChangeReason::Other, "その他"),
    ];

    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let n: i64 = normalize_digits(input)
            .parse()
            .map_err(|_| CodeError::ChangeReason)?;
        Self::from_code(n).ok_or(CodeError::ChangeReason)
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(c, _, _)| i64::from(*c) == code)
            .map(|(_, r, _)| *r)
    }

    pub fn code(self) -> u8 {
        Self::TABLE
            .iter()
            .find(|(_, r, _)| *r == self)
            .map_or(99, |(c, _, _)| *c)
    }

    pub fn label(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(_, r, _)| *r == self)
            .map_or("その他", |(_, _, l)| l)
    }
}

/// 郵便番号, stored as 7 digits and shown as 123-4567.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalCode(String);

impl PostalCode {
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let s: String = normalize_digits(input)
            .chars()
            .filter(|c| !matches!(c, '-' | '－' | '‐' | 'ー'))
            .collect();
        if s.len() == 7 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s))
        } else {
            Err(CodeError::PostalCode)
        }
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..3], &self.0[3..])
    }
}

/// Optional free text: trimmed, `None` when blank.
pub fn optional_text(input: &str) -> Option<String> {
    let t = trim_spaces(input);
    (!t.is_empty()).then(|| t.to_owned())
}

/// A person's current state as the resident register reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub address_number: AddressNumber,
    pub integrated_address_number: Option<IntegratedAddressNumber>,
    pub my_number: Option<MyNumber>,
    pub household_number: Option<HouseholdNumber>,
    pub relationship: Option<String>,
    pub name: PersonName,
    pub kana: KanaName,
    pub birth_date: CivilDate,
    pub sex: Sex,
    pub postal_code: Option<PostalCode>,
    pub address: Option<String>,
    /// 方書: building and room.
    pub address_detail: Option<String>,
    pub district_code: Option<String>,
    pub school_district: Option<String>,
    pub phone: Option<String>,
    pub status: ResidentStatus,
    pub change_reason: Option<ChangeReason>,
    pub changed_on: Option<CivilDate>,
    pub notified_on: Option<CivilDate>,
    pub previous_address: Option<String>,
    pub next_address: Option<String>,
    /// 支援措置: the address must never be printed or exchanged automatically.
    pub protected: bool,
}

/// A guardian of a minor, inferred from the household (not a legal finding: staff confirm it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardian {
    pub address_number: AddressNumber,
    pub name: PersonName,
    pub relationship: String,
}

/// Age of majority since 2022-04-01 (民法4条).
pub const ADULT_AGE: u32 = 18;

/// Guardians of `child` among its household members: for a 子 of the head, the head and the
/// head's spouse; for a 孫, the head's children and their spouses. Only living adult residents
/// qualify. Returns nothing for adults and for relationships the rule does not cover.
pub fn infer_guardians(child: &Person, household: &[Person], today: CivilDate) -> Vec<Guardian> {
    if age_on(child.birth_date, today).is_none_or(|a| a >= ADULT_AGE) {
        return Vec::new();
    }
    let wanted: &[&str] = match child.relationship.as_deref() {
        Some("子") => &["世帯主", "妻", "夫"],
        Some("孫") => &["子", "子の妻", "子の夫"],
        _ => return Vec::new(),
    };
    household
        .iter()
        .filter(|p| p.address_number != child.address_number)
        .filter(|p| p.status == ResidentStatus::Resident)
        .filter(|p| age_on(p.birth_date, today).is_some_and(|a| a >= ADULT_AGE))
        .filter_map(|p| {
            let rel = p.relationship.as_deref()?;
            wanted.contains(&rel).then(|| Guardian {
                address_number: p.address_number.clone(),
                name: p.name.clone(),
                relationship: rel.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(no: &str, rel: &str, birth: &str) -> Person {
        let p = |r: Result<_, _>| r.unwrap_or_else(|e: crate::ids::IdError| unreachable!("{e}"));
        Person {
            address_number: p(AddressNumber::parse(no)),
            integrated_address_number: None,
            my_number: None,
            household_number: None,
            relationship: Some(rel.into()),
            name: PersonName {
                family: "山田".into(),
                given: no.into(),
            },
            kana: KanaName {
                family: "ヤマダ".into(),
                given: "タロウ".into(),
            },
            birth_date: crate::parse_date(birth).unwrap_or_else(|e| unreachable!("{e}")),
            sex: Sex::Male,
            postal_code: None,
            address: None,
            address_detail: None,
            district_code: None,
            school_district: None,
            phone: None,
            status: ResidentStatus::Resident,
            change_reason: None,
            changed_on: None,
            notified_on: None,
            previous_address: None,
            next_address: None,
            protected: false,
        }
    }

    #[test]
    fn codes_parse_and_refuse() {
        assert_eq!(Sex::parse("１"), Ok(Sex::Male));
        assert_eq!(Sex::parse("女"), Ok(Sex::Female));
        assert_eq!(Sex::parse("3"), Err(CodeError::Sex));
        assert_eq!(ResidentStatus::parse("4"), Ok(ResidentStatus::NonResident));
        assert_eq!(ResidentStatus::parse("5"), Err(CodeError::ResidentStatus));
        assert_eq!(ChangeReason::parse("05"), Ok(ChangeReason::Death));
        assert_eq!(
            ChangeReason::parse("99").map(ChangeReason::label),
            Ok("その他")
        );
        assert_eq!(ChangeReason::parse("10"), Err(CodeError::ChangeReason));
        assert_eq!(
            PostalCode::parse("194-8520").map(|p| p.to_string()),
            Ok("194-8520".into())
        );
        assert_eq!(
            PostalCode::parse("１９４８５２０").map(|p| p.digits().to_owned()),
            Ok("1948520".into())
        );
        assert_eq!(PostalCode::parse("19485"), Err(CodeError::PostalCode));
    }

    #[test]
    fn guardians_are_the_adult_head_and_spouse_of_a_child() {
        let today = crate::parse_date("2026-11-23").unwrap_or_else(|e| unreachable!("{e}"));
        let head = person("1", "世帯主", "1990-01-01");
        let wife = person("2", "妻", "1991-01-01");
        let child = person("3", "子", "2024-05-05");
        let adult_child = person("4", "子", "2000-01-01");
        let mut moved = person("5", "夫", "1990-01-01");
        moved.status = ResidentStatus::MovedOut;
        let household = vec![head, wife, child.clone(), adult_child.clone(), moved];
        let g: Vec<String> = infer_guardians(&child, &household, today)
            .into_iter()
            .map(|g| g.address_number.to_string())
            .collect();
        assert_eq!(g, vec!["1", "2"]);
        assert!(infer_guardians(&adult_child, &household, today).is_empty());
    }
}
