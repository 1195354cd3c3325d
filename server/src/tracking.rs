//! Client-side caching (CLIENT TRACKING): which clients may hold which keys in their own
//! cache, and the invalidation messages that tell them a key changed.
//!
//! Kept as Redis keeps it, because clients and the suite depend on its observable rules:
//! - The table maps key *names* to client ids, whatever the database, and forgets a key once
//!   it has been invalidated (a client re-reads, and so re-registers, what it still wants).
//! - A client id stays in the table after its client left; it is skipped when found. A
//!   client with many keys costs nothing to drop.
//! - BCAST clients are not in the table: keys matching their prefixes are collected while a
//!   command runs and sent, one message per prefix, when it is done.
//! - A message for the client whose command is running goes into its own reply stream:
//!   before the reply when it was caused before the command ran (an eviction), after it
//!   otherwise (Redis's `tracking_pending_keys`), so it never splits a reply. Messages for
//!   other clients go to their push queue ([`Subscriber`]) at once.
//!
//! The table lives beside the keyspace (under its lock), since every change to a key must
//! reach it in the order the changes were made; it reaches connections only through the
//! client registry's push endpoints.

use crate::clients::Registry;
use crate::pubsub::{Limits, Subscriber};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The channel RESP2 redirect clients receive invalidations on.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// What CLIENT TRACKING ON asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Client id that receives this client's messages (0: itself).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// One tracking client.
#[derive(Debug, Default)]
struct Tracker {
    opts: Options,
    prefixes: BTreeSet<Vec<u8>>,
    /// CLIENT CACHING was given for the next command.
    caching: bool,
    /// Its redirect client went away.
    broken: bool,
}

/// One BCAST prefix: who listens, and the keys modified since the last broadcast (with the
/// client that modified each, for NOLOOP; 0 when no client did).
#[derive(Default)]
struct Bcast {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

/// What one invalidation message says.
enum Payload<'a> {
    Key(&'a [u8]),
    Keys(&'a [&'a [u8]]),
    /// Every key (after a flush, or when the node stops serving its data).
    All,
}

/// What CLIENT TRACKINGINFO reports.
pub struct Info {
    pub opts: Options,
    pub prefixes: Vec<Vec<u8>>,
    pub caching: bool,
    pub broken: bool,
}

/// The tracking table and the state of the command running now.
#[derive(Default)]
pub struct Tracking {
    keys: HashMap<Vec<u8>, HashSet<u64>>,
    items: usize,
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    clients: HashMap<u64, Tracker>,
    registry: Option<Arc<Registry>>,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: usize,
    /// Output limits for push queues (`client-output-buffer-limit pubsub`).
    pub limits: Limits,
    /// Consecutive limit runs that ended still over the limit (more effort each time).
    over_runs: u32,
    /// The client whose command runs now (0: none), and whether its handler has started.
    current: u64,
    executing: bool,
    /// Messages for `current`: (after its reply?, encoded message).
    own: Vec<(bool, Bytes)>,
    /// The keys a running script declared: reads inside it remember these, as Redis's
    /// `trackingRememberKeys` reads the script caller's command.
    script_keys: Option<Vec<Vec<u8>>>,
}

impl Tracking {
    pub fn set_registry(&mut self, registry: Arc<Registry>) {
        self.registry = Some(registry);
    }

    /// Whether any client tracks: the one check the command path pays otherwise.
    #[inline]
    pub fn active(&self) -> bool {
        !self.clients.is_empty()
    }

    pub fn is_tracking(&self, id: u64) -> bool {
        self.clients.contains_key(&id)
    }

