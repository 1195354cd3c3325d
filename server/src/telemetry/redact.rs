//! Arguments that must not reach the slow log or MONITOR (passwords), replaced by
//! `(redacted)` as Redis does.

use bytes::Bytes;

const REDACTED: &[u8] = b"(redacted)";

/// Configuration parameters whose values are secrets.
const SECRET_PARAMS: &[&str] = &["masterauth", "masteruser", "requirepass"];

/// `args` with secrets replaced; `None` when nothing needs hiding (the common case, no
/// copy).
pub fn redacted(args: &[Bytes]) -> Option<Vec<Bytes>> {
    let name = crate::util::lower(args.first()?);
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    let mut hide: Vec<usize> = Vec::new();
    match name.as_str() {
        "auth" => hide.extend(1..args.len()),
        "hello" => {
            let mut i = 2;
            while i < args.len() {
                if is(i, "AUTH") {
                    hide.extend([i + 1, i + 2]);
                    i += 3;
                } else {
                    i += 2;
                }
            }
        }
        "migrate" => {
            for i in 6..args.len() {
                if is(i, "AUTH") {
                    hide.push(i + 1);
                } else if is(i, "AUTH2") {
                    hide.extend([i + 1, i + 2]);
                }
            }
        }
        "config" if is(1, "SET") => {
            for i in (2..args.len()).step_by(2) {
                let p = crate::util::lower(&args[i]);
                if SECRET_PARAMS.contains(&p.as_str()) {
                    hide.push(i + 1);
                }
            }
        }
        "acl" if is(1, "SETUSER") => hide.extend(2..args.len()),
        _ => return None,
    }
    let mut out = args.to_vec();
    for i in hide {
        if let Some(a) = out.get_mut(i) {
            *a = Bytes::from_static(REDACTED);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn hides_secrets() {
        let r = redacted(&v("migrate h 1 key 9 5000 AUTH2 user pw")).unwrap();
        assert_eq!(&r[7][..], REDACTED);
        assert_eq!(&r[8][..], REDACTED);
        let r = redacted(&v("config set masterauth x maxmemory 1")).unwrap();
        assert_eq!(&r[3][..], REDACTED);
        assert_eq!(&r[5][..], b"1");
        assert!(redacted(&v("get k")).is_none());
        let r = redacted(&v("hello 2 AUTH u p")).unwrap();
        assert_eq!(&r[2][..], b"AUTH");
        assert_eq!(&r[4][..], REDACTED);
    }
}
