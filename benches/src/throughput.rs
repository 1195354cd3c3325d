//! Throughput side by side: redis-benchmark against each server (slotcache, redis-server and
//! Valkey when it is built), several rounds, each test run on the servers back to back with
//! their order rotating (so warm-up and machine drift do not favour one), medians.

use crate::procs::{cpu_seconds, pinned, Flavor, Pinning, ServerProc};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What to run and how hard.
pub struct Opts {
    pub rounds: usize,
    pub requests: u64,
    pub clients: u32,
    pub pipelines: Vec<u32>,
    pub tests: Vec<String>,
    pub timeout_s: u64,
    pub redis_benchmark: PathBuf,
    pub pinning: Option<Pinning>,
    /// redis-benchmark's `-r`: keys spread over this many names (0: one hot key, which hides
    /// what a look-up costs).
    pub random_keys: u64,
    /// Keys `key:<12 digits>` (the names `-r` draws) stored in each server before the first
    /// round, so GETs find values and the table is as big as a real cache's.
    pub preload: u64,
    /// Bytes per value (redis-benchmark's `-d`, and the preloaded values).
    pub value_size: usize,
}

/// The suffix that names a test's single-key case: `get_1key` runs `-t get` without `-r`,
/// every request on `key:__rand_int__` (kept as one named case: it measures the request
/// path with the key always in cache, not the keyspace).
const ONE_KEY: &str = "_1key";

/// A test name without its [`ONE_KEY`] suffix, and whether it had one.
fn one_key(test: &str) -> (&str, bool) {
    match test.strip_suffix(ONE_KEY) {
        Some(base) => (base, true),
        None => (test, false),
    }
}

/// One test at one pipeline depth: each server's rps per round (servers in the order the run
/// was given them, slotcache first), and why a server was not measured (`note`).
#[derive(Debug, Clone)]
pub struct Row {
    pub test: String,
    pub pipeline: u32,
    pub servers: Vec<Flavor>,
    pub samples: Vec<Vec<f64>>,
    /// Per server, each round's median and 99th-percentile latency in ms (redis-benchmark's).
    pub p50: Vec<Vec<f64>>,
    pub p99: Vec<Vec<f64>>,
    /// Per server, each round's server CPU time (user + system, all threads, from
    /// `/proc/PID/stat`) divided by the requests sent, in µs: what a request costs the server,
    /// which the load of a shared machine moves far less than requests/s.
    pub cpu_us: Vec<Vec<f64>>,
    pub note: String,
}

impl Row {
    fn index(&self, f: Flavor) -> Option<usize> {
        self.servers.iter().position(|&s| s == f)
    }

    /// The median rps of one server.
    pub fn rps(&self, f: Flavor) -> Option<f64> {
        median(&self.samples[self.index(f)?])
    }

    /// The median over rounds of one server's p50 and p99 latency (ms).
    pub fn latency(&self, f: Flavor) -> Option<(f64, f64)> {
        let i = self.index(f)?;
        Some((median(&self.p50[i])?, median(&self.p99[i])?))
    }

    /// The median over rounds of one server's CPU µs per request.
    pub fn cpu(&self, f: Flavor) -> Option<f64> {
        median(&self.cpu_us[self.index(f)?])
    }

    /// The peer's CPU per request / slotcache's (above 1: slotcache spends less), the median
    /// of the per-round ratios as in [`Row::ratio`].
    pub fn cpu_ratio(&self, peer: Flavor) -> Option<f64> {
        let a = &self.cpu_us[self.index(Flavor::Slotcache)?];
        let b = &self.cpu_us[self.index(peer)?];
        if a.is_empty() || a.len() != b.len() || a.iter().any(|&x| x <= 0.0) {
            return None;
        }
        let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| y / x).collect();
        median(&per_round)
    }

    /// slotcache / `peer`: the median of the per-round ratios when every round measured both
    /// (a test's runs are seconds apart and share the machine's mood, so their ratio is
    /// steadier than the ratio of the two medians, which is the fallback).
    pub fn ratio(&self, peer: Flavor) -> Option<f64> {
        let a = &self.samples[self.index(Flavor::Slotcache)?];
        let b = &self.samples[self.index(peer)?];
        if !a.is_empty() && a.len() == b.len() {
            let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
            return median(&per_round);
        }
        Some(self.rps(Flavor::Slotcache)? / self.rps(peer)?)
    }
}

