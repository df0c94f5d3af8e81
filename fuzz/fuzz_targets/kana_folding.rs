//! The kana folding behind name search: never a panic, folding twice is folding once, and a name
//! typed in half-width kana folds like the same name in full width.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesshu_domain::{full_width_kana, kana_key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = kana_key(text);
    assert_eq!(kana_key(&key), key, "idempotent for {text:?}");
    assert_eq!(kana_key(&full_width_kana(text)), key, "width for {text:?}");
});
