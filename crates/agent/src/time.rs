//! UTC calendar fields of a Unix instant, without a time-zone database: the agent's
//! timestamps firetail reproduces (ADDMETADATA's `ts`, ADDEC2METADATA's
//! `metadataTimestamp`) are printed in UTC, and so are the generated Apache lines. The
//! one clock read, [`now_unix_millis`], is the wall clock those stamps and CloudWatch
//! Logs' event times are taken from.

/// The wall clock in milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn now_unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Proleptic Gregorian year (negative before year 0).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59 (no leap seconds: Unix time has none).
    pub second: u32,
}

/// Converts Unix seconds to a UTC civil time (Howard Hinnant's days-from-civil inverse), valid
/// for the whole proleptic Gregorian calendar, so no chrono call on the hot path.
pub fn civil_from_unix(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Civil {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(civil_from_unix(0), civil(1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(-1), civil(1969, 12, 31, 23, 59, 59));
        assert_eq!(civil_from_unix(951_782_400), civil(2000, 2, 29, 0, 0, 0));
        assert_eq!(
            civil_from_unix(1_795_611_912),
            civil(2026, 11, 25, 13, 5, 12)
        );
        assert_eq!(
            civil_from_unix(4_102_444_799),
            civil(2099, 12, 31, 23, 59, 59)
        );
    }
}
