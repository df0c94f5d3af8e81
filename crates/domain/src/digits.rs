//! Digit-string normalisation shared by every identifier: surrounding spaces (half- or
//! full-width) are dropped and full-width digits become ASCII, as formats.md requires.

/// Trims half- and full-width spaces around a value.
pub fn trim_spaces(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\u{3000}' || c == '\t')
}

/// Maps full-width digits (０-９) to ASCII and trims spaces; other characters pass unchanged.
pub fn normalize_digits(s: &str) -> String {
    trim_spaces(s)
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            other => other,
        })
        .collect()
}

/// Maps full-width ASCII (ＡＢＣ, １２, ．／) to ASCII, as typed with the IME on, and trims
/// spaces; other characters (kana, kanji) pass unchanged.
pub fn half_width_ascii(s: &str) -> String {
    trim_spaces(s)
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// Digits of `s` if it consists of ASCII digits only.
pub fn ascii_digits(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().map(|b| b - b'0').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_and_spaces_are_normalised() {
        assert_eq!(normalize_digits("\u{3000}１２3 "), "123");
        assert_eq!(normalize_digits("abc"), "abc");
    }

    #[test]
    fn full_width_ascii_becomes_ascii_and_kana_stays() {
        assert_eq!(half_width_ascii("　ＡＢ１２．５ｍｌ "), "AB12.5ml");
        assert_eq!(half_width_ascii("ＭＲ　１期"), "MR 1期");
    }
}

/// An amount with thousands separators, as letters and pages print yen: 1234567 → 1,234,567.
pub fn grouped(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if amount < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod grouped_tests {
    #[test]
    fn amounts_get_thousands_separators() {
        assert_eq!(super::grouped(1_234_567), "1,234,567");
        assert_eq!(super::grouped(800), "800");
        assert_eq!(super::grouped(-12_000), "-12,000");
    }
}
