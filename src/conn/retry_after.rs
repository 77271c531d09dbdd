//! The `Retry-After` of a refused upgrade (RFC 9110 10.2.3): seconds, or an HTTP date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::RETRY_AFTER_MAX;

/// How long `value` asks to wait, as of `now`; capped at RETRY_AFTER_MAX. None when it is
/// neither a number of seconds nor an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", the form
/// servers send; the two obsolete forms are not read).
pub(crate) fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = UNIX_EPOCH + Duration::from_secs(imf_fixdate(value)?);
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// Seconds since 1970 of an IMF-fixdate.
fn imf_fixdate(s: &str) -> Option<u64> {
    let rest = s.get(3..)?.strip_prefix(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days from 1970-01-01 to a date of the Gregorian calendar (from 1970 on).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_are_read_and_capped() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999999999999", now), Some(RETRY_AFTER_MAX));
        // 1994-11-06 08:49:37 is 784,111,777 s after 1970: seven seconds after `now`.
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO),
            "in the past"
        );
        assert_eq!(parse("Sat, 31 Dec 2033 23:59:59 GMT", now), Some(RETRY_AFTER_MAX));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
    }
}
