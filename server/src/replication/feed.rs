//! The primary side of the replication stream.

use super::backlog::Backlog;
use super::effects;
use super::snapshot::Writer;
use super::sync::SyncJob;
use crate::keyspace::Db;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::{info, warn};

/// What a node is in replication terms.
#[derive(Clone)]
pub enum Role {
    Primary,
    Replica(Arc<Upstream>),
}

/// A replica's view of its link to the primary (INFO replication reads it).
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub link_up: AtomicBool,
    pub sync_in_progress: AtomicBool,
    /// Monotonic ms of the last byte received from the primary.
    pub last_io_ms: AtomicU64,
    /// Set to stop the link task (REPLICAOF NO ONE, another REPLICAOF, shutdown).
    pub stop: tokio::sync::Notify,
    pub stopped: AtomicBool,
}

impl Upstream {
    pub fn new(host: String, port: u16) -> Self {
        Upstream {
            host,
            port,
            link_up: AtomicBool::new(false),
            sync_in_progress: AtomicBool::new(false),
            last_io_ms: AtomicU64::new(0),
            stop: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
        }
    }
}

/// One attached replica, shared between the feed and the connection task that writes to it.
pub struct ReplicaLink {
    pub client_id: u64,
    pub ip: String,
    pub listening_port: AtomicU64,
    /// Stream bytes waiting to be written; appended under the keyspace lock, taken whole by
    /// the link's task (one wake-up per burst, not per write).
    pending: parking_lot::Mutex<bytes::BytesMut>,
    wake: tokio::sync::Notify,
    /// Bytes handed to the connection but not yet written (output buffer).
    pub queued: AtomicUsize,
    pub ack_offset: AtomicU64,
    /// Monotonic ms of the last ACK.
    pub last_ack_ms: AtomicU64,
    pub closed: AtomicBool,
    pub online: AtomicBool,
    /// Attached with the old `SYNC` command: no `+FULLRESYNC` line before the RDB file
    /// (there is no replication id or offset to tell).
    pub legacy: bool,
    /// A replica that is not slotcache (redis-server, `SYNC` callers such as
    /// `redis-cli --rdb`): its full sync is an RDB file made at a point in time, and the
    /// stream from that point is held until the file is sent.
    pub rdb: bool,
    /// The stream an RDB sync holds back until its file is sent.
    held: parking_lot::Mutex<Vec<u8>>,
    /// An RDB sync's file has started going out: keep-alive newlines would land inside it.
    file_started: parking_lot::Mutex<bool>,
}

impl ReplicaLink {
    /// A slotcache replica's link (its full sync is slotcache's own snapshot).
    pub fn new(client_id: u64, ip: String, listening_port: u16) -> Arc<Self> {
        Self::build(client_id, ip, listening_port, false, false)
    }

    /// A link whose full sync is an RDB file (see [`super::rdb_sync`]); `legacy`: attached
    /// with `SYNC` rather than PSYNC.
    pub fn for_rdb(client_id: u64, ip: String, listening_port: u16, legacy: bool) -> Arc<Self> {
        Self::build(client_id, ip, listening_port, legacy, true)
    }

    fn build(
        client_id: u64,
        ip: String,
        listening_port: u16,
        legacy: bool,
        rdb: bool,
    ) -> Arc<Self> {
        Arc::new(ReplicaLink {
            client_id,
            ip,
            listening_port: AtomicU64::new(listening_port as u64),
            pending: parking_lot::Mutex::new(bytes::BytesMut::new()),
            wake: tokio::sync::Notify::new(),
            queued: AtomicUsize::new(0),
            ack_offset: AtomicU64::new(0),
            last_ack_ms: AtomicU64::new(slotcache_util::clock::mono_ms()),
            closed: AtomicBool::new(false),
            online: AtomicBool::new(false),
            legacy,
            rdb,
            held: parking_lot::Mutex::new(Vec::new()),
            file_started: parking_lot::Mutex::new(false),
        })
    }

