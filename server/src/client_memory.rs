//! What each connection's buffers hold, and the limits that keep one client (or all of them
//! together) from taking the node's memory: `client-output-buffer-limit normal` for replies a
//! client leaves unread, and `maxmemory-clients` for the sum of every client's buffers.
//!
//! Each connection reports its own query and output buffer sizes after every batch (and while
//! a write is stuck); the registry keeps a running total, so checking `maxmemory-clients`
//! costs one atomic load. Only when the total is over the limit are the clients ranked, and
//! the largest evicted first, as Redis 7 does.

use crate::clients::{ClientHandle, Registry};
use crate::pubsub::Limits;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tracing::warn;

/// Bytes of replies a batch gathers before they are written: a pipeline of large replies
/// is written as it is produced instead of being built whole in memory.
pub const FLUSH_AT: usize = 256 * 1024;

/// One connection's view of its own usage: what it last reported to the registry's total,
/// and since when its unwritten replies have been over the soft limit.
pub struct Usage {
    handle: Arc<ClientHandle>,
    reported: usize,
    over_soft_since: Option<Instant>,
}

/// What the output limit says of a client's unwritten replies.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Over the hard limit, or over the soft one for longer than allowed: close it.
    Close,
}

impl Usage {
    pub fn new(handle: Arc<ClientHandle>) -> Self {
        Usage {
            handle,
            reported: 0,
            over_soft_since: None,
        }
    }

    /// Records the buffers' current sizes (query buffer capacity held, replies unwritten).
    pub fn report(&mut self, registry: &Registry, query: usize, output: usize) {
        self.handle.query_buf.store(query, Ordering::Relaxed);
        self.handle.out_buf.store(output, Ordering::Relaxed);
        let now = query + output;
        if now >= self.reported {
            registry
                .memory
                .fetch_add(now - self.reported, Ordering::Relaxed);
        } else {
            registry
                .memory
                .fetch_sub(self.reported - now, Ordering::Relaxed);
        }
        self.reported = now;
    }

    /// Checks unwritten replies against `client-output-buffer-limit normal`.
    pub fn check_output(&mut self, limits: &Limits, pending: usize) -> Verdict {
        if limits.hard > 0 && pending > limits.hard {
            return self.close(pending, "hard");
        }
        if limits.soft > 0 && pending > limits.soft {
            let since = *self.over_soft_since.get_or_insert_with(Instant::now);
            if since.elapsed().as_secs_f64() > limits.soft_secs as f64 {
                return self.close(pending, "soft");
            }
        } else {
            self.over_soft_since = None;
        }
        Verdict::Ok
    }

    /// When the soft limit would close this client if its replies stay unwritten.
    pub fn soft_deadline(&self, limits: &Limits) -> Option<Instant> {
        let since = self.over_soft_since?;
        Some(since + std::time::Duration::from_secs(limits.soft_secs) + ONE_MS)
    }

    fn close(&self, pending: usize, which: &str) -> Verdict {
        if !self.handle.killed.load(Ordering::Relaxed) {
            warn!(
                client = self.handle.id,
                pending,
                limit = which,
                "Client id={} addr={} closed for overcoming of output buffer limits.",
                self.handle.id,
                self.handle.addr
            );
            self.handle.kill();
        }
        Verdict::Close
    }
}

const ONE_MS: std::time::Duration = std::time::Duration::from_millis(1);

impl Usage {
    /// Takes this connection's share out of the registry's total (it is closing).
    pub fn release(&mut self, registry: &Registry) {
        self.report(registry, 0, 0);
    }
}

/// Evicts clients, largest first, while the clients' buffers together pass
/// `maxmemory-clients` (0 = no limit). Clients marked `CLIENT NO-EVICT on` are spared.
/// Returns how many were evicted.
pub fn enforce_maxmemory_clients(registry: &Registry, limit: u64) -> u64 {
    if limit == 0 {
        return 0;
    }
    let total = registry.memory.load(Ordering::Relaxed) as u64;
    if total <= limit {
        return 0;
    }
    let mut clients: Vec<(usize, Arc<ClientHandle>)> = registry
        .snapshot()
        .into_iter()
        .filter(|c| !c.no_evict.load(Ordering::Relaxed) && !c.killed.load(Ordering::Relaxed))
        .map(|c| {
            let m = c.query_buf.load(Ordering::Relaxed) + c.out_buf.load(Ordering::Relaxed);
            (m, c)
        })
        .collect();
    clients.sort_by_key(|c| std::cmp::Reverse(c.0));
    let mut over = total - limit;
    let mut evicted = 0;
    for (m, c) in clients {
        if over == 0 || m == 0 {
            break;
        }
        warn!(
            client = c.id,
            memory = m,
            "Evicting client id={} addr={}: clients' buffers use {} bytes, over maxmemory-clients {}",
            c.id,
            c.addr,
            total,
            limit
        );
        c.kill();
        over = over.saturating_sub(m as u64);
        evicted += 1;
    }
    registry.evicted.fetch_add(evicted, Ordering::Relaxed);
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: u64) -> Arc<ClientHandle> {
        let a = "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!());
        Arc::new(ClientHandle::new(id, a, a))
    }

    #[test]
    fn the_largest_clients_go_first_and_no_evict_ones_stay() {
        let r = Registry::default();
        let (a, b, c) = (handle(1), handle(2), handle(3));
        for h in [&a, &b, &c] {
            r.add(h.clone());
        }
        let mut ua = Usage::new(a.clone());
        let mut ub = Usage::new(b.clone());
        let mut uc = Usage::new(c.clone());
        ua.report(&r, 1000, 0);
        ub.report(&r, 5000, 0);
        uc.report(&r, 0, 9000);
        c.no_evict.store(true, Ordering::Relaxed);
        assert_eq!(r.memory.load(Ordering::Relaxed), 15_000);
        assert_eq!(enforce_maxmemory_clients(&r, 0), 0);
        assert_eq!(enforce_maxmemory_clients(&r, 20_000), 0);
        assert_eq!(enforce_maxmemory_clients(&r, 12_000), 1);
        assert!(b.killed.load(Ordering::Relaxed));
        assert!(!a.killed.load(Ordering::Relaxed) && !c.killed.load(Ordering::Relaxed));
        ub.release(&r);
        assert_eq!(r.memory.load(Ordering::Relaxed), 10_000);
    }

    #[test]
    fn output_limits_close_over_hard_at_once_and_over_soft_after_its_seconds() {
        let h = handle(1);
        let mut u = Usage::new(h.clone());
        let none = Limits::default();
        assert_eq!(u.check_output(&none, 1 << 30), Verdict::Ok);
        let soft = Limits {
            hard: 0,
            soft: 100,
            soft_secs: 3600,
        };
        assert_eq!(u.check_output(&soft, 200), Verdict::Ok);
        assert!(u.soft_deadline(&soft).is_some());
        assert_eq!(u.check_output(&soft, 50), Verdict::Ok);
        assert!(u.soft_deadline(&soft).is_none());
        let hard = Limits {
            hard: 100,
            soft: 0,
            soft_secs: 0,
        };
        assert_eq!(u.check_output(&hard, 101), Verdict::Close);
        assert!(h.killed.load(Ordering::Relaxed));
    }
}
