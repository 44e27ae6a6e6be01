//! The two relative-deadline headers this crate reads and writes.
//!
//! - [`GRPC_TIMEOUT`] (`grpc-timeout`), gRPC's own, in its exact format: 1
//!   to 8 ASCII digits followed by one unit — `H` hours, `M` minutes, `S`
//!   seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds.
//! - [`CONNECT_TIMEOUT_MS`] (`connect-timeout-ms`), the Connect protocol's
//!   header for plain HTTP: 1 to 10 ASCII digits of milliseconds. It was
//!   chosen over inventing an `x-` header because real clients already
//!   send it (Connect clients in Go, TypeScript, Swift and Kotlin), it has
//!   a published grammar, and it works over HTTP/1.1 and HTTP/2 alike.
//!
//! Both are *relative* ("this much time is left"), so the clocks of the two
//! machines never need to agree. Parsing is strict: no sign, no spaces, no
//! decimal point, no second unit, no repeated header. Zero is accepted and
//! means the time is already up.
//!
//! ```
//! use std::time::Duration;
//! use http::HeaderValue;
//! use tether_http::headers;
//!
//! let v = HeaderValue::from_static("250m");
//! assert_eq!(headers::parse_grpc_timeout(&v), Ok(Duration::from_millis(250)));
//! assert!(headers::parse_grpc_timeout(&HeaderValue::from_static("2.5S")).is_err());
//! assert_eq!(headers::grpc_timeout_value(Duration::from_millis(1500)), "1500000u");
//! ```

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

/// `grpc-timeout`: gRPC's relative deadline (1–8 digits and a unit).
///
/// ```
/// assert_eq!(tether_http::headers::GRPC_TIMEOUT.as_str(), "grpc-timeout");
/// ```
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// `connect-timeout-ms`: the Connect protocol's relative deadline for plain
/// HTTP (1–10 digits of milliseconds).
///
/// ```
/// assert_eq!(tether_http::headers::CONNECT_TIMEOUT_MS.as_str(), "connect-timeout-ms");
/// ```
pub const CONNECT_TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");

/// The largest number `grpc-timeout` can carry (8 digits).
const GRPC_MAX: u64 = 99_999_999;
/// The largest number `connect-timeout-ms` can carry (10 digits).
const CONNECT_MAX: u64 = 9_999_999_999;

/// A deadline header that breaks its grammar. Its `Display` names the
/// header, the offending value and the rule, ready to be sent back as the
/// body of a 400.
///
/// ```
/// use http::HeaderValue;
/// let err = tether_http::headers::parse_connect_timeout(&HeaderValue::from_static("-5")).unwrap_err();
/// assert_eq!(err.header(), "connect-timeout-ms");
/// assert!(err.to_string().contains("1 to 10 ASCII digits"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedTimeout {
    header: &'static str,
    value: String,
    rule: &'static str,
}

impl MalformedTimeout {
    fn new(header: &'static str, value: &HeaderValue, rule: &'static str) -> MalformedTimeout {
        // Echo at most a short, printable prefix: the value is untrusted input.
        let shown: String = String::from_utf8_lossy(value.as_bytes()).chars().take(32).collect();
        MalformedTimeout { header, value: shown, rule }
    }

    /// The header's name (`grpc-timeout` or `connect-timeout-ms`).
    ///
    /// ```
    /// use http::HeaderValue;
    /// let err = tether_http::headers::parse_grpc_timeout(&HeaderValue::from_static("5")).unwrap_err();
    /// assert_eq!(err.header(), "grpc-timeout");
    /// ```
    pub fn header(&self) -> &'static str {
        self.header
    }
}

impl fmt::Display for MalformedTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} header {:?}: {}", self.header, self.value, self.rule)
    }
}

impl std::error::Error for MalformedTimeout {}

const GRPC_RULE: &str = "expected 1 to 8 ASCII digits followed by one unit of H, M, S, m, u or n (e.g. \"250m\")";
const CONNECT_RULE: &str = "expected 1 to 10 ASCII digits of milliseconds (e.g. \"250\")";
const REPEATED: &str = "the header appears more than once";

