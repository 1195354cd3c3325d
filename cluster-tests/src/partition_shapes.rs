//! Random partition shapes for a 3x2 cluster (issue #19's nemesis, shared with
//! `slotcache-cli chaos`): a node cut off from the other nodes, a node cut off from
//! everyone, a 3|3 split, a 2|4 split, a bridge. One seed replays one sequence of shapes.

/// A small deterministic generator, so one seed replays one sequence of shapes.
pub struct Rng(pub u64);

impl Rng {
    /// A generator whose sequence depends only on `seed` (any value, 0 included).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// `0..n` in a random order.
    pub fn shuffled(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }
}

/// One partition: the pairs whose packets are dropped, and the nodes cut off from clients
/// too (isolated with `NetLab::isolate`).
pub struct Shape {
    pub name: String,
    pub pairs: Vec<(usize, usize)>,
    pub isolated: Vec<usize>,
}

impl Shape {
    /// A random shape over six nodes.
    pub fn pick(rng: &mut Rng) -> Shape {
        let order = rng.shuffled(6);
        let (name, a, b, bridge): (&str, Vec<usize>, Vec<usize>, Option<usize>) = match rng.below(5)
        {
            0 => (
                "node cut off from nodes",
                vec![order[0]],
                order[1..].to_vec(),
                None,
            ),
            1 => ("node cut off from everyone", vec![order[0]], vec![], None),
            2 => ("3|3 split", order[..3].to_vec(), order[3..].to_vec(), None),
            3 => ("2|4 split", order[..2].to_vec(), order[2..].to_vec(), None),
            _ => (
                "bridge",
                order[1..3].to_vec(),
                order[3..].to_vec(),
                Some(order[0]),
            ),
        };
        let mut pairs = Vec::new();
        for &i in &a {
            for &j in &b {
                pairs.push((i, j));
            }
        }
        let isolated = if b.is_empty() { a.clone() } else { vec![] };
        let desc = match bridge {
            Some(x) => format!("{name} {a:?} | {b:?} via {x}"),
            None if b.is_empty() => format!("{name} {a:?}"),
            None => format!("{name} {a:?} | {b:?}"),
        };
        Shape {
            name: desc,
            pairs,
            isolated,
        }
    }

    pub fn can_reach(&self, i: usize, j: usize) -> bool {
        if i == j {
            return true;
        }
        if self.isolated.contains(&i) || self.isolated.contains(&j) {
            return false;
        }
        !self
            .pairs
            .iter()
            .any(|&(a, b)| (a == i && b == j) || (a == j && b == i))
    }

    /// The nodes this shape separates from anyone (for detection times and reports).
    pub fn touched(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .pairs
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .chain(self.isolated.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
