//! Parsing `CLUSTER NODES` text into one record per node.
//!
//! Every cluster-administration command (add-node, rebalance, remove-node, fix) starts from
//! this view, so the parser is pure and tested on its own. A line reads
//! `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slots...>`;
//! slot entries are `0-5460` or `5461`, and on the `myself` line only, open slots
//! `[123->-<dst-id>]` (migrating) and `[123-<-<src-id>]` (importing).

pub use crate::slot::SLOTS;

/// Why a `CLUSTER NODES` text could not be read: the offending line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

type Result<T> = std::result::Result<T, ParseError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(ParseError(format!($($t)*))) };
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    /// The node's IP as the answering node knows it; empty when it does not know it yet.
    pub host: String,
    pub port: u16,
    /// The cluster bus port (`@cport`); 0 when the line has none (Redis before 4.0).
    pub cport: u16,
    /// The announced hostname (`,hostname`); empty when none is announced.
    pub hostname: String,
    pub flags: Vec<String>,
    /// The primary's id, for a replica.
    pub primary: Option<String>,
    /// The configuration epoch of the node (of its primary's slots, for a replica): when two
    /// answers disagree on a slot's owner, the higher epoch is the newer claim.
    pub config_epoch: u64,
    pub connected: bool,
    /// Owned slots, ascending.
    pub slots: Vec<u16>,
    /// `(slot, destination id)` for slots this node is migrating away (myself line only).
    pub migrating: Vec<(u16, String)>,
    /// `(slot, source id)` for slots this node is importing (myself line only).
    pub importing: Vec<(u16, String)>,
}

impl NodeLine {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }
    pub fn is_primary(&self) -> bool {
        self.has_flag("master")
    }
    pub fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }
    /// A node that cannot take part in an administration step: failed, suspected failed,
    /// address unknown, or still in the handshake (whose id is only temporary).
    pub fn is_unusable(&self) -> bool {
        ["fail", "fail?", "noaddr", "handshake"]
            .iter()
            .any(|f| self.has_flag(f))
    }
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
    /// Whether the node owns `slot` (by this line's account).
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.binary_search(&slot).is_ok()
    }
    /// Owned slots as inclusive ranges, ascending.
    pub fn slot_ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for &s in &self.slots {
            match out.last_mut() {
                Some((_, end)) if *end + 1 == s => *end = s,
                _ => out.push((s, s)),
            }
        }
        out
    }
    /// The first 8 characters of the id, as `cluster status` shows them.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(8)]
    }
}

/// Parses the whole `CLUSTER NODES` reply.
pub fn parse_nodes(text: &str) -> Result<Vec<NodeLine>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line(l).map_err(|e| ParseError(format!("bad CLUSTER NODES line: {l}: {e}"))))
        .collect()
}

/// Parses one `CLUSTER NODES` line.
pub fn parse_line(line: &str) -> Result<NodeLine> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        bail!("expected at least 8 fields, got {}", f.len());
    }
    let (host, port, cport, hostname) = parse_node_addr(f[1])?;
    let mut node = NodeLine {
        id: f[0].to_string(),
        host,
        port,
        cport,
        hostname,
        flags: f[2].split(',').map(String::from).collect(),
        primary: (f[3] != "-").then(|| f[3].to_string()),
        config_epoch: f[6]
            .parse()
            .map_err(|_| ParseError(format!("bad config epoch {:?}", f[6])))?,
        connected: f[7] == "connected",
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for entry in &f[8..] {
        parse_slot_entry(entry, &mut node)?;
    }
    node.slots.sort_unstable();
    node.slots.dedup();
    Ok(node)
}

/// `ip:port@cport[,hostname]` (the `@cport` part is optional in old versions) to
/// `(ip, port, cport, hostname)`.
fn parse_node_addr(field: &str) -> Result<(String, u16, u16, String)> {
    let (addr, hostname) = field.split_once(',').unwrap_or((field, ""));
    let (hostport, cport) = match addr.split_once('@') {
        Some((hp, c)) => (
            hp,
            c.parse()
                .map_err(|_| ParseError(format!("address {field:?} has a bad bus port")))?,
        ),
        None => (addr, 0),
    };
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| ParseError(format!("address {field:?} has no port")))?;
    let port = port
        .parse()
        .map_err(|_| ParseError(format!("address {field:?} has a bad port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port, cport, hostname.to_string()))
}

fn parse_slot(s: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(n) if (n as usize) < SLOTS => Ok(n),
        _ => bail!("bad slot {s:?}"),
    }
}

fn parse_slot_entry(entry: &str, node: &mut NodeLine) -> Result<()> {
    if let Some(open) = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
        if let Some((slot, dst)) = open.split_once("->-") {
            node.migrating.push((parse_slot(slot)?, dst.to_string()));
        } else if let Some((slot, src)) = open.split_once("-<-") {
            node.importing.push((parse_slot(slot)?, src.to_string()));
        } else {
            bail!("bad open-slot entry {entry:?}");
        }
        return Ok(());
    }
    let (first, last) = match entry.split_once('-') {
        Some((a, b)) => (parse_slot(a)?, parse_slot(b)?),
        None => {
            let s = parse_slot(entry)?;
            (s, s)
        }
    };
    if first > last {
        bail!("bad slot range {entry:?}");
    }
    node.slots.extend(first..=last);
    Ok(())
}

