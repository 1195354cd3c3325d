//! The AOF manifest (`<appendfilename>.manifest` in `appenddirname`): which files make up
//! the append-only file, in Redis 7.0's format, so that redis-server and slotcache read each
//! other's directories.
//!
//! One line per file, `file <name> seq <n> type <b|h|i>`: the BASE (a snapshot, `.rdb`
//! with `aof-use-rdb-preamble yes`, else commands), HISTORY files waiting to be removed,
//! and the INCR files (commands appended since the BASE) in sequence order.

/// The longest manifest line Redis reads (`MANIFEST_MAX_LINE`).
const MAX_LINE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    History,
    Incr,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::History => 'h',
            Kind::Incr => 'i',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub seq: i64,
    pub kind: Kind,
}

/// The files of one append-only file, as the manifest lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<FileInfo>,
    pub history: Vec<FileInfo>,
    pub incr: Vec<FileInfo>,
    /// The sequence numbers last given out (new files take the next one).
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// Why a manifest was refused, in Redis's words, with the line it was found at.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<(usize, String)>,
    pub message: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((n, text)) = &self.line {
            write!(f, "Reading the manifest file, at line {n}: >>> '{text}': ")?;
        }
        f.write_str(self.message)
    }
}

impl Manifest {
    /// Parses a manifest as Redis's `aofLoadManifestFromFile` does: comments skipped, every
    /// other line `file`/`seq`/`type` pairs (unknown keys ignored, for forward
    /// compatibility), one BASE at most, INCR sequence numbers increasing.
    ///
    /// # Errors
    /// The first problem found, with Redis's message.
    pub fn parse(text: &[u8]) -> Result<Manifest, ParseError> {
        let mut m = Manifest::default();
        let mut max_seq = 0i64;
        let mut lines = 0usize;
        let mut rest = text;
        while !rest.is_empty() {
            // As C's fgets into a buffer of MAX_LINE + 1: at most MAX_LINE bytes a read.
            let newline = rest.iter().take(MAX_LINE).position(|&b| b == b'\n');
            let len = newline.map_or(rest.len().min(MAX_LINE), |i| i + 1);
            let (chunk, next) = rest.split_at(len);
            rest = next;
            lines += 1;
            if chunk.starts_with(b"#") {
                continue;
            }
            if newline.is_none() {
                return Err(ParseError {
                    line: None,
                    message: "The AOF manifest file contains too long line",
                });
            }
            let raw = &chunk[..len - 1];
            let line = String::from_utf8_lossy(raw)
                .trim_matches(|c| c == ' ' || c == '\t' || c == '\r')
                .to_string();
            let bad = |message| ParseError {
                line: Some((lines, line.clone())),
                message,
            };
            if line.is_empty() {
                return Err(bad("Invalid AOF manifest file format"));
            }
            let argv = crate::protocol::parser::split_inline(line.as_bytes())
                .ok_or_else(|| bad("Invalid AOF manifest file format"))?;
            if argv.len() < 6 || argv.len() % 2 != 0 {
                return Err(bad("Invalid AOF manifest file format"));
            }
            let (mut name, mut seq, mut kind) = (None, 0i64, None);
            for pair in argv.chunks(2) {
                let key = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                match key.as_str() {
                    "file" => {
                        let n = String::from_utf8_lossy(&pair[1]).into_owned();
                        if n.contains('/') || n.contains('\\') {
                            return Err(bad("File can't be a path, just a filename"));
                        }
                        name = Some(n);
                    }
                    "seq" => seq = atoll(&pair[1]),
                    "type" => kind = pair[1].first().copied(),
                    _ => {}
                }
            }
            let (Some(name), Some(kind)) = (name, kind) else {
                return Err(bad("Invalid AOF manifest file format"));
            };
            if seq == 0 || name.is_empty() {
                return Err(bad("Invalid AOF manifest file format"));
            }
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(bad("Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    m.base = Some(FileInfo {
                        name,
                        seq,
                        kind: Kind::Base,
                    });
                }
                b'h' => m.history.push(FileInfo {
                    name,
                    seq,
                    kind: Kind::History,
                }),
                b'i' => {
                    if seq <= max_seq {
                        return Err(bad("Found a non-monotonic sequence number"));
                    }
                    max_seq = seq;
                    m.incr_seq = seq;
                    m.incr.push(FileInfo {
                        name,
                        seq,
                        kind: Kind::Incr,
                    });
                }
                _ => return Err(bad("Unknown AOF file type")),
            }
        }
        if lines == 0 {
            return Err(ParseError {
                line: None,
                message: "Found an empty AOF manifest",
            });
        }
        Ok(m)
    }

    /// The manifest's text: BASE first, then HISTORY, then INCR files, as Redis writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            let name = if needs_repr(&f.name) {
                repr(&f.name)
            } else {
                f.name.clone()
            };
            out.push_str(&format!(
                "file {name} seq {} type {}\n",
                f.seq,
                f.kind.letter()
            ));
        }
        out
    }

    /// A new INCR file (`<prefix>.<seq>.incr.aof`), appended to the list; returns its name.
    pub fn new_incr(&mut self, prefix: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{prefix}.{}.incr.aof", self.incr_seq);
        self.incr.push(FileInfo {
            name: name.clone(),
            seq: self.incr_seq,
            kind: Kind::Incr,
        });
        name
    }

    /// A new BASE file's name (`<prefix>.<seq>.base.rdb|aof`); the previous BASE becomes
    /// history.
    pub fn new_base(&mut self, prefix: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = Kind::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!(
            "{prefix}.{}.base.{}",
            self.base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(FileInfo {
            name: name.clone(),
            seq: self.base_seq,
            kind: Kind::Base,
        });
        name
    }

    /// After a rewrite: every INCR file but the one being written (`keep_last`, when AOF is
    /// on) was folded into the new BASE and becomes history.
    pub fn mark_rewritten_incr_as_history(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incr.is_empty());
        let cut = self.incr.len() - keep;
        for mut f in self.incr.drain(..cut).rev() {
            f.kind = Kind::History;
            self.history.insert(0, f);
        }
    }

    /// The files to load, in order: the BASE, then the INCR files.
    pub fn load_order(&self) -> impl Iterator<Item = &FileInfo> {
        self.base.iter().chain(self.incr.iter())
    }
}

