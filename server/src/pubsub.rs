//! Pub/sub: who listens to which channel or pattern, and delivery of messages to their
//! connections.
//!
//! Each subscribed connection owns an unbounded queue of encoded push frames that its task
//! writes out; publishing encodes once per protocol version and enqueues. A subscriber whose
//! pending bytes pass `client-output-buffer-limit pubsub` (the hard limit, or the soft limit
//! for longer than its seconds) is disconnected instead of growing memory without bound.

use crate::clients::ClientHandle;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One subscribed connection, as the registry sees it.
pub struct Subscriber {
    pub id: u64,
    pub resp3: std::sync::atomic::AtomicBool,
    /// The client has at least one subscription (RESP2 invalidations are pub/sub messages,
    /// sent only to a client in that mode).
    pub in_pubsub: std::sync::atomic::AtomicBool,
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued but not yet written by the connection.
    pub pending: AtomicUsize,
    /// Monotonic ms since when `pending` has been over the soft limit (0 = not over).
    over_soft_since: AtomicU64,
    pub handle: Arc<ClientHandle>,
}

impl Subscriber {
    pub fn new(
        handle: Arc<ClientHandle>,
        resp3: bool,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Subscriber {
                id: handle.id,
                resp3: std::sync::atomic::AtomicBool::new(resp3),
                in_pubsub: std::sync::atomic::AtomicBool::new(false),
                tx,
                pending: AtomicUsize::new(0),
                over_soft_since: AtomicU64::new(0),
                handle,
            }),
            rx,
        )
    }

    /// Queues one frame, enforcing the output limits. Returns false if the client was cut.
    pub fn deliver(&self, frame: Bytes, limits: &Limits) -> bool {
        let q = self.pending.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
        if limits.hard > 0 && q > limits.hard {
            return self.cut(q);
        }
        if limits.soft > 0 && q > limits.soft {
            let now = slotcache_util::clock::mono_ms();
            let since = self.over_soft_since.load(Ordering::Relaxed);
            if since == 0 {
                self.over_soft_since.store(now.max(1), Ordering::Relaxed);
            } else if now.saturating_sub(since) > limits.soft_secs * 1000 {
                return self.cut(q);
            }
        } else {
            self.over_soft_since.store(0, Ordering::Relaxed);
        }
        self.tx.send(frame).is_ok()
    }

    fn cut(&self, queued: usize) -> bool {
        if !self.handle.killed.load(Ordering::Relaxed) {
            tracing::warn!(
                client = self.id,
                queued,
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.id,
                self.handle.addr
            );
            self.handle.kill();
        }
        false
    }

    /// The connection wrote `n` queued bytes.
    pub fn written(&self, n: usize) {
        self.pending.fetch_sub(
            n.min(self.pending.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
    }
}

/// `client-output-buffer-limit pubsub <hard> <soft> <seconds>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub hard: usize,
    pub soft: usize,
    pub soft_secs: u64,
}

impl Limits {
    pub fn parse(value: &str) -> Limits {
        Self::parse_class(value, &["pubsub"])
    }

    /// The limits of one class (`normal`, `pubsub`, `replica`/`slave`).
    pub fn parse_class(value: &str, classes: &[&str]) -> Limits {
        let w: Vec<&str> = value.split_whitespace().collect();
        w.chunks(4)
            .find(|c| c.len() == 4 && classes.contains(&c[0]))
            .map(|c| Limits {
                hard: crate::util::parse_memory(c[1]).unwrap_or(0) as usize,
                soft: crate::util::parse_memory(c[2]).unwrap_or(0) as usize,
                soft_secs: c[3].parse().unwrap_or(0),
            })
            .unwrap_or_default()
    }
}

/// Which namespace a subscription lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

type Subs = HashMap<Vec<u8>, BTreeMap<u64, Arc<Subscriber>>>;

#[derive(Default)]
struct Inner {
    channels: Subs,
    patterns: Subs,
    shard: Subs,
}

