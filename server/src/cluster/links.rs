//! The cluster bus connections this node holds, for CLUSTER LINKS.
//!
//! The bus registers each connection here when it opens and removes it when it closes:
//! outbound links (`to`) are known by node from the start; an inbound one (`from`) is tied
//! to a node by the first frame whose sender we know as a member out of handshake, as Redis
//! ties an inbound link to its node. Until then it belongs to no node and, as in Redis, is
//! not listed. The table is a leaf lock: nothing else is locked while it is held.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Which way a link was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialed the node (Redis's `to`).
    To,
    /// The node dialed us (Redis's `from`).
    From,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::To => "to",
            Direction::From => "from",
        }
    }
}

struct Entry {
    direction: Direction,
    node: Option<String>,
    /// Monotonic ms when the link was created (the cluster's clock).
    created: u64,
    /// Bytes queued on the link and not yet written to the socket.
    queued: Arc<AtomicUsize>,
}

/// One link as CLUSTER LINKS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub direction: Direction,
    pub node: String,
    pub created: u64,
    pub queued: usize,
}

/// Open bus connections by link id (ids are unique per process, never reused).
#[derive(Default)]
pub struct LinkTable {
    links: Mutex<HashMap<u64, Entry>>,
}

impl LinkTable {
    /// Registers a connection as it opens; `node` is known for outbound links only.
    pub fn open(
        &self,
        id: u64,
        direction: Direction,
        node: Option<String>,
        created: u64,
        queued: Arc<AtomicUsize>,
    ) {
        self.links.lock().insert(
            id,
            Entry {
                direction,
                node,
                created,
                queued,
            },
        );
    }

    /// Forgets a connection that closed.
    pub fn close(&self, id: u64) {
        self.links.lock().remove(&id);
    }

    /// Whether the link still needs to learn which node it belongs to.
    pub fn unbound(&self, id: u64) -> bool {
        self.links.lock().get(&id).is_some_and(|e| e.node.is_none())
    }

    /// Ties an inbound link to the node whose frames it carries.
    pub fn bind(&self, id: u64, node: &str) {
        if let Some(e) = self.links.lock().get_mut(&id) {
            e.node = Some(node.to_string());
        }
    }

    /// The links of each node in `nodes`, in that order: its outbound link, then the
    /// newest inbound link tied to it (a node that reconnected may briefly have two; the
    /// newer one is the one in use), as Redis lists `node->link` and `node->inbound_link`.
    pub fn describe(&self, nodes: &[String]) -> Vec<LinkInfo> {
        let links = self.links.lock();
        let mut newest: HashMap<(&str, Direction), (u64, &Entry)> = HashMap::new();
        for (id, e) in links.iter() {
            let Some(node) = e.node.as_deref() else {
                continue;
            };
            let slot = newest.entry((node, e.direction)).or_insert((*id, e));
            if *id > slot.0 {
                *slot = (*id, e);
            }
        }
        let mut out = Vec::new();
        for node in nodes {
            for direction in [Direction::To, Direction::From] {
                if let Some((_, e)) = newest.get(&(node.as_str(), direction)) {
                    out.push(LinkInfo {
                        direction,
                        node: node.clone(),
                        created: e.created,
                        queued: e.queued.load(Ordering::Relaxed),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_links_are_listed_once_bound_and_the_newest_wins() {
        let t = LinkTable::default();
        let q = || Arc::new(AtomicUsize::new(0));
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        t.open(1, Direction::To, Some(a.clone()), 10, q());
        t.open(2, Direction::From, None, 11, q());
        t.open(3, Direction::To, Some(b.clone()), 12, q());
        let nodes = vec![a.clone(), b.clone()];
        let dirs = |v: Vec<LinkInfo>| -> Vec<(Direction, String)> {
            v.into_iter().map(|l| (l.direction, l.node)).collect()
        };
        assert_eq!(
            dirs(t.describe(&nodes)),
            vec![(Direction::To, a.clone()), (Direction::To, b.clone())]
        );
        assert!(t.unbound(2));
        t.bind(2, &a);
        assert!(!t.unbound(2));
        t.open(4, Direction::From, None, 20, q());
        t.bind(4, &a);
        let got = t.describe(&nodes);
        assert_eq!(got[1].direction, Direction::From);
        assert_eq!(got[1].created, 20, "the newer inbound link");
        assert_eq!(got.len(), 3);
        t.close(4);
        t.close(2);
        t.close(1);
        assert_eq!(dirs(t.describe(&nodes)), vec![(Direction::To, b)]);
    }
}
