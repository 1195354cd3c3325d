//! Moving one hash slot between primaries, exactly as `redis-cli --cluster` does.
//!
//! IMPORTING on the destination, MIGRATING on the source, MIGRATE the keys in batches until
//! the slot is empty, then `SETSLOT NODE` on the destination first (so a crash cannot leave
//! the slot without an owner), then on the source, then on every other primary (so clients
//! are not redirected twice while gossip catches up). `fix` reuses the last two steps to
//! finish a move that was interrupted.

use crate::conn::Target;
use anyhow::{anyhow, bail, Result};
use redis::FromRedisValue;
use std::collections::HashMap;
use std::time::Duration;

/// A cluster node an administration step talks to.
#[derive(Clone, Debug)]
pub struct Peer {
    pub id: String,
    pub target: Target,
}

/// How keys are migrated.
#[derive(Clone, Copy, Debug)]
pub struct MoveOpts {
    /// Keys per MIGRATE.
    pub pipeline: usize,
    /// MIGRATE's own timeout, milliseconds.
    pub timeout_ms: u64,
}

/// The reply a source turned replica gives to SETSLOT; redis-cli accepts it too: a primary
/// that lost its last slot may become a replica of the node that took it.
const NOT_A_PRIMARY: &str = "Please use SETSLOT only with masters";

/// How often one batch is retried when the destination answers BUSYKEY.
const BUSYKEY_RETRIES: u32 = 5;

/// Connections by address, reused for the many commands each slot needs. One per thread.
pub struct Conns {
    map: HashMap<String, Link>,
    /// Each node's `cluster-databases` (1 for nodes that do not know it, such as Redis).
    databases: HashMap<String, usize>,
    io: Duration,
}

/// A cached connection and the database it has selected.
struct Link {
    con: redis::Connection,
    db: usize,
}

/// A server error as the server wrote it (`ERR ...`), other errors as the client shows them.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

impl Conns {
    /// `opts.timeout_ms` plus a margin bounds every reply, so MIGRATE has time to finish.
    pub fn new(opts: &MoveOpts) -> Self {
        Conns {
            map: HashMap::new(),
            databases: HashMap::new(),
            io: Duration::from_millis(opts.timeout_ms) + Duration::from_secs(10),
        }
    }

    /// Runs `cmd` on `t` in database 0, reconnecting once if the cached connection was lost.
    pub fn run<T: FromRedisValue>(&mut self, t: &Target, cmd: &redis::Cmd) -> Result<T> {
        self.run_in(t, 0, cmd)
    }

    /// Runs `cmd` on `t` in database `db` (selected first when the connection is in
    /// another), reconnecting once if the cached connection was lost.
    pub fn run_in<T: FromRedisValue>(
        &mut self,
        t: &Target,
        db: usize,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        let addr = t.addr();
        for attempt in 0..2 {
            if !self.map.contains_key(&addr) {
                let con = t.connect_with_timeout(self.io)?;
                self.map.insert(addr.clone(), Link { con, db: 0 });
            }
            let Some(link) = self.map.get_mut(&addr) else {
                bail!("internal error: no connection to {addr}");
            };
            let selected = if link.db == db {
                Ok(())
            } else {
                redis::cmd("SELECT").arg(db).query::<()>(&mut link.con)
            };
            let result = selected.and_then(|()| {
                link.db = db;
                cmd.query::<T>(&mut link.con)
            });
            match result {
                Ok(v) => return Ok(v),
                // A server error leaves the connection usable; anything else may not.
                Err(e) if e.code().is_some() => return Err(anyhow!(error_text(&e))),
                Err(e) => {
                    self.map.remove(&addr);
                    if attempt == 1 || !e.is_connection_dropped() {
                        return Err(anyhow!("{addr}: {e}"));
                    }
                }
            }
        }
        bail!("{addr}: connection lost")
    }
}

fn setslot_cmd(slot: u16, how: &str, id: Option<&str>) -> redis::Cmd {
    let mut c = redis::cmd("CLUSTER");
    c.arg("SETSLOT").arg(slot).arg(how);
    if let Some(id) = id {
        c.arg(id);
    }
    c
}

/// `CLUSTER SETSLOT slot how [id]` on `on`, with the node named in the error.
pub fn setslot(conns: &mut Conns, on: &Peer, slot: u16, how: &str, id: Option<&str>) -> Result<()> {
    conns
        .run::<redis::Value>(&on.target, &setslot_cmd(slot, how, id))
        .map(drop)
        .map_err(|e| {
            anyhow!(
                "CLUSTER SETSLOT {slot} {how}{} on {}: {e}",
                id.map(|i| format!(" {i}")).unwrap_or_default(),
                on.target.addr()
            )
        })
}

/// Moves `slot` from `src` to `dst` and tells `others` (the remaining primaries). Calls
/// `on_keys` after every batch with the number of keys it moved; returns the total.
pub fn move_slot(
    conns: &mut Conns,
    src: &Peer,
    dst: &Peer,
    others: &[Peer],
    slot: u16,
    opts: &MoveOpts,
    on_keys: &dyn Fn(u64),
) -> Result<u64> {
    setslot(conns, dst, slot, "IMPORTING", Some(&src.id))?;
    setslot(conns, src, slot, "MIGRATING", Some(&dst.id))?;
    let keys = migrate_keys(conns, src, &dst.target, slot, opts, on_keys)?;
    assign_slot(conns, src, dst, others, slot)?;
    Ok(keys)
}