/// The sorted set that `zrange_100` reads: 100 members, loaded before the first round.
const ZRANGE_KEY: &str = "__compare:zrange";

/// The stream `xrange_100` reads: 100 entries of 5 fields, loaded before the first round.
const XRANGE_KEY: &str = "__compare:xrange";
/// The stream `xadd_5f` appends to.
const XADD_KEY: &str = "__compare:xadd";

/// The geo index that `geosearch_1m` searches: 1M members, loaded before the first round.
const GEO_KEY: &str = "__compare:geo";
/// Members of the geo index.
const GEO_MEMBERS: u64 = 1_000_000;

/// Tests that redis-benchmark's `-t` has no name for, run as a custom command line instead:
/// the issue asks for ZRANGE over 100 elements next to LRANGE_100.
fn custom_command(test: &str) -> Option<&'static [&'static str]> {
    match test {
        "zrange_100" => Some(&["ZRANGE", ZRANGE_KEY, "0", "99", "WITHSCORES"]),
        // XADD of 5 small fields with an id from the clock (the stream grows).
        "xadd_5f" => Some(&[
            "XADD", XADD_KEY, "*", "f1", "value1", "f2", "value2", "f3", "value3", "f4", "value4",
            "f5", "value5",
        ]),
        "xrange_100" => Some(&["XRANGE", XRANGE_KEY, "-", "+"]),
        // "Drivers within 100 km": about 50 of the 1M points, nearest first.
        "geosearch_1m" => Some(&[
            "GEOSEARCH",
            GEO_KEY,
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "100",
            "km",
            "ASC",
        ]),
        _ => type_command(test),
    }
}

/// The collection tests of issue 42 (`--tests types` names them all): each of LPUSH, LRANGE,
/// SADD, SISMEMBER, HSET, HGET, ZADD and ZRANGE once on the packed form and once on the big
/// one. `_packed`: `-r` keys per type, each loaded with 10 elements (listpack, intset,
/// listpack, listpack in Redis 7.0), the key drawn at random per request. `_big`: one key per
/// type loaded with `-r` elements (quicklist, hashtable, hashtable, skiplist), the element
/// drawn at random. Writes add elements (LPUSH, SADD and HSET/ZADD of new packed fields: a
/// few per key and run, far below the 128-entry thresholds at the defaults) or update
/// existing ones (the big hash's and sorted set's, whose ZADD moves the member to a new score).
pub const TYPE_TESTS: [&str; 16] = [
    "lpush_packed",
    "lrange_packed",
    "sadd_packed",
    "sismember_packed",
    "hset_packed",
    "hget_packed",
    "zadd_packed",
    "zrange_packed",
    "lpush_big",
    "lrange_big",
    "sadd_big",
    "sismember_big",
    "hset_big",
    "hget_big",
    "zadd_big",
    "zrange_big",
];

/// The command line of a [`TYPE_TESTS`] test; `__rand_int__` is redis-benchmark's, drawn
/// anew for each occurrence from `0..-r`, printed as 12 digits.
fn type_command(test: &str) -> Option<&'static [&'static str]> {
    const R: &str = "__rand_int__";
    match test {
        "lpush_packed" => Some(&["LPUSH", "__t:l:__rand_int__", "x"]),
        "lrange_packed" => Some(&["LRANGE", "__t:l:__rand_int__", "0", "-1"]),
        "sadd_packed" => Some(&["SADD", "__t:s:__rand_int__", R]),
        "sismember_packed" => Some(&["SISMEMBER", "__t:s:__rand_int__", "5"]),
        "hset_packed" => Some(&["HSET", "__t:h:__rand_int__", "f:__rand_int__", "v"]),
        "hget_packed" => Some(&["HGET", "__t:h:__rand_int__", "f5"]),
        "zadd_packed" => Some(&["ZADD", "__t:z:__rand_int__", R, "m:__rand_int__"]),
        "zrange_packed" => Some(&["ZRANGE", "__t:z:__rand_int__", "0", "-1", "WITHSCORES"]),
        "lpush_big" => Some(&["LPUSH", BIG_LIST, "x"]),
        "lrange_big" => Some(&["LRANGE", BIG_LIST, "0", "9"]),
        "sadd_big" => Some(&["SADD", BIG_SET, "m:__rand_int__"]),
        "sismember_big" => Some(&["SISMEMBER", BIG_SET, "m:__rand_int__"]),
        "hset_big" => Some(&["HSET", BIG_HASH, "f:__rand_int__", "v"]),
        "hget_big" => Some(&["HGET", BIG_HASH, "f:__rand_int__"]),
        "zadd_big" => Some(&["ZADD", BIG_ZSET, R, "m:__rand_int__"]),
        // Ten members from a random score: the skiplist's search, then a short walk.
        "zrange_big" => Some(&[
            "ZRANGE",
            BIG_ZSET,
            R,
            "+inf",
            "BYSCORE",
            "LIMIT",
            "0",
            "10",
            "WITHSCORES",
        ]),
        _ => None,
    }
}

