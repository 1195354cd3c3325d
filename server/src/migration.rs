//! MIGRATE's transfer: the part that talks to the target node, outside the keyspace lock.
//!
//! A transfer sends the keys as pipelined `RESTORE-ASKING` commands (plain `RESTORE` on a
//! standalone node) over a connection cached per target, reads one reply per command within
//! the timeout, and then, back under the lock, deletes here exactly the keys the target
//! confirmed. Until then those keys are [`InFlight`]: readers still find them here, writers
//! to them wait, so no write can land on a copy that is about to be deleted.
//!
//! A big value (many elements, or a long string) is not serialized under the lock: MIGRATE
//! takes its entry out of the table (readers of that key wait too, then), serializes it on
//! a blocking thread and puts it back if the transfer fails, so moving a million-element
//! hash stalls no other client.
//!
//! When the target has a replica (as this node's cluster view says), the pipeline ends with
//! `WAIT 1`, so that a target that crashes right after the move does not take the only copy
//! with it.

use crate::dataset::Keyspace;
use crate::keyspace::Entry;
use crate::state::Shared;
use bytes::Bytes;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::{debug, warn};

/// How long an idle cached connection to a target is kept (Redis: 10 s).
const IDLE_CLOSE: Duration = Duration::from_secs(10);

/// Keys being moved out right now, per database, and whether each one's entry is out of the
/// table meanwhile (then readers wait too). Looked up by borrowed key: writes check it
/// while a reshard runs.
#[derive(Default)]
pub struct InFlight {
    keys: HashMap<usize, HashMap<Vec<u8>, bool>>,
}

/// A value with more elements than this (or a string longer than [`BIG_STRING`]) is
/// serialized off the lock.
pub const BIG_ELEMENTS: usize = 4096;
pub const BIG_STRING: usize = 1 << 20;

impl InFlight {
    pub fn insert(&mut self, db: usize, key: &[u8], taken: bool) {
        self.keys.entry(db).or_default().insert(key.to_vec(), taken);
    }

    /// `Some(taken)` when the key is in flight.
    pub fn get(&self, db: usize, key: &[u8]) -> Option<bool> {
        self.keys.get(&db)?.get(key).copied()
    }

