//! Known-answer vectors for the My Number check digit (synthetic numbers only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesshu_domain::MyNumber;
use sesshu_domain::my_number::{MyNumberError, is_valid_my_number};

#[test]
fn check_digit_follows_the_ordinance() {
    // 12345678901: sum = 1*6+2*5+3*4+4*3+5*2+6*7+7*6+8*5+9*4+0*3+1*2 = 212; 212 mod 11 = 3 → 8.
    let n = MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]).unwrap();
    assert_eq!(&n.expose(), b"123456789018");
    assert!(MyNumber::parse("123456789018").is_ok());
    assert_eq!(
        MyNumber::parse("123456789019"),
        Err(MyNumberError::CheckDigit)
    );
    assert!(is_valid_my_number(b"123456789018"));
    assert!(!is_valid_my_number(b"123456789019"));
}

#[test]
fn remainders_zero_and_one_give_check_zero() {
    // 00000000000 → sum 0 → r 0 → 0; 00000000006 → 12 → r 1 → 0.
    assert!(MyNumber::parse("000000000000").is_ok());
    assert!(MyNumber::parse("000000000060").is_ok());
}

#[test]
fn debug_and_display_never_show_the_number() {
    let n = MyNumber::parse("123456789018").unwrap();
    assert_eq!(format!("{n}"), "********9018");
    assert_eq!(n.masked(), "********9018");
    assert!(!format!("{n:?}").contains("12345678"));
    assert!(!format!("{:?}", Some(&n)).contains("1234"));
}

#[test]
fn shapes_are_refused_without_echoing_input() {
    for bad in ["", "12345678901", "1234567890123", "12345678901a"] {
        let e = MyNumber::parse(bad).err();
        assert_eq!(e, Some(MyNumberError::Format));
        assert!(
            !e.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("1234")
        );
    }
    assert!(MyNumber::parse("１２３４５６７８９０１８").is_ok());
}
