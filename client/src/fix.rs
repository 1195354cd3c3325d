//! `cluster fix`: closes the open slots an interrupted move leaves behind.
//!
//! A slot is open on a node whose `myself` line shows `[slot->-dst]` (migrating) or
//! `[slot-<-src]` (importing). When both sides agree (the owner migrating to a node that
//! imports from it) the move is finished. Otherwise Redis's rule applies: the owner keeps
//! the slot; keys other primaries hold in it are migrated back to it, and the marks are
//! cleared with `SETSLOT STABLE`.

use crate::conn::Target;
use crate::nodes::NodeLine;
use crate::slotmove::{assign_slot, count_keys, migrate_keys, setslot, Conns, MoveOpts, Peer};
use crate::topology::wait_consistent;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// Who marks one slot open: `(node id, peer id)` pairs.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct OpenSlot {
    pub migrating: Vec<(String, String)>,
    pub importing: Vec<(String, String)>,
}

/// Open slots by slot number, from every node's own `myself` line.
pub fn open_slots(selves: &[NodeLine]) -> BTreeMap<u16, OpenSlot> {
    let mut open: BTreeMap<u16, OpenSlot> = BTreeMap::new();
    for me in selves {
        for (s, dst) in &me.migrating {
            let e = open.entry(*s).or_default();
            e.migrating.push((me.id.clone(), dst.clone()));
        }
        for (s, src) in &me.importing {
            let e = open.entry(*s).or_default();
            e.importing.push((me.id.clone(), src.clone()));
        }
    }
    open
}

/// What to do with one open slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Repair {
    /// Both sides agree: migrate the rest of the keys from the owner, then assign it to `dst`.
    Finish { dst: String },
    /// The owner keeps the slot; other primaries' keys go back to it; marks are cleared.
    Keep,
}

/// Redis's rule, for `slot` owned by `owner`.
pub fn decide(owner: &str, open: &OpenSlot) -> Repair {
    if let ([(m, dst)], [(i, src)]) = (open.migrating.as_slice(), open.importing.as_slice()) {
        if m == owner && i == dst && src == owner {
            return Repair::Finish { dst: dst.clone() };
        }
    }
    Repair::Keep
}

pub fn fix(seed: &Target, opts: &MoveOpts, wait: Duration) -> Result<()> {
    let topo = wait_consistent(seed, wait, false)?;
    let open = open_slots(&topo.self_lines()?);
    if open.is_empty() {
        println!("no open slots; nothing to fix");
        return Ok(());
    }
    let peers = topo.peers();
    let primaries: Vec<Peer> = topo.primaries().iter().map(|n| topo.peer(n)).collect();
    let mut conns = Conns::new(opts);
    let mut errors = Vec::new();
    for (&slot, o) in &open {
        let Some(owner) = topo.owner_of(slot).map(|n| topo.peer(n)) else {
            errors.push(format!(
                "slot {slot} is open but has no owner; assign it first (CLUSTER ADDSLOTS)"
            ));
            continue;
        };
        let result = match decide(&owner.id, o) {
            Repair::Finish { dst } => match peers.get(&dst) {
                Some(dst) => finish(&mut conns, slot, &owner, dst, &primaries, opts),
                None => Err(anyhow!("node {dst} is not in the cluster")),
            },
            Repair::Keep => keep(&mut conns, slot, &owner, o, &peers, &primaries, opts),
        };
        if let Err(e) = result {
            errors.push(format!("slot {slot}: {e:#}"));
        }
    }
    if !errors.is_empty() {
        bail!("could not fix every open slot:\n  {}", errors.join("\n  "));
    }
    println!("fixed {} open slot(s)", open.len());
    Ok(())
}

fn finish(
    conns: &mut Conns,
    slot: u16,
    owner: &Peer,
    dst: &Peer,
    primaries: &[Peer],
    opts: &MoveOpts,
) -> Result<()> {
    let keys = migrate_keys(conns, owner, &dst.target, slot, opts, &|_| {})?;
    let others: Vec<Peer> = primaries
        .iter()
        .filter(|p| p.id != owner.id && p.id != dst.id)
        .cloned()
        .collect();
    assign_slot(conns, owner, dst, &others, slot)?;
    println!(
        "slot {slot}: finished the move {} -> {} ({keys} key(s) migrated)",
        owner.target.addr(),
        dst.target.addr()
    );
    Ok(())
}

fn keep(
    conns: &mut Conns,
    slot: u16,
    owner: &Peer,
    open: &OpenSlot,
    peers: &std::collections::HashMap<String, Peer>,
    primaries: &[Peer],
    opts: &MoveOpts,
) -> Result<()> {
    // The owner first: while it is MIGRATING it answers -ASK to the RESTOREs below.
    let owner_marked = open
        .migrating
        .iter()
        .chain(&open.importing)
        .any(|(n, _)| *n == owner.id);
    if owner_marked {
        setslot(conns, owner, slot, "STABLE", None)?;
    }
    for p in primaries.iter().filter(|p| p.id != owner.id) {
        if count_keys(conns, &p.target, slot)? > 0 {
            let keys = migrate_keys(conns, p, &owner.target, slot, opts, &|_| {})?;
            println!(
                "slot {slot}: moved {keys} key(s) from {} back to the owner {}",
                p.target.addr(),
                owner.target.addr()
            );
        }
    }
    let mut marked: Vec<&String> = open
        .migrating
        .iter()
        .chain(&open.importing)
        .map(|(n, _)| n)
        .filter(|n| **n != owner.id)
        .collect();
    marked.sort();
    marked.dedup();
    for id in marked {
        let p = peers
            .get(id)
            .ok_or_else(|| anyhow!("node {id} is not in the cluster"))?;
        setslot(conns, p, slot, "STABLE", None)?;
    }
    println!(
        "slot {slot}: kept by its owner {}; SETSLOT STABLE sent where it was open",
        owner.target.addr()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::parse_line;

    fn open(mig: &[(&str, &str)], imp: &[(&str, &str)]) -> OpenSlot {
        let v = |x: &[(&str, &str)]| {
            x.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        OpenSlot {
            migrating: v(mig),
            importing: v(imp),
        }
    }

    #[test]
    fn collects_marks_from_myself_lines() {
        let a = parse_line("A 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-10 [5->-B]").unwrap();
        let b =
            parse_line("B 1.1.1.1:3@4 myself,master - 0 0 2 connected [5-<-A] [20-<-A]").unwrap();
        let o = open_slots(&[a, b]);
        assert_eq!(o.len(), 2);
        assert_eq!(o[&5], open(&[("A", "B")], &[("B", "A")]));
        assert_eq!(o[&20], open(&[], &[("B", "A")]));
    }

    #[test]
    fn finishes_only_when_both_sides_agree() {
        let both = open(&[("A", "B")], &[("B", "A")]);
        assert_eq!(decide("A", &both), Repair::Finish { dst: "B".into() });
        // The marks agree but the owner is someone else (e.g. B already took it).
        assert_eq!(decide("B", &both), Repair::Keep);
        assert_eq!(decide("A", &open(&[("A", "B")], &[])), Repair::Keep);
        assert_eq!(decide("A", &open(&[], &[("B", "A")])), Repair::Keep);
        assert_eq!(
            decide("A", &open(&[("A", "B")], &[("C", "A")])),
            Repair::Keep
        );
        assert_eq!(
            decide("A", &open(&[("A", "B")], &[("B", "A"), ("C", "A")])),
            Repair::Keep
        );
    }
}