/// The big collections of the `_big` type tests.
const BIG_LIST: &str = "__t:biglist";
const BIG_SET: &str = "__t:bigset";
const BIG_HASH: &str = "__t:bighash";
const BIG_ZSET: &str = "__t:bigzset";

/// `types` in a test list stands for every [`TYPE_TESTS`] test.
pub fn expand_tests(tests: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tests {
        if t == "types" {
            out.extend(TYPE_TESTS.iter().map(|s| s.to_string()));
        } else {
            out.push(t.clone());
        }
    }
    out
}

/// Loads what the type tests read: for `_packed`, `keys` keys of the test's type with 10
/// elements each (once per type); for `_big`, one key with `keys` elements. Pipelined, 1,000
/// commands per round trip; the same data on every server.
fn prepare_types(server: &ServerProc, test: &str, keys: u64) -> Result<()> {
    if !TYPE_TESTS.contains(&test) {
        return Ok(());
    }
    if keys == 0 {
        bail!("{test} needs --random-keys above 0 (its keys or elements are drawn by -r)");
    }
    let mut con = server.client()?;
    let batch = 1000u64;
    let (kind, big) = test.split_once('_').unwrap_or((test, ""));
    let big = big == "big";
    // One load per type and form: the write test and the read test share it.
    let probe = match (kind, big) {
        ("lpush" | "lrange", false) => "__t:l:000000000000".to_string(),
        ("sadd" | "sismember", false) => "__t:s:000000000000".to_string(),
        ("hset" | "hget", false) => "__t:h:000000000000".to_string(),
        ("zadd" | "zrange", false) => "__t:z:000000000000".to_string(),
        ("lpush" | "lrange", true) => BIG_LIST.to_string(),
        ("sadd" | "sismember", true) => BIG_SET.to_string(),
        ("hset" | "hget", true) => BIG_HASH.to_string(),
        _ => BIG_ZSET.to_string(),
    };
    let exists: i64 = redis::cmd("EXISTS").arg(&probe).query(&mut con)?;
    if exists == 1 {
        return Ok(());
    }
    eprintln!("loading {probe} for {test} into {}", server.flavor.label());
    let mut next = 0u64;
    while next < keys {
        let mut pipe = redis::pipe();
        let end = (next + batch).min(keys);
        if big {
            let mut cmd = match kind {
                "lpush" | "lrange" => redis::cmd("RPUSH"),
                "sadd" | "sismember" => redis::cmd("SADD"),
                "hset" | "hget" => redis::cmd("HSET"),
                _ => redis::cmd("ZADD"),
            };
            cmd.arg(&probe);
            for i in next..end {
                match kind {
                    "lpush" | "lrange" => cmd.arg(format!("v{i}")),
                    "sadd" | "sismember" => cmd.arg(format!("m:{i:012}")),
                    "hset" | "hget" => cmd.arg(format!("f:{i:012}")).arg("v"),
                    _ => cmd.arg(i).arg(format!("m:{i:012}")),
                };
            }
            pipe.add_command(cmd).ignore();
        } else {
            for i in next..end {
                let mut cmd;
                match kind {
                    "lpush" | "lrange" => {
                        cmd = redis::cmd("RPUSH");
                        cmd.arg(format!("__t:l:{i:012}"));
                        for j in 0..10 {
                            cmd.arg(format!("v{j}"));
                        }
                    }
                    "sadd" | "sismember" => {
                        cmd = redis::cmd("SADD");
                        cmd.arg(format!("__t:s:{i:012}"));
                        for j in 0..10 {
                            cmd.arg(j);
                        }
                    }
                    "hset" | "hget" => {
                        cmd = redis::cmd("HSET");
                        cmd.arg(format!("__t:h:{i:012}"));
                        for j in 0..10 {
                            cmd.arg(format!("f{j}")).arg(format!("value{j}"));
                        }
                    }
                    _ => {
                        cmd = redis::cmd("ZADD");
                        cmd.arg(format!("__t:z:{i:012}"));
                        for j in 0..10 {
                            cmd.arg(j).arg(format!("m{j}"));
                        }
                    }
                }
                pipe.add_command(cmd).ignore();
            }
        }
        let _: () = pipe
            .query(&mut con)
            .with_context(|| format!("loading {probe} into {}", server.flavor.label()))?;
        next = end;
    }
    Ok(())
}