    pub fn remove(&mut self, db: usize, key: &[u8]) {
        if let Some(keys) = self.keys.get_mut(&db) {
            keys.remove(key);
            if keys.is_empty() {
                self.keys.remove(&db);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Credentials MIGRATE passes on to the target.
#[derive(Clone, Debug)]
pub enum Auth {
    Password(Bytes),
    User(Bytes, Bytes),
}

/// One key, serialized (or, for a big value, its entry, serialized off the lock).
#[derive(Debug)]
pub struct Item {
    pub key: Bytes,
    /// Remaining time to live in ms (0: none).
    pub ttl: u64,
    pub payload: Bytes,
    pub taken: Option<Box<Entry>>,
}

/// A MIGRATE whose keys are serialized and marked in flight, waiting to be sent.
#[derive(Debug)]
pub struct Job {
    pub host: String,
    pub port: u16,
    pub db: usize,
    pub src_db: usize,
    pub timeout_ms: u64,
    pub copy: bool,
    pub replace: bool,
    pub auth: Option<Auth>,
    pub items: Vec<Item>,
    pub cluster: bool,
}

/// A cached connection to a target, with the database it has selected.
struct Link {
    stream: BufReader<TcpStream>,
    db: Option<usize>,
    last_used: Instant,
}

/// Connections to MIGRATE targets, reused across calls (a reshard sends thousands).
#[derive(Default)]
pub struct Links {
    idle: parking_lot::Mutex<HashMap<String, Vec<Link>>>,
}

impl Links {
    fn take(&self, addr: &str) -> Option<Link> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(addr)?;
        while let Some(l) = list.pop() {
            if l.last_used.elapsed() < IDLE_CLOSE {
                return Some(l);
            }
        }
        None
    }

    /// Cached connections still usable (INFO's `migrate_cached_sockets`); ones idle past
    /// [`IDLE_CLOSE`] are closed on the way, as Redis's cron closes them.
    pub fn cached(&self) -> usize {
        let mut idle = self.idle.lock();
        idle.retain(|_, list| {
            list.retain(|l| l.last_used.elapsed() < IDLE_CLOSE);
            !list.is_empty()
        });
        idle.values().map(Vec::len).sum()
    }

    fn put(&self, addr: &str, mut link: Link) {
        link.last_used = Instant::now();
        let mut idle = self.idle.lock();
        let list = idle.entry(addr.to_string()).or_default();
        if list.len() < 16 {
            list.push(link);
        }
    }
}

/// What the target said.
enum Failure {
    Io(&'static str),
    Target(String),
}

/// Runs the transfer and finishes the command: returns MIGRATE's reply (RESP, same in 2 and 3).
pub async fn run(shared: &Shared, mut job: Job) -> Vec<u8> {
    let addr = format!("{}:{}", job.host, job.port);
    if job.items.iter().any(|i| i.taken.is_some()) {
        let keys: Vec<Bytes> = job.items.iter().map(|i| i.key.clone()).collect();
        match serialize_taken(std::mem::take(&mut job.items)).await {
            Some(items) => job.items = items,
            None => {
                let mut ks = shared.keyspace.lock();
                for k in &keys {
                    ks.in_flight.remove(job.src_db, k);
                }
                drop(ks);
                wake_writers(shared);
                return error_reply("ERR MIGRATE could not serialize a value");
            }
        }
    }
    let wait_replica = job.cluster && target_has_replica(shared, &job.host, job.port);
    let result = transfer(shared, &addr, &job, wait_replica).await;
    let mut ks = shared.keyspace.lock();
    let (done, reply) = match result {
        Ok(per_key) => {
            let mut first_err = None;
            let mut done = Vec::new();
            for (item, r) in job.items.iter().zip(per_key) {
                match r {
                    Ok(()) => done.push(item.key.clone()),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            let reply = match first_err {
                None => b"+OK\r\n".to_vec(),
                Some(e) => error_reply(&format!("ERR Target instance replied with error: {e}")),
            };
            (done, reply)
        }
        Err(Failure::Io(msg)) => (Vec::new(), error_reply(&format!("IOERR {msg}"))),
        Err(Failure::Target(e)) => (
            Vec::new(),
            error_reply(&format!("ERR Target instance replied with error: {e}")),
        ),
    };
    if !job.copy {
        delete_moved(&mut ks, job.src_db, &done, &mut job.items);
        crate::state::Stats::add(&shared.stats.keys_migrated, done.len() as u64);
        put_back(&mut ks, &mut job);
        drop(ks);
        wake_writers(shared);
    }
    reply
}

/// Serializes the big values on a blocking thread (the keyspace lock is not held).
async fn serialize_taken(items: Vec<Item>) -> Option<Vec<Item>> {
    let work = move || {
        let mut items = items;
        for it in items.iter_mut() {
            if let Some(e) = &it.taken {
                it.payload = Bytes::from(crate::rdb::payload::dump(&e.value));
            }
        }
        items
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(items) => Some(items),
        // Only on shutdown (encoding does not fail): the entries go with the process.
        Err(e) => {
            warn!("MIGRATE: serializing a big value failed: {e}");
            None
        }
    }
}

/// Ends the flight of every key of the job: entries taken out for serialization and not
/// confirmed by the target go back into the table.
fn put_back(ks: &mut Keyspace, job: &mut Job) {
    let now = crate::util::now_ms();
    for item in job.items.iter_mut() {
        if let Some(e) = item.taken.take() {
            ks.dbs[job.src_db].insert_entry(e, now);
        }
        ks.in_flight.remove(job.src_db, &item.key);
    }
}

fn error_reply(msg: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 3);
    v.push(b'-');
    v.extend(msg.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
    v.extend_from_slice(b"\r\n");
    v
}

/// Deletes the keys the target confirmed (entries already taken out are dropped), as
/// replicated DELs.
pub(crate) fn delete_moved(ks: &mut Keyspace, db: usize, keys: &[Bytes], items: &mut [Item]) {
    if keys.is_empty() {
        return;
    }
    let now = crate::util::now_ms();
    let mut deleted = Vec::with_capacity(keys.len());
    for k in keys {
        let taken = items
            .iter_mut()
            .find(|i| i.key == *k)
            .and_then(|i| i.taken.take());
        if taken.is_some() || ks.dbs[db].remove(k, now).is_some() {
            ks.watches.touch(db, k);
            if ks.tracking.active() {
                ks.tracking.invalidate(k, 0);
            }
            deleted.push(k.to_vec());
        }
    }
    ks.dirty += deleted.len() as u64;
    if ks.repl.recording() && !ks.repl.is_replica() && !deleted.is_empty() {
        ks.repl.emit_dels(&ks.dbs, db, deleted, now);
    }
}

/// Whether our cluster view lists a healthy replica of the node at host:port.
fn target_has_replica(shared: &Shared, host: &str, port: u16) -> bool {
    let Some(c) = shared.cluster.get() else {
        return false;
    };
    let s = c.state.lock();
    let Some(target) = s
        .nodes()
        .values()
        .find(|n| n.ip == host && n.port == port)
        .map(|n| n.id.clone())
    else {
        return false;
    };
    s.nodes().values().any(|n| {
        n.primary_id() == Some(target.as_str())
            && n.health == crate::cluster::node::Health::Ok
            && !n.handshake
    })
}

fn push_cmd(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    slotcache_proto::command::encode(parts, buf);
}

/// Sends the keys and reads the target's verdict on each.
async fn transfer(
    shared: &Shared,
    addr: &str,
    job: &Job,
    wait_replica: bool,
) -> Result<Vec<Result<(), String>>, Failure> {
    let timeout = Duration::from_millis(job.timeout_ms);
    let mut link = match shared.migrate_links.take(addr) {
        Some(l) => l,
        None => {
            // Redis's blocking connect fails only when the address does not resolve; a
            // refused or timed-out connection surfaces at the first write, so its error is
            // the writing one (Redis 7.0.15's replies, which clients match on).
            let resolved = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|mut it| it.next())
                .ok_or(Failure::Io("error or timeout connecting to the client"))?;
            let stream = tokio::time::timeout(timeout, TcpStream::connect(resolved))
                .await
                .map_err(|_| Failure::Io("error or timeout writing to target instance"))?
                .map_err(|e| {
                    debug!("MIGRATE connect to {addr}: {e}");
                    Failure::Io("error or timeout writing to target instance")
                })?;
            let _ = stream.set_nodelay(true);
            Link {
                stream: BufReader::with_capacity(16 * 1024, stream),
                db: None,
                last_used: Instant::now(),
            }
        }
    };
    let mut buf = Vec::with_capacity(job.items.iter().map(|i| i.payload.len() + 64).sum());
    let mut preamble = 0;
    match &job.auth {
        Some(Auth::Password(p)) => {
            push_cmd(&mut buf, &[b"AUTH", p]);
            preamble += 1;
        }
        Some(Auth::User(u, p)) => {
            push_cmd(&mut buf, &[b"AUTH", u, p]);
            preamble += 1;
        }
        None => {}
    }
    let select = link.db != Some(job.db);
    if select {
        push_cmd(&mut buf, &[b"SELECT", job.db.to_string().as_bytes()]);
        preamble += 1;
    }
    let restore: &[u8] = if job.cluster {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for it in &job.items {
        let ttl = it.ttl.to_string();
        if job.replace {
            push_cmd(
                &mut buf,
                &[restore, &it.key, ttl.as_bytes(), &it.payload, b"REPLACE"],
            );
        } else {
            push_cmd(&mut buf, &[restore, &it.key, ttl.as_bytes(), &it.payload]);
        }
    }
    if wait_replica {
        let ms = job.timeout_ms.min(1000).to_string();
        push_cmd(&mut buf, &[b"WAIT", b"1", ms.as_bytes()]);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let write = tokio::time::timeout_at(deadline, link.stream.get_mut().write_all(&buf)).await;
    if !matches!(write, Ok(Ok(()))) {
        warn!("MIGRATE to {addr}: error or timeout writing to the target");
        return Err(Failure::Io("error or timeout writing to target instance"));
    }
    let mut line = Vec::with_capacity(128);
    let mut per_key = Vec::with_capacity(job.items.len());
    for _ in 0..preamble {
        let l = match read_line(&mut link, deadline, &mut line).await {
            Ok(l) => l,
            Err(e) => {
                warn!("MIGRATE to {addr}: error or timeout reading from the target");
                return Err(e);
            }
        };
        if l.first() == Some(&b'-') {
            // The rest of the pipeline's replies are still coming: the link is dropped
            // rather than reused out of step.
            return Err(Failure::Target(text(&l[1..])));
        }
    }
    if select {
        link.db = Some(job.db);
    }
    for _ in &job.items {
        let l = match read_line(&mut link, deadline, &mut line).await {
            Ok(l) => l,
            Err(e) => {
                warn!("MIGRATE to {addr}: error or timeout reading from the target");
                return Err(e);
            }
        };
        per_key.push(if l.first() == Some(&b'-') {
            Err(text(&l[1..]))
        } else {
            Ok(())
        });
    }
    if wait_replica {
        match read_line(&mut link, deadline, &mut line).await {
            Ok(l) if l.starts_with(b":0") => {
                debug!("MIGRATE to {addr}: no replica of the target acknowledged in time");
            }
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    shared.migrate_links.put(addr, link);
    Ok(per_key)
}

/// One reply line (every reply MIGRATE expects is a single line), within the deadline.
async fn read_line(
    link: &mut Link,
    deadline: tokio::time::Instant,
    line: &mut Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    line.clear();
    match tokio::time::timeout_at(deadline, link.stream.read_until(b'\n', line)).await {
        Ok(Ok(n)) if n > 0 && line.ends_with(b"\n") => Ok(line.clone()),
        _ => Err(Failure::Io("error or timeout reading to target instance")),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// Tells writers waiting on in-flight keys to look again (after the keyspace lock is let go).
fn wake_writers(shared: &Shared) {
    shared
        .moves_done
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    shared.keys_moved.notify_waiters();
}

/// Gives up a transfer that never started (the client went away first): its keys stay here.
pub fn abandon(shared: &Shared, mut job: Job) {
    if job.copy {
        return;
    }
    let mut ks = shared.keyspace.lock();
    put_back(&mut ks, &mut job);
    drop(ks);
    wake_writers(shared);
}
