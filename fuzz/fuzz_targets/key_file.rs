//! The key file as read at every start: any text is refused or read, never a panic, and a
//! keyring read from text writes back to text that reads as the same keyring.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesshu_crypto::Keyring;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(keys) = Keyring::parse(text) {
        let again = Keyring::parse(&keys.to_file_text()).expect("its own text reads back");
        assert_eq!(again.to_file_text(), keys.to_file_text());
        assert_eq!(again.current_version(), keys.current_version());
    }
});
