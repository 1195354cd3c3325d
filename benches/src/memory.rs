//! Memory side by side: the same keys loaded into each server (one server at a time, so
//! they do not compete), resident memory before and after, bytes per key.

use crate::procs::{info_field, Flavor, ServerProc};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// How many keys, how big, and in what batches.
pub struct Opts {
    pub keys: u64,
    /// What each key holds: small strings, hashes of 10 fields, or sorted sets of 10 members.
    pub data: DataKind,
    pub value_size: usize,
    pub batch: u64,
    pub server_core: Option<usize>,
}

/// The shape of the loaded data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DataKind {
    Strings,
    Hashes,
    Zsets,
    /// One stream of `keys` entries, each of 5 small fields.
    Stream,
    /// Lists of 10 short items (`RPUSH key v<n>-0 .. v<n>-9`).
    Lists,
    /// Sets of 10 small integers (an intset in Redis).
    Intsets,
    /// Sets of 10 short strings.
    Strsets,
    /// One list of `keys` elements.
    BigList,
    /// One set of `keys` short strings.
    BigSet,
    /// One hash of `keys` fields.
    BigHash,
    /// One sorted set of `keys` members.
    BigZset,
}

impl DataKind {
    /// Whether the data set is one collection of `keys` elements (not `keys` keys).
    #[allow(dead_code)] // `evict` shares this module without the `types` cases
    pub fn single_key(self) -> bool {
        self.single().is_some()
    }

    /// The one key a single-collection data set is loaded into, with the command that counts
    /// its elements; `None` for data sets of `keys` keys.
    fn single(self) -> Option<&'static str> {
        match self {
            DataKind::Stream => Some("XLEN"),
            DataKind::BigList => Some("LLEN"),
            DataKind::BigSet => Some("SCARD"),
            DataKind::BigHash => Some("HLEN"),
            DataKind::BigZset => Some("ZCARD"),
            _ => None,
        }
    }
}

/// Elements one command adds to a single big collection (RPUSH/SADD/HSET/ZADD variadic).
const CHUNK: u64 = 1000;

/// What one server used for the data set.
#[derive(Debug, Clone)]
pub struct Measure {
    pub flavor: Flavor,
    pub keys: u64,
    pub rss_empty: u64,
    pub rss_loaded: u64,
    /// `used_memory` from INFO memory, when the server reports it.
    pub used_memory: Option<u64>,
    pub load_secs: f64,
}

impl Measure {
    /// Resident bytes the data set added, per key.
    pub fn rss_per_key(&self) -> f64 {
        self.rss_loaded.saturating_sub(self.rss_empty) as f64 / self.keys.max(1) as f64
    }
}

/// A value of exactly `size` bytes that is not a number (so Redis cannot store it as an
/// integer and both servers keep a string).
fn value_for(n: u64, size: usize) -> Vec<u8> {
    let mut v = format!("v{n:x}").into_bytes();
    v.resize(size.max(1), b'.');
    v.truncate(size.max(1));
    v
}

/// Loads `key:0 .. key:<keys-1>` with pipelined SETs, `batch` commands per round trip; a
/// single-collection data set gets its `keys` elements in variadic commands of [`CHUNK`].
fn load(server: &ServerProc, o: &Opts) -> Result<()> {
    let mut con = server.client()?;
    let mut next = 0u64;
    let step = if o.data.single().is_some() && o.data != DataKind::Stream {
        CHUNK
    } else {
        1
    };
    while next < o.keys {
        let end = (next + o.batch * step).min(o.keys);
        let mut pipe = redis::pipe();
        let mut n = next;
        while n < end {
            let upto = (n + step).min(end);
            add_command(&mut pipe, o, n, upto);
            n = upto;
        }
        pipe.query::<()>(&mut con).with_context(|| {
            format!("loading keys {next}..{end} into {}", server.flavor.label())
        })?;
        next = end;
    }
    Ok(())
}