    /// Queues bytes for the replica; closes the link when its buffer passes `limit`.
    pub fn send(&self, data: &[u8], limit: usize) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        if self.rdb && !self.online.load(Ordering::Relaxed) {
            let mut held = self.held.lock();
            if limit > 0 && held.len() + data.len() > limit {
                drop(held);
                warn!(
                    replica = self.client_id,
                    "Replica {} closed: its snapshot passed the output buffer limit", self.ip
                );
                self.close();
                return;
            }
            held.extend_from_slice(data);
            return;
        }
        self.push(data, limit);
    }

    /// Queues bytes for the connection to write now, past any holding back (the RDB file
    /// of an RDB sync, its preamble); closes the link when its buffer passes `limit`.
    pub fn push(&self, data: &[u8], limit: usize) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let q = self.queued.fetch_add(data.len(), Ordering::Relaxed) + data.len();
        if limit > 0 && q > limit {
            warn!(
                replica = self.client_id,
                queued = q,
                "Client replica {}:{} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.ip,
                self.listening_port.load(Ordering::Relaxed)
            );
            self.close();
            return;
        }
        let mut p = self.pending.lock();
        let was_empty = p.is_empty();
        p.extend_from_slice(data);
        drop(p);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// A newline for a replica waiting for its RDB file, as Redis sends one every second so
    /// the replica's link does not time out; none once the file has started. Returns
    /// whether it was sent.
    pub fn keepalive(&self) -> bool {
        let started = self.file_started.lock();
        if *started || self.closed.load(Ordering::Relaxed) {
            return false;
        }
        self.push(b"\n", 0);
        true
    }

    /// The RDB file starts going out with `preamble` (`$<len>\r\n`): no more newlines.
    pub fn start_file(&self, preamble: &[u8]) {
        let mut started = self.file_started.lock();
        *started = true;
        self.push(preamble, 0);
    }

    /// An RDB sync's file is sent: the stream held back since its point in time follows,
    /// and the replica is online. Called under the keyspace lock, so that no stream bytes
    /// arrive between the two.
    pub fn release_rdb(&self, limit: usize) {
        let held = std::mem::take(&mut *self.held.lock());
        self.online.store(true, Ordering::Relaxed);
        self.push(&held, limit);
    }

    /// Waits until stream bytes are pending (or the link closed), then takes them all.
    pub async fn take(&self) -> bytes::BytesMut {
        loop {
            let notified = self.wake.notified();
            {
                let mut p = self.pending.lock();
                if !p.is_empty() || self.closed.load(Ordering::Relaxed) {
                    return p.split();
                }
            }
            notified.await;
        }
    }

    /// Takes whatever stream bytes are pending, without waiting.
    pub fn take_now(&self) -> bytes::BytesMut {
        self.pending.lock().split()
    }

    /// Marks the link closed and wakes its task so it notices.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

struct Attached {
    link: Arc<ReplicaLink>,
    sync: Option<SyncJob>,
}

/// Counters INFO reports.
#[derive(Default, Clone, Copy)]
pub struct ReplStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

pub struct Feed {
    pub replid: String,
    pub replid2: String,
    /// First offset not valid for `replid2` (-1: no second id).
    pub second_offset: i64,
    /// Bytes of stream produced so far (`master_repl_offset`).
    pub offset: u64,
    pub backlog: Backlog,
    /// Whether the stream is being recorded (once a replica attached, or as a replica).
    pub active: bool,
    attached: Vec<Attached>,
    /// Replicas waiting for their RDB file's point in time (a background save runs): not
    /// fed yet, listed by INFO as `wait_bgsave`.
    waiting: Vec<Arc<ReplicaLink>>,
    last_db: Option<usize>,
    pub role: Role,
    pub stats: ReplStats,
    /// Hard output-buffer limit for replicas (`client-output-buffer-limit replica`).
    pub obuf_limit: usize,
    /// `offset`, readable without the keyspace lock.
    pub published: Arc<AtomicU64>,
    /// Stream bytes for the online replicas, gathered while the keyspace lock is held and
    /// handed to their links when it is released ([`Feed::flush`]): one hand-over per
    /// pipelined batch instead of a link lock and an atomic add per write.
    unsent: Vec<u8>,
    /// The effects of the EXEC being run, with their databases: a transaction is propagated
    /// whole when it ends ([`Feed::end_tx`]).
    tx: Option<Vec<(usize, Vec<Bytes>)>>,
    /// A standalone FAILOVER's progress (`master_failover_state`).
    pub failover: super::failover::Failover,
    /// The AOF's copy of the stream, while AOF is on ([`crate::aof`]): the same effects in
    /// the same order, with its own SELECTs.
    pub aof: Option<crate::aof::Tap>,
    /// An AOF is being loaded: its commands are obeyed as a primary's are (Redis's
    /// `mustObeyClient`: exact trims, no LIMIT checks).
    pub loading_aof: bool,
}