/// C's `atoll`: leading blanks, a sign, digits up to the first non-digit (0 if none).
fn atoll(s: &[u8]) -> i64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let v = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// `sdscatrepr`: the name quoted, with C escapes.
fn repr(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.bytes() {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if (0x20..0x7f).contains(&c) => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// `sdsneedsrepr`: names with blanks, quotes or control characters are written quoted.
fn needs_repr(s: &str) -> bool {
    s.bytes().any(|b| {
        b == b'\\'
            || b == b'"'
            || b == b'\n'
            || b == b'\r'
            || b == b'\t'
            || b == 0x07
            || b == 0x08
            || !(0x20..0x7f).contains(&b)
            || b == b' '
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_format() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n\
                    file appendonly.aof.5.incr.aof seq 5 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incr.len(), 2);
        assert_eq!(m.incr_seq, 5);
        assert_eq!(m.render(), text);
    }

    #[test]
    fn refuses_what_redis_refuses() {
        let err = |t: &str| Manifest::parse(t.as_bytes()).unwrap_err().message;
        assert_eq!(err(""), "Found an empty AOF manifest");
        assert_eq!(err("\n"), "Invalid AOF manifest file format");
        assert_eq!(err("file a seq 1\n"), "Invalid AOF manifest file format");
        assert_eq!(err("file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            err("file ../a seq 1 type i\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            err("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(
            err("file a seq 2 type i\nfile b seq 2 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            err("file a seq 1 type i"),
            "The AOF manifest file contains too long line"
        );
        let long = format!("file {} seq 1 type i\n", "a".repeat(2000));
        assert_eq!(err(&long), "The AOF manifest file contains too long line");
        assert!(Manifest::parse(b"# comment\nfile a seq 1 type i\n").is_ok());
    }

    #[test]
    fn rewrite_moves_files_to_history() {
        let mut m = Manifest::default();
        m.new_incr("appendonly.aof");
        m.new_incr("appendonly.aof");
        let base = m.new_base("appendonly.aof", true);
        assert_eq!(base, "appendonly.aof.1.base.rdb");
        m.mark_rewritten_incr_as_history(true);
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.incr[0].name, "appendonly.aof.2.incr.aof");
        assert_eq!(m.history[0].name, "appendonly.aof.1.incr.aof");
    }
}
