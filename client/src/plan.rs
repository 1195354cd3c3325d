//! Which slots to move where, so that every primary ends with an even share.
//!
//! Pure: given who owns which slots, it returns one [`Move`] per (source, destination) pair.
//! Shares differ by at most one slot, and the number of slots moved is the least possible:
//! the primaries that already hold the most keep the remainder slots, and only surplus slots
//! leave a node. Drained primaries (remove-node) end with none.

use anyhow::{bail, Result};

/// A primary and the slots it owns.
#[derive(Debug, Clone)]
pub struct Owner {
    pub id: String,
    pub slots: Vec<u16>,
}

/// Slots to move from one primary to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub src: String,
    pub dst: String,
    /// Ascending.
    pub slots: Vec<u16>,
}

/// The moves that spread the owned slots evenly over every owner not in `drain`.
pub fn plan(owners: &[Owner], drain: &[&str]) -> Result<Vec<Move>> {
    let receivers: Vec<usize> = (0..owners.len())
        .filter(|&i| !drain.contains(&owners[i].id.as_str()))
        .collect();
    if receivers.is_empty() {
        bail!("no primary is left to take the slots");
    }
    let total: usize = owners.iter().map(|o| o.slots.len()).sum();
    let base = total / receivers.len();
    let extra = total % receivers.len();
    // Remainder slots go to the fullest receivers: they keep one they already hold.
    let mut by_size = receivers;
    by_size.sort_by(|&a, &b| {
        owners[b]
            .slots
            .len()
            .cmp(&owners[a].slots.len())
            .then_with(|| owners[a].id.cmp(&owners[b].id))
    });
    let mut target = vec![0usize; owners.len()];
    for (rank, &i) in by_size.iter().enumerate() {
        target[i] = base + usize::from(rank < extra);
    }
    // Surplus slots (taken from the top of each source's range, keeping the rest
    // contiguous) and the deficits they fill, both in id order for a stable plan.
    let mut order: Vec<usize> = (0..owners.len()).collect();
    order.sort_by(|&a, &b| owners[a].id.cmp(&owners[b].id));
    let mut surplus: Vec<(usize, Vec<u16>)> = Vec::new();
    let mut deficit: Vec<(usize, usize)> = Vec::new();
    for &i in &order {
        let mut slots = owners[i].slots.clone();
        slots.sort_unstable();
        let have = slots.len();
        if have > target[i] {
            surplus.push((i, slots.split_off(target[i])));
        } else if have < target[i] {
            deficit.push((i, target[i] - have));
        }
    }
    let mut moves = Vec::new();
    let mut d = 0;
    for (src, mut give) in surplus {
        while !give.is_empty() {
            let Some((dst, need)) = deficit.get_mut(d) else {
                bail!("internal error: surplus slots left without a receiver");
            };
            let n = give.len().min(*need);
            let rest = give.split_off(n);
            moves.push(Move {
                src: owners[src].id.clone(),
                dst: owners[*dst].id.clone(),
                slots: give,
            });
            give = rest;
            *need -= n;
            if *need == 0 {
                d += 1;
            }
        }
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::SLOTS;
    use std::collections::HashMap;

    fn owners(counts: &[usize]) -> Vec<Owner> {
        let mut next = 0u16;
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let slots = (next..next + c as u16).collect();
                next += c as u16;
                Owner {
                    id: format!("node{i:02}"),
                    slots,
                }
            })
            .collect()
    }

    /// The least number of slots any even plan must move, computed independently of `plan`.
    fn least_moves(counts: &[usize], drained: &[bool]) -> usize {
        let receivers = drained.iter().filter(|d| !**d).count();
        let total: usize = counts.iter().sum();
        let (base, extra) = (total / receivers, total % receivers);
        let mut moved = 0;
        let mut can_keep_extra = 0;
        for (c, d) in counts.iter().zip(drained) {
            if *d {
                moved += c;
            } else if *c > base {
                moved += c - base;
                can_keep_extra += 1;
            }
        }
        moved - extra.min(can_keep_extra)
    }

    /// Applies `moves` and checks every promised property.
    fn check(counts: &[usize], drain: &[&str]) {
        let own = owners(counts);
        let moves = plan(&own, drain).unwrap();
        let mut owner_of: HashMap<u16, String> = HashMap::new();
        for o in &own {
            for &s in &o.slots {
                assert!(owner_of.insert(s, o.id.clone()).is_none());
            }
        }
        let mut moved = 0;
        for m in &moves {
            assert_ne!(m.src, m.dst);
            assert!(!m.slots.is_empty());
            assert!(
                !drain.contains(&m.dst.as_str()),
                "moved onto a drained node"
            );
            for &s in &m.slots {
                assert_eq!(owner_of[&s], m.src, "slot {s} moved by a non-owner");
                owner_of.insert(s, m.dst.clone());
                moved += 1;
            }
        }
        let total: usize = counts.iter().sum();
        assert_eq!(owner_of.len(), total, "every slot keeps exactly one owner");
        let mut per: HashMap<&str, usize> = HashMap::new();
        for id in owner_of.values() {
            *per.entry(id.as_str()).or_default() += 1;
        }
        let shares: Vec<usize> = own
            .iter()
            .filter(|o| !drain.contains(&o.id.as_str()))
            .map(|o| per.get(o.id.as_str()).copied().unwrap_or(0))
            .collect();
        let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
        assert!(hi - lo <= 1, "shares {shares:?}");
        for d in drain {
            assert_eq!(per.get(d), None, "{d} still owns slots");
        }
        let drained: Vec<bool> = own.iter().map(|o| drain.contains(&o.id.as_str())).collect();
        assert_eq!(moved, least_moves(counts, &drained), "counts {counts:?}");
        // One move per pair at most.
        let mut pairs: Vec<(&str, &str)> = moves
            .iter()
            .map(|m| (m.src.as_str(), m.dst.as_str()))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), moves.len());
    }

    #[test]
    fn balanced_cluster_needs_no_moves() {
        let own = owners(&[5462, 5461, 5461]);
        assert!(plan(&own, &[]).unwrap().is_empty());
        check(&[5462, 5461, 5461], &[]);
        check(&[5461, 5461, 5462], &[]);
    }

    #[test]
    fn new_empty_primary_gets_a_quarter() {
        check(&[5461, 5462, 5461, 0], &[]);
        let own = owners(&[5461, 5462, 5461, 0]);
        let moves = plan(&own, &[]).unwrap();
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| m.dst == "node03"));
        assert_eq!(moves.iter().map(|m| m.slots.len()).sum::<usize>(), 4096);
        // Taken from the top of each source's range.
        assert_eq!(*moves[0].slots.last().unwrap(), 5460);
    }

    #[test]
    fn drain_spreads_over_the_others() {
        check(&[4096, 4096, 4096, 4096], &["node01"]);
        check(&[16384], &[]);
        check(&[0, 16384, 0], &["node01"]);
        check(&[4096, 4096, 4096, 4096], &["node00", "node03"]);
        let own = owners(&[8192, 8192]);
        assert!(plan(&own, &["node00", "node01"]).is_err());
    }

    #[test]
    fn uneven_shapes() {
        check(&[16384, 0, 0, 0, 0, 0, 0], &[]);
        check(&[1, 2, 3, 16378], &[]);
        check(&[5000, 5000, 6384, 0, 0], &["node02"]);
        check(&[3, 3, 3, 3, 3, 3, 3, 3, 16360], &[]);
    }

    #[test]
    fn random_shapes() {
        // A tiny LCG keeps this deterministic without a dependency.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % m
        };
        for _ in 0..120 {
            let n = 1 + next(12);
            let mut cuts: Vec<usize> = (0..n - 1).map(|_| next(SLOTS + 1)).collect();
            cuts.push(0);
            cuts.push(SLOTS);
            cuts.sort_unstable();
            let counts: Vec<usize> = cuts.windows(2).map(|w| w[1] - w[0]).collect();
            let names: Vec<String> = (0..n).map(|i| format!("node{i:02}")).collect();
            let drain: Vec<&str> = if n > 1 && next(3) == 0 {
                vec![names[next(n)].as_str()]
            } else {
                vec![]
            };
            check(&counts, &drain);
        }
    }
}
