//! Reading an AOF's commands back, as Redis's `loadSingleAppendOnlyFile` reads them:
//! `*<argc>` lines of `$<len>` bulk strings, `#` annotation lines skipped. A file that ends
//! inside a command is *truncated* (loadable up to the last whole command, per
//! `aof-load-truncated`); anything else out of place is a *format* error.

use bytes::Bytes;
use std::io::BufRead;

/// The longest `*`/`$` line read (Redis reads them into a 128-byte buffer).
const MAX_HEADER: usize = 128;

#[derive(Debug)]
pub enum ReadError {
    /// The file ends inside a command.
    Truncated,
    /// Bytes that are not an AOF command.
    Format,
    Io(std::io::Error),
}

/// Commands from an AOF, with the offset of the end of the last whole one.
pub struct Reader<R> {
    r: R,
    /// Bytes consumed so far.
    pos: u64,
}

impl<R: BufRead> Reader<R> {
    /// A reader starting at byte `pos` of its file (after an RDB preamble).
    pub fn new(r: R, pos: u64) -> Self {
        Reader { r, pos }
    }

    /// Where the last whole command ended (what a truncated file is cut back to).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The next command, `None` at a clean end of file.
    ///
    /// # Errors
    /// See [`ReadError`]; after an error the reader's position is that of the last whole
    /// command.
    pub fn next_command(&mut self) -> Result<Option<Vec<Bytes>>, ReadError> {
        let mut used = 0u64;
        let argc = loop {
            let Some(line) = self.line(&mut used)? else {
                return if used == 0 {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            };
            match line.first() {
                Some(b'#') => {
                    // An annotation (`#TS:...`): consumed, not a command.
                    self.pos += used;
                    used = 0;
                }
                Some(b'*') => break number(&line[1..])?,
                _ => return Err(ReadError::Format),
            }
        };
        if argc < 1 {
            return Err(ReadError::Format);
        }
        // Arguments are gathered as they are read: a huge count costs nothing up front.
        let mut args = Vec::with_capacity((argc as usize).min(1024));
        for _ in 0..argc {
            let Some(line) = self.line(&mut used)? else {
                return Err(ReadError::Truncated);
            };
            if line.first() != Some(&b'$') {
                return Err(ReadError::Format);
            }
            let len = number(&line[1..])?;
            if len < 0 {
                return Err(ReadError::Format);
            }
            let mut arg = Vec::new();
            let n = std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut self.r, len as u64),
                &mut arg,
            )
            .map_err(ReadError::Io)?;
            used += n as u64;
            if (n as u64) < len as u64 {
                return Err(ReadError::Truncated);
            }
            let mut crlf = [0u8; 2];
            let got = read_up_to(&mut self.r, &mut crlf).map_err(ReadError::Io)?;
            used += got as u64;
            if got < 2 {
                return Err(ReadError::Truncated);
            }
            args.push(Bytes::from(arg));
        }
        self.pos += used;
        Ok(Some(args))
    }

    /// One line without its `\r\n`; `None` at end of file (a partial last line: truncated).
    fn line(&mut self, used: &mut u64) -> Result<Option<Vec<u8>>, ReadError> {
        let mut line = Vec::new();
        let n = std::io::Read::take(&mut self.r, MAX_HEADER as u64)
            .read_until(b'\n', &mut line)
            .map_err(ReadError::Io)?;
        *used += n as u64;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return if n < MAX_HEADER {
                Err(ReadError::Truncated)
            } else {
                Err(ReadError::Format)
            };
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}

fn read_up_to<R: std::io::Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A count or length: digits only (with a sign), as the AOF writer produces them.
fn number(s: &[u8]) -> Result<i64, ReadError> {
    crate::util::parse_i64_strict(s).ok_or(ReadError::Format)
}

/// Whether a file's first bytes are an RDB preamble (`REDIS`).
pub fn has_rdb_preamble(head: &[u8]) -> bool {
    head.starts_with(b"REDIS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8]) -> (Vec<Vec<Bytes>>, Option<ReadError>, u64) {
        let mut r = Reader::new(data, 0);
        let mut out = Vec::new();
        loop {
            match r.next_command() {
                Ok(Some(c)) => out.push(c),
                Ok(None) => return (out, None, r.pos()),
                Err(e) => return (out, Some(e), r.pos()),
            }
        }
    }

    #[test]
    fn reads_commands_and_annotations() {
        let (cmds, err, pos) =
            all(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n#TS:1\r\n*1\r\n$4\r\nPING\r\n");
        assert!(err.is_none());
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1][0].as_ref(), b"PING");
        assert_eq!(pos, 44);
    }

    #[test]
    fn truncated_tail_keeps_whole_commands() {
        let whole = b"*1\r\n$4\r\nPING\r\n";
        for cut in 1..whole.len() {
            let mut data = whole.to_vec();
            data.extend_from_slice(&whole[..cut]);
            let (cmds, err, pos) = all(&data);
            assert_eq!(cmds.len(), 1, "cut at {cut}");
            assert!(matches!(err, Some(ReadError::Truncated)), "cut at {cut}");
            assert_eq!(pos, whole.len() as u64);
        }
    }

    #[test]
    fn garbage_is_a_format_error() {
        for bad in [
            &b"hello\r\n"[..],
            b"*x\r\n",
            b"*0\r\n",
            b"*1\r\n+OK\r\n",
            b"*1\r\n$-3\r\n",
        ] {
            let (_, err, _) = all(bad);
            assert!(matches!(err, Some(ReadError::Format)), "{bad:?}");
        }
        let long = vec![b'1'; 500];
        let mut data = b"*".to_vec();
        data.extend_from_slice(&long);
        assert!(matches!(all(&data).1, Some(ReadError::Format)));
    }

    #[test]
    fn huge_lengths_are_truncation_not_allocation() {
        let (_, err, _) = all(b"*1\r\n$999999999999\r\nab");
        assert!(matches!(err, Some(ReadError::Truncated)));
        let (_, err, _) = all(b"*999999999999\r\n$1\r\na\r\n");
        assert!(matches!(err, Some(ReadError::Truncated)));
    }
}