    /// The first error CLIENT TRACKING ON would give for `prefixes` (Redis's
    /// `checkPrefixCollisionsOrReply`): a prefix that is a prefix of another one of this
    /// client's, old or new, would send the same key twice.
    pub fn prefix_collision(&self, id: u64, prefixes: &[Vec<u8>]) -> Option<String> {
        let overlap = |a: &[u8], b: &[u8]| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let existing = self.clients.get(&id).map(|t| &t.prefixes);
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(e) = existing.and_then(|s| s.iter().find(|e| overlap(e, p))) {
                return Some(format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(e)
                ));
            }
            if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return Some(format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                ));
            }
        }
        None
    }

    /// CLIENT TRACKING ON (the caller checked the options). Turning it on again keeps the
    /// client's BCAST prefixes and adds the new ones, as Redis does.
    pub fn enable(&mut self, id: u64, opts: Options, prefixes: Vec<Vec<u8>>) {
        let t = self.clients.entry(id).or_default();
        t.broken = false;
        let bcast = opts.bcast;
        t.opts = opts;
        if !bcast {
            return;
        }
        let mut wanted = prefixes;
        if wanted.is_empty() {
            wanted.push(Vec::new());
        }
        for p in wanted {
            if t.prefixes.insert(p.clone()) {
                self.prefixes.entry(p).or_default().clients.insert(id);
            }
        }
    }

    /// CLIENT TRACKING OFF, or the client left. Its ids in the table are dropped lazily.
    pub fn disable(&mut self, id: u64) {
        let Some(t) = self.clients.remove(&id) else {
            return;
        };
        for p in t.prefixes {
            if let Some(b) = self.prefixes.get_mut(&p) {
                b.clients.remove(&id);
                if b.clients.is_empty() {
                    self.prefixes.remove(&p);
                }
            }
        }
    }

    pub fn info(&self, id: u64) -> Option<Info> {
        self.clients.get(&id).map(|t| Info {
            opts: t.opts.clone(),
            prefixes: t.prefixes.iter().cloned().collect(),
            caching: t.caching,
            broken: t.broken,
        })
    }

    /// CLIENT CACHING YES/NO: applies to the client's next command.
    pub fn set_caching(&mut self, id: u64) {
        if let Some(t) = self.clients.get_mut(&id) {
            t.caching = true;
        }
    }

    pub fn clear_caching(&mut self, id: u64) {
        if let Some(t) = self.clients.get_mut(&id) {
            t.caching = false;
        }
    }

    /// A script starts (its declared keys) or ends (`None`).
    pub fn set_script_keys(&mut self, keys: Option<Vec<Vec<u8>>>) {
        self.script_keys = keys;
    }

    /// A read-only command of client `id` read `keys`: remember that it may cache them
    /// (unless OPTIN without CACHING YES, OPTOUT with CACHING NO, or BCAST). Inside a
    /// script, the script's declared keys are what is remembered.
    pub fn remember<'a>(&mut self, id: u64, keys: impl Iterator<Item = &'a [u8]>) {
        let Some(t) = self.clients.get(&id) else {
            return;
        };
        if t.opts.bcast || (t.opts.optin && !t.caching) || (t.opts.optout && t.caching) {
            return;
        }
        let script = self.script_keys.take();
        let mut add = |k: &[u8], table: &mut HashMap<Vec<u8>, HashSet<u64>>| {
            let ids = match table.get_mut(k) {
                Some(ids) => ids,
                None => table.entry(k.to_vec()).or_default(),
            };
            if ids.insert(id) {
                self.items += 1;
            }
        };
        match &script {
            Some(declared) => declared.iter().for_each(|k| add(k, &mut self.keys)),
            None => keys.for_each(|k| add(k, &mut self.keys)),
        }
        self.script_keys = script;
        if self.max_keys > 0 && self.keys.len() > self.max_keys {
            self.limit();
        }
    }

    /// Key `key` changed (or expired, or was evicted): `by` is the client that changed it
    /// (0: none).
    pub fn invalidate(&mut self, key: &[u8], by: u64) {
        if !self.prefixes.is_empty() {
            for (p, b) in self.prefixes.iter_mut() {
                if key.starts_with(p) {
                    b.keys.insert(key.to_vec(), by);
                }
            }
        }
        self.invalidate_tracked(key);
    }

    /// Sends `key`'s invalidation to the clients in the table for it, and forgets it.
    fn invalidate_tracked(&mut self, key: &[u8]) {
        let Some(ids) = self.keys.remove(key) else {
            return;
        };
        self.items -= ids.len().min(self.items);
        for id in ids {
            let Some(t) = self.clients.get(&id) else {
                continue;
            };
            // Keys remembered before a switch to BCAST are not reported.
            if t.opts.bcast || (t.opts.noloop && id == self.current) {
                continue;
            }
            self.send(id, Payload::Key(key));
        }
    }

    /// Every key changed (FLUSHALL, FLUSHDB, this node stopped serving its data): every
    /// tracking client gets the "everything" message, and the table is emptied.
    pub fn invalidate_all(&mut self) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.send(id, Payload::All);
        }
        self.keys.clear();
        self.items = 0;
    }

    /// Sends the keys collected for each BCAST prefix since the last call: one message per
    /// prefix and client, without the keys a NOLOOP client changed itself.
    pub fn broadcast(&mut self) {
        if self.prefixes.values().all(|b| b.keys.is_empty()) {
            return;
        }
        let mut sends: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
        for b in self.prefixes.values_mut() {
            if b.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut b.keys);
            for &id in &b.clients {
                let noloop = self.clients.get(&id).is_some_and(|t| t.opts.noloop);
                let list: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|(_, by)| !noloop || **by != id)
                    .map(|(k, _)| k.clone())
                    .collect();
                if !list.is_empty() {
                    sends.push((id, list));
                }
            }
        }
        for (id, list) in sends {
            let refs: Vec<&[u8]> = list.iter().map(|k| k.as_slice()).collect();
            self.send(id, Payload::Keys(&refs));
        }
    }

    /// Keeps the table within `tracking-table-max-keys` by invalidating keys, as if they
    /// changed; the effort grows each time a run ends still over the limit.
    pub fn limit(&mut self) {
        if self.max_keys == 0 || self.keys.len() <= self.max_keys {
            self.over_runs = 0;
            return;
        }
        let effort = 100 * (self.over_runs as usize + 1);
        let excess = self.keys.len() - self.max_keys;
        let victims: Vec<Vec<u8>> = self.keys.keys().take(effort.min(excess)).cloned().collect();
        for k in victims {
            self.invalidate_tracked(&k);
        }
        if self.keys.len() > self.max_keys {
            self.over_runs = self.over_runs.saturating_add(1);
        } else {
            self.over_runs = 0;
        }
    }

    /// A command of client `id` is about to be admitted: its own messages are held back
    /// (see the module doc) until [`Self::take_own`].
    pub fn begin(&mut self, id: u64) {
        self.current = id;
        self.executing = false;
    }

    /// The command's handler starts (true) or the command is done (false).
    pub fn set_executing(&mut self, executing: bool) {
        self.executing = executing;
    }

    /// The current client's messages, those to write before its reply (`after` false) or
    /// after it.
    pub fn take_own(&mut self, after: bool) -> Vec<Bytes> {
        if self.own.is_empty() {
            return Vec::new();
        }
        let (take, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.own)
            .into_iter()
            .partition(|(a, _)| *a == after || after);
        self.own = keep;
        take.into_iter().map(|(_, m)| m).collect()
    }

    /// The command is over: no client is current.
    pub fn end(&mut self) {
        self.current = 0;
        self.executing = false;
        self.own.clear();
    }

    /// INFO: tracking_clients, tracking_total_keys, tracking_total_items,
    /// tracking_total_prefixes.
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        (
            self.clients.len(),
            self.keys.len(),
            self.items,
            self.prefixes.len(),
        )
    }

    /// Delivers one message for tracking client `id`: to the client it redirects to, or to
    /// itself (RESP3 only: RESP2 has no push messages on a connection that also gets
    /// replies).
    fn send(&mut self, id: u64, payload: Payload) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        let Some(t) = self.clients.get_mut(&id) else {
            return;
        };
        let redirect = t.opts.redirect;
        if redirect == 0 {
            let Some(own) = registry.get(id) else {
                return;
            };
            if own.resp.load(Ordering::Relaxed) != 3 {
                return;
            }
            let msg = message(true, &payload);
            self.deliver(id, &own.push.lock().clone(), msg);
            return;
        }
        match registry.get(redirect) {
            None => {
                t.broken = true;
                let Some(own) = registry.get(id) else {
                    return;
                };
                if own.resp.load(Ordering::Relaxed) == 3 {
                    let mut m = BytesMut::new();
                    m.put_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                    m.put_slice(redirect.to_string().as_bytes());
                    m.put_slice(b"\r\n");
                    self.deliver(id, &own.push.lock().clone(), m.freeze());
                }
            }
            Some(target) => {
                let endpoint = target.push.lock().clone();
                let Some(ep) = endpoint else {
                    return;
                };
                let msg = if target.resp.load(Ordering::Relaxed) == 3 {
                    message(true, &payload)
                } else if ep.in_pubsub.load(Ordering::Relaxed) {
                    message(false, &payload)
                } else {
                    return;
                };
                self.deliver(redirect, &Some(ep), msg);
            }
        }
    }

    /// Writes `msg` for client `to`: into the running command's own stream when `to` is the
    /// current client, else onto its push queue.
    fn deliver(&mut self, to: u64, endpoint: &Option<Arc<Subscriber>>, msg: Bytes) {
        if to == self.current && self.current != 0 {
            self.own.push((self.executing, msg));
        } else if let Some(ep) = endpoint {
            ep.deliver(msg, &self.limits);
        }
    }
}

