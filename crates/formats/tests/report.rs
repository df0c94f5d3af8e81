//! Redaction of values that could be My Numbers (synthetic vectors only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesshu_formats::contains_my_number;
use sesshu_formats::report::redact;

#[test]
fn values_that_may_be_my_numbers_are_redacted() {
    assert_eq!(
        redact("123456789018"),
        "(個人番号の可能性があるため表示しません)"
    );
    assert_eq!(
        redact("tel 1234-5678-9018"),
        "(個人番号の可能性があるため表示しません)"
    );
    assert_eq!(redact("123456789019"), "123456789019");
    assert_eq!(redact("2025-02-30"), "2025-02-30");
    assert_eq!(
        redact("1234567890180"),
        "1234567890180",
        "13 digits are not a My Number"
    );
    assert!(contains_my_number("x１２３４５６７８９０１８y"));
    assert!(!contains_my_number("宛名番号 100001"));
}
