//! Small helpers shared by commands: clocks, strict number parsing and formatting as Redis
//! does it, glob matching, memory sizes.

/// The Redis version we report (HELLO, INFO, an RDB file's `redis-ver`, Lua's
/// `REDIS_VERSION`): clients gate features on it, and we implement the 7.2 command set.
pub const REDIS_VERSION: &str = "7.2.4";

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock Unix time in milliseconds (expiry instants only; never for timeouts).
pub fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// `t` in milliseconds since the Unix epoch (0 before it): for callers that also time
/// something from the same clock read.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Parses a signed 64-bit integer exactly as Redis's `string2ll`: no spaces, no `+`, no
/// leading zeros, fits in i64.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// Parses a double as Redis's `string2d`/`getDoubleFromObject`: decimal or exponent form,
/// `inf`/`-inf`/`+inf` accepted, NaN and surrounding spaces refused.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if lower.contains("nan") || lower.contains("inf") {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Formats like C's `%.17g` (what Redis uses for scores and double replies).
pub fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Integral values below 2^53 print exactly as integers under %.17g: skip the float
    // formatting (scores are very often integers).
    if d.fract() == 0.0 && d.abs() < 9_007_199_254_740_992.0 {
        let mut b = itoa::Buffer::new();
        return b.format(d as i64).to_string();
    }
    let e = format!("{:.16e}", d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let m = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Glob-style matching as Redis's `stringmatchlen`, for a pattern used once; a pattern
/// matched against many strings should be compiled once with [`crate::glob::Glob`].
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    crate::glob::Glob::new(pattern, nocase).matches(s)
}

/// Parses a memory size as redis.conf does: `1000`, `1k` (1000), `1kb` (1024), `100mb`, `2gb`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    if n < 0 {
        return None;
    }
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    (n as u64).checked_mul(mul)
}

/// Human-readable bytes as INFO's `*_human` fields (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024.0 {
        return format!("{}B", n as u64);
    }
    let mut v = n / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{:.2}{}", v, UNITS[i])
}

/// ASCII-lowercases a command or option name.
pub fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Connects to `addr`, from `source` when given (`bind-source-addr`).
pub async fn connect_from(addr: &str, source: &str) -> std::io::Result<tokio::net::TcpStream> {
    if source.is_empty() {
        return tokio::net::TcpStream::connect(addr).await;
    }
    let target = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let src: std::net::IpAddr = source.parse().map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad bind-source-addr")
    })?;
    let sock = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.bind(std::net::SocketAddr::new(src, 0))?;
    sock.connect(target).await
}

/// An I/O error as C's `strerror` words it ("No such file or directory"), the way Redis's
/// replies and logs show it: Rust's text without its " (os error N)" suffix.
pub fn io_error_text(e: &std::io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error ") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

/// Runs `f`, which blocks its thread for long (a sleep, a long script), so that the serving
/// thread's other connections move to another thread meanwhile (tokio's `block_in_place`):
/// without it, a connection queued on this thread waits for `f` even when it needs nothing
/// `f` holds (a refusal answered without the keyspace lock). Outside a multi-thread runtime
/// (tests, fuzzing) it just runs `f`.
pub fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
        assert_eq!(parse_i64_strict(b"01"), None);
        assert_eq!(parse_i64_strict(b"+1"), None);
        assert_eq!(parse_i64_strict(b" 1"), None);
        assert_eq!(parse_i64_strict(b"-0"), None);
    }

    #[test]
    fn doubles_format_like_percent_17g() {
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(0.1), "0.10000000000000001");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(3.0), "3");
        assert_eq!(fmt_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_double(0.0001), "0.0001");
        assert_eq!(fmt_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"*", b"", false));
        assert!(glob_match(b"a\\*", b"a*", false));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
    }
}