impl Feed {
    pub fn new(backlog_size: usize) -> Self {
        Feed {
            replid: slotcache_util::ids::random_hex_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
            offset: 0,
            backlog: Backlog::new(backlog_size),
            active: false,
            attached: Vec::new(),
            waiting: Vec::new(),
            last_db: None,
            role: Role::Primary,
            stats: ReplStats::default(),
            obuf_limit: 256 * 1024 * 1024,
            published: Arc::new(AtomicU64::new(0)),
            unsent: Vec::new(),
            tx: None,
            failover: Default::default(),
            aof: None,
            loading_aof: false,
        }
    }

    pub fn is_replica(&self) -> bool {
        matches!(self.role, Role::Replica(_))
    }

    /// Whether write effects are recorded: for replicas (the stream is active) or the AOF.
    pub fn recording(&self) -> bool {
        self.active || self.aof.is_some()
    }

    /// Appends write effects made in database `db`; `dbs` lets a syncing replica receive
    /// the current state of keys whose slots it already has.
    pub fn emit(&mut self, dbs: &[Db], db: usize, cmds: &[Vec<Bytes>], now: u64) {
        for args in cmds {
            self.emit_one(dbs, db, args, now);
        }
    }

    /// Appends one write effect (see [`Feed::emit`]).
    pub fn emit_one(&mut self, dbs: &[Db], db: usize, args: &[Bytes], now: u64) {
        if !self.recording() || self.is_replica() || args.is_empty() {
            return;
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.push((db, args.to_vec()));
            return;
        }
        if let Some(aof) = self.aof.as_mut() {
            aof.append(db, args);
        }
        if !self.active {
            return;
        }
        let start = self.unsent.len();
        if self.last_db != Some(db) {
            effects::encode(
                &effects::cmd([Bytes::from("SELECT"), Bytes::from(db.to_string())]),
                &mut self.unsent,
            );
            self.last_db = Some(db);
        }
        effects::encode(args, &mut self.unsent);
        let raw = std::mem::take(&mut self.unsent);
        self.append(&raw[start..]);
        self.unsent = raw;
        if !self.route_to_syncing(dbs, db, args, now) {
            self.unsent.truncate(start);
        }
    }

    /// EXEC starts: the effects of its commands are gathered until [`Feed::end_tx`].
    pub fn begin_tx(&mut self) {
        if self.recording() && !self.is_replica() {
            self.tx = Some(Vec::new());
        }
    }

    /// Whether a transaction (EXEC, a script) is gathering effects now.
    pub fn in_tx(&self) -> bool {
        self.tx.is_some()
    }

