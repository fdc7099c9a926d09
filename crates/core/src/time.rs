//! Clock helpers. Getui is a China-based service: its "day" (for `login_freq`) and its
//! `create_time` text are in China Standard Time (UTC+8, no DST).

use chrono::{DateTime, FixedOffset};

const CST_OFFSET_SECS: i32 = 8 * 3600;
/// One day, in ms.
pub const DAY_MS: i64 = 86_400_000;

/// A source of "now" in ms; tests substitute one that can be moved forward.
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(now_ms)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The CST calendar day number (days since 1970-01-01 CST) of a ms timestamp.
pub fn cst_day(ms: i64) -> i64 {
    (ms + i64::from(CST_OFFSET_SECS) * 1000).div_euclid(DAY_MS)
}

/// `YYYY-MM-DD HH:MM:SS` in CST, as Getui's user detail shows `create_time`.
pub fn getui_datetime(ms: i64) -> String {
    let Some(offset) = FixedOffset::east_opt(CST_OFFSET_SECS) else {
        return String::new();
    };
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cst_formatting() {
        // 2021-06-29T16:00:00Z is 2021-06-30 00:00:00 in CST.
        assert_eq!(getui_datetime(1_624_982_400_000), "2021-06-30 00:00:00");
        assert_eq!(
            cst_day(1_624_982_400_000),
            cst_day(1_624_982_400_000 + DAY_MS - 1)
        );
        assert_eq!(
            cst_day(1_624_982_400_000) - 1,
            cst_day(1_624_982_400_000 - 1)
        );
    }
}