/// Loads what a custom test reads (the same data on both servers).
fn prepare(server: &ServerProc, test: &str) -> Result<()> {
    if test == "zrange_100" {
        let mut con = server.client()?;
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(ZRANGE_KEY);
        for i in 0..100 {
            cmd.arg(i).arg(format!("member:{i}"));
        }
        let _: i64 = cmd
            .query(&mut con)
            .with_context(|| format!("loading {ZRANGE_KEY}"))?;
    }
    if test == "geosearch_1m" {
        load_geo(server)?;
    }
    if test == "xrange_100" {
        let mut con = server.client()?;
        let _: i64 = redis::cmd("DEL").arg(XRANGE_KEY).query(&mut con)?;
        for i in 1..=100 {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(XRANGE_KEY).arg(format!("{i}-0"));
            for f in 1..=5 {
                cmd.arg(format!("f{f}")).arg(format!("value-{i}-{f}"));
            }
            let _: String = cmd
                .query(&mut con)
                .with_context(|| format!("loading {XRANGE_KEY}"))?;
        }
    }
    Ok(())
}

/// Loads `GEO_MEMBERS` points spread over the whole map (the same points on both servers:
/// a fixed xorshift sequence), GEOADD by GEOADD in pipelined batches.
fn load_geo(server: &ServerProc) -> Result<()> {
    let mut con = server.client()?;
    let _: i64 = redis::cmd("DEL").arg(GEO_KEY).query(&mut con)?;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (batch, per_cmd) = (50u64, 1000u64);
    let mut next = 0u64;
    while next < GEO_MEMBERS {
        let mut pipe = redis::pipe();
        for _ in 0..batch {
            let mut cmd = redis::cmd("GEOADD");
            cmd.arg(GEO_KEY);
            for _ in 0..per_cmd.min(GEO_MEMBERS - next) {
                let lon = -180.0 + 360.0 * unit();
                let lat = -85.0 + 170.0 * unit();
                cmd.arg(format!("{lon:.6}"))
                    .arg(format!("{lat:.6}"))
                    .arg(format!("p:{next}"));
                next += 1;
            }
            pipe.add_command(cmd).ignore();
            if next >= GEO_MEMBERS {
                break;
            }
        }
        let _: () = pipe
            .query(&mut con)
            .with_context(|| format!("loading {GEO_KEY}"))?;
    }
    Ok(())
}

/// A command that tells whether a server implements what a test sends: the test names
/// redis-benchmark's `-t` accepts and our custom ones, each with a harmless probe on scratch
/// keys.
fn probe_for(test: &str) -> Option<Vec<&'static str>> {
    let test = one_key(test).0;
    if let Some(c) = custom_command(test) {
        return Some(c.to_vec());
    }
    let p: &[&str] = match test {
        "ping_inline" | "ping_mbulk" => &["PING"],
        "set" => &["SET", "__compare:s", "x"],
        "get" => &["GET", "__compare:s"],
        "incr" => &["INCR", "__compare:i"],
        "mset" => &["MSET", "__compare:m1", "x", "__compare:m2", "y"],
        "lpush" => &["LPUSH", "__compare:l", "x"],
        "rpush" => &["RPUSH", "__compare:l", "x"],
        "lpop" => &["LPOP", "__compare:l"],
        "rpop" => &["RPOP", "__compare:l"],
        "sadd" => &["SADD", "__compare:set", "x"],
        "spop" => &["SPOP", "__compare:set"],
        "hset" => &["HSET", "__compare:h", "f", "v"],
        "zadd" => &["ZADD", "__compare:z", "1", "x"],
        "zpopmin" => &["ZPOPMIN", "__compare:z"],
        "xadd" => &["XADD", "__compare:x", "*", "f", "v"],
        "lrange_100" | "lrange_300" | "lrange_500" | "lrange_600" => {
            &["LRANGE", "__compare:l", "0", "99"]
        }
        _ => return None,
    };
    Some(p.to_vec())
}