/// Slots as compact ranges (`0-99,200`), for messages.
pub fn format_ranges(slots: &[u16]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let start = slots[i];
        let mut end = start;
        while i + 1 < slots.len() && slots[i + 1] == end + 1 {
            i += 1;
            end = slots[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [17->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
6fb7dfdb6188a9fe53c48ea32d541724f36434e9 :0@0 master,fail?,noaddr - 1426238316232 1426238316232 0 disconnected 9999
";

    #[test]
    fn parses_every_field() {
        let nodes = parse_nodes(SAMPLE).unwrap();
        assert_eq!(nodes.len(), 5);
        let r = &nodes[0];
        assert!(r.is_replica() && !r.is_primary());
        assert_eq!(r.host, "127.0.0.1");
        assert_eq!(
            (r.port, r.cport, r.hostname.as_str()),
            (30004, 31004, "host-4")
        );
        assert_eq!((nodes[1].cport, nodes[1].hostname.as_str()), (31002, ""));
        assert_eq!(
            r.primary.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert!(r.slots.is_empty());
        let p = &nodes[1];
        assert!(p.is_primary() && p.primary.is_none() && p.connected);
        assert_eq!((r.config_epoch, p.config_epoch), (4, 2));
        assert!(p.owns(5461) && p.owns(10922) && !p.owns(5460));
        assert_eq!(p.slot_ranges(), vec![(5461, 10922)]);
        assert_eq!(p.slots.len(), 10922 - 5461 + 1);
        assert_eq!(p.slots[0], 5461);
        let me = &nodes[3];
        assert!(me.is_myself() && me.is_primary());
        assert_eq!(me.slots.len(), 5461);
        assert_eq!(
            me.importing,
            vec![(5461, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1".to_string())]
        );
        assert_eq!(
            me.migrating,
            vec![(17, "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f".to_string())]
        );
        let gone = &nodes[4];
        assert!(gone.is_unusable() && !gone.connected);
        assert_eq!(gone.host, "");
        assert_eq!(gone.port, 0);
        assert_eq!(gone.slots, vec![9999]);
    }

    #[test]
    fn parses_single_slots_ipv6_and_no_bus_port() {
        let n = parse_line("abc ::1:7000@17000 master - 0 0 1 connected 5 7-8 3").unwrap();
        assert_eq!(n.host, "::1");
        assert_eq!(n.addr(), "[::1]:7000");
        assert_eq!(n.slots, vec![3, 5, 7, 8]);
        assert_eq!(n.slot_ranges(), vec![(3, 3), (5, 5), (7, 8)]);
        let n = parse_line("abc 10.0.0.1:7000 master - 0 0 1 connected").unwrap();
        assert_eq!((n.host.as_str(), n.port, n.cport), ("10.0.0.1", 7000, 0));
        let n = parse_line("abc :7000@17000 myself,master - 0 0 0 connected").unwrap();
        assert_eq!((n.host.as_str(), n.port), ("", 7000));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_line("abc 1.2.3.4:7000 master -").is_err());
        assert!(parse_line("abc 1.2.3.4:x master - 0 0 1 connected").is_err());
        assert!(parse_line("abc 1.2.3.4:1 master - 0 0 1 connected 16384").is_err());
        assert!(parse_line("abc 1.2.3.4:1 master - 0 0 1 connected 9-3").is_err());
        assert!(parse_line("abc 1.2.3.4:1 master - 0 0 1 connected [3-x-y]").is_err());
        assert!(parse_line("abc 1.2.3.4:1 master - 0 0 x connected").is_err());
    }

    #[test]
    fn formats_ranges() {
        assert_eq!(format_ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_ranges(&[]), "");
    }
}