/// Makes `dst` the owner of `slot`: on `dst` first, then `src`, then `others`.
pub fn assign_slot(
    conns: &mut Conns,
    src: &Peer,
    dst: &Peer,
    others: &[Peer],
    slot: u16,
) -> Result<()> {
    setslot(conns, dst, slot, "NODE", Some(&dst.id))?;
    for n in std::iter::once(src).chain(others.iter()) {
        if n.id == dst.id {
            continue;
        }
        match setslot(conns, n, slot, "NODE", Some(&dst.id)) {
            Err(e) if e.to_string().contains(NOT_A_PRIMARY) => {}
            r => r?,
        }
    }
    Ok(())
}

impl Conns {
    /// How many databases `t` serves in cluster mode: its `cluster-databases`, or 1 where
    /// the node does not know the option (Redis, older slotcache). Asked once per node.
    pub fn databases(&mut self, t: &Target) -> Result<usize> {
        let addr = t.addr();
        if let Some(&n) = self.databases.get(&addr) {
            return Ok(n);
        }
        let mut c = redis::cmd("CONFIG");
        c.arg("GET").arg("cluster-databases");
        let n = match self.run::<HashMap<String, String>>(t, &c) {
            Ok(m) => m
                .get("cluster-databases")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1),
            // CONFIG may be renamed or denied to this user: database 0 only, as before.
            Err(e) if e.to_string().starts_with("ERR") || e.to_string().contains("NOPERM") => 1,
            Err(e) => return Err(e),
        };
        self.databases.insert(addr, n);
        Ok(n)
    }
}

/// The number of keys `on` holds in `slot`, over every database it serves.
pub fn count_keys(conns: &mut Conns, on: &Target, slot: u16) -> Result<u64> {
    let mut total = 0;
    for db in 0..conns.databases(on)? {
        total += count_keys_in(conns, on, slot, db)?;
    }
    Ok(total)
}

/// Up to `count` keys `on` holds in `slot` in database `db`.
fn keys_in_slot(
    conns: &mut Conns,
    on: &Target,
    slot: u16,
    db: usize,
    count: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut get = redis::cmd("CLUSTER");
    get.arg("GETKEYSINSLOT").arg(slot).arg(count);
    conns.run_in(on, db, &get).map_err(|e| {
        anyhow!(
            "CLUSTER GETKEYSINSLOT {slot} (db {db}) on {}: {e}",
            on.addr()
        )
    })
}

/// The number of keys `on` holds in `slot` in database `db`.
fn count_keys_in(conns: &mut Conns, on: &Target, slot: u16, db: usize) -> Result<u64> {
    let mut c = redis::cmd("CLUSTER");
    c.arg("COUNTKEYSINSLOT").arg(slot);
    conns.run_in(on, db, &c).map_err(|e| {
        anyhow!(
            "CLUSTER COUNTKEYSINSLOT {slot} (db {db}) on {}: {e}",
            on.addr()
        )
    })
}

/// MIGRATEs every key of `slot` from `src` to `dst`, in every database `src` serves
/// (`cluster-databases`), `opts.pipeline` keys at a time, until `src` has none left. Works
/// whatever the slot's state on either node (`fix` moves keys of open slots back to their
/// owner with it).
pub fn migrate_keys(
    conns: &mut Conns,
    src: &Peer,
    dst: &Target,
    slot: u16,
    opts: &MoveOpts,
    on_keys: &dyn Fn(u64),
) -> Result<u64> {
    let mut moved = 0;
    for db in 0..conns.databases(&src.target)? {
        moved += migrate_db(conns, src, dst, slot, db, opts, on_keys)?;
    }
    Ok(moved)
}

/// [`migrate_keys`] for database `db`: GETKEYSINSLOT and MIGRATE both run with `db`
/// selected on the source, and MIGRATE writes into the same database on the destination.
fn migrate_db(
    conns: &mut Conns,
    src: &Peer,
    dst: &Target,
    slot: u16,
    db: usize,
    opts: &MoveOpts,
    on_keys: &dyn Fn(u64),
) -> Result<u64> {
    let pipeline = opts.pipeline.max(1);
    // Most databases hold nothing of a given slot: that costs one GETKEYSINSLOT.
    let mut keys = keys_in_slot(conns, &src.target, slot, db, pipeline)?;
    if keys.is_empty() {
        return Ok(0);
    }
    // While a slot is MIGRATING, new keys of it are created on the destination (clients get
    // -ASK), so the key count only falls: this many rounds is plenty unless keys stop moving.
    let initial = count_keys_in(conns, &src.target, slot, db)?;
    let max_rounds = 2 * (initial / pipeline as u64 + 1) + 20;
    let mut moved = 0u64;
    let mut busy_retries = 0;
    for round in 0..max_rounds {
        if round > 0 {
            keys = keys_in_slot(conns, &src.target, slot, db, pipeline)?;
        }
        if keys.is_empty() {
            return Ok(moved);
        }
        let mut mig = redis::cmd("MIGRATE");
        mig.arg(&dst.host)
            .arg(dst.port)
            .arg("")
            .arg(db)
            .arg(opts.timeout_ms)
            .arg("REPLACE");
        if let Some(pass) = &dst.pass {
            mig.arg("AUTH").arg(pass);
        }
        mig.arg("KEYS");
        for k in &keys {
            mig.arg(k.as_slice());
        }
        match conns.run_in::<redis::Value>(&src.target, db, &mig) {
            Ok(_) => {
                moved += keys.len() as u64;
                on_keys(keys.len() as u64);
                busy_retries = 0;
            }
            Err(e) if e.to_string().contains("BUSYKEY") && busy_retries < BUSYKEY_RETRIES => {
                busy_retries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => bail!(
                "MIGRATE of {} key(s) of slot {slot} (db {db}) from {} to {}: {e}",
                keys.len(),
                src.target.addr(),
                dst.addr()
            ),
        }
    }
    bail!(
        "slot {slot} (db {db}) on {} still has keys after {max_rounds} MIGRATE rounds",
        src.target.addr()
    )
}
