//! `#!lua flags=...`: the first line of a script that declares what it may do, as Redis 7.0
//! reads it (`evalExtractShebangFlags`). A script without one runs in compatibility mode:
//! its writes are judged command by command, as before Redis 7.

/// What a script declared (or compatibility mode when it has no shebang).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// No shebang: Redis 6 rules.
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl Flags {
    /// Flags of a library function (`register_function`'s `flags`), by name.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "no-writes" => self.no_writes = true,
            "allow-oom" => self.allow_oom = true,
            "allow-stale" => self.allow_stale = true,
            "no-cluster" => self.no_cluster = true,
            "allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            _ => return false,
        }
        true
    }
}

/// Splits a shebang line into words as Redis's `sdssplitargs` does: spaces separate, and
/// double quotes (with `\\` escapes) or single quotes group, anywhere in a word. `None`
/// for unbalanced quotes.
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut w = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => w.push('\n'),
                            't' => w.push('\t'),
                            'r' => w.push('\r'),
                            other => w.push(other),
                        },
                        other => w.push(other),
                    }
                },
                '\'' => loop {
                    match chars.next()? {
                        '\'' => break,
                        other => w.push(other),
                    }
                },
                c if c.is_whitespace() => break,
                c => w.push(c),
            }
        }
        words.push(w);
    }
}

/// A script's flags and where its code starts (the shebang line is skipped, its line feed
/// kept so line numbers in errors stay the user's), or the error Redis gives.
pub fn parse(body: &[u8]) -> Result<(Flags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            Flags {
                compat: true,
                ..Flags::default()
            },
            0,
        ));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let words = split_args(&line).unwrap_or_default();
    let mut parts = words.iter().map(String::as_str);
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = Flags::default();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            if !flags.set(f) {
                return Err(format!("ERR Unexpected flag in script shebang: {f}"));
            }
        }
    }
    Ok((flags, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_as_redis_reads_them() {
        let (f, at) = parse(b"return 1").unwrap();
        assert!(f.compat);
        assert_eq!(at, 0);
        let (f, at) = parse(b"#!lua flags=no-writes,allow-stale\nreturn 1").unwrap();
        assert!(!f.compat && f.no_writes && f.allow_stale && !f.allow_oom);
        assert_eq!(at, 33);
        let (f, _) = parse(b"#!lua\nreturn 1").unwrap();
        assert!(!f.compat && !f.no_writes);
        assert_eq!(
            parse(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse(b"#!lua name=x\n").unwrap_err(),
            "ERR Unknown lua shebang option: name=x"
        );
        assert_eq!(
            parse(b"#!python\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(parse(b"#!lua").unwrap_err(), "ERR Invalid script shebang");
        assert_eq!(
            split_args(r#"#!lua name="foo" 'a b' x"y"z"#).unwrap(),
            vec!["#!lua", "name=foo", "a b", "xyz"]
        );
        assert_eq!(split_args("a \"b"), None);
    }
}