/// Appends the command that loads key (or element) `n`, or elements `n..upto` of a single
/// collection.
fn add_command(pipe: &mut redis::Pipeline, o: &Opts, n: u64, upto: u64) {
    let key = format!("key:{n}");
    match o.data {
        DataKind::Strings => {
            pipe.cmd("SET")
                .arg(key)
                .arg(value_for(n, o.value_size))
                .ignore();
        }
        DataKind::Hashes => {
            let c = pipe.cmd("HSET").arg(key);
            for f in 0..10 {
                c.arg(format!("field{f}")).arg(format!("value-{n}-{f}"));
            }
            c.ignore();
        }
        DataKind::Stream => {
            let c = pipe.cmd("XADD").arg(STREAM_KEY).arg("*");
            for f in 0..5 {
                c.arg(format!("f{f}")).arg(format!("v{n}-{f}"));
            }
            c.ignore();
        }
        DataKind::Zsets => {
            let c = pipe.cmd("ZADD").arg(key);
            for m in 0..10 {
                c.arg(m).arg(format!("member-{n}-{m}"));
            }
            c.ignore();
        }
        DataKind::Lists => {
            let c = pipe.cmd("RPUSH").arg(key);
            for m in 0..10 {
                c.arg(format!("v{n}-{m}"));
            }
            c.ignore();
        }
        DataKind::Intsets => {
            let c = pipe.cmd("SADD").arg(key);
            for m in 0..10 {
                c.arg(m * 100 + n % 100);
            }
            c.ignore();
        }
        DataKind::Strsets => {
            let c = pipe.cmd("SADD").arg(key);
            for m in 0..10 {
                c.arg(format!("tag-{}-{m}", n % 1000));
            }
            c.ignore();
        }
        DataKind::BigList => {
            let c = pipe.cmd("RPUSH").arg(STREAM_KEY);
            for i in n..upto {
                c.arg(format!("element-{i}"));
            }
            c.ignore();
        }
        DataKind::BigSet => {
            let c = pipe.cmd("SADD").arg(STREAM_KEY);
            for i in n..upto {
                c.arg(format!("member-{i}"));
            }
            c.ignore();
        }
        DataKind::BigHash => {
            let c = pipe.cmd("HSET").arg(STREAM_KEY);
            for i in n..upto {
                c.arg(format!("field-{i}")).arg(format!("value-{i}"));
            }
            c.ignore();
        }
        DataKind::BigZset => {
            let c = pipe.cmd("ZADD").arg(STREAM_KEY);
            for i in n..upto {
                c.arg(i).arg(format!("member-{i}"));
            }
            c.ignore();
        }
    }
}

/// The key a single-collection data set (a stream, a big list, ...) is loaded into.
const STREAM_KEY: &str = "stream";

/// Checks the load really landed: first and last keys present, DBSIZE equal when the server
/// has DBSIZE (for a stream: its length).
fn verify(server: &ServerProc, keys: u64, data: DataKind) -> Result<()> {
    let mut con = server.client()?;
    if let Some(count) = data.single() {
        let n: u64 = redis::cmd(count).arg(STREAM_KEY).query(&mut con)?;
        if n != keys {
            bail!("{}: {count} {n}, expected {keys}", server.flavor.label());
        }
        return Ok(());
    }
    let last = format!("key:{}", keys.saturating_sub(1));
    let present: u64 = redis::cmd("EXISTS")
        .arg("key:0")
        .arg(&last)
        .query(&mut con)?;
    // EXISTS counts a key named twice twice, so 2 also when keys == 1.
    if keys > 0 && present != 2 {
        bail!(
            "{}: EXISTS key:0 {last} = {present}, expected 2",
            server.flavor.label()
        );
    }
    if let Ok(n) = redis::cmd("DBSIZE").query::<u64>(&mut con) {
        if n != keys {
            bail!("{}: DBSIZE {n}, expected {keys}", server.flavor.label());
        }
    }
    Ok(())
}

fn used_memory(server: &ServerProc) -> Option<u64> {
    let mut con = server.client().ok()?;
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).ok()?;
    info_field(&info, "used_memory")?.parse().ok()
}

/// Starts a fresh server, measures it empty and loaded, and stops it.
pub fn measure(flavor: Flavor, bin: &Path, o: &Opts) -> Result<Measure> {
    measure_with(flavor, bin, o, &[])
}

/// [`measure`] with extra server arguments (a configuration compared against the defaults).
pub fn measure_with(flavor: Flavor, bin: &Path, o: &Opts, extra: &[String]) -> Result<Measure> {
    let server = ServerProc::start_with(flavor, bin, o.server_core, extra)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_empty = server.rss()?;
    let started = std::time::Instant::now();
    load(&server, o)?;
    let load_secs = started.elapsed().as_secs_f64();
    verify(&server, o.keys, o.data)?;
    // Let background work (allocator purging, rehashing) settle before reading RSS.
    std::thread::sleep(Duration::from_secs(1));
    Ok(Measure {
        flavor,
        keys: o.keys,
        rss_empty,
        rss_loaded: server.rss()?,
        used_memory: used_memory(&server),
        load_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_requested_size_and_are_not_numbers() {
        for n in [0u64, 9, 12345, u64::MAX] {
            let v = value_for(n, 16);
            assert_eq!(v.len(), 16);
            assert!(std::str::from_utf8(&v).unwrap().parse::<i64>().is_err());
        }
        assert_eq!(value_for(7, 3), b"v7.".to_vec());
    }
}
