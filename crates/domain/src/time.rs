//! Instants as staff read them. The register keeps instants in UTC (RFC 3339, so they sort and
//! compare across servers); every page, CSV and PDF shows them in Japan time, which has one
//! offset all year (+09:00, no daylight saving).

use chrono::{DateTime, FixedOffset};

/// Japan Standard Time.
pub fn japan() -> FixedOffset {
    // 9 hours is within ±24 h, so the offset always exists.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!())
}

/// `2026-12-06T07:18:04.123Z` → `2026-12-06 16:18` (Japan time, to the minute). A text that is
/// not an RFC 3339 instant is returned as it is, so nothing is hidden by a format change.
pub fn japan_minutes(stamp: &str) -> String {
    format_japan(stamp, "%Y-%m-%d %H:%M")
}

/// As [`japan_minutes`], to the second: for the audit log, where order within a minute matters.
pub fn japan_seconds(stamp: &str) -> String {
    format_japan(stamp, "%Y-%m-%d %H:%M:%S")
}

fn format_japan(stamp: &str, format: &str) -> String {
    match DateTime::parse_from_rfc3339(stamp.trim()) {
        Ok(t) => t.with_timezone(&japan()).format(format).to_string(),
        Err(_) => stamp.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_instants_are_shown_in_japan_time() {
        assert_eq!(
            japan_minutes("2026-12-06T07:18:04.123Z"),
            "2026-12-06 16:18"
        );
        // Past midnight in Japan while still the day before in UTC.
        assert_eq!(japan_minutes("2026-12-31T15:30:00Z"), "2027-01-01 00:30");
        assert_eq!(
            japan_seconds("2026-12-06T07:18:04+00:00"),
            "2026-12-06 16:18:04"
        );
        assert_eq!(
            japan_minutes("2026-12-06T16:18:00+09:00"),
            "2026-12-06 16:18"
        );
        assert_eq!(japan_minutes("not a time"), "not a time");
        assert_eq!(japan_minutes(""), "");
    }
}
