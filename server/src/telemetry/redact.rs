//! Arguments that must not reach the slow log or MONITOR (passwords), replaced by
//! `(redacted)` as Redis does.

use crate::commands::CommandSpec;
use bytes::Bytes;

const REDACTED: &[u8] = b"(redacted)";

/// `args` with secrets replaced; `None` when nothing needs hiding (the common case, no
/// copy). Which arguments are secret is a fact of the command's spec.
pub fn redacted(spec: &CommandSpec, args: &[Bytes]) -> Option<Vec<Bytes>> {
    let hide = (spec.secrets?)(args);
    if hide.is_empty() {
        return None;
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

    fn hidden(line: &str) -> Option<Vec<Bytes>> {
        let args = v(line);
        redacted(crate::admission::spec_of(&args)?, &args)
    }

    #[test]
    fn hides_the_secrets_the_command_table_names() {
        let r = hidden("migrate h 1 key 9 5000 AUTH2 user pw").unwrap();
        assert_eq!(&r[7][..], REDACTED);
        assert_eq!(&r[8][..], REDACTED);
        let r = hidden("config set masterauth x maxmemory 1").unwrap();
        assert_eq!(&r[3][..], REDACTED);
        assert_eq!(&r[5][..], b"1");
        assert!(hidden("get k").is_none());
        let r = hidden("hello 2 AUTH u p").unwrap();
        assert_eq!(&r[2][..], b"AUTH");
        assert_eq!(&r[4][..], REDACTED);
        let r = hidden("auth pw").unwrap();
        assert_eq!(&r[1][..], REDACTED);
    }
}