    /// How many effects the transaction gathered so far (0 outside one).
    pub fn tx_len(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.len())
    }

    /// Drops the effects gathered after `len` (a script's `redis.set_repl(redis.REPL_NONE)`
    /// keeps its next commands from replicas).
    pub fn tx_truncate(&mut self, len: usize) {
        if let Some(t) = self.tx.as_mut() {
            t.truncate(len);
        }
    }

    /// EXEC ends: its effects go out as Redis propagates a transaction — wrapped in MULTI /
    /// EXEC when there are several (a replica applies them together), alone when there is
    /// one, not at all when there are none or the transaction made this node a replica.
    pub fn end_tx(&mut self, dbs: &[Db], now: u64) {
        let Some(ops) = self.tx.take() else { return };
        if self.is_replica() || ops.is_empty() {
            return;
        }
        let wrap = ops.len() > 1;
        if wrap {
            self.emit_one(dbs, ops[0].0, &[Bytes::from_static(b"MULTI")], now);
        }
        for (db, args) in &ops {
            self.emit_one(dbs, *db, args, now);
        }
        if wrap {
            let db = self.last_db.unwrap_or(ops[0].0);
            self.emit_one(dbs, db, &[Bytes::from_static(b"EXEC")], now);
        }
    }

    /// A write our primary made, applied here in database `db`: replicas of ours that are
    /// in a full sync need it as an effect, like writes of our own (the others get the
    /// stream bytes through [`Feed::append_upstream`]).
    pub fn upstream_effect(&mut self, dbs: &[Db], db: usize, args: &[Bytes], now: u64) {
        // A replica keeps its own AOF of what it applies.
        self.upstream_aof(db, args);
        if self.attached.iter().any(|a| a.sync.is_some()) {
            self.route_to_syncing(dbs, db, args, now);
        }
    }

    /// A command of our primary's stream that goes to our AOF only (MULTI / EXEC framing a
    /// transaction the replica applies command by command).
    pub fn upstream_aof(&mut self, db: usize, args: &[Bytes]) {
        if let Some(aof) = self.aof.as_mut() {
            aof.append(db, args);
        }
    }

    /// Sends a command to the replicas only, not to the AOF (PING, REPLCONF GETACK: Redis
    /// feeds those to its replicas alone).
    pub fn emit_link_only(&mut self, dbs: &[Db], db: usize, args: &[Bytes], now: u64) {
        let aof = self.aof.take();
        self.emit_one(dbs, db, args, now);
        self.aof = aof;
    }

    /// Our primary's stream switched to database `db` (SELECT).
    pub fn upstream_db(&mut self, db: usize) {
        self.last_db = Some(db);
    }

    /// Routes one effect to every replica in a full sync. Returns whether any replica is
    /// online (and so needs the stream bytes).
    fn route_to_syncing(&mut self, dbs: &[Db], db: usize, args: &[Bytes], now: u64) -> bool {
        let mut online = false;
        let mut restart = false;
        let limit = self.obuf_limit;
        for a in self.attached.iter_mut() {
            let Some(job) = &mut a.sync else {
                online = true;
                continue;
            };
            let mut out = Vec::new();
            if !job.effect(dbs, db, args, now, &mut out) {
                info!(
                    replica = a.link.client_id,
                    "full sync restarted: SWAPDB during sync"
                );
                a.link.close();
                restart = true;
            }
            if !out.is_empty() {
                a.link.send(&out, limit);
            }
        }
        if restart {
            self.attached
                .retain(|a| !a.link.closed.load(Ordering::Relaxed));
        }
        online
    }

    /// Hands the stream gathered under the keyspace lock to the online replicas' links. The
    /// keyspace guard calls this when it is dropped; anything that changes which replicas
    /// are online calls it first, so each replica gets exactly the bytes made while it was.
    pub fn flush(&mut self) {
        if let Some(aof) = self.aof.as_mut() {
            aof.hand_over();
        }
        if self.unsent.is_empty() {
            return;
        }
        let limit = self.obuf_limit;
        for a in self.attached.iter().filter(|a| a.sync.is_none()) {
            a.link.send(&self.unsent, limit);
        }
        self.unsent.clear();
        if self.unsent.capacity() > 1 << 20 {
            self.unsent = Vec::new();
        }
        self.attached
            .retain(|a| !a.link.closed.load(Ordering::Relaxed));
    }

    /// Emits DELs for keys that expired (or were evicted) in `db`.
    pub fn emit_dels(&mut self, dbs: &[Db], db: usize, keys: Vec<Vec<u8>>, now: u64) {
        for key in keys {
            self.emit_del(dbs, db, key, now);
        }
    }

    /// Emits a DEL for one key that expired or was evicted in `db`.
    pub fn emit_del(&mut self, dbs: &[Db], db: usize, key: Vec<u8>, now: u64) {
        self.emit_one(
            dbs,
            db,
            &[Bytes::from_static(b"DEL"), Bytes::from(key)],
            now,
        );
    }

    /// Records stream bytes in the backlog and advances the offset.
    fn append(&mut self, raw: &[u8]) {
        self.backlog.append(raw);
        self.offset += raw.len() as u64;
        self.published.store(self.offset, Ordering::Relaxed);
    }

    /// A replica applies its primary's stream verbatim: record it as our own (so that after a
    /// promotion our siblings can continue from our backlog) and pass it to our replicas.
    pub fn append_upstream(&mut self, raw: &[u8]) {
        self.append(raw);
        if self.attached.iter().any(|a| a.sync.is_none()) {
            self.unsent.extend_from_slice(raw);
        }
    }

    /// PSYNC: tries a partial resync from `from` (the replica's offset + 1 in Redis's terms,
    /// converted by the caller to a stream position). Returns the bytes the replica missed.
    pub fn try_partial(&mut self, replid: &str, from: u64) -> Option<Vec<u8>> {
        if !self.active {
            return None;
        }
        let id_ok = replid == self.replid
            || (replid == self.replid2
                && self.second_offset >= 0
                && from < self.second_offset as u64);
        if !id_ok {
            return None;
        }
        self.backlog.since(from, self.offset)
    }

    /// Attaches a replica that continues from the live stream.
    pub fn attach_online(&mut self, link: Arc<ReplicaLink>) {
        self.flush();
        link.online.store(true, Ordering::Relaxed);
        self.attached.push(Attached { link, sync: None });
    }

    /// Attaches a replica that needs a full sync; the returned job is driven by
    /// [`super::sync::drive`]. `preamble`: commands the replica applies before any key (the
    /// node's FUNCTION libraries, which Redis's RDB carries ahead of the keys).
    pub fn attach_syncing(&mut self, link: Arc<ReplicaLink>, ndb: usize, preamble: &[Vec<Bytes>]) {
        self.flush();
        self.active = true;
        let mut job = SyncJob::new(ndb);
        let mut out = Vec::new();
        job.writer_header(&mut out);
        for command in preamble {
            job.preamble(&mut out, command);
        }
        link.send(&out, self.obuf_limit);
        self.attached.push(Attached {
            link,
            sync: Some(job),
        });
    }

    /// An RDB sync's point in time (under the keyspace lock, as its snapshot begins): the
    /// replica is told the id and offset the file stands at, and from here on it is sent
    /// the stream, held back until the file has gone out
    /// ([`ReplicaLink::release_rdb`]).
    pub fn attach_rdb(&mut self, link: Arc<ReplicaLink>) {
        self.flush();
        self.waiting.retain(|w| w.client_id != link.client_id);
        self.active = true;
        if !link.legacy {
            let head = format!("+FULLRESYNC {} {}\r\n", self.replid, self.offset);
            link.push(head.as_bytes(), 0);
        }
        // As Redis after starting a replica's snapshot: the stream selects its database
        // again before the next write (a replica of ours passes its primary's stream on
        // as it is, and the file names that stream's database).
        if !self.is_replica() {
            self.last_db = None;
        }
        self.attached.push(Attached { link, sync: None });
    }

    /// Advances the full sync of one replica by about `budget` bytes. Returns false once the
    /// sync is complete (or the replica is gone).
    pub fn sync_step(&mut self, dbs: &[Db], client_id: u64, budget: usize, now: u64) -> bool {
        self.flush();
        let offset = self.offset;
        let db = self.last_db.unwrap_or(0) as u32;
        let limit = self.obuf_limit;
        let Some(a) = self
            .attached
            .iter_mut()
            .find(|a| a.link.client_id == client_id)
        else {
            return false;
        };
        let Some(job) = a.sync.as_mut() else {
            return false;
        };
        let mut out = Vec::new();
        let done = job.step(dbs, budget, now, &mut out);
        if done {
            job.finish(&mut out, offset, db);
            a.sync = None;
            a.link.online.store(true, Ordering::Relaxed);
        }
        a.link.send(&out, limit);
        if done {
            // As Redis does for a replica that starts from a snapshot, the stream selects its
            // database again before the next command.
            self.last_db = None;
        }
        !done
    }

    /// Disconnects every replica of ours (we are taking a new history from our primary);
    /// they reconnect and resynchronise.
    pub fn drop_replicas(&mut self) {
        self.unsent.clear();
        for a in self.attached.drain(..) {
            info!(
                replica = a.link.client_id,
                "Disconnecting replica {}:{}: this node is taking a full sync from its primary",
                a.link.ip,
                a.link.listening_port.load(Ordering::Relaxed)
            );
            a.link.close();
        }
    }

    /// Disconnects every replica of ours so that they reconnect and learn our new replication
    /// id (they continue partially: the old id stays valid as our second one).
    pub fn disconnect_replicas(&mut self, why: &str) {
        self.flush();
        for a in self.attached.drain(..) {
            info!(
                replica = a.link.client_id,
                "Disconnecting replica {}:{}: {why}",
                a.link.ip,
                a.link.listening_port.load(Ordering::Relaxed)
            );
            a.link.close();
        }
    }

    pub fn detach(&mut self, client_id: u64) {
        self.flush();
        self.waiting.retain(|w| w.client_id != client_id);
        self.attached.retain(|a| a.link.client_id != client_id);
    }

    /// A replica that asked for an RDB full sync and waits for its point in time.
    pub fn wait_rdb(&mut self, link: Arc<ReplicaLink>) {
        self.waiting.push(link);
    }

    /// Replicas that wait for their RDB's point in time (INFO and ROLE list them).
    pub fn waiting(&self) -> impl Iterator<Item = &Arc<ReplicaLink>> {
        self.waiting.iter()
    }

    pub fn replicas(&self) -> impl Iterator<Item = &Arc<ReplicaLink>> {
        self.attached.iter().map(|a| &a.link)
    }

    /// Sends `REPLCONF GETACK *` through the stream (WAIT asks replicas where they are).
    pub fn request_acks(&mut self, dbs: &[Db], now: u64) {
        if self.attached.is_empty() {
            return;
        }
        let db = self.last_db.unwrap_or(0);
        self.emit_link_only(
            dbs,
            db,
            &effects::cmd([
                Bytes::from("REPLCONF"),
                Bytes::from("GETACK"),
                Bytes::from("*"),
            ]),
            now,
        );
    }

    /// Number of online replicas that acknowledged at least `offset` (a replica still
    /// receiving its RDB file is attached but not online, and counts for nothing yet).
    pub fn acked(&self, offset: u64) -> usize {
        self.attached
            .iter()
            .filter(|a| {
                a.sync.is_none()
                    && a.link.online.load(Ordering::Relaxed)
                    && a.link.ack_offset.load(Ordering::Relaxed) >= offset
            })
            .count()
    }

    /// Becomes a primary of its own history (REPLICAOF NO ONE, failover): the old id stays
    /// valid as the second id up to the current offset, so siblings can partially resync.
    pub fn promote(&mut self) {
        self.flush();
        self.replid2 = std::mem::replace(&mut self.replid, slotcache_util::ids::random_hex_id());
        self.second_offset = self.offset as i64 + 1;
        self.role = Role::Primary;
        self.last_db = None;
        self.active = true;
    }

    /// Sets up the state of a replica that just completed a full sync.
    pub fn reset_as_replica(&mut self, replid: String, offset: u64, db: usize) {
        self.flush();
        self.replid = replid;
        self.replid2 = "0".repeat(40);
        self.second_offset = -1;
        self.offset = offset;
        self.published.store(offset, Ordering::Relaxed);
        self.backlog = Backlog::new(self.backlog.capacity());
        self.last_db = Some(db);
        self.active = true;
    }

    /// The stream's currently selected database (what a replica continuing from here has).
    pub fn stream_db(&self) -> usize {
        self.last_db.unwrap_or(0)
    }

    /// A new primary id after the primary changed its history (as a replica after CONTINUE
    /// with a new id). Returns whether the id changed.
    pub fn switch_id(&mut self, new_id: String) -> bool {
        if new_id == self.replid {
            return false;
        }
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_offset = self.offset as i64 + 1;
        true
    }

    /// Resets the written-to writer for a fresh sync (used by tests).
    pub fn new_writer() -> Writer {
        Writer::new()
    }
}
