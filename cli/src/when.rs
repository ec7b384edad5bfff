//! Times as a person reads them: NumericDate claims (RFC 7519 §2) as RFC
//! 3339 UTC timestamps (the calendar is the `time` crate's) and relative to
//! now ("in 5 min", "3 h ago").

use std::time::{SystemTime, UNIX_EPOCH};

use bearer_guard::limits::DEFAULT_LEEWAY;
use serde_json::Value;
use time::OffsetDateTime;

/// Now, in seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A NumericDate: whole or fractional seconds (rounded down).
pub fn numeric_date(v: &Value) -> Option<i64> {
    const LIMIT: f64 = 1e15;
    let Value::Number(n) = v else { return None };
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < LIMIT)
            .map(|f| f.floor() as i64)
    })
}

/// `secs` since the Unix epoch as an RFC 3339 UTC timestamp; `None` outside
/// the years 0000 to 9999.
pub fn rfc3339(secs: i64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// "in 5 min", "3 h ago", "now".
pub fn relative(delta: i64) -> String {
    let abs = delta.unsigned_abs();
    let round = |unit: u64| {
        abs.saturating_add(unit / 2)
            .checked_div(unit)
            .unwrap_or_default()
    };
    let amount = if abs < 60 {
        format!("{abs} s")
    } else if abs < 3_570 {
        format!("{} min", round(60))
    } else if abs < 172_800 {
        let minutes = round(60);
        let (h, min) = (minutes / 60, minutes % 60);
        if min == 0 || h >= 10 {
            format!("{} h", round(3_600))
        } else {
            format!("{h} h {min} min")
        }
    } else {
        format!("{} d", round(86_400))
    };
    match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {amount}"),
        _ => format!("{amount} ago"),
    }
}

/// A time claim for display: the timestamp and how far from now.
pub fn when(secs: i64, now: i64) -> String {
    match rfc3339(secs) {
        Some(t) => format!("{t} ({})", relative(secs.saturating_sub(now))),
        None => format!("{secs} (outside the years 0000-9999)"),
    }
}

/// The leeway in seconds: the one given, else the validator's default.
pub fn leeway_secs(leeway: Option<u64>) -> u64 {
    leeway.unwrap_or(DEFAULT_LEEWAY.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const FIRST_SECOND: i64 = -62_167_219_200;
    const LAST_SECOND: i64 = 253_402_300_799;

    #[test]
    fn rfc3339_formats_civil_dates() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            rfc3339(4_107_542_400).as_deref(),
            Some("2100-03-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339(FIRST_SECOND).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339(LAST_SECOND).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339(FIRST_SECOND - 1), None);
        assert_eq!(rfc3339(LAST_SECOND + 1), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(0), "now");
        assert_eq!(relative(5), "in 5 s");
        assert_eq!(relative(299), "in 5 min");
        assert_eq!(relative(-3 * 3600), "3 h ago");
        assert_eq!(relative(-(2 * 3600 + 15 * 60)), "2 h 15 min ago");
        assert_eq!(relative(3 * 86_400), "in 3 d");
        assert!(relative(i64::MIN).ends_with(" d ago"));
    }
}