/// Checks that every test name is one redis-benchmark knows (so a typo fails fast).
pub fn validate_tests(tests: &[String]) -> Result<()> {
    for t in tests {
        if probe_for(t).is_none() {
            bail!("unknown test '{t}' (redis-benchmark -t names: set, get, incr, mset, lpush, rpush, lpop, rpop, sadd, spop, hset, zadd, zpopmin, xadd, lrange_100, lrange_300, lrange_500, lrange_600, ping_inline, ping_mbulk; and zrange_100: ZRANGE 0 99 WITHSCORES on a 100-member sorted set; geosearch_1m: GEOSEARCH BYRADIUS 100 km over 1M points; xadd_5f: XADD of 5 fields; xrange_100: XRANGE over a 100-entry stream; types or its tests lpush_packed .. zrange_big)");
        }
    }
    Ok(())
}

/// Whether `server` implements the commands of `test`: None when it does, else the error it
/// gave. Other errors (e.g. WRONGTYPE) count as implemented.
fn unsupported(server: &ServerProc, test: &str) -> Result<Option<String>> {
    let Some(words) = probe_for(test) else {
        bail!("unknown test '{test}'")
    };
    let mut con = server.client()?;
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    let res: redis::RedisResult<redis::Value> = cmd.query(&mut con);
    Ok(match res {
        Err(e)
            if e.to_string()
                .to_ascii_lowercase()
                .contains("unknown command") =>
        {
            Some(format!("{} unknown", words[0]))
        }
        _ => None,
    })
}

