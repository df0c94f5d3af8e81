//! A 予診票 (dose) file of any bytes: the reader never panics, row errors name a line past the
//! header, and no error it reports carries a My Number.
#![no_main]

mod rows;

use libfuzzer_sys::fuzz_target;
use sesshu_formats::{DoseReadOptions, DoseReader};

fuzz_target!(|data: &[u8]| {
    let options = DoseReadOptions {
        products: vec!["hib".into(), "pcv20".into(), "bcg".into(), "mr".into()],
        tests: vec!["antibody".into()],
        ..DoseReadOptions::default()
    };
    if let Ok(mut reader) = DoseReader::new(std::io::Cursor::new(data.to_vec()), options) {
        rows::check(|| reader.next_record());
    }
});
