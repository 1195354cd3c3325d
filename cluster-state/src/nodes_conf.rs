//! `nodes.conf`: the node's durable cluster state (its id, the members, slots and epochs),
//! in Redis's format — CLUSTER NODES lines plus a `vars` line.
//!
//! Written atomically (temp file, fsync, rename) by a saver thread that coalesces bursts of
//! changes, so gossip never causes an fsync storm and the bus thread never waits on a disk.
//! A file that exists but cannot be parsed stops the node: starting with a fresh identity
//! would silently turn a member into a stranger.

use super::node::{Health, Node, Role};
use super::slots::SlotSet;
use super::state::ClusterState;
use super::view::node_line;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tracing::{error, warn};

/// Renders the file.
pub fn render(s: &ClusterState) -> String {
    let wall = |_: u64| 0u64;
    let mut out = String::new();
    out.push_str(&node_line(s, s.me(), &wall));
    out.push('\n');
    for n in s
        .nodes
        .values()
        .filter(|n| n.id != s.myself && !n.handshake)
    {
        out.push_str(&node_line(s, n, &wall));
        out.push('\n');
    }
    out.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        s.current_epoch, s.last_vote_epoch
    ));
    out
}

fn bad(line_no: usize, why: &str) -> String {
    format!("Unrecoverable error: corrupted cluster config file (line {line_no}): {why}")
}

/// Parses a nodes.conf. `now` seeds the nodes' timers.
pub fn parse(text: &str, node_timeout: u64, now: u64) -> Result<ClusterState, String> {
    let mut nodes: Vec<(Node, bool)> = Vec::new();
    let mut open: Vec<(u16, bool, String)> = Vec::new();
    let mut current_epoch = 0;
    let mut last_vote = 0;
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f[0] == "vars" {
            let mut j = 1;
            while j + 1 < f.len() {
                let v: u64 = f[j + 1].parse().map_err(|_| bad(ln, "bad vars value"))?;
                match f[j] {
                    "currentEpoch" => current_epoch = v,
                    "lastVoteEpoch" => last_vote = v,
                    _ => {}
                }
                j += 2;
            }
            continue;
        }
        if f.len() < 8 {
            return Err(bad(ln, "fewer than 8 fields"));
        }
        let id = f[0];
        if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(ln, "bad node id"));
        }
        let mut addr_fields = f[1].split(',');
        let addr = addr_fields.next().unwrap_or("");
        let hostname = addr_fields.next().unwrap_or("");
        if super::announce::check_hostname(hostname).is_err() {
            return Err(bad(ln, "bad hostname"));
        }
        let (hostport, cport) = addr.split_once('@').ok_or_else(|| bad(ln, "bad address"))?;
        let (ip, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad(ln, "bad address"))?;
        let port: u16 = port.parse().map_err(|_| bad(ln, "bad port"))?;
        let cport: u16 = cport.parse().map_err(|_| bad(ln, "bad bus port"))?;
        let flags: Vec<&str> = f[2].split(',').collect();
        let mut n = Node::new(id.to_string(), ip.to_string(), port, cport, now);
        n.hostname = hostname.to_string();
        let myself = flags.contains(&"myself");
        if flags.contains(&"slave") {
            if f[3] == "-" {
                return Err(bad(ln, "replica without a primary"));
            }
            n.role = Role::Replica {
                primary: f[3].to_string(),
            };
        }
        if flags.contains(&"fail") {
            n.health = Health::Fail;
        }
        n.nofailover = flags.contains(&"nofailover");
        n.config_epoch = f[6].parse().map_err(|_| bad(ln, "bad config epoch"))?;
        let mut slots = SlotSet::default();
        for r in &f[8..] {
            if let Some(inner) = r.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                if myself {
                    open.push(parse_open_slot(inner).ok_or_else(|| bad(ln, "bad open slot"))?);
                }
                continue;
            }
            let (a, b) = match r.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*r, *r),
            };
            let a: u16 = a.parse().map_err(|_| bad(ln, "bad slot"))?;
            let b: u16 = b.parse().map_err(|_| bad(ln, "bad slot"))?;
            if a > b || b as usize >= slotcache_proto::slot::SLOTS {
                return Err(bad(ln, "slot out of range"));
            }
            for s in a..=b {
                slots.insert(s);
            }
        }
        n.slots = slots;
        nodes.push((n, myself));
    }
    let mine: Vec<&Node> = nodes.iter().filter(|(_, m)| *m).map(|(n, _)| n).collect();
    if mine.len() != 1 {
        return Err(
            "Unrecoverable error: corrupted cluster config file: expected exactly one 'myself' node".into(),
        );
    }
    let me = mine[0].clone();
    let mut s = ClusterState::new(
        me.id.clone(),
        me.ip.clone(),
        me.port,
        me.cport,
        node_timeout,
        now,
    );
    s.current_epoch = current_epoch;
    s.last_vote_epoch = last_vote;
    for (n, _) in nodes {
        let slots: Vec<u16> = n.slots.iter().collect();
        let id = n.id.clone();
        let mut n = n;
        n.slots = SlotSet::default();
        s.nodes.insert(id.clone(), n);
        for slot in slots {
            s.assign(slot, &id);
        }
    }
    for (slot, migrating, id) in open {
        if migrating {
            s.migrating.insert(slot, id);
        } else {
            s.importing.insert(slot, id);
        }
    }
    s.needs_save = false;
    Ok(s)
}

