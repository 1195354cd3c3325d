//! The consumer-group cycle side by side: XREADGROUP COUNT 1 `>` then XACK of what it got,
//! entry after entry, over a preloaded stream, on each server in turn. redis-benchmark runs
//! one command line per test, so this loop is ours: per round trip it sends `pipeline`
//! XREADGROUPs, then one XACK per id they returned (pipelined too), and counts cycles/s.

use crate::procs::{Flavor, ServerProc};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Instant;

const KEY: &str = "__compare:cycle";

/// One server's cycles per second at one pipeline depth.
pub struct Measure {
    pub flavor: Flavor,
    pub pipeline: usize,
    pub cycles_per_s: f64,
}

fn load(con: &mut redis::Connection, entries: u64) -> Result<()> {
    let _: i64 = redis::cmd("DEL").arg(KEY).query(con)?;
    let mut next = 0;
    while next < entries {
        let end = (next + 1000).min(entries);
        let mut pipe = redis::pipe();
        for n in next..end {
            pipe.cmd("XADD")
                .arg(KEY)
                .arg("*")
                .arg("f1")
                .arg(n)
                .arg("f2")
                .arg("payload")
                .ignore();
        }
        pipe.query::<()>(con).context("loading the stream")?;
        next = end;
    }
    let _: String = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(KEY)
        .arg("g")
        .arg("0")
        .query(con)?;
    Ok(())
}

/// The id of the one entry an XREADGROUP COUNT 1 returned.
fn first_id(v: &redis::Value) -> Option<String> {
    use redis::Value::*;
    let Array(streams) = v else { return None };
    let Array(pair) = streams.first()? else {
        return None;
    };
    let Array(entries) = pair.get(1)? else {
        return None;
    };
    let Array(entry) = entries.first()? else {
        return None;
    };
    match entry.first()? {
        BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Consumes `entries` entries with the cycle on a fresh server.
pub fn measure(
    flavor: Flavor,
    bin: &Path,
    core: Option<usize>,
    extra: &[String],
    entries: u64,
    pipeline: usize,
) -> Result<Measure> {
    let server = ServerProc::start_with(flavor, bin, core, extra)?;
    let mut con = server.client()?;
    load(&mut con, entries)?;
    let started = Instant::now();
    let mut done = 0u64;
    while done < entries {
        let n = pipeline.min((entries - done) as usize);
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(KEY)
                .arg(">");
        }
        let got: Vec<redis::Value> = pipe.query(&mut con)?;
        let ids: Vec<String> = got.iter().filter_map(first_id).collect();
        if ids.len() != n {
            bail!(
                "{}: XREADGROUP returned {} of {n} entries",
                flavor.label(),
                ids.len()
            );
        }
        let mut acks = redis::pipe();
        for id in &ids {
            acks.cmd("XACK").arg(KEY).arg("g").arg(id).ignore();
        }
        acks.query::<()>(&mut con)?;
        done += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let pending: redis::Value = redis::cmd("XPENDING").arg(KEY).arg("g").query(&mut con)?;
    if let redis::Value::Array(p) = &pending {
        if p.first() != Some(&redis::Value::Int(0)) {
            bail!("{}: entries left pending: {pending:?}", flavor.label());
        }
    }
    Ok(Measure {
        flavor,
        pipeline,
        cycles_per_s: entries as f64 / secs,
    })
}

/// The table: cycles/s per server and pipeline, and slotcache's ratio to each peer measured
/// (above 1: slotcache is faster).
pub fn table(m: &[Measure]) -> String {
    let peers: Vec<Flavor> = [Flavor::Redis, Flavor::Valkey]
        .into_iter()
        .filter(|f| m.iter().any(|x| x.flavor == *f))
        .collect();
    let mut s = format!("{:<9} {:>12}", "pipeline", "slotcache");
    for f in &peers {
        s += &format!(" {:>12}", f.label());
    }
    for f in &peers {
        s += &format!(" {:>18}", format!("slotcache/{}", f.label()));
    }
    s.push('\n');
    let mut pipelines: Vec<usize> = m.iter().map(|x| x.pipeline).collect();
    pipelines.dedup();
    for p in pipelines {
        let get = |f: Flavor| {
            m.iter()
                .find(|x| x.pipeline == p && x.flavor == f)
                .map(|x| x.cycles_per_s)
        };
        let Some(ours) = get(Flavor::Slotcache) else {
            continue;
        };
        s += &format!("{p:<9} {ours:>12.0}");
        for f in &peers {
            s += &format!(" {:>12.0}", get(*f).unwrap_or(f64::NAN));
        }
        for f in &peers {
            s += &format!(" {:>18.2}", ours / get(*f).unwrap_or(f64::NAN));
        }
        s.push('\n');
    }
    s
}