/// An invalidation message: a RESP3 push `invalidate`, or (RESP2) a pub/sub message on
/// [`CHANNEL`].
fn message(resp3: bool, payload: &Payload) -> Bytes {
    let mut m = BytesMut::with_capacity(64);
    if resp3 {
        m.put_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else {
        m.put_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n");
        m.put_slice(CHANNEL);
        m.put_slice(b"\r\n");
    }
    let bulk = |m: &mut BytesMut, k: &[u8]| {
        m.put_u8(b'$');
        m.put_slice(k.len().to_string().as_bytes());
        m.put_slice(b"\r\n");
        m.put_slice(k);
        m.put_slice(b"\r\n");
    };
    match payload {
        Payload::Key(k) => {
            m.put_slice(b"*1\r\n");
            bulk(&mut m, k);
        }
        Payload::Keys(ks) => {
            m.put_u8(b'*');
            m.put_slice(ks.len().to_string().as_bytes());
            m.put_slice(b"\r\n");
            for k in ks.iter() {
                bulk(&mut m, k);
            }
        }
        Payload::All => m.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
    }
    m.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_encoded_as_redis_sends_them() {
        assert_eq!(
            &message(true, &Payload::Key(b"k"))[..],
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(
            &message(false, &Payload::All)[..],
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
        );
        assert_eq!(
            &message(true, &Payload::Keys(&[b"a", b"b"]))[..],
            b">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
    }

    #[test]
    fn prefixes_that_overlap_are_refused() {
        let mut t = Tracking::default();
        t.enable(
            1,
            Options {
                bcast: true,
                ..Default::default()
            },
            vec![b"FOO".to_vec()],
        );
        let e = t.prefix_collision(1, &[b"FO".to_vec()]).unwrap_or_default();
        assert!(e.starts_with("Prefix 'FO' overlaps with an existing prefix 'FOO'"));
        let e = t
            .prefix_collision(2, &[b"BAR".to_vec(), b"BARB".to_vec()])
            .unwrap_or_default();
        assert!(e.starts_with("Prefix 'BAR' overlaps with another provided prefix 'BARB'"));
        assert!(t
            .prefix_collision(2, &[b"a".to_vec(), b"b".to_vec()])
            .is_none());
    }

    #[test]
    fn a_key_is_forgotten_once_invalidated_and_limits_evict() {
        let mut t = Tracking::default();
        t.enable(7, Options::default(), vec![]);
        t.remember(7, [&b"a"[..], b"b", b"c"].into_iter());
        assert_eq!(t.stats(), (1, 3, 3, 0));
        t.invalidate(b"a", 0);
        assert_eq!(t.stats(), (1, 2, 2, 0));
        t.max_keys = 1;
        t.limit();
        assert_eq!(t.stats().1, 1);
        t.disable(7);
        assert!(!t.active());
    }

    #[test]
    fn optin_remembers_only_after_caching_yes() {
        let mut t = Tracking::default();
        t.enable(
            3,
            Options {
                optin: true,
                ..Default::default()
            },
            vec![],
        );
        t.remember(3, [&b"x"[..]].into_iter());
        assert_eq!(t.stats().1, 0);
        t.set_caching(3);
        t.remember(3, [&b"x"[..]].into_iter());
        assert_eq!(t.stats().1, 1);
    }
}
