//! The report's clock: RFC 3339 timestamps in UTC.

use std::time::SystemTime;

use serde::Serialize;

/// A point in time, serialized as RFC 3339 in UTC with microseconds
/// (`2026-11-28T17:25:21.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch (OCSF's `time`).
    pub fn unix_millis(self) -> i64 {
        match self.0.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            since.subsec_micros()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> String {
        Timestamp(SystemTime::UNIX_EPOCH + Duration::new(secs, micros * 1000)).to_string()
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day of a century divisible by 400) and the day after.
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000000Z");
        // 2100 is not a leap year: 2100-02-28 is followed by 2100-03-01.
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(1_795_886_721, 123_456), "2026-11-28T17:25:21.123456Z");
        assert_eq!(
            Timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(1500)).unix_millis(),
            1500
        );
    }
}
