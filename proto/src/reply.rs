//! A RESP2/RESP3 reply reader that keeps every distinction the wire makes.
//!
//! Client libraries fold types together (the `redis` crate reads `$-1` and `*-1` both as
//! `Nil`, a verbatim string as text, a set as an array), which is exactly what a reply-shape
//! check must not do: hiredis-based clients tell them apart. So this reader keeps the wire
//! type of every node, and only the reply-shape check and tests that need that precision
//! use it.

use std::io::{BufRead, ErrorKind};

/// One reply as it came off the wire.
/// Ordered (by wire type, then content) so a check can sort the elements of a reply whose
/// order Redis does not define.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...` or RESP3's blob error `!...`: the whole text, code included.
    Error(String),
    /// `:...`
    Integer(i64),
    /// `$...`
    Bulk(Vec<u8>),
    /// RESP2's `$-1`.
    NullBulk,
    /// RESP2's `*-1`.
    NullArray,
    /// RESP3's `_`.
    Null,
    /// `*...`
    Array(Vec<Reply>),
    /// RESP3's `%...`: entries in wire order.
    Map(Vec<(Reply, Reply)>),
    /// RESP3's `~...`
    Set(Vec<Reply>),
    /// RESP3's `>...`
    Push(Vec<Reply>),
    /// RESP3's `,...`, as the text the server wrote (`inf`, `1.5`).
    Double(String),
    /// RESP3's `#t` / `#f`.
    Boolean(bool),
    /// RESP3's `=...`: the three-letter format and the text.
    Verbatim(String, Vec<u8>),
    /// RESP3's `(...`
    BigNumber(String),
    /// RESP3's `|...` attribute map, with the reply it annotates.
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
}

/// How a read can fail.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing (more) arrived before the socket's read timeout.
    Timeout,
    /// The peer closed the connection.
    Closed,
    /// The bytes are not RESP.
    Protocol(String),
}

/// Aggregates larger than this are refused rather than preallocated: the peer is a server
/// under test, and a wrong length must not take the test process down.
const MAX_ELEMENTS: i64 = 1 << 24;

fn io(e: std::io::Error) -> ReadError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ReadError::Timeout,
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            ReadError::Closed
        }
        _ => ReadError::Protocol(e.to_string()),
    }
}

fn line(r: &mut impl BufRead) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf).map_err(io)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if !buf.ends_with(b"\r\n") {
        return Err(ReadError::Protocol(format!(
            "line without CRLF: {:?}",
            String::from_utf8_lossy(&buf)
        )));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|e| ReadError::Protocol(e.to_string()))
}

fn number(s: &str) -> Result<i64, ReadError> {
    s.parse()
        .map_err(|_| ReadError::Protocol(format!("bad number {s:?}")))
}

fn blob(r: &mut impl BufRead, len: i64) -> Result<Vec<u8>, ReadError> {
    if !(0..=512 << 20).contains(&len) {
        return Err(ReadError::Protocol(format!("bad blob length {len}")));
    }
    let mut buf = vec![0u8; len as usize + 2];
    r.read_exact(&mut buf).map_err(io)?;
    if !buf.ends_with(b"\r\n") {
        return Err(ReadError::Protocol("blob without CRLF".into()));
    }
    buf.truncate(len as usize);
    Ok(buf)
}

fn count(s: &str) -> Result<i64, ReadError> {
    let n = number(s)?;
    if n > MAX_ELEMENTS {
        return Err(ReadError::Protocol(format!("aggregate of {n} elements")));
    }
    Ok(n)
}

fn elements(r: &mut impl BufRead, n: i64) -> Result<Vec<Reply>, ReadError> {
    (0..n.max(0)).map(|_| read(r)).collect()
}

fn pairs(r: &mut impl BufRead, n: i64) -> Result<Vec<(Reply, Reply)>, ReadError> {
    (0..n.max(0)).map(|_| Ok((read(r)?, read(r)?))).collect()
}