/// The CSV label redis-benchmark prints for a `-t` name, upper-cased first word
/// ("MSET (10 keys)" -> "MSET", "LRANGE_100 (first 100 elements)" -> "LRANGE_100").
fn label_key(label: &str) -> String {
    label
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// One `--csv` row: test name (lower-case), rps, and p50 and p99 latency in ms (absent from
/// older redis-benchmark versions' output).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub name: String,
    pub rps: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// Parses redis-benchmark 7's `--csv` output ("test","rps","avg_latency_ms","min_latency_ms",
/// "p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"), skipping the LPUSH
/// that redis-benchmark runs only to fill lists for LRANGE.
pub fn parse_csv_latency(out: &str) -> Vec<Measured> {
    out.lines()
        .filter(|l| !l.contains("needed to"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(|s| s.trim().trim_matches('"')).collect();
            let rps: f64 = f.get(1)?.parse().ok()?;
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            Some(Measured {
                name: label_key(f.first()?).to_ascii_lowercase(),
                rps,
                p50: num(4),
                p99: num(6),
            })
        })
        .collect()
}

/// Parses `--csv` output into (test name lower-case, rps), skipping the LPUSH that
/// redis-benchmark runs only to fill lists for LRANGE.
#[allow(dead_code)] // the other benchmarks' reader; `compare` wants latencies too
pub fn parse_csv(out: &str) -> Vec<(String, f64)> {
    out.lines()
        .filter(|l| !l.contains("needed to"))
        .filter_map(|l| {
            let mut f = l.split(',').map(|s| s.trim().trim_matches('"'));
            let label = f.next()?;
            let rps: f64 = f.next()?.parse().ok()?;
            Some((label_key(label).to_ascii_lowercase(), rps))
        })
        .collect()
}

/// Runs one test; returns its (test name, rps) rows.
fn run_benchmark(o: &Opts, port: u16, test: &str, pipeline: u32) -> Result<Vec<Measured>> {
    let (base, hot) = one_key(test);
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", &o.timeout_s.to_string()]);
    let inner = pinned(&o.redis_benchmark, o.pinning.map(|p| p.client_core));
    cmd.arg(inner.get_program()).args(inner.get_args());
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    let custom = custom_command(base);
    if custom.is_none() {
        cmd.args(["-t", base]);
    }
    cmd.args(["-P", &pipeline.to_string()])
        .args(["-c", &o.clients.to_string()])
        .args(["-n", &o.requests.to_string()])
        .args(["-d", &o.value_size.to_string()])
        .args(["--csv", "-q"])
        .stdin(Stdio::null());
    if o.random_keys > 0 && !hot {
        cmd.args(["-r", &o.random_keys.to_string()]);
    }
    if let Some(words) = custom {
        // A custom command goes last; its CSV label is the command line itself.
        cmd.args(words);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", o.redis_benchmark.display()))?;
    if !out.status.success() {
        bail!(
            "redis-benchmark on port {port} failed ({}; 124/137 = timed out after {}s): {}",
            out.status,
            o.timeout_s,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let rows = parse_csv_latency(&String::from_utf8_lossy(&out.stdout));
    Ok(if custom.is_some() || hot {
        // Recorded under the test's own name (the CSV label is the command line or the
        // plain `-t` name).
        rows.into_iter()
            .map(|m| Measured {
                name: test.to_string(),
                ..m
            })
            .collect()
    } else {
        rows
    })
}

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// Runs every round against every (already started) server, slotcache first in `servers`,
/// and returns one row per test and pipeline depth.
pub fn run(o: &Opts, servers: &mut [ServerProc]) -> Result<Vec<Row>> {
    let flavors: Vec<Flavor> = servers.iter().map(|s| s.flavor).collect();
    let mut rows = Vec::new();
    for &p in &o.pipelines {
        for t in &o.tests {
            rows.push(Row {
                test: t.clone(),
                pipeline: p,
                servers: flavors.clone(),
                samples: vec![Vec::new(); flavors.len()],
                p50: vec![Vec::new(); flavors.len()],
                p99: vec![Vec::new(); flavors.len()],
                cpu_us: vec![Vec::new(); flavors.len()],
                note: String::new(),
            });
        }
    }
    let mut supported: Vec<Vec<String>> = Vec::new();
    for s in servers.iter() {
        preload(s, o.preload, o.value_size)?;
        let mut ok = Vec::new();
        for t in &o.tests {
            match unsupported(s, t)? {
                None => {
                    prepare(s, t)?;
                    prepare_types(s, t, o.random_keys)?;
                    ok.push(t.clone());
                }
                Some(why) => {
                    for r in rows.iter_mut().filter(|r| &r.test == t) {
                        if !r.note.is_empty() {
                            r.note.push_str("; ");
                        }
                        r.note += &format!("{}: {why}", s.flavor.label());
                    }
                }
            }
        }
        supported.push(ok);
    }
    let n = servers.len();
    for round in 0..o.rounds {
        for &p in &o.pipelines {
            for (ti, t) in o.tests.iter().enumerate() {
                // Rotate which server goes first, by round and by test.
                let order: Vec<usize> = (0..n).map(|k| (k + round + ti) % n).collect();
                let mut results = Vec::new();
                for i in order {
                    if !supported[i].contains(t) {
                        continue;
                    }
                    let server = &mut servers[i];
                    eprintln!(
                        "round {}/{} pipeline {p}: {} {t}",
                        round + 1,
                        o.rounds,
                        server.flavor.label(),
                    );
                    let cpu_before = cpu_seconds(server.pid());
                    let res = run_benchmark(o, server.port, t, p);
                    let cpu_after = cpu_seconds(server.pid());
                    server.check_alive()?;
                    let cpu_us = match (cpu_before, cpu_after) {
                        (Some(a), Some(b)) => Some((b - a) * 1e6 / o.requests as f64),
                        _ => None,
                    };
                    match res {
                        Ok(r) => results.push((i, r, cpu_us)),
                        Err(e) => eprintln!("warning: {e:#}"),
                    }
                }
                // A round is recorded only when every server that runs this test printed
                // its row, so the per-round ratios line up.
                let key = row_key(t);
                let measured = results
                    .iter()
                    .filter(|(_, r, _)| r.iter().any(|m| m.name == key))
                    .count();
                let runs_it = supported.iter().filter(|ts| ts.contains(t)).count();
                if measured == runs_it {
                    for (i, r, cpu_us) in &results {
                        record(&mut rows, *i, p, r);
                        // A run is one test, so its CPU belongs to this row (for
                        // `lrange_*`, with the LPUSHes redis-benchmark sends to fill the list).
                        if let (Some(c), Some(row)) = (
                            cpu_us,
                            rows.iter_mut().find(|r| r.pipeline == p && &r.test == t),
                        ) {
                            row.cpu_us[*i].push(*c);
                        }
                    }
                }
            }
        }
    }
    Ok(rows)
}

/// The name a test's measurements are recorded under (see [`run_benchmark`]).
fn row_key(test: &str) -> String {
    if one_key(test).1 || custom_command(test).is_some() {
        test.to_string()
    } else {
        label_key(test).to_ascii_lowercase()
    }
}

fn record(rows: &mut [Row], server: usize, pipeline: u32, results: &[Measured]) {
    for m in results {
        let Some(row) = rows
            .iter_mut()
            .find(|r| r.pipeline == pipeline && row_key(&r.test) == m.name)
        else {
            continue;
        };
        row.samples[server].push(m.rps);
        if let (Some(p50), Some(p99)) = (m.p50, m.p99) {
            row.p50[server].push(p50);
            row.p99[server].push(p99);
        }
    }
}

/// Stores `keys` keys `key:000000000000`.. (the names redis-benchmark's `-r` makes from
/// `key:__rand_int__`) with `value_size`-byte values, pipelined in batches.
fn preload(server: &ServerProc, keys: u64, value_size: usize) -> Result<()> {
    if keys == 0 {
        return Ok(());
    }
    eprintln!("preloading {keys} keys into {}", server.flavor.label());
    let mut con = server.client()?;
    let value = vec![b'x'; value_size];
    let batch = 1000u64;
    let mut next = 0u64;
    while next < keys {
        let mut pipe = redis::pipe();
        for i in next..(next + batch).min(keys) {
            pipe.cmd("SET")
                .arg(format!("key:{i:012}"))
                .arg(&value)
                .ignore();
        }
        let _: () = pipe
            .query(&mut con)
            .with_context(|| format!("preloading {}", server.flavor.label()))?;
        next += batch;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_map_to_test_names_and_skip_helper_rows() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\"\n\"SET\",\"68965.52\",\"0.5\"\n\
                   \"LPUSH (needed to benchmark LRANGE)\",\"100000.00\",\"0.2\"\n\
                   \"LRANGE_100 (first 100 elements)\",\"80000.00\",\"0.3\"\n\
                   \"MSET (10 keys)\",\"95238.09\",\"0.2\"\n";
        let got = parse_csv(out);
        assert_eq!(
            got,
            vec![
                ("set".to_string(), 68965.52),
                ("lrange_100".to_string(), 80000.0),
                ("mset".to_string(), 95238.09)
            ]
        );
    }

    #[test]
    fn csv_latency_columns_are_read() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"GET\",\"500000.00\",\"0.9\",\"0.1\",\"0.8\",\"1.2\",\"1.5\",\"3.0\"\n";
        let got = parse_csv_latency(out);
        assert_eq!(
            got,
            vec![Measured {
                name: "get".into(),
                rps: 500000.0,
                p50: Some(0.8),
                p99: Some(1.5)
            }]
        );
        assert_eq!(row_key("get_1key"), "get_1key");
        assert_eq!(row_key("lrange_100"), "lrange_100");
        assert!(validate_tests(&["get_1key".into()]).is_ok());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn zrange_100_is_probed_and_run_as_its_own_command_line() {
        let words = custom_command("zrange_100").unwrap();
        assert_eq!(words, ["ZRANGE", ZRANGE_KEY, "0", "99", "WITHSCORES"]);
        assert_eq!(probe_for("zrange_100").unwrap(), words.to_vec());
        assert!(custom_command("lrange_100").is_none(), "a -t test");
        assert_eq!(custom_command("geosearch_1m").unwrap()[0], "GEOSEARCH");
    }

    #[test]
    fn types_expands_to_every_collection_test_and_each_has_a_command_line() {
        let got = expand_tests(&["set".into(), "types".into()]);
        assert_eq!(got.len(), 1 + TYPE_TESTS.len());
        assert_eq!(got[0], "set");
        for t in TYPE_TESTS {
            let words = custom_command(t).unwrap_or_else(|| panic!("{t} has no command"));
            if t.ends_with("_packed") {
                assert!(
                    words[1].contains("__rand_int__"),
                    "{t}: one key per request"
                );
            } else {
                assert!(words[1].starts_with("__t:big"), "{t}: the one big key");
            }
            assert_eq!(row_key(t), t, "recorded under its own name");
        }
        assert!(validate_tests(&got).is_ok());
    }

    #[test]
    fn unknown_test_names_are_refused() {
        assert!(validate_tests(&["set".into(), "lrange_100".into(), "zrange_100".into()]).is_ok());
        assert!(validate_tests(&["sett".into()]).is_err());
    }
}
