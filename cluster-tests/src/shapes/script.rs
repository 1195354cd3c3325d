//! The two data files: invocations (`conformance/reply-shapes.txt`, format at its top) and
//! accepted differences (`conformance/reply-shape-diffs.txt`).

use std::collections::{BTreeMap, BTreeSet};

/// How much of a reply an invocation compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Types and values (`=`).
    Values,
    /// Types everywhere, aggregate lengths and map keys, not scalar values (`~`).
    Shape,
    /// Types of the elements both replies have; lengths and map keys may differ (`~~`).
    Loose,
    /// Types, and the field names of text replies (`name:value` lines as INFO writes them,
    /// `name=value` words as CLIENT LIST does), not their values (`~f`).
    Fields,
}

/// One line of a group.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based line in the data file, for messages.
    pub line: usize,
    /// The command line as written (the identity a listed difference names).
    pub text: String,
    pub args: Vec<Vec<u8>>,
    /// `None` for a setup command, whose reply is read and not compared.
    pub compare: Option<Compare>,
    /// Compare aggregates as multisets, at every level (`u`): sets and hashes have no order.
    pub unordered: bool,
    /// How many replies the command produces (`xN`; SUBSCRIBE a b gives two, a command
    /// after CLIENT REPLY OFF none).
    pub replies: usize,
    /// Runs in this protocol only (`r2`, `r3`): RESP3 lets a subscribed connection run any
    /// command, and its pushes then interleave with the replies.
    pub only: Option<Proto>,
    /// Also compare the keyspace events the command causes (`p`), as a second connection
    /// subscribed to every keyspace channel receives them.
    pub events: bool,
}

/// Commands run in order on one fresh connection per server and protocol.
#[derive(Clone, Debug)]
pub struct Group {
    pub steps: Vec<Step>,
    /// Which server pairs it runs against.
    pub mode: Mode,
}

/// The server pairs a group runs against: every group before `@cluster` runs against a
/// standalone pair and again against a one-node cluster pair (each owning every slot),
/// unless an `@standalone` line marks it standalone only; the groups after `@cluster` run
/// only in cluster mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Both,
    StandaloneOnly,
    ClusterOnly,
}

impl Mode {
    /// Whether a group in this mode runs against the cluster-mode pair (`cluster`) or the
    /// standalone one.
    pub fn runs(self, cluster: bool) -> bool {
        match self {
            Mode::Both => true,
            Mode::StandaloneOnly => !cluster,
            Mode::ClusterOnly => cluster,
        }
    }
}

/// The parsed data file.
#[derive(Debug, Default)]
pub struct Script {
    pub groups: Vec<Group>,
    /// Commands (`name` or `name|sub`) left out on purpose, with the reason.
    pub excluded: BTreeMap<String, String>,
}

/// Splits a command line the way redis-cli does: whitespace separates, double quotes group,
/// and inside them `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` escape.
///
/// # Errors
/// An unterminated quote or a bad escape.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut arg = Vec::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in {line:?}")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => arg.push(b'\n'),
                        Some('r') => arg.push(b'\r'),
                        Some('t') => arg.push(b'\t'),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            let b = u8::from_str_radix(&hex, 16)
                                .map_err(|_| format!("bad \\x escape in {line:?}"))?;
                            arg.push(b);
                        }
                        Some(c) => arg.extend_from_slice(c.to_string().as_bytes()),
                        None => return Err(format!("dangling backslash in {line:?}")),
                    },
                    Some(c) => arg.extend_from_slice(c.to_string().as_bytes()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.extend_from_slice(c.to_string().as_bytes());
                chars.next();
            }
        }
        out.push(arg);
    }
}

/// What a compare marker says about its line.
struct Marker {
    compare: Compare,
    unordered: bool,
    only: Option<Proto>,
    events: bool,
    replies: usize,
}

