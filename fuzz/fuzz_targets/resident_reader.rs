//! A resident feed of any bytes: the reader never panics, every row error names a line past the
//! header, and no error it reports carries a My Number.
#![no_main]

mod rows;

use libfuzzer_sys::fuzz_target;
use sesshu_formats::{ReadOptions, ResidentReader};

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions::default();
    if let Ok(mut reader) = ResidentReader::new(std::io::Cursor::new(data.to_vec()), &options) {
        rows::check(|| reader.next_record());
    }
});