/// Parses a `grpc-timeout` value, strictly in gRPC's format.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use tether_http::headers::parse_grpc_timeout;
///
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("3S")), Ok(Duration::from_secs(3)));
/// assert_eq!(parse_grpc_timeout(&HeaderValue::from_static("99999999H")), Ok(Duration::from_secs(99_999_999 * 3600)));
/// for bad in ["", "S", "123456789S", "1 S", "+1S", "1s", "1SS", "1.5S"] {
///     assert!(parse_grpc_timeout(&HeaderValue::from_str(bad).unwrap()).is_err(), "{bad:?}");
/// }
/// ```
///
/// # Errors
///
/// [`MalformedTimeout`] unless the value is 1 to 8 ASCII digits followed
/// by exactly one of `H`, `M`, `S`, `m`, `u`, `n`: empty, no digits, a
/// ninth digit, a sign, a space, a decimal point, an unknown unit (`s`)
/// or a second one are all refused.
pub fn parse_grpc_timeout(value: &HeaderValue) -> Result<Duration, MalformedTimeout> {
    let bad = || MalformedTimeout::new("grpc-timeout", value, GRPC_RULE);
    let (&unit, digits) = value.as_bytes().split_last().ok_or_else(bad)?;
    let n = parse_digits(digits, 8).ok_or_else(bad)?;
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(bad()),
    })
}

/// Parses a `connect-timeout-ms` value: 1 to 10 ASCII digits.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use tether_http::headers::parse_connect_timeout;
///
/// assert_eq!(parse_connect_timeout(&HeaderValue::from_static("1500")), Ok(Duration::from_millis(1500)));
/// assert!(parse_connect_timeout(&HeaderValue::from_static("12345678901")).is_err()); // 11 digits
/// ```
///
/// # Errors
///
/// [`MalformedTimeout`] unless the value is 1 to 10 ASCII digits and
/// nothing else (no sign, space, unit or decimal point).
pub fn parse_connect_timeout(value: &HeaderValue) -> Result<Duration, MalformedTimeout> {
    let n = parse_digits(value.as_bytes(), 10)
        .ok_or_else(|| MalformedTimeout::new("connect-timeout-ms", value, CONNECT_RULE))?;
    Ok(Duration::from_millis(n))
}