/// Reads a compare marker (`=`, `~`, `~~`, `~f`, then optional `u`, `r2`/`r3`, `p` and `xN`).
fn marker(tok: &str) -> Option<Marker> {
    let (compare, rest) = if let Some(r) = tok.strip_prefix("~~") {
        (Compare::Loose, r)
    } else if let Some(r) = tok.strip_prefix("~f") {
        (Compare::Fields, r)
    } else if let Some(r) = tok.strip_prefix('~') {
        (Compare::Shape, r)
    } else if let Some(r) = tok.strip_prefix('=') {
        (Compare::Values, r)
    } else {
        return None;
    };
    let (unordered, rest) = match rest.strip_prefix('u') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (only, rest) = if let Some(r) = rest.strip_prefix("r2") {
        (Some(Proto::Resp2), r)
    } else if let Some(r) = rest.strip_prefix("r3") {
        (Some(Proto::Resp3), r)
    } else {
        (None, rest)
    };
    let (events, rest) = match rest.strip_prefix('p') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let replies = match rest {
        "" => 1,
        _ => rest.strip_prefix('x')?.parse().ok().filter(|n| *n <= 16)?,
    };
    Some(Marker {
        compare,
        unordered,
        only,
        events,
        replies,
    })
}

fn mode_of(after_cluster: bool, standalone: bool) -> Mode {
    match (after_cluster, standalone) {
        (true, _) => Mode::ClusterOnly,
        (false, true) => Mode::StandaloneOnly,
        (false, false) => Mode::Both,
    }
}

impl Script {
    /// Parses the data file.
    ///
    /// # Errors
    /// The first malformed line, with its number.
    pub fn parse(text: &str) -> Result<Script, String> {
        let mut script = Script::default();
        let mut current: Vec<Step> = Vec::new();
        let mut cluster = false;
        let mut standalone_next = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let n = i + 1;
            if line.is_empty() || line == "@cluster" || line == "@standalone" {
                if !current.is_empty() {
                    script.groups.push(Group {
                        steps: std::mem::take(&mut current),
                        mode: mode_of(cluster, std::mem::take(&mut standalone_next)),
                    });
                }
                cluster |= line == "@cluster";
                standalone_next |= line == "@standalone";
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("!exclude ") {
                let (name, reason) = rest
                    .split_once("::")
                    .ok_or_else(|| format!("line {n}: !exclude needs `name :: reason`"))?;
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(format!("line {n}: an exclusion needs a reason"));
                }
                script
                    .excluded
                    .insert(name.trim().to_ascii_lowercase(), reason.to_string());
                continue;
            }
            let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let (m, cmd) = match marker(first) {
                Some(m) => (Some(m), rest.trim()),
                None => (None, line),
            };
            let args = split_args(cmd).map_err(|e| format!("line {n}: {e}"))?;
            if args.is_empty() {
                return Err(format!("line {n}: no command"));
            }
            current.push(Step {
                line: n,
                text: cmd.split_whitespace().collect::<Vec<_>>().join(" "),
                args,
                compare: m.as_ref().map(|m| m.compare),
                unordered: m.as_ref().is_some_and(|m| m.unordered),
                replies: m.as_ref().map_or(1, |m| m.replies),
                only: m.as_ref().and_then(|m| m.only),
                events: m.as_ref().is_some_and(|m| m.events),
            });
        }
        if !current.is_empty() {
            script.groups.push(Group {
                steps: current,
                mode: mode_of(cluster, standalone_next),
            });
        }
        Ok(script)
    }

    /// The compared steps.
    pub fn invocations(&self) -> impl Iterator<Item = &Step> {
        self.groups
            .iter()
            .flat_map(|g| g.steps.iter())
            .filter(|s| s.compare.is_some())
    }
}

/// The command-table names (`get`, `client|list`) an invocation exercises, given the
/// server's `COMMAND LIST`.
pub fn covered_names(args: &[Vec<u8>], known: &BTreeSet<String>) -> Vec<String> {
    let lower = |a: &[u8]| String::from_utf8_lossy(a).to_ascii_lowercase();
    let name = lower(&args[0]);
    let mut out = vec![name.clone()];
    if let Some(sub) = args.get(1) {
        let full = format!("{name}|{}", lower(sub));
        if known.contains(&full) {
            out.push(full);
        }
    }
    out
}

