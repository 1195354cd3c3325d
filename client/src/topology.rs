//! A running cluster as one node sees it, and the checks every administration command makes
//! before it changes anything: all nodes agree on the layout, none is failing, no slot is
//! half-moved, every slot has an owner.

use crate::conn::Target;
use crate::nodes::{format_ranges, parse_nodes, NodeLine, SLOTS};
use crate::slotmove::Peer;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The cluster as the seed node sees it (nodes still in the handshake left out).
pub struct Topology {
    pub nodes: Vec<NodeLine>,
    pass: Option<String>,
}

/// Parses `host:port` (IPv6 as `[::1]:7000`); the password is the one given with `-a`.
pub fn parse_hostport(s: &str, pass: &Option<String>) -> Result<Target> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("{s:?} is not host:port"))?;
    let port = port
        .parse()
        .map_err(|_| anyhow!("{s:?} is not host:port (bad port)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("{s:?} is not host:port (no host)");
    }
    Ok(Target {
        host: host.to_string(),
        port,
        pass: pass.clone(),
    })
}

/// One command on a fresh connection, any reply type.
pub fn query<T: redis::FromRedisValue>(t: &Target, args: &[&str]) -> Result<T> {
    let mut con = t.connect()?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<T>(&mut con)
        .map_err(|e| anyhow!(crate::slotmove::error_text(&e)))
        .with_context(|| format!("{} on {}", args.join(" "), t.addr()))
}

/// A node's `CLUSTER NODES`, parsed.
pub fn fetch_nodes(t: &Target) -> Result<Vec<NodeLine>> {
    let text: String = query(t, &["CLUSTER", "NODES"])?;
    parse_nodes(&text).with_context(|| format!("CLUSTER NODES of {}", t.addr()))
}

/// What must be the same in every node's view: ids, roles and slot owners.
fn layout(view: &[NodeLine]) -> String {
    let mut rows: Vec<String> = view
        .iter()
        .filter(|n| !n.has_flag("handshake"))
        .map(|n| {
            let role = if n.is_primary() { "primary" } else { "replica" };
            format!(
                "{} {role} {} {}",
                n.id,
                n.primary.as_deref().unwrap_or("-"),
                format_ranges(&n.slots)
            )
        })
        .collect();
    rows.sort();
    rows.join("\n")
}

impl Topology {
    /// The seed's view.
    pub fn load(seed: &Target) -> Result<Self> {
        let mut nodes = fetch_nodes(seed)?;
        nodes.retain(|n| !n.has_flag("handshake"));
        for n in &mut nodes {
            // A node that was never met does not know its own address yet.
            if n.is_myself() && n.host.is_empty() {
                n.host = seed.host.clone();
            }
        }
        Ok(Topology {
            nodes,
            pass: seed.pass.clone(),
        })
    }

    pub fn target(&self, n: &NodeLine) -> Target {
        Target {
            host: n.host.clone(),
            port: n.port,
            pass: self.pass.clone(),
        }
    }

    pub fn peer(&self, n: &NodeLine) -> Peer {
        Peer {
            id: n.id.clone(),
            target: self.target(n),
        }
    }

    /// The node with this id, or the only one whose id starts with it.
    pub fn find(&self, id: &str) -> Result<&NodeLine> {
        if let Some(n) = self.nodes.iter().find(|n| n.id == id) {
            return Ok(n);
        }
        let hits: Vec<&NodeLine> = self.nodes.iter().filter(|n| n.id.starts_with(id)).collect();
        match hits.as_slice() {
            [n] if !id.is_empty() => Ok(n),
            [] => bail!("no node with id {id} in the cluster"),
            _ => bail!("{id} is the start of several node ids; give more of it"),
        }
    }

    /// Usable primaries (see [`NodeLine::is_unusable`]).
    pub fn primaries(&self) -> Vec<&NodeLine> {
        self.nodes
            .iter()
            .filter(|n| n.is_primary() && !n.is_unusable())
            .collect()
    }

    pub fn peers(&self) -> HashMap<String, Peer> {
        self.nodes
            .iter()
            .map(|n| (n.id.clone(), self.peer(n)))
            .collect()
    }

    pub fn owner_of(&self, slot: u16) -> Option<&NodeLine> {
        self.nodes
            .iter()
            .find(|n| n.is_primary() && n.slots.binary_search(&slot).is_ok())
    }

