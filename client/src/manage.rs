//! `cluster add-node`, `rebalance` and `remove-node`: growing and shrinking a running
//! cluster, with the same steps `redis-cli --cluster` takes, so they work on Redis too.

use crate::conn::Target;
use crate::nodes::NodeLine;
use crate::plan::{plan, Owner};
use crate::reshard::execute;
use crate::slotmove::MoveOpts;
use crate::topology::{fetch_nodes, query, wait_consistent, Topology};
use anyhow::{anyhow, bail, Context, Result};
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

/// How slots move and how long to wait for the cluster to settle.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub moves: MoveOpts,
    pub workers: usize,
    pub wait: Duration,
}

/// Polls `ready` every 200 ms until it holds or `wait` passes; `what` names the condition
/// in the error.
fn wait_until(wait: Duration, what: &str, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let last = ready();
        if matches!(last, Ok(true)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(match last {
                Err(e) => e.context(format!("{what}: gave up after {}s", wait.as_secs())),
                _ => anyhow!("{what}: not done after {}s", wait.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Spreads the slots evenly over every primary, empty ones included.
pub fn rebalance(seed: &Target, s: &Settings) -> Result<()> {
    let topo = wait_consistent(seed, s.wait, true)?;
    topo.check_ready(None)?;
    move_slots(&topo, &[], s)?;
    wait_consistent(seed, s.wait, false).context("after moving the slots")?;
    Ok(())
}

/// Plans and carries out the moves that leave `drain` empty and the others even.
fn move_slots(topo: &Topology, drain: &[&str], s: &Settings) -> Result<()> {
    let primaries = topo.primaries();
    let owners: Vec<Owner> = primaries
        .iter()
        .map(|n| Owner {
            id: n.id.clone(),
            slots: n.slots.clone(),
        })
        .collect();
    let moves = plan(&owners, drain)?;
    let receivers = primaries.len() - drain.len();
    if moves.is_empty() {
        println!("slots are already spread evenly over {receivers} primaries; nothing to move");
        return Ok(());
    }
    let total: usize = moves.iter().map(|m| m.slots.len()).sum();
    println!(
        "moving {total} slot(s) in {} batch(es) so that {receivers} primaries hold {} or {} each:",
        moves.len(),
        crate::nodes::SLOTS / receivers,
        crate::nodes::SLOTS.div_ceil(receivers)
    );
    let addr = |id: &str| topo.find(id).map(NodeLine::addr).unwrap_or_default();
    for m in &moves {
        println!(
            "  {:>5} slot(s) {} -> {}",
            m.slots.len(),
            addr(&m.src),
            addr(&m.dst)
        );
    }
    let peers = topo.peers();
    let all: Vec<_> = primaries.iter().map(|n| topo.peer(n)).collect();
    let summary = execute(&peers, &all, moves, s.moves, s.workers)?;
    summary.print();
    Ok(())
}

/// The IP (CLUSTER MEET takes no host names) of `t`.
fn resolve_ip(t: &Target) -> Result<String> {
    let addr = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", t.host))?
        .next()
        .ok_or_else(|| anyhow!("{} resolves to no address", t.host))?;
    Ok(addr.ip().to_string())
}

/// Introduces the empty node `new` to the cluster of `existing`, then makes it a replica of
/// `replica_of` or (unless `rebalance` is false) gives it its share of the slots.
pub fn add_node(
    new: &Target,
    existing: &Target,
    replica_of: Option<&str>,
    rebalance_after: bool,
    s: &Settings,
) -> Result<()> {
    query::<String>(new, &["PING"])?;
    let info: String = query(new, &["CLUSTER", "INFO"])
        .context("is the new node running with cluster mode enabled?")?;
    if !info.lines().any(|l| l.trim() == "cluster_known_nodes:1") {
        bail!(
            "{} already knows other nodes (cluster_known_nodes is not 1); \
             only an empty node can be added (CLUSTER RESET it first)",
            new.addr()
        );
    }
    // Keys in any database (`cluster-databases`), as INFO keyspace lists them.
    let keyspace: String = query(new, &["INFO", "keyspace"])?;
    let keys: i64 = keyspace
        .lines()
        .filter_map(|l| {
            l.split_once(":keys=")?
                .1
                .split(',')
                .next()?
                .parse::<i64>()
                .ok()
        })
        .sum();
    if keys != 0 {
        bail!(
            "{} holds {keys} key(s); only an empty node can be added",
            new.addr()
        );
    }
    let new_id: String = query(new, &["CLUSTER", "MYID"])?;
    let topo = Topology::load(existing)?;
    if topo.nodes.iter().any(|n| n.id == new_id) {
        bail!("{} is already a member of the cluster", new.addr());
    }
    let primary_id = match replica_of {
        Some(id) => {
            let p = topo.find(id)?;
            if !p.is_primary() {
                bail!("{} ({}) is not a primary", p.id, p.addr());
            }
            Some(p.id.clone())
        }
        None => None,
    };
    let members: Vec<(String, Target)> = topo
        .nodes
        .iter()
        .filter(|n| !n.is_unusable())
        .map(|n| (n.id.clone(), topo.target(n)))
        .collect();
    let ip = resolve_ip(existing)?;
    query::<String>(new, &["CLUSTER", "MEET", &ip, &existing.port.to_string()])?;
    println!("sent CLUSTER MEET {ip} {} to {}", existing.port, new.addr());
    let mut missing = Vec::new();
    let joined = wait_until(
        s.wait,
        "waiting for every node to know the new node",
        || {
            let knows =
                |v: &[NodeLine], id: &str| v.iter().any(|n| n.id == id && !n.has_flag("handshake"));
            missing.clear();
            for (_, t) in &members {
                if !fetch_nodes(t).is_ok_and(|v| knows(&v, &new_id)) {
                    missing.push(format!("{} does not list the new node", t.addr()));
                }
            }
            let view = fetch_nodes(new).unwrap_or_default();
            for (id, t) in &members {
                if !knows(&view, id) {
                    missing.push(format!("the new node does not list {}", t.addr()));
                }
            }
            Ok(missing.is_empty())
        },
    );
    if let Err(e) = joined {
        bail!(
            "{e:#}: {} (a node removed less than 60s ago keeps its id and is ignored until then)",
            missing.join(", ")
        );
    }
    println!("{} ({new_id}) joined the cluster", new.addr());
    if let Some(pid) = primary_id {
        // The new node may learn the primary's id a moment after the others learn its own.
        wait_until(s.wait, "CLUSTER REPLICATE on the new node", || {
            query::<String>(new, &["CLUSTER", "REPLICATE", &pid]).map(|_| true)
        })?;
        wait_until(
            s.wait,
            "waiting for the new node to show as a replica",
            || {
                Ok(fetch_nodes(existing)?.iter().any(|n| {
                    n.id == new_id && n.is_replica() && n.primary.as_deref() == Some(pid.as_str())
                }))
            },
        )?;
        println!("{} is now a replica of {pid}", new.addr());
        return Ok(());
    }
    if rebalance_after {
        rebalance(existing, s)
    } else {
        println!(
            "{} is an empty primary; run `cluster rebalance` to give it slots",
            new.addr()
        );
        Ok(())
    }
}

/// The primary (other than `gone`, owning slots) with the fewest replicas.
fn least_replicated<'a>(topo: &'a Topology, gone: &str) -> Option<&'a NodeLine> {
    topo.primaries()
        .into_iter()
        .filter(|p| p.id != gone && !p.slots.is_empty())
        .min_by_key(|p| {
            let replicas = topo
                .nodes
                .iter()
                .filter(|n| n.primary.as_deref() == Some(p.id.as_str()))
                .count();
            (replicas, p.id.clone())
        })
}

/// Empties node `id` of slots, re-points its replicas, makes every other node forget it,
/// and resets it.
pub fn remove_node(seed: &Target, id: &str, s: &Settings) -> Result<()> {
    let mut seed = seed.clone();
    let mut topo = Topology::load(&seed)?;
    let gone = topo.find(id)?.clone();
    if gone.is_myself() {
        // Talk to the cluster through a node that stays.
        let other = topo
            .nodes
            .iter()
            .find(|n| n.id != gone.id && !n.is_unusable())
            .ok_or_else(|| anyhow!("{} is the only node of its cluster", gone.addr()))?;
        seed = topo.target(other);
    }
    topo = wait_consistent(&seed, s.wait, true)?;
    topo.check_ready(Some(&gone.id))?;
    println!("removing {} ({})", gone.addr(), gone.id);
    if gone.is_primary() && !gone.slots.is_empty() {
        move_slots(&topo, &[gone.id.as_str()], s)?;
        topo = wait_consistent(&seed, s.wait, false).context("after moving the slots")?;
    }
    // A primary that lost its last slot may have turned itself into a replica by now.
    let replicas: Vec<NodeLine> = topo
        .nodes
        .iter()
        .filter(|n| n.primary.as_deref() == Some(gone.id.as_str()) && n.id != gone.id)
        .cloned()
        .collect();
    for r in &replicas {
        let to = least_replicated(&topo, &gone.id)
            .ok_or_else(|| anyhow!("no other primary can take the replica {}", r.addr()))?
            .clone();
        query::<String>(&topo.target(r), &["CLUSTER", "REPLICATE", &to.id])?;
        println!(
            "replica {} now replicates {} ({})",
            r.addr(),
            to.addr(),
            to.id
        );
        // Count it against its new primary before choosing for the next one.
        if let Some(n) = topo.nodes.iter_mut().find(|n| n.id == r.id) {
            n.primary = Some(to.id.clone());
        }
    }
    let stay: Vec<Target> = topo
        .nodes
        .iter()
        .filter(|n| n.id != gone.id && !n.is_unusable())
        .map(|n| topo.target(n))
        .collect();
    for t in &stay {
        match query::<String>(t, &["CLUSTER", "FORGET", &gone.id]) {
            Ok(_) => {}
            Err(e) if format!("{e:#}").contains("Unknown node") => {}
            Err(e) => return Err(e),
        }
    }
    println!("sent CLUSTER FORGET to {} node(s)", stay.len());
    if gone.is_unusable() {
        println!(
            "{} is not reachable ({}); not resetting it: do not restart it with its old nodes.conf",
            gone.addr(),
            gone.flags.join(",")
        );
    } else {
        query::<String>(&topo.target(&gone), &["CLUSTER", "RESET", "SOFT"])
            .context("the node was forgotten, but resetting it failed")?;
        println!("sent CLUSTER RESET SOFT to {}", gone.addr());
    }
    wait_until(
        s.wait,
        "waiting for every node to forget the removed node",
        || {
            Ok(stay
                .iter()
                .all(|t| fetch_nodes(t).is_ok_and(|v| v.iter().all(|n| n.id != gone.id))))
        },
    )?;
    wait_consistent(&seed, s.wait, false).context("after removing the node")?;
    println!(
        "{} removed from the cluster (it keeps its id: the others ignore it for 60s after FORGET)",
        gone.addr()
    );
    Ok(())
}
