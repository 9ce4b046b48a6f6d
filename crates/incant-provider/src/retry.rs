//! When and how long to wait before calling an HTTP API again.
//!
//! Rate limits (429) and overloaded servers (500, 502, 503, 504) are normal weather for an
//! eval that sends thousands of requests; a run should ride them out rather than record
//! failures. The policy: honour the server's `Retry-After` (seconds or an HTTP date) or
//! OpenAI's `retry-after-ms` when given, else exponential backoff from `base` with full
//! jitter (a random wait in [0, base * 2^attempt], capped), so that many workers that were
//! refused together do not come back together.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// How a provider retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step.
    pub base: Duration,
    /// Longest single wait (also caps a server's `Retry-After`).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Whether a status code is worth another attempt.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504)
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based), given the server's hints.
    pub fn wait(
        &self,
        attempt: u32,
        retry_after: Option<&str>,
        retry_after_ms: Option<&str>,
    ) -> Duration {
        let hinted = retry_after_ms
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
            .or_else(|| retry_after.and_then(parse_retry_after));
        if let Some(d) = hinted {
            return d.min(self.max_wait);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_wait);
        ceiling.mul_f64(random_unit())
    }
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 section 10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = parse_http_date(v)?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (the only form servers send today).
fn parse_http_date(v: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// A uniform number in [0, 1) from the process's random hasher keys (no RNG dependency;
/// jitter needs spread, not cryptographic quality).
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_dates_and_milliseconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        let p = RetryPolicy::default();
        assert_eq!(p.wait(0, Some("2"), None), Duration::from_secs(2));
        assert_eq!(
            p.wait(0, Some("2"), Some("150")),
            Duration::from_millis(150)
        );
        assert_eq!(p.wait(0, Some("100000"), None), p.max_wait);
    }

    #[test]
    fn backoff_grows_and_is_jittered_under_its_ceiling() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let waits: Vec<Duration> = (0..50).map(|_| p.wait(2, None, None)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(400)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 10, "jitter spreads the waits");
        assert!((0..50).all(|_| p.wait(10, None, None) <= Duration::from_secs(1)));
        assert!(retryable_status(429) && retryable_status(503) && !retryable_status(400));
    }
}