/// `1..=max` ASCII digits as a number; anything else is `None`.
fn parse_digits(digits: &[u8], max: usize) -> Option<u64> {
    if digits.is_empty() || digits.len() > max || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 10 digits: fits in a u64 without overflow checks.
    Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// The `grpc-timeout` value for `left`, rounded down, in the finest unit
/// whose count fits in 8 digits, so it never promises more time than is
/// left and loses as little as possible (at most one unit: below 0.1 s it
/// is exact to the nanosecond). Beyond 99,999,999 hours it is capped there.
///
/// ```
/// use std::time::Duration;
/// use tether_http::headers::grpc_timeout_value;
///
/// assert_eq!(grpc_timeout_value(Duration::from_nanos(99_999_999)), "99999999n");
/// assert_eq!(grpc_timeout_value(Duration::from_nanos(100_000_999)), "100000u"); // rounded down
/// assert_eq!(grpc_timeout_value(Duration::from_secs(3 * 3600)), "10800000m");
/// assert_eq!(grpc_timeout_value(Duration::ZERO), "0n");
/// ```
///
/// # Panics
///
/// Only if this crate has a bug: the value is ASCII digits and a unit
/// letter, always a valid header value.
pub fn grpc_timeout_value(left: Duration) -> HeaderValue {
    let nanos = left.as_nanos();
    let (n, unit) = [(1u128, 'n'), (1_000, 'u'), (1_000_000, 'm'), (1_000_000_000, 'S'), (60_000_000_000, 'M')]
        .into_iter()
        .map(|(per, unit)| (nanos / per, unit))
        .find(|&(n, _)| n <= u128::from(GRPC_MAX))
        .unwrap_or_else(|| ((nanos / 3_600_000_000_000).min(u128::from(GRPC_MAX)), 'H'));
    HeaderValue::from_str(&format!("{n}{unit}")).expect("digits and a unit letter make a valid header value")
}

/// The `connect-timeout-ms` value for `left`: whole milliseconds, rounded
/// down (capped at 10 digits, about 115 days).
///
/// ```
/// use std::time::Duration;
/// use tether_http::headers::connect_timeout_value;
///
/// assert_eq!(connect_timeout_value(Duration::from_micros(2_999)), "2");
/// assert_eq!(connect_timeout_value(Duration::from_secs(u64::MAX)), "9999999999");
/// ```
pub fn connect_timeout_value(left: Duration) -> HeaderValue {
    let ms = left.as_millis().min(u128::from(CONNECT_MAX)) as u64;
    HeaderValue::from(ms)
}

/// The shorter of the request's deadline headers, `None` when it carries
/// neither. A malformed or repeated header is an error, whatever the other
/// one says.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, HeaderValue};
/// use tether_http::headers::{self, CONNECT_TIMEOUT_MS, GRPC_TIMEOUT};
///
/// let mut h = HeaderMap::new();
/// assert_eq!(headers::timeout(&h), Ok(None));
/// h.insert(GRPC_TIMEOUT, HeaderValue::from_static("2S"));
/// h.insert(CONNECT_TIMEOUT_MS, HeaderValue::from_static("500"));
/// assert_eq!(headers::timeout(&h), Ok(Some(Duration::from_millis(500))));
/// h.append(GRPC_TIMEOUT, HeaderValue::from_static("1S"));
/// assert!(headers::timeout(&h).is_err()); // repeated
/// ```
///
/// # Errors
///
/// [`MalformedTimeout`] if either header appears more than once, or its
/// value breaks its grammar (see [`parse_grpc_timeout`] and
/// [`parse_connect_timeout`]), even when the other header is fine.
pub fn timeout(headers: &HeaderMap) -> Result<Option<Duration>, MalformedTimeout> {
    let grpc = single(headers, &GRPC_TIMEOUT, "grpc-timeout")?.map(parse_grpc_timeout).transpose()?;
    let connect = single(headers, &CONNECT_TIMEOUT_MS, "connect-timeout-ms")?.map(parse_connect_timeout).transpose()?;
    Ok(match (grpc, connect) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The header's only value; two or more are ambiguous, so an error.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    label: &'static str,
) -> Result<Option<&'h HeaderValue>, MalformedTimeout> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    match (first, all.next()) {
        (Some(v), Some(_)) => Err(MalformedTimeout::new(label, v, REPEATED)),
        (first, _) => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(s).unwrap()
    }

    #[test]
    fn grpc_units() {
        let cases: [(&[u8], Duration); 7] = [
            (b"1H", Duration::from_secs(3600)),
            (b"2M", Duration::from_secs(120)),
            (b"3S", Duration::from_secs(3)),
            (b"4m", Duration::from_millis(4)),
            (b"5u", Duration::from_micros(5)),
            (b"6n", Duration::from_nanos(6)),
            (b"00000007S", Duration::from_secs(7)), // 8 digits, leading zeros
        ];
        for (s, d) in cases {
            assert_eq!(parse_grpc_timeout(&v(s)), Ok(d), "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn grpc_rejects_everything_else() {
        let bad: [&[u8]; 17] = [
            b"",
            b"S",
            b"1",
            b"123456789S",
            b"1x",
            b"1 S",
            b" 1S",
            b"1S ",
            b"-1S",
            b"+1S",
            b"1.5S",
            b"1SS",
            b"1h",
            b"1e3S",
            b"0x1S",
            b"\xef\xbc\x91S",
            b"1\xffS",
        ];
        for s in bad {
            let err = parse_grpc_timeout(&v(s)).unwrap_err();
            assert_eq!(err.header(), "grpc-timeout");
            assert!(err.to_string().contains("1 to 8 ASCII digits"), "{err}");
        }
    }

    #[test]
    fn connect_digits() {
        assert_eq!(parse_connect_timeout(&v(b"0")), Ok(Duration::ZERO));
        assert_eq!(parse_connect_timeout(&v(b"9999999999")), Ok(Duration::from_millis(CONNECT_MAX)));
        for s in [&b""[..], b"12345678901", b"1e3", b"-1", b"0x10", b" 5", b"5 ", b"5ms", b"1.5"] {
            assert!(parse_connect_timeout(&v(s)).is_err(), "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn grpc_encoding_rounds_down_and_round_trips() {
        for nanos in [0u64, 1, 999, 99_999_999, 100_000_000, 123_456_789_123, 86_400_000_000_000, u64::MAX] {
            let left = Duration::from_nanos(nanos);
            let value = grpc_timeout_value(left);
            assert!(value.len() <= 9, "{value:?}");
            let back = parse_grpc_timeout(&value).unwrap();
            assert!(back <= left, "{value:?} promises {back:?} > {left:?}");
        }
        // Below 0.1 s the value is exact.
        assert_eq!(grpc_timeout_value(Duration::from_nanos(12_345_678)), "12345678n");
        // Hours past 8 digits are capped.
        assert_eq!(grpc_timeout_value(Duration::MAX), "99999999H");
    }

    #[test]
    fn connect_encoding_rounds_down() {
        assert_eq!(connect_timeout_value(Duration::from_nanos(999_999)), "0");
        assert_eq!(connect_timeout_value(Duration::from_millis(1234)), "1234");
    }

    #[test]
    fn malformed_values_are_echoed_short_and_printable() {
        let long = vec![b'9'; 200];
        let err = parse_connect_timeout(&v(&long)).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
        let err = parse_grpc_timeout(&v(b"1\xffS")).unwrap_err();
        assert!(err.to_string().contains('\u{fffd}'), "{err}");
    }
}
