//! The municipality's person and household keys.

use std::fmt;

use crate::digits::{ascii_digits, normalize_digits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what}は{max}桁以内の数字です")]
    Format { what: &'static str, max: usize },
}

macro_rules! digit_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_DIGITS: usize = $max;

            pub fn parse(input: &str) -> Result<Self, IdError> {
                let s = normalize_digits(input);
                match ascii_digits(&s) {
                    Some(d) if d.len() <= $max => Ok(Self(s)),
                    _ => Err(IdError::Format { what: $what, max: $max }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

digit_id!(
    /// 宛名番号: the municipality's internal person key, 1–15 digits, kept as given (leading
    /// zeros are significant in some vendors' systems).
    AddressNumber, "宛名番号", 15
);
digit_id!(
    /// 団体内統合宛名番号: the city-wide key linking every business system's 宛名番号.
    IntegratedAddressNumber, "統合宛名番号", 15
);

/// 世帯番号: a household key. Vendors use letters too, so only length and spaces are checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HouseholdNumber(String);

impl HouseholdNumber {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalize_digits(input);
        if s.is_empty() || s.chars().count() > 20 || s.chars().any(char::is_whitespace) {
            return Err(IdError::Format {
                what: "世帯番号",
                max: 20,
            });
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HouseholdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_numbers_are_1_to_15_digits() {
        assert_eq!(
            AddressNumber::parse(" ０００１２３").map(|a| a.to_string()),
            Ok("000123".into())
        );
        assert!(AddressNumber::parse("123456789012345").is_ok());
        assert!(AddressNumber::parse("1234567890123456").is_err());
        assert!(AddressNumber::parse("").is_err());
        assert!(AddressNumber::parse("12a").is_err());
        assert_eq!(
            AddressNumber::parse("x").map_err(|e| e.to_string()),
            Err("宛名番号は15桁以内の数字です".into())
        );
    }

    #[test]
    fn household_numbers_allow_vendor_letters() {
        assert!(HouseholdNumber::parse("H0001").is_ok());
        assert!(HouseholdNumber::parse("a b").is_err());
        assert!(HouseholdNumber::parse("").is_err());
    }
}
