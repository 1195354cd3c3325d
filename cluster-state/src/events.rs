//! What the cluster did, told to operators as it happens: every role change, failover,
//! node marked FAIL or recovered, lease lost and slot migration is counted (the metrics
//! exporter reads [`Counters`]) and published as a JSON message on [`CHANNEL`], so that
//! `slotcache-cli cluster events` (a plain SUBSCRIBE on every node) follows a cluster
//! without parsing logs. The log line stays at the site that decided the change.
//!
//! The state machine only queues events ([`Journal::record`]); the bus thread drains them
//! after each step and delivers them to local subscribers, stamping the wall time then.

use serde_json::{json, Map, Value};

/// The pub/sub channel events are published on (node-local, like keyspace notifications).
pub const CHANNEL: &str = "__slotcache__:events";

/// Events kept for the bus at most: a state machine nobody drains (unit tests, a stalled
/// bus) must not grow without bound; the counters still count every event.
const MAX_PENDING: usize = 1024;

/// The kinds of events, each with its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This node's role changed (primary <-> replica).
    RoleChange,
    /// This replica started an election.
    ElectionStarted,
    /// This replica won an election (automatic or manual failover) and took the slots.
    Failover,
    /// A node was marked FAIL (by this node's quorum or another node's FAIL message).
    NodeFail,
    /// A node marked FAIL became reachable again and was cleared.
    NodeRecovered,
    /// This slot-owning primary stopped hearing from a majority within its lease.
    LeaseLost,
    /// A slot was set MIGRATING or IMPORTING here.
    MigrationStarted,
    /// A migrating or importing slot was assigned to its new owner here.
    MigrationFinished,
    /// A replica (here, or of this primary) did a full resynchronisation.
    ReplicaResync,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::RoleChange,
        Kind::ElectionStarted,
        Kind::Failover,
        Kind::NodeFail,
        Kind::NodeRecovered,
        Kind::LeaseLost,
        Kind::MigrationStarted,
        Kind::MigrationFinished,
        Kind::ReplicaResync,
    ];

    /// The `event` field of the JSON message and the `kind` label of the metric.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RoleChange => "role_change",
            Kind::ElectionStarted => "election_started",
            Kind::Failover => "failover",
            Kind::NodeFail => "node_fail",
            Kind::NodeRecovered => "node_recovered",
            Kind::LeaseLost => "lease_lost",
            Kind::MigrationStarted => "slot_migration_started",
            Kind::MigrationFinished => "slot_migration_finished",
            Kind::ReplicaResync => "replica_resync",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many events of each kind happened since the node started.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters([u64; Kind::ALL.len()]);

impl Counters {
    pub fn get(&self, k: Kind) -> u64 {
        self.0[k.index()]
    }
}

/// Events counted and waiting to be published.
#[derive(Debug, Default)]
pub struct Journal {
    pub counters: Counters,
    pending: Vec<Map<String, Value>>,
}

impl Journal {
    /// Counts an event and queues its message: `node` is the node the event is about,
    /// `shard` the primary whose slots it concerns, `epoch` the configEpoch or
    /// currentEpoch that goes with it; `extra` adds fields (timings in `*_ms`).
    pub fn record(&mut self, kind: Kind, node: &str, shard: &str, epoch: u64, extra: Value) {
        self.counters.0[kind.index()] += 1;
        if self.pending.len() >= MAX_PENDING {
            return;
        }
        let mut m = Map::new();
        m.insert("event".into(), json!(kind.name()));
        m.insert("node".into(), json!(node));
        m.insert("shard".into(), json!(shard));
        m.insert("epoch".into(), json!(epoch));
        if let Value::Object(more) = extra {
            m.extend(more);
        }
        self.pending.push(m);
    }

    /// The queued messages as JSON, each stamped with `reporter` (the node publishing it)
    /// and `at_ms` (Unix milliseconds now).
    pub fn take(&mut self, reporter: &str, at_ms: u64) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|mut m| {
                m.insert("reporter".into(), json!(reporter));
                m.insert("at_ms".into(), json!(at_ms));
                serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_and_bounded() {
        let mut j = Journal::default();
        for _ in 0..MAX_PENDING + 5 {
            j.record(Kind::NodeFail, "a", "a", 1, json!({}));
        }
        assert_eq!(j.counters.get(Kind::NodeFail), MAX_PENDING as u64 + 5);
        let out = j.take("me", 7);
        assert_eq!(out.len(), MAX_PENDING);
        let v: Value = serde_json::from_slice(&out[0]).unwrap();
        assert_eq!(v["event"], "node_fail");
        assert_eq!(v["reporter"], "me");
        assert_eq!(v["at_ms"], 7);
        assert!(j.take("me", 8).is_empty());
    }
}