impl Inner {
    fn map(&mut self, k: Kind) -> &mut Subs {
        match k {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// The registry of subscriptions.
#[derive(Default)]
pub struct PubSub {
    inner: Mutex<Inner>,
}

/// Encodes a push frame of bulk strings (`>` in RESP3, an array in RESP2).
pub fn frame(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut out = crate::protocol::Out::new(resp3);
    out.push(parts.len());
    for p in parts {
        out.bulk(p);
    }
    out.buf.freeze()
}

impl PubSub {
    /// Adds a subscription; returns false if it already existed.
    pub fn subscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) -> bool {
        let mut g = self.inner.lock();
        g.map(kind)
            .entry(name.to_vec())
            .or_default()
            .insert(sub.id, sub.clone())
            .is_none()
    }

    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) -> bool {
        let mut g = self.inner.lock();
        let m = g.map(kind);
        let Some(set) = m.get_mut(name) else {
            return false;
        };
        let removed = set.remove(&id).is_some();
        if set.is_empty() {
            m.remove(name);
        }
        removed
    }

    /// Delivers a message to the subscribers of `channel` (and of matching patterns unless
    /// `shard`). Returns how many clients received it.
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool, limits: &Limits) -> usize {
        let g = self.inner.lock();
        let mut n = 0;
        let (mut f2, mut f3) = (None, None);
        let kind: &[u8] = if shard { b"smessage" } else { b"message" };
        let subs = if shard { &g.shard } else { &g.channels };
        if let Some(set) = subs.get(channel) {
            for s in set.values() {
                let resp3 = s.resp3.load(Ordering::Relaxed);
                let f = if resp3 { &mut f3 } else { &mut f2 };
                let frame = f
                    .get_or_insert_with(|| frame(resp3, &[kind, channel, message]))
                    .clone();
                s.deliver(frame, limits);
                n += 1;
            }
        }
        if !shard {
            for (pattern, set) in &g.patterns {
                if !crate::util::glob_match(pattern, channel, false) {
                    continue;
                }
                let (mut p2, mut p3) = (None, None);
                for s in set.values() {
                    let resp3 = s.resp3.load(Ordering::Relaxed);
                    let f = if resp3 { &mut p3 } else { &mut p2 };
                    let frame = f
                        .get_or_insert_with(|| {
                            frame(resp3, &[b"pmessage", pattern, channel, message])
                        })
                        .clone();
                    s.deliver(frame, limits);
                    n += 1;
                }
            }
        }
        n
    }

    /// Removes every subscription of a connection (it closed).
    pub fn remove_client(&self, id: u64) {
        let mut guard = self.inner.lock();
        let g = &mut *guard;
        for m in [&mut g.channels, &mut g.patterns, &mut g.shard] {
            m.retain(|_, set| {
                set.remove(&id);
                !set.is_empty()
            });
        }
    }

    /// Every subscription of a connection (ACL SETUSER checks them against new rules).
    pub fn subscriptions_of(&self, id: u64) -> Vec<(Kind, Vec<u8>)> {
        let g = self.inner.lock();
        let mut out = Vec::new();
        for (kind, m) in [
            (Kind::Channel, &g.channels),
            (Kind::Pattern, &g.patterns),
            (Kind::Shard, &g.shard),
        ] {
            out.extend(
                m.iter()
                    .filter(|(_, set)| set.contains_key(&id))
                    .map(|(name, _)| (kind, name.clone())),
            );
        }
        out
    }

    /// Active channels (or shard channels) matching an optional pattern.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let pattern = pattern.map(|p| crate::glob::Glob::new(p, false));
        let mut g = self.inner.lock();
        g.map(kind)
            .keys()
            .filter(|c| pattern.as_ref().is_none_or(|p| p.matches(c)))
            .cloned()
            .collect()
    }

    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        let mut g = self.inner.lock();
        g.map(kind).get(name).map_or(0, |s| s.len())
    }

    /// Number of distinct patterns with subscribers.
    pub fn numpat(&self) -> usize {
        self.inner.lock().patterns.len()
    }

    /// Number of channels, patterns or shard channels with at least one subscriber
    /// (INFO's pubsub_channels, pubsub_patterns, pubsubshard_channels).
    pub fn active(&self, kind: Kind) -> usize {
        self.inner.lock().map(kind).len()
    }
}
