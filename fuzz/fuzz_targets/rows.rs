//! What every file reader owes its caller, checked row by row: a row error names a line past the
//! header, and neither its reason nor the value it quotes carries a My Number.

use sesshu_domain::my_number::mentions_my_number;
use sesshu_formats::{FileError, RowError};

/// Reads up to 10,000 rows with `next`, checking each error.
pub fn check<T>(mut next: impl FnMut() -> Result<Option<Result<T, Vec<RowError>>>, FileError>) {
    for _ in 0..10_000 {
        match next() {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(errors))) => {
                for e in errors {
                    assert!(e.line >= 2, "a row error on line {}", e.line);
                    assert!(!mentions_my_number(&e.reason), "{}", e.reason);
                    if let Some(v) = &e.value {
                        assert!(!mentions_my_number(v), "value {v}");
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
}
