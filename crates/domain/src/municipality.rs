//! 地方公共団体コード: six digits, the last a check digit over the first five.

use std::fmt;
use std::str::FromStr;

use crate::digits::{ascii_digits, normalize_digits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MunicipalityCodeError {
    #[error("地方公共団体コードは5桁または6桁の数字です")]
    Format,
    #[error("地方公共団体コードの検査数字が一致しません")]
    CheckDigit,
}

/// A municipality (tenant) code in its 6-digit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MunicipalityCode([u8; 6]);

impl MunicipalityCode {
    /// Accepts the 6-digit form (check digit verified) or the 5-digit form (check digit added).
    pub fn parse(input: &str) -> Result<Self, MunicipalityCodeError> {
        let s = normalize_digits(input);
        let d = ascii_digits(&s).ok_or(MunicipalityCodeError::Format)?;
        match d.len() {
            5 => {
                let mut code = [0u8; 6];
                code[..5].copy_from_slice(&d);
                code[5] = check_digit(&code[..5]);
                Ok(Self(code))
            }
            6 => {
                if check_digit(&d[..5]) != d[5] {
                    return Err(MunicipalityCodeError::CheckDigit);
                }
                let mut code = [0u8; 6];
                code.copy_from_slice(&d);
                Ok(Self(code))
            }
            _ => Err(MunicipalityCodeError::Format),
        }
    }

    /// The 6-digit form, e.g. `132098`.
    pub fn as_string(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The 5-digit form without the check digit.
    pub fn short_form(&self) -> String {
        self.0[..5].iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The prefecture part (first two digits), e.g. 13 for 東京都.
    pub fn prefecture(&self) -> u8 {
        self.0[0] * 10 + self.0[1]
    }
}

/// Weights 6,5,4,3,2 on the first five digits; check = (11 − sum mod 11) mod 10.
fn check_digit(first_five: &[u8]) -> u8 {
    let sum: u32 = first_five
        .iter()
        .zip([6u32, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    ((11 - sum % 11) % 10) as u8
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl FromStr for MunicipalityCode {
    type Err = MunicipalityCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_codes_validate() {
        for (code, _name) in [
            ("132098", "町田市"),
            ("011002", "札幌市"),
            ("131016", "千代田区"),
        ] {
            assert_eq!(
                MunicipalityCode::parse(code).map(|c| c.as_string()),
                Ok(code.into())
            );
        }
    }

    #[test]
    fn five_digit_form_gets_its_check_digit() {
        assert_eq!(
            MunicipalityCode::parse("13209").map(|c| c.as_string()),
            Ok("132098".into())
        );
        assert_eq!(
            MunicipalityCode::parse("01100").map(|c| c.as_string()),
            Ok("011002".into())
        );
    }

    #[test]
    fn wrong_check_digit_and_bad_shapes_are_refused() {
        assert_eq!(
            MunicipalityCode::parse("132099"),
            Err(MunicipalityCodeError::CheckDigit)
        );
        assert_eq!(
            MunicipalityCode::parse("1320"),
            Err(MunicipalityCodeError::Format)
        );
        assert_eq!(
            MunicipalityCode::parse("13209a"),
            Err(MunicipalityCodeError::Format)
        );
        assert_eq!(
            MunicipalityCode::parse(""),
            Err(MunicipalityCodeError::Format)
        );
    }

    #[test]
    fn full_width_input_is_normalised() {
        assert_eq!(
            MunicipalityCode::parse("　１３２０９８").map(|c| c.as_string()),
            Ok("132098".into())
        );
    }

    proptest! {
        #[test]
        fn every_five_digit_prefix_round_trips(n in 0u32..100_000) {
            let five = format!("{n:05}");
            let code = MunicipalityCode::parse(&five).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(code.short_form(), five);
            prop_assert_eq!(MunicipalityCode::parse(&code.as_string()), Ok(code));
        }

        #[test]
        fn changing_the_check_digit_is_detected(n in 0u32..100_000, delta in 1u8..10) {
            let code = MunicipalityCode::parse(&format!("{n:05}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let s = code.as_string();
            let last = s.as_bytes()[5] - b'0';
            let bad = format!("{}{}", &s[..5], (last + delta) % 10);
            prop_assert_eq!(MunicipalityCode::parse(&bad), Err(MunicipalityCodeError::CheckDigit));
        }
    }
}
