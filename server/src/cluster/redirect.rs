//! The routing decision for one command in cluster mode, as a value; rendering it as an
//! error reply is a separate step ([`Redirect::message`]).

use super::view::{View, NO_OWNER};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot is served elsewhere.
    Moved(u16, String),
    /// Keys of one command hash to different slots.
    CrossSlot,
    /// The slot has no owner.
    Unbound,
    /// The cluster is down.
    Down,
    /// The cluster is down and this is a write (reads are allowed when down).
    DownReadOnly,
}

impl Redirect {
    /// The error reply, worded as Redis Cluster words it.
    pub fn message(&self) -> String {
        match self {
            Redirect::Moved(slot, addr) => format!("MOVED {slot} {addr}"),
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
        }
    }
}

/// Decides where a command with keys in `slots` must go. `None`: serve it here. The checks
/// run in Redis's order: unbound first slot, cross-slot, cluster down, then ownership.
pub fn route(
    view: &View,
    slots: impl IntoIterator<Item = u16>,
    is_write: bool,
    allow_reads_when_down: bool,
) -> Option<Redirect> {
    let mut first: Option<u16> = None;
    for s in slots {
        match first {
            None => {
                if view.owners[s as usize] == NO_OWNER {
                    return Some(Redirect::Unbound);
                }
                first = Some(s);
            }
            Some(f) if f != s => return Some(Redirect::CrossSlot),
            Some(_) => {}
        }
    }
    let slot = first?;
    if !view.ok {
        if !allow_reads_when_down {
            return Some(Redirect::Down);
        }
        if is_write {
            return Some(Redirect::DownReadOnly);
        }
    }
    let owner = view.owners[slot as usize];
    if owner != view.me {
        let addr = view.addrs.get(owner as usize).cloned().unwrap_or_default();
        return Some(Redirect::Moved(slot, addr));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_in_redis_order() {
        let mut v = View::empty();
        v.addrs = vec!["127.0.0.1:7000".into(), "127.0.0.1:7001".into()];
        v.me = 0;
        v.ok = true;
        v.owners[1] = 0;
        v.owners[2] = 1;
        assert_eq!(route(&v, [1, 1], true, false), None);
        assert_eq!(route(&v, [2], false, false), Some(Redirect::Moved(2, "127.0.0.1:7001".into())));
        assert_eq!(route(&v, [1, 2], false, false), Some(Redirect::CrossSlot));
        assert_eq!(route(&v, [3, 1], false, false), Some(Redirect::Unbound));
        v.ok = false;
        assert_eq!(route(&v, [1], false, false), Some(Redirect::Down));
        assert_eq!(route(&v, [1], false, true), None);
        assert_eq!(route(&v, [1], true, true), Some(Redirect::DownReadOnly));
        assert_eq!(route(&v, [], true, false), None);
    }
}
