use chrono::Utc;
use sesshu_domain::CivilDate;

/// Today's civil date in Japan (UTC+9, no daylight saving), whatever the server's zone.
pub fn today_in_japan() -> CivilDate {
    sesshu_store::date_in_japan(Utc::now())
}
