//! 個人番号 (My Number). The plaintext lives in this one type: validated on construction, never
//! shown by `Debug` or `Display`, wiped from memory on drop.

use std::fmt;

use zeroize::Zeroize;

use crate::digits::{ascii_digits, normalize_digits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MyNumberError {
    // The messages never echo the input: an error report must not carry a near-My-Number.
    #[error("個人番号は12桁の数字です")]
    Format,
    #[error("個人番号の検査用数字が一致しません")]
    CheckDigit,
}

/// A validated My Number. The only way to see its digits is [`MyNumber::expose`], whose call
/// sites are the encryption boundary and the permission-checked reveal.
#[derive(Clone, PartialEq, Eq)]
pub struct MyNumber([u8; 12]);

impl MyNumber {
    pub fn parse(input: &str) -> Result<Self, MyNumberError> {
        let mut s = normalize_digits(input);
        let parsed = match ascii_digits(&s) {
            Some(d) if d.len() == 12 => {
                if check_digit(&d[..11]) == d[11] {
                    let mut n = [0u8; 12];
                    n.copy_from_slice(&d);
                    Ok(Self(n))
                } else {
                    Err(MyNumberError::CheckDigit)
                }
            }
            _ => Err(MyNumberError::Format),
        };
        s.zeroize();
        parsed
    }

    /// Builds a valid number from 11 leading digits (used by the synthetic generator).
    pub fn from_first_eleven(first: [u8; 11]) -> Option<Self> {
        if first.iter().any(|d| *d > 9) {
            return None;
        }
        let mut n = [0u8; 12];
        n[..11].copy_from_slice(&first);
        n[11] = check_digit(&first);
        Some(Self(n))
    }

    /// The 12 ASCII digits. Callers own the duty not to log, print or export them.
    pub fn expose(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        for (o, d) in out.iter_mut().zip(self.0) {
            *o = b'0' + d;
        }
        out
    }

    /// `********1234`: the most any screen without the My Number permission may show.
    pub fn masked(&self) -> String {
        let mut s = String::from("********");
        s.extend(self.0[8..].iter().map(|d| char::from(b'0' + d)));
        s
    }
}

/// True when `digits` (ASCII) is 12 digits passing the My Number check. Used by tests and export
/// guards that scan text for leaked numbers.
pub fn is_valid_my_number(digits: &[u8]) -> bool {
    if digits.len() != 12 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u8> = digits.iter().map(|b| b - b'0').collect();
    check_digit(&d[..11]) == d[11]
}

/// True when `text` holds a standalone run of 12 digits (half- or full-width, optionally split
/// by hyphens or spaces) that passes the My Number check digit: a value that must not be shown
/// or kept outside the sealed column, whatever field it arrived in.
pub fn contains_my_number(text: &str) -> bool {
    scan(text, false)
}

/// The same, for text that also carries hexadecimal hashes and codes (the audit log's
/// details): a run touching a Latin letter or digit (`ab123456789012cd`) is part of a longer
/// token, not a number someone typed.
pub fn mentions_my_number(text: &str) -> bool {
    scan(text, true)
}

fn scan(text: &str, within_tokens_too: bool) -> bool {
    let mut run: Vec<u8> = Vec::new();
    let mut opened_cleanly = true;
    let mut before = None::<char>;
    let hit = |run: &[u8], opened: bool, closing: Option<char>| {
        run.len() == 12
            && is_valid_my_number(run)
            && (!within_tokens_too
                || (opened && !closing.is_some_and(|c| c.is_ascii_alphanumeric())))
    };
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => Some(c as u8),
            '０'..='９' => u8::try_from(c as u32 - '０' as u32).ok().map(|d| b'0' + d),
            _ => None,
        };
        match digit {
            Some(d) => {
                if run.is_empty() {
                    opened_cleanly = !before.is_some_and(|b| b.is_ascii_alphanumeric());
                }
                run.push(d);
            }
            None if !run.is_empty() && matches!(c, '-' | ' ' | '－' | '\u{3000}') => {}
            None => {
                if hit(&run, opened_cleanly, Some(c)) {
                    return true;
                }
                run.clear();
            }
        }
        before = Some(c);
    }
    hit(&run, opened_cleanly, None)
}

/// 総務省令: weights 6,5,4,3,2,7,6,5,4,3,2 on the first 11 digits; r = sum mod 11;
/// check = 0 if r ≤ 1 else 11 − r.
fn check_digit(first: &[u8]) -> u8 {
    let sum: u32 = first
        .iter()
        .zip([6u32, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    let r = sum % 11;
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MyNumber({})", self.masked())
    }
}

impl fmt::Display for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Drop for MyNumber {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn generated_numbers_validate_and_any_single_digit_change_is_caught(
            first in proptest::array::uniform11(0u8..10),
            pos in 0usize..12,
            delta in 1u8..10,
        ) {
            let n = MyNumber::from_first_eleven(first).ok_or_else(|| TestCaseError::fail("digits"))?;
            let digits = n.expose();
            prop_assert!(is_valid_my_number(&digits));
            let mut altered = digits;
            altered[pos] = b'0' + (altered[pos] - b'0' + delta) % 10;
            // A single-digit substitution is always detected by a mod-11 weighted check with
            // weights coprime to 11, except when the check digit's remainder folds 10 into 0.
            let s = String::from_utf8(altered.to_vec()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if MyNumber::parse(&s).is_ok() {
                prop_assert!(pos < 11, "a changed check digit must fail");
            }
        }
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    fn number() -> String {
        let n = MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
            .unwrap_or_else(|| unreachable!());
        String::from_utf8_lossy(&n.expose()).into_owned()
    }

    #[test]
    fn a_number_is_found_as_typed_but_not_inside_a_hash() {
        let n = number();
        for text in [
            n.clone(),
            format!("宛名 {n}"),
            format!("{}-{}-{}", &n[..4], &n[4..8], &n[8..]),
            n.chars()
                .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
                .collect(),
        ] {
            assert!(contains_my_number(&text), "{text}");
            assert!(mentions_my_number(&text), "{text}");
        }
        let hash = format!("ab{n}cd");
        assert!(contains_my_number(&hash));
        assert!(!mentions_my_number(&hash), "part of a longer token");
        assert!(!mentions_my_number(&format!("{n}7")), "13 digits");
        let mut wrong = n.into_bytes();
        wrong[11] = b'0' + (wrong[11] - b'0' + 1) % 10;
        assert!(!contains_my_number(&String::from_utf8_lossy(&wrong)));
    }
}
