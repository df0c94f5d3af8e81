use chrono::{FixedOffset, Utc};
use sesshu_domain::CivilDate;

/// Today's civil date in Japan (UTC+9, no daylight saving), whatever the server's zone.
pub fn today_in_japan() -> CivilDate {
    let jst = FixedOffset::east_opt(9 * 3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
    Utc::now().with_timezone(&jst).date_naive()
}