/// `123->-<id>` (migrating to id) or `123-<-<id>` (importing from id).
fn parse_open_slot(inner: &str) -> Option<(u16, bool, String)> {
    let (slot, migrating, id) = if let Some((a, b)) = inner.split_once("->-") {
        (a, true, b)
    } else {
        let (a, b) = inner.split_once("-<-")?;
        (a, false, b)
    };
    let slot: u16 = slot.parse().ok()?;
    if slot as usize >= slotcache_proto::slot::SLOTS || id.len() != 40 {
        return None;
    }
    Some((slot, migrating, id.to_string()))
}

/// Reads the file if it exists. `Ok(None)`: no file (a new node).
pub fn load(path: &Path, node_timeout: u64, now: u64) -> Result<Option<ClusterState>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(format!(
            "Unrecoverable error: cluster config file {} is empty",
            path.display()
        )),
        Ok(text) => parse(&text, node_timeout, now)
            .map(Some)
            .map_err(|e| format!("{e} ({})", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "Can't read cluster config file {}: {e}",
            path.display()
        )),
    }
}

/// Starts the saver thread; send it rendered files. Only the latest pending one is written.
pub fn spawn_saver(path: PathBuf) -> mpsc::Sender<(String, Option<mpsc::Sender<()>>)> {
    let (tx, rx) = mpsc::channel::<(String, Option<mpsc::Sender<()>>)>();
    let spawned = std::thread::Builder::new()
        .name("nodes-conf".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut latest = first;
                let mut acks = Vec::new();
                while let Ok(next) = rx.try_recv() {
                    if let Some(a) = latest.1.take() {
                        acks.push(a);
                    }
                    latest = next;
                }
                if let Some(a) = latest.1.take() {
                    acks.push(a);
                }
                if let Err(e) = slotcache_util::fs::write_atomically(&path, latest.0.as_bytes()) {
                    error!("could not write {}: {e}", path.display());
                }
                for a in acks {
                    let _ = a.send(());
                }
            }
        });
    if let Err(e) = spawned {
        warn!("could not start the nodes.conf saver thread: {e}");
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip_and_corruption_is_an_error() {
        let mut s = ClusterState::new("a".repeat(40), "127.0.0.1".into(), 7000, 17000, 1000, 0);
        s.add_slots(&(0..100).collect::<Vec<_>>()).unwrap();
        s.set_config_epoch(3).unwrap();
        let mut other = Node::new("b".repeat(40), "127.0.0.1".into(), 7001, 17001, 0);
        other.hostname = "node-b.test".into();
        other.role = Role::Replica {
            primary: "a".repeat(40),
        };
        s.nodes.insert(other.id.clone(), other);
        s.migrating.insert(5, "b".repeat(40));
        s.importing.insert(200, "c".repeat(40));
        let text = render(&s);
        assert!(text.contains(&format!(
            "0-99 [5->-{}] [200-<-{}]",
            "b".repeat(40),
            "c".repeat(40)
        )));
        assert!(text.contains(" 127.0.0.1:7001@17001,node-b.test slave "));
        let back = parse(&text, 1000, 0).unwrap();
        assert_eq!(back.nodes[&"b".repeat(40)].hostname, "node-b.test");
        assert_eq!(back.myself, s.myself);
        assert_eq!(back.current_epoch, 3);
        assert_eq!(back.me().slots.len(), 100);
        assert_eq!(back.nodes.len(), 2);
        assert_eq!(back.migrating.get(&5), Some(&"b".repeat(40)));
        assert_eq!(back.importing.get(&200), Some(&"c".repeat(40)));
        assert_eq!(render(&back), text);
        assert!(parse("garbage line\n", 1000, 0).is_err());
        assert!(parse("vars currentEpoch 1 lastVoteEpoch 0\n", 1000, 0).is_err());
        let forged = text.replace(",node-b.test", ",node_b");
        assert!(
            parse(&forged, 1000, 0).is_err(),
            "a hostname Redis would refuse"
        );
        let truncated = &text[..30];
        assert!(parse(truncated, 1000, 0).is_err());
    }
}