/// Which protocol a difference was seen in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Resp2,
    Resp3,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Resp2 => "resp2",
            Proto::Resp3 => "resp3",
        }
    }
}

/// The listed differences: `resp2|resp3|both <invocation> :: <reason>` per line.
#[derive(Debug, Default)]
pub struct DiffList {
    /// (protocol, invocation text) -> reason.
    pub entries: BTreeMap<(Proto, String), String>,
}

impl DiffList {
    /// Parses the listed-differences file.
    ///
    /// # Errors
    /// The first malformed line, with its number.
    pub fn parse(text: &str) -> Result<DiffList, String> {
        let mut list = DiffList::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let (what, reason) = line
                .split_once("::")
                .ok_or_else(|| format!("line {n}: expected `proto invocation :: reason`"))?;
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(format!("line {n}: a listed difference needs a reason"));
            }
            let what = what.trim();
            let (proto, inv) = what
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {n}: no invocation"))?;
            let protos: &[Proto] = match proto {
                "resp2" => &[Proto::Resp2],
                "resp3" => &[Proto::Resp3],
                "both" => &[Proto::Resp2, Proto::Resp3],
                _ => return Err(format!("line {n}: protocol must be resp2, resp3 or both")),
            };
            let inv = inv.split_whitespace().collect::<Vec<_>>().join(" ");
            for p in protos {
                list.entries.insert((*p, inv.clone()), reason.to_string());
            }
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_arguments_like_redis_cli() {
        let got = split_args(r#"SET "a b" "" "\x00\n" c"#).unwrap();
        assert_eq!(
            got,
            vec![
                b"SET".to_vec(),
                b"a b".to_vec(),
                vec![],
                vec![0, b'\n'],
                b"c".to_vec()
            ]
        );
    }

    #[test]
    fn parses_markers_groups_and_exclusions() {
        let s = Script::parse(
            "# c\nSET k v\n= GET k\n~~ur3px2 SUBSCRIBE a b\n\n!exclude sync :: stream\n@standalone\n~ TIME\n@cluster\n= ASKING\n",
        )
        .unwrap();
        assert_eq!(s.groups.len(), 3);
        assert_eq!(
            [s.groups[0].mode, s.groups[1].mode, s.groups[2].mode],
            [Mode::Both, Mode::StandaloneOnly, Mode::ClusterOnly]
        );
        let st = &s.groups[0].steps;
        assert_eq!(st[0].compare, None);
        assert_eq!(st[1].compare, Some(Compare::Values));
        assert_eq!(
            (
                st[2].compare,
                st[2].unordered,
                st[2].only,
                st[2].events,
                st[2].replies
            ),
            (Some(Compare::Loose), true, Some(Proto::Resp3), true, 2)
        );
        assert_eq!(s.excluded.get("sync").map(String::as_str), Some("stream"));
    }

    #[test]
    fn listed_differences_name_a_protocol_an_invocation_and_a_reason() {
        let l = DiffList::parse("# c\nboth  GET   k :: why\nresp3 PING :: because\n").unwrap();
        assert_eq!(l.entries.len(), 3);
        assert!(l.entries.contains_key(&(Proto::Resp2, "GET k".to_string())));
        assert!(
            DiffList::parse("both GET k ::\n").is_err(),
            "a reason is required"
        );
        assert!(DiffList::parse("resp4 GET k :: x\n").is_err());
    }

    #[test]
    fn an_invocation_covers_its_command_and_known_subcommand() {
        let known: BTreeSet<String> = ["config", "config|get"].map(String::from).into();
        let args = split_args("Config GET maxmemory").unwrap();
        assert_eq!(covered_names(&args, &known), ["config", "config|get"]);
        let args = split_args("CONFIG nosuch").unwrap();
        assert_eq!(covered_names(&args, &known), ["config"]);
    }
}
