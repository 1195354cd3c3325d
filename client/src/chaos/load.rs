//! The client load of a chaos run: per shard one writer (per-key increasing counters, every
//! other write followed by `WAIT 1`), one reader (notices reads going backwards) and one
//! prober (notices two primaries acknowledging writes at once) — the partition tests'
//! writers and the nemesis's checker threads, started against any cluster.

use cluster_tests::checker::{probe_loop, read_loop, Ack, ReadStats};
use cluster_tests::partition_lab::{WriterLog, WriterOpts, Writers};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// A checker thread and what it collects.
type Worker<T> = (Arc<Mutex<T>>, JoinHandle<()>);

pub struct Load {
    writers: Writers,
    stop: Arc<AtomicBool>,
    readers: Vec<Worker<ReadStats>>,
    probers: Vec<Worker<Vec<Ack>>>,
}

/// What the load saw, per shard.
pub struct Seen {
    pub writes: Vec<WriterLog>,
    pub reads: Vec<ReadStats>,
    pub probes: Vec<Vec<Ack>>,
}

impl Load {
    /// `addrs[..shards]` must be the primaries, shard by shard.
    pub fn start(addrs: &[String], shards: usize, t0: Instant, wait_ms: u64) -> Load {
        let opts = WriterOpts {
            wait_every: 2,
            wait_ms,
            t0,
        };
        let writers = Writers::start_at(addrs, shards, opts);
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        let mut probers = Vec::new();
        for (shard, (tag, slot)) in writers.shards.iter().enumerate() {
            let (tag, slot) = (tag.clone(), *slot);
            let confirmed = writers.last_confirmed[shard].clone();
            let stats = Arc::new(Mutex::new(ReadStats::default()));
            let (s, st, a, t) = (stop.clone(), stats.clone(), addrs.to_vec(), tag.clone());
            readers.push((
                stats,
                std::thread::spawn(move || read_loop(&a, &t, slot, &confirmed, &st, &s, t0)),
            ));
            let acks = Arc::new(Mutex::new(Vec::new()));
            let (s, ac, a) = (stop.clone(), acks.clone(), addrs.to_vec());
            probers.push((
                acks,
                std::thread::spawn(move || probe_loop(&a, &tag, t0, &ac, &s)),
            ));
        }
        Load {
            writers,
            stop,
            readers,
            probers,
        }
    }

    /// Per shard: (hash tag, slot) the shard's writer writes to.
    pub fn shards(&self) -> &[(String, u16)] {
        &self.writers.shards
    }

    pub fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let writes = self.writers.stop();
        let reads = self
            .readers
            .into_iter()
            .map(|(s, t)| {
                let _ = t.join();
                s.lock().map(|s| s.clone()).unwrap_or_default()
            })
            .collect();
        let probes = self
            .probers
            .into_iter()
            .map(|(a, t)| {
                let _ = t.join();
                a.lock().map(|a| a.clone()).unwrap_or_default()
            })
            .collect();
        Seen {
            writes,
            reads,
            probes,
        }
    }
}
