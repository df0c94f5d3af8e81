use chrono::{Duration, Utc};
use sesshu_domain::CivilDate;

/// Today's civil date in Japan (UTC+9, no daylight saving), whatever the server's zone.
pub fn today_in_japan() -> CivilDate {
    (Utc::now() + Duration::hours(9)).date_naive()
}