    /// Each usable node's `myself` line, as the node itself reports it (open slots appear
    /// only there).
    pub fn self_lines(&self) -> Result<Vec<NodeLine>> {
        self.nodes
            .iter()
            .filter(|n| !n.is_unusable())
            .map(|n| {
                let t = self.target(n);
                fetch_nodes(&t)?
                    .into_iter()
                    .find(|l| l.is_myself())
                    .ok_or_else(|| anyhow!("{} lists no myself line", t.addr()))
            })
            .collect()
    }

    /// Refuses a cluster that is not fit for moving slots. `except` (a node being removed)
    /// may be failing as long as it owns no slots.
    pub fn check_ready(&self, except: Option<&str>) -> Result<()> {
        let bad: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.is_unusable())
            .filter(|n| Some(n.id.as_str()) != except || !n.slots.is_empty())
            .map(|n| format!("{} {} ({})", n.short_id(), n.addr(), n.flags.join(",")))
            .collect();
        if !bad.is_empty() {
            bail!(
                "some nodes are failing or unreachable: {}; fix or remove them first",
                bad.join(", ")
            );
        }
        let mut open = Vec::new();
        for me in self.self_lines()? {
            for (s, to) in &me.migrating {
                open.push(format!("{s} migrating on {} to {to}", me.addr()));
            }
            for (s, from) in &me.importing {
                open.push(format!("{s} importing on {} from {from}", me.addr()));
            }
        }
        if !open.is_empty() {
            bail!(
                "open slots (an interrupted move?): {}; run `slotcache-cli cluster fix` first",
                open.join(", ")
            );
        }
        let owned: usize = self
            .nodes
            .iter()
            .filter(|n| n.is_primary())
            .map(|n| n.slots.len())
            .sum();
        if owned != SLOTS {
            bail!("{owned} of {SLOTS} slots have an owner; the cluster is not complete");
        }
        Ok(())
    }
}

/// Whether a node says `cluster_state:ok`.
fn state_ok(t: &Target) -> Result<bool> {
    let info: String = query(t, &["CLUSTER", "INFO"])?;
    Ok(info.lines().any(|l| l.trim() == "cluster_state:ok"))
}

/// Waits (at most `wait`) until every usable node reports the same layout as the seed and,
/// with `need_ok`, `cluster_state:ok` (a primary that just joined answers CLUSTERDOWN,
/// also to MIGRATE, for up to a node timeout), and returns the seed's view.
pub fn wait_consistent(seed: &Target, wait: Duration, need_ok: bool) -> Result<Topology> {
    let deadline = Instant::now() + wait;
    loop {
        let topo = Topology::load(seed)?;
        let want = layout(&topo.nodes);
        let mut differ = Vec::new();
        let mut down = Vec::new();
        for n in topo.nodes.iter().filter(|n| !n.is_unusable()) {
            let t = topo.target(n);
            if !n.is_myself() {
                match fetch_nodes(&t) {
                    Ok(view) if layout(&view) == want => {}
                    Ok(_) => differ.push(n.addr()),
                    Err(e) => differ.push(format!("{} ({e:#})", n.addr())),
                }
            }
            if need_ok && !state_ok(&t).unwrap_or(false) {
                down.push(n.addr());
            }
        }
        if differ.is_empty() && down.is_empty() {
            return Ok(topo);
        }
        if Instant::now() >= deadline {
            if !differ.is_empty() {
                bail!(
                    "these nodes still disagree with {} about the cluster layout after {}s: {}",
                    seed.addr(),
                    wait.as_secs(),
                    differ.join(", ")
                );
            }
            bail!(
                "these nodes do not report cluster_state:ok after {}s: {}",
                wait.as_secs(),
                down.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_and_port() {
        let t = parse_hostport("127.0.0.1:7000", &None).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 7000));
        let t = parse_hostport("[::1]:7001", &Some("pw".into())).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 7001));
        assert_eq!(t.pass.as_deref(), Some("pw"));
        assert!(parse_hostport("7000", &None).is_err());
        assert!(parse_hostport(":7000", &None).is_err());
        assert!(parse_hostport("h:99999", &None).is_err());
    }

    #[test]
    fn layout_ignores_flags_other_than_role() {
        let a = parse_nodes(
            "a 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-10\n\
             b 1.1.1.1:3@4 slave a 0 0 1 connected\n",
        )
        .unwrap();
        let b = parse_nodes(
            "b 1.1.1.1:3@4 myself,slave a 0 0 1 connected\n\
             a 1.1.1.1:1@2 master,fail? - 0 0 1 disconnected 0-10 \n",
        )
        .unwrap();
        assert_eq!(layout(&a), layout(&b));
        let c = parse_nodes("a 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-9\n").unwrap();
        assert_ne!(layout(&a), layout(&c));
    }
}
