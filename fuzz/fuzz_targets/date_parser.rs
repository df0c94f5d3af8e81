//! Dates as people type them (西暦, 和暦 with or without 元年, full-width digits): never a panic,
//! and a date read back from its own ISO and 和暦 spellings is the same date.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesshu_domain::{format_wareki, parse_date};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_date(text) {
        assert_eq!(parse_date(&d.to_string()).ok(), Some(d), "ISO of {text:?}");
        let w = format_wareki(d);
        assert_eq!(parse_date(&w).ok(), Some(d), "和暦 {w} of {text:?}");
    }
});