/// Reads one complete reply.
///
/// # Errors
/// [`ReadError::Timeout`] when the socket's read timeout passes first (a command that does
/// not reply, or blocks), [`ReadError::Closed`] at end of stream, [`ReadError::Protocol`]
/// for anything that is not RESP.
pub fn read(r: &mut impl BufRead) -> Result<Reply, ReadError> {
    let l = line(r)?;
    let (Some(tag), rest) = (l.chars().next(), l.get(1..).unwrap_or("")) else {
        return Err(ReadError::Protocol("empty line".into()));
    };
    Ok(match tag {
        '+' => Reply::Simple(rest.to_string()),
        '-' => Reply::Error(rest.to_string()),
        ':' => Reply::Integer(number(rest)?),
        '$' => match number(rest)? {
            -1 => Reply::NullBulk,
            n => Reply::Bulk(blob(r, n)?),
        },
        '*' => match count(rest)? {
            -1 => Reply::NullArray,
            n => Reply::Array(elements(r, n)?),
        },
        '%' => Reply::Map(pairs(r, count(rest)?)?),
        '~' => Reply::Set(elements(r, count(rest)?)?),
        '>' => Reply::Push(elements(r, count(rest)?)?),
        '_' => Reply::Null,
        ',' => Reply::Double(rest.to_string()),
        '#' => match rest {
            "t" => Reply::Boolean(true),
            "f" => Reply::Boolean(false),
            _ => return Err(ReadError::Protocol(format!("bad boolean {rest:?}"))),
        },
        '(' => Reply::BigNumber(rest.to_string()),
        '!' => Reply::Error(String::from_utf8_lossy(&blob(r, number(rest)?)?).into_owned()),
        '=' => {
            let text = blob(r, number(rest)?)?;
            if text.len() < 4 || text[3] != b':' {
                return Err(ReadError::Protocol("verbatim string without format".into()));
            }
            Reply::Verbatim(
                String::from_utf8_lossy(&text[..3]).into_owned(),
                text[4..].to_vec(),
            )
        }
        '|' => {
            let attrs = pairs(r, count(rest)?)?;
            Reply::Attribute(attrs, Box::new(read(r)?))
        }
        _ => return Err(ReadError::Protocol(format!("unknown type byte in {l:?}"))),
    })
}

impl Reply {
    /// The wire type's name, as the reply-shape check reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Simple(_) => "simple",
            Reply::Error(_) => "error",
            Reply::Integer(_) => "integer",
            Reply::Bulk(_) => "bulk",
            Reply::NullBulk => "null-bulk",
            Reply::NullArray => "null-array",
            Reply::Null => "null",
            Reply::Array(_) => "array",
            Reply::Map(_) => "map",
            Reply::Set(_) => "set",
            Reply::Push(_) => "push",
            Reply::Double(_) => "double",
            Reply::Boolean(_) => "boolean",
            Reply::Verbatim(..) => "verbatim",
            Reply::BigNumber(_) => "bignum",
            Reply::Attribute(..) => "attribute",
        }
    }

    /// The elements of an array, set or push reply.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
            _ => None,
        }
    }

    /// A compact one-line rendering, for difference reports.
    pub fn render(&self) -> String {
        let list = |v: &[Reply]| v.iter().map(Reply::render).collect::<Vec<_>>().join(", ");
        match self {
            Reply::Simple(s) => format!("+{s}"),
            Reply::Error(s) => format!("-{s}"),
            Reply::Integer(n) => format!(":{n}"),
            Reply::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
            Reply::NullBulk => "$-1".into(),
            Reply::NullArray => "*-1".into(),
            Reply::Null => "_".into(),
            Reply::Array(v) => format!("[{}]", list(v)),
            Reply::Set(v) => format!("~{{{}}}", list(v)),
            Reply::Push(v) => format!(">[{}]", list(v)),
            Reply::Map(m) => format!(
                "%{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{}: {}", k.render(), v.render()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reply::Double(d) => format!(",{d}"),
            Reply::Boolean(b) => format!("#{}", if *b { 't' } else { 'f' }),
            Reply::Verbatim(f, t) => format!("={f}:{:?}", String::from_utf8_lossy(t)),
            Reply::BigNumber(n) => format!("({n}"),
            Reply::Attribute(a, r) => format!("|{} {}", a.len(), r.render()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Reply {
        read(&mut std::io::Cursor::new(bytes.to_vec())).expect("valid RESP")
    }

    #[test]
    fn keeps_resp2_null_kinds_apart() {
        assert_eq!(parse(b"$-1\r\n"), Reply::NullBulk);
        assert_eq!(parse(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(parse(b"_\r\n"), Reply::Null);
    }

    #[test]
    fn reads_resp3_aggregates_and_scalars() {
        let r = parse(b"%2\r\n+a\r\n,1.5\r\n$1\r\nb\r\n~1\r\n#t\r\n");
        assert_eq!(
            r,
            Reply::Map(vec![
                (Reply::Simple("a".into()), Reply::Double("1.5".into())),
                (
                    Reply::Bulk(b"b".to_vec()),
                    Reply::Set(vec![Reply::Boolean(true)])
                ),
            ])
        );
        assert_eq!(
            parse(b"=8\r\ntxt:ab\r\n\r\n"),
            Reply::Verbatim("txt".into(), b"ab\r\n".to_vec())
        );
        assert_eq!(parse(b"(123\r\n"), Reply::BigNumber("123".into()));
    }

    #[test]
    fn refuses_absurd_lengths_without_allocating() {
        let mut c = std::io::Cursor::new(b"*99999999999\r\n".to_vec());
        assert!(matches!(read(&mut c), Err(ReadError::Protocol(_))));
        let mut c = std::io::Cursor::new(b"$99999999999\r\n".to_vec());
        assert!(matches!(read(&mut c), Err(ReadError::Protocol(_))));
    }
}
