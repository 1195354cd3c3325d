//! The reply-shape check: the same invocations against slotcache and redis-server, side by
//! side, in RESP2 and RESP3, comparing the type tree of every reply and, where the reply is
//! deterministic, its values.
//!
//! The invocations live in a data file (`conformance/reply-shapes.txt`), the accepted
//! differences in another (`conformance/reply-shape-diffs.txt`); `tests/reply_shapes.rs`
//! runs them. This module holds the parts with no sockets of their own to reason about: the
//! two file formats and the comparison. The format is described at the top of the data
//! file.

use crate::resp::{self, ReadError, Reply};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

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
    /// Runs against cluster-mode servers (after an `@cluster` line) rather than standalone.
    pub cluster: bool,
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

impl Script {
    /// Parses the data file.
    ///
    /// # Errors
    /// The first malformed line, with its number.
    pub fn parse(text: &str) -> Result<Script, String> {
        let mut script = Script::default();
        let mut current: Vec<Step> = Vec::new();
        let mut cluster = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let n = i + 1;
            if line.is_empty() || line == "@cluster" {
                if !current.is_empty() {
                    script.groups.push(Group {
                        steps: std::mem::take(&mut current),
                        cluster,
                    });
                }
                cluster |= line == "@cluster";
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
                cluster,
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

/// One invocation whose replies differ.
#[derive(Clone, Debug)]
pub struct Difference {
    pub proto: Proto,
    pub line: usize,
    pub text: String,
    /// Where and how the replies differ, then both replies.
    pub detail: String,
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

/// Sorts a list of replies, and the elements of every aggregate inside them, by their
/// rendering, for unordered comparison.
fn sorted_deep(v: &[Reply]) -> Vec<Reply> {
    let mut v: Vec<Reply> = v.iter().map(normalized).collect();
    v.sort_by_cached_key(Reply::render);
    v
}

fn normalized(r: &Reply) -> Reply {
    match r {
        Reply::Array(v) => Reply::Array(sorted_deep(v)),
        Reply::Set(v) => Reply::Set(sorted_deep(v)),
        Reply::Push(v) => Reply::Push(sorted_deep(v)),
        Reply::Map(m) => Reply::Map(
            m.iter()
                .map(|(k, v)| (normalized(k), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The field names in a text reply: the part before `:` of each `name:value` line (INFO,
/// CLUSTER INFO) or before `=` of each `name=value` word (CLIENT INFO, CLIENT LIST).
fn field_names(text: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(text);
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        if words.iter().all(|w| w.contains('=')) {
            names.extend(
                words
                    .iter()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, _)| k.to_string()),
            );
        } else if let Some((k, _)) = line.split_once(':') {
            names.insert(k.to_string());
        }
    }
    names
}

fn text_of(r: &Reply) -> Option<&[u8]> {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => Some(b),
        Reply::Simple(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn map_key(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        other => other.render(),
    }
}

/// Compares two replies; `Err` says where they first differ. Map entries are compared by
/// key whatever their order (RESP3 maps carry no order a client may rely on).
pub fn compare(a: &Reply, b: &Reply, how: Compare, unordered: bool) -> Result<(), String> {
    walk(a, b, how, unordered, "$")
}

fn walk(a: &Reply, b: &Reply, how: Compare, unordered: bool, path: &str) -> Result<(), String> {
    if let (Reply::Attribute(_, a), Reply::Attribute(_, b)) = (a, b) {
        return walk(a, b, how, unordered, path);
    }
    if a.kind() != b.kind() {
        return Err(format!("{path}: {} vs {}", a.kind(), b.kind()));
    }
    if let (Reply::Verbatim(fa, _), Reply::Verbatim(fb, _)) = (a, b) {
        if fa != fb {
            return Err(format!("{path}: verbatim format {fa} vs {fb}"));
        }
    }
    if let (Reply::Map(ma), Reply::Map(mb)) = (a, b) {
        let ka: BTreeMap<String, &Reply> = ma.iter().map(|(k, v)| (map_key(k), v)).collect();
        let kb: BTreeMap<String, &Reply> = mb.iter().map(|(k, v)| (map_key(k), v)).collect();
        if how != Compare::Loose {
            let only_a: Vec<_> = ka.keys().filter(|k| !kb.contains_key(*k)).collect();
            let only_b: Vec<_> = kb.keys().filter(|k| !ka.contains_key(*k)).collect();
            if !only_a.is_empty() || !only_b.is_empty() {
                return Err(format!(
                    "{path}: map keys only in slotcache {only_a:?}, only in redis {only_b:?}"
                ));
            }
        }
        for (k, va) in &ka {
            if let Some(vb) = kb.get(k) {
                walk(va, vb, how, unordered, &format!("{path}.{k}"))?;
            }
        }
        return Ok(());
    }
    if let (Some(ia), Some(ib)) = (a.items(), b.items()) {
        if how != Compare::Loose && ia.len() != ib.len() {
            return Err(format!("{path}: {} elements vs {}", ia.len(), ib.len()));
        }
        let (ia, ib) = if unordered {
            (sorted_deep(ia), sorted_deep(ib))
        } else {
            (ia.to_vec(), ib.to_vec())
        };
        for (i, (x, y)) in ia.iter().zip(ib.iter()).enumerate() {
            walk(x, y, how, unordered, &format!("{path}[{i}]"))?;
        }
        return Ok(());
    }
    if how == Compare::Values && a != b {
        return Err(format!("{path}: {} vs {}", a.render(), b.render()));
    }
    if let (Compare::Fields, Some(ta), Some(tb)) = (how, text_of(a), text_of(b)) {
        let (fa, fb) = (field_names(ta), field_names(tb));
        if fa != fb {
            return Err(format!(
                "{path}: fields only in slotcache {:?}, only in redis {:?}",
                fa.difference(&fb).collect::<Vec<_>>(),
                fb.difference(&fa).collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// A connection that sends commands as RESP arrays and reads replies with [`resp::read`].
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// What one command got back: its replies, or how reading them failed.
pub type Outcome = Result<Vec<Reply>, String>;

impl Conn {
    /// Connects with a read timeout: a command that does not reply within it reads as a
    /// timeout, not as a hung test.
    ///
    /// # Errors
    /// The connect error.
    pub fn open(addr: &str, timeout: Duration) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends one command without waiting for its reply.
    pub fn send(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf).map_err(|e| e.to_string())
    }

    /// Reads the messages a [`Listener`] receives up to (without) the sentinel.
    fn recv_until_sentinel(&mut self) -> Outcome {
        let mut got = Vec::new();
        // Bounded: a server that sends events without end fails the comparison, not the run.
        while got.len() < 10_000 {
            let r = self.recv(1)?.remove(0);
            let channel = r.items().and_then(|v| v.get(1)).cloned();
            if channel == Some(Reply::Bulk(SENTINEL.to_vec())) {
                return Ok(got);
            }
            got.push(r);
        }
        Err("more than 10000 messages".into())
    }

    /// Sends RESET and reads up to its reply, best effort (the connection may be closed).
    pub fn reset(&mut self) {
        if self.send(&[b"RESET".to_vec()]).is_err() {
            return;
        }
        for _ in 0..10_000 {
            match self.recv(1) {
                Ok(r) if r.first() == Some(&Reply::Simple("RESET".into())) => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads `n` replies.
    pub fn recv(&mut self, n: usize) -> Outcome {
        (0..n)
            .map(|_| {
                resp::read(&mut self.reader).map_err(|e| match e {
                    ReadError::Timeout => "no reply (timeout)".to_string(),
                    ReadError::Closed => "connection closed".to_string(),
                    ReadError::Protocol(p) => format!("protocol error: {p}"),
                })
            })
            .collect()
    }
}

/// The channel a step with `p` publishes to after its command: the events before it on the
/// listener are the command's.
const SENTINEL: &[u8] = b"__reply_shapes_sentinel__";

/// A second connection to a server, subscribed to every keyspace and keyevent channel of
/// every database and to [`SENTINEL`]. Keyspace events are compared through it rather than
/// on the connection that caused them: Redis 7.0 writes a client's own pushes into the
/// middle of its aggregate replies (redis/redis#8206).
pub struct Listener(Conn);

impl Listener {
    fn open(addr: &str, timeout: Duration) -> Result<Listener, String> {
        let mut c = Conn::open(addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
        c.send(&[b"PSUBSCRIBE".to_vec(), b"__key*@*__:*".to_vec()])?;
        c.send(&[b"SUBSCRIBE".to_vec(), SENTINEL.to_vec()])?;
        c.recv(2)?;
        Ok(Listener(c))
    }

    /// Publishes the sentinel through `main` (after a command) and returns the events the
    /// listener got before it.
    fn events_after(&mut self, main: &mut Conn) -> Outcome {
        main.send(&[b"PUBLISH".to_vec(), SENTINEL.to_vec(), b"end".to_vec()])?;
        main.recv(1)?;
        self.0.recv_until_sentinel()
    }
}

/// The outcome of running a script against two servers.
#[derive(Debug, Default)]
pub struct Report {
    pub differences: Vec<Difference>,
    /// Compared invocations run (per protocol).
    pub invocations: usize,
}

fn render_outcome(o: &Outcome) -> String {
    let s = match o {
        Ok(v) => v.iter().map(Reply::render).collect::<Vec<_>>().join(" ; "),
        Err(e) => format!("<{e}>"),
    };
    if s.len() > 600 {
        let mut end = 600;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// The replies with push messages moved after the rest, each kind in its own order. RESP3
/// lets pushes come before or after a command's reply (Redis itself puts a message to the
/// publishing client before PUBLISH's reply and a keyspace event after LPUSH's), so only
/// the order within each stream is compared.
fn pushes_last(v: &[Reply]) -> Vec<&Reply> {
    let (push, rest): (Vec<&Reply>, Vec<&Reply>) =
        v.iter().partition(|r| matches!(r, Reply::Push(_)));
    rest.into_iter().chain(push).collect()
}

fn compare_outcomes(ours: &Outcome, theirs: &Outcome, step: &Step) -> Result<(), String> {
    let how = step.compare.unwrap_or(Compare::Shape);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            if a.len() != b.len() {
                return Err(format!("{} replies vs {}", a.len(), b.len()));
            }
            for (x, y) in pushes_last(a).into_iter().zip(pushes_last(b)) {
                compare(x, y, how, step.unordered)?;
            }
            Ok(())
        }
        // Both closing the connection (QUIT) agree; both timing out hides the reply the
        // invocation was written to compare, so it counts as a difference.
        (Err(a), Err(b)) if a == b && !a.contains("timeout") => Ok(()),
        (Err(_), Err(_)) => Err("neither server replied".into()),
        _ => Err("one side failed to reply".into()),
    }
}

/// What is wrong with a setup command's replies, if anything: it must get its reply (or
/// every later reply is off by one), and fail on both servers or on neither (a setup that
/// only one server accepts would make every comparison after it meaningless).
fn setup_problem(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    let failed = |v: &[Reply]| v.iter().any(|r| matches!(r, Reply::Error(_)));
    match (ours, theirs) {
        (Err(e), _) | (_, Err(e)) => Some(format!("setup command got no reply: {e}")),
        (Ok(a), Ok(b)) if failed(a) != failed(b) => Some(format!(
            "setup command failed on one server only\n      slotcache: {}\n      redis:     {}",
            render_outcome(ours),
            render_outcome(theirs)
        )),
        _ => None,
    }
}

/// Runs the standalone groups (`cluster` false) or the cluster-mode ones in RESP2 and then
/// RESP3 against `ours` (slotcache) and `theirs` (redis-server), each group on fresh
/// connections after FLUSHALL.
///
/// # Errors
/// A connection that cannot be opened or a group whose setup cannot be sent.
pub fn run(
    script: &Script,
    cluster: bool,
    ours: &str,
    theirs: &str,
    timeout: Duration,
) -> Result<Report, String> {
    let mut report = Report::default();
    for proto in [Proto::Resp2, Proto::Resp3] {
        for group in script.groups.iter().filter(|g| g.cluster == cluster) {
            let mut a = Conn::open(ours, timeout).map_err(|e| format!("{ours}: {e}"))?;
            let mut b = Conn::open(theirs, timeout).map_err(|e| format!("{theirs}: {e}"))?;
            let mut prelude: Vec<Vec<Vec<u8>>> = vec![vec![b"FLUSHALL".to_vec()]];
            if proto == Proto::Resp3 {
                prelude.insert(0, vec![b"HELLO".to_vec(), b"3".to_vec()]);
            }
            for cmd in &prelude {
                for c in [&mut a, &mut b] {
                    c.send(cmd)?;
                    c.recv(1)?;
                }
            }
            let mut listeners = if group.steps.iter().any(|s| s.events) {
                Some((
                    Listener::open(ours, timeout)?,
                    Listener::open(theirs, timeout)?,
                ))
            } else {
                None
            };
            let mut in_step = true;
            for step in group
                .steps
                .iter()
                .filter(|s| s.only.unwrap_or(proto) == proto)
            {
                if let Err(e) = a.send(&step.args).and_then(|()| b.send(&step.args)) {
                    // A server that closed the connection (or died) ends the group here.
                    report.differences.push(Difference {
                        proto,
                        line: step.line,
                        text: step.text.clone(),
                        detail: format!("could not send: {e}"),
                    });
                    break;
                }
                let (mut ra, mut rb) = (a.recv(step.replies), b.recv(step.replies));
                if let (true, Some((la, lb))) = (step.events, listeners.as_mut()) {
                    // The events follow the replies, as one more list to compare.
                    let ea = la.events_after(&mut a);
                    let eb = lb.events_after(&mut b);
                    for (r, e) in [(&mut ra, ea), (&mut rb, eb)] {
                        if let Ok(v) = r {
                            match e {
                                Ok(ev) => v.push(Reply::Array(ev)),
                                Err(e) => *r = Err(format!("events: {e}")),
                            }
                        }
                    }
                }
                // A command that got no reply leaves the connection out of step (or
                // blocked): the rest of the group would only time out too.
                let stuck = [&ra, &rb]
                    .iter()
                    .any(|r| r.as_ref().is_err_and(|e| e.contains("timeout")));
                if step.compare.is_none() {
                    if let Some(problem) = setup_problem(&ra, &rb) {
                        report.differences.push(Difference {
                            proto,
                            line: step.line,
                            text: step.text.clone(),
                            detail: problem,
                        });
                    }
                    if stuck {
                        in_step = false;
                        break;
                    }
                    continue;
                }
                report.invocations += 1;
                if let Err(why) = compare_outcomes(&ra, &rb, step) {
                    report.differences.push(Difference {
                        proto,
                        line: step.line,
                        text: step.text.clone(),
                        detail: format!(
                            "{why}\n      slotcache: {}\n      redis:     {}",
                            render_outcome(&ra),
                            render_outcome(&rb)
                        ),
                    });
                }
                if stuck {
                    in_step = false;
                    break;
                }
            }
            // Subscriptions, MONITOR and the like end before the next group starts: a
            // connection dropped unread may be cleaned up by its server only later.
            if in_step {
                for c in [&mut a, &mut b] {
                    c.reset();
                }
                for l in listeners.iter_mut().flat_map(|(x, y)| [x, y]) {
                    l.0.reset();
                }
            }
        }
    }
    Ok(report)
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
            "# c\nSET k v\n= GET k\n~~ur3px2 SUBSCRIBE a b\n\n!exclude sync :: stream\n~ TIME\n@cluster\n= ASKING\n",
        )
        .unwrap();
        assert_eq!(s.groups.len(), 3);
        assert!(!s.groups[1].cluster && s.groups[2].cluster);
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

    #[test]
    fn pushes_are_compared_apart_from_replies() {
        let push = Reply::Push(vec![Reply::Bulk(b"message".to_vec())]);
        let ours: Outcome = Ok(vec![push.clone(), Reply::Integer(1)]);
        let theirs: Outcome = Ok(vec![Reply::Integer(1), push]);
        let step = &Script::parse("= PUBLISH a b\n").unwrap().groups[0].steps[0];
        assert!(compare_outcomes(&ours, &theirs, step).is_ok());
        let fewer: Outcome = Ok(vec![Reply::Integer(1)]);
        assert!(compare_outcomes(&ours, &fewer, step).is_err());
    }

    #[test]
    fn field_compare_reads_info_lines_and_client_words() {
        let info = |t: &str| Reply::Bulk(t.as_bytes().to_vec());
        let a = info("# Server\r\nredis_version:1\r\nport:1\r\n");
        let b = info("# Server\r\nredis_version:2\r\nport:2\r\n");
        assert!(compare(&a, &b, Compare::Fields, false).is_ok());
        let c = info("# Server\r\nredis_version:2\r\n");
        assert!(compare(&a, &c, Compare::Fields, false).is_err());
        let l1 = info("id=1 addr=x name= flags=N\n");
        let l2 = info("id=2 addr=y name=z flags=N\n");
        assert!(compare(&l1, &l2, Compare::Fields, false).is_ok());
        let l3 = info("id=2 addr=y name=z\n");
        assert!(compare(&l1, &l3, Compare::Fields, false).is_err());
    }

    #[test]
    fn shape_compare_ignores_values_but_not_kinds() {
        let a = Reply::Array(vec![Reply::Bulk(b"1".to_vec())]);
        let b = Reply::Array(vec![Reply::Bulk(b"2".to_vec())]);
        assert!(compare(&a, &b, Compare::Shape, false).is_ok());
        assert!(compare(&a, &b, Compare::Values, false).is_err());
        let c = Reply::Array(vec![Reply::Double("1".into())]);
        assert!(compare(&a, &c, Compare::Shape, false).is_err());
        assert!(compare(&Reply::NullBulk, &Reply::NullArray, Compare::Shape, false).is_err());
    }
}
