//! `compare`: slotcache-server and redis-server side by side on this machine — throughput
//! through redis-benchmark, memory per key, and HyperLogLog accuracy — so a claim like "as
//! fast as Redis" is a number anyone can reproduce with one command.
//!
//! `cargo run --release -p slotcache-benches --bin compare -- all`

mod dump_bench;
mod hll_error;
mod memory;
#[allow(dead_code)] // helpers for the cluster benchmarks
mod procs;
mod report;
mod stream_cycle;
mod throughput;
mod types_memory;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use procs::{Flavor, ServerProc};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Compare slotcache-server with redis-server and Valkey (throughput and memory)")]
struct Cli {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum What {
    /// redis-benchmark against both servers, rounds alternating, medians.
    Throughput,
    /// Bytes per key after loading the same keys into each server.
    Memory,
    /// Throughput, then memory.
    All,
    /// Memory per key or per element for every data type (issue 42's table): each case
    /// loaded into a fresh server of each kind, RSS growth divided by keys or elements.
    Types,
    /// PFCOUNT's relative error on the same distinct elements in both servers, and whether
    /// their sketches are byte-identical.
    Hll,
    /// DUMP and RESTORE throughput on `--keys` mixed keys of every type and encoding.
    Dump,
    /// The consumer-group cycle (XREADGROUP COUNT 1 then XACK) over `--keys` entries, at each
    /// `--pipelines` depth, median of `--rounds`.
    StreamCycle,
}

#[derive(Args)]
struct Opts {
    /// Rounds per server (the median is reported).
    #[arg(long, global = true, default_value_t = 5)]
    rounds: usize,
    /// Requests per redis-benchmark test (-n).
    #[arg(long, global = true, default_value_t = 200_000)]
    requests: u64,
    /// Parallel clients (-c).
    #[arg(long, global = true, default_value_t = 50)]
    clients: u32,
    /// redis-benchmark test names (-t), comma-separated; `zrange_100` (ZRANGE 0 99 WITHSCORES on
    /// a 100-member sorted set) is ours, as redis-benchmark has no ZRANGE test; `types` stands
    /// for the collection tests of issue 42 (`lpush_packed` .. `zrange_big`).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "set,get,incr,mset"
    )]
    tests: Vec<String>,
    /// Keys spread over this many names (redis-benchmark -r; 0: one hot key). A test named
    /// `<test>_1key` (e.g. `get_1key`) runs without it: the single-key case.
    #[arg(long, global = true, default_value_t = 100_000)]
    random_keys: u64,
    /// Keys stored in each server before the throughput rounds (`key:<12 digits>`, the names
    /// `-r` draws; e.g. 10000000 for a big keyspace); 0 loads none.
    #[arg(long, global = true, default_value_t = 100_000)]
    preload: u64,
    /// Run every server in cluster mode, one node holding all 16384 slots.
    #[arg(long, global = true)]
    cluster_mode: bool,
    /// Pipeline depths (-P), comma-separated.
    #[arg(long, global = true, value_delimiter = ',', default_value = "1,16")]
    pipelines: Vec<u32>,
    /// Keys loaded for the memory comparison.
    #[arg(long, global = true, default_value_t = 1_000_000)]
    keys: u64,
    /// What the memory comparison loads: strings, hashes (10 fields) or zsets (10 members).
    #[arg(long, global = true, value_enum, default_value = "strings")]
    data: memory::DataKind,
    /// Keys per case of `types` that loads many small keys (lists of 10, sets of 10, ...).
    #[arg(long, global = true, default_value_t = 100_000)]
    type_keys: u64,
    /// Only these cases of `types` (by data kind: lists, intsets, strsets, zsets, hashes,
    /// strings, big-list, big-set, big-hash, big-zset), comma-separated; all when absent.
    #[arg(long, global = true, value_enum, value_delimiter = ',')]
    kinds: Vec<memory::DataKind>,
    /// Elements of the single big collection in `types`' one-key cases.
    #[arg(long, global = true, default_value_t = 1_000_000)]
    elements: u64,
    /// Distinct-element counts for the HyperLogLog comparison, comma-separated.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "100,1000,10000,100000,1000000"
    )]
    cardinalities: Vec<u64>,
    /// Independent sketches per cardinality in the HyperLogLog comparison.
    #[arg(long, global = true, default_value_t = 10)]
    trials: u64,
    /// Bytes per value for the memory comparison and the throughput runs (-d, and the
    /// preloaded keys).
    #[arg(long, global = true, default_value_t = 16)]
    value_size: usize,
    /// The slotcache-server binary (default: this workspace's target/release).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    /// Extra arguments for the slotcache server, for `throughput`, `stream-cycle` and `types` (repeat it:
    /// `--slotcache-arg=--idle-spin-us --slotcache-arg=0`), to compare a configuration
    /// against Redis and against the defaults.
    #[arg(long, global = true, allow_hyphen_values = true)]
    slotcache_arg: Vec<String>,
    /// The redis-server binary.
    #[arg(long, global = true, default_value = "redis-server")]
    redis_server: PathBuf,
    /// The valkey-server binary (default: the one `../shared/peers/build.sh` builds once and
    /// prints).
    #[arg(long, global = true)]
    valkey_server: Option<PathBuf>,
    /// The peers measured beside slotcache, comma-separated (`redis`, `valkey`): throughput
    /// and memory run them all in one run. A peer that cannot be had is left out with a
    /// warning.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "redis,valkey"
    )]
    peers: Vec<String>,
    /// The redis-benchmark binary.
    #[arg(long, global = true, default_value = "redis-benchmark")]
    redis_benchmark: PathBuf,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Limit for one redis-benchmark run, seconds.
    #[arg(long, global = true, default_value_t = 300)]
    bench_timeout: u64,
    /// Limit for the whole comparison, seconds; past it every process is killed.
    #[arg(long, global = true, default_value_t = 3600)]
    deadline: u64,
    /// Do not pin server and benchmark to separate cores.
    #[arg(long, global = true)]
    no_pin: bool,
}

/// Gives a fresh cluster-mode node every slot and waits (bounded) until it reports
/// `cluster_state:ok`, so the benchmark's keys are all served locally.
fn own_all_slots(s: &ServerProc) -> Result<()> {
    let mut con = s.client()?;
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(&mut con)
        .with_context(|| format!("CLUSTER ADDSLOTSRANGE on {}", s.flavor.label()))?;
    for _ in 0..200 {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con)?;
        if info.contains("cluster_state:ok") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} did not reach cluster_state:ok", s.flavor.label())
}

/// Ends the whole run past the deadline. Exiting kills the servers too: they were started
/// with PR_SET_PDEATHSIG, and redis-benchmark runs under `timeout`.
fn arm_deadline(secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("compare: deadline of {secs}s reached, stopping");
        std::process::exit(124);
    });
}

fn check_tool(bin: &std::path::Path, hint: &str) -> Result<()> {
    let ok = std::process::Command::new("timeout")
        .arg("10")
        .arg(bin)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!("{} not runnable ({hint})", bin.display());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The peers to measure beside slotcache, with their binaries. redis-server must be there
/// when asked for; Valkey is built from `../shared/peers/` on first use, and left out with a
/// warning when it cannot be.
fn resolve_peers(o: &Opts) -> Result<Vec<(Flavor, PathBuf)>> {
    let mut out = Vec::new();
    for p in &o.peers {
        match p.as_str() {
            "redis" => out.push((Flavor::Redis, o.redis_server.clone())),
            "valkey" => match o
                .valkey_server
                .clone()
                .map(Ok)
                .unwrap_or_else(procs::build_valkey)
            {
                Ok(bin) => {
                    check_tool(&bin, "build it: ../shared/peers/build.sh")?;
                    out.push((Flavor::Valkey, bin));
                }
                Err(e) => eprintln!("warning: Valkey left out: {e:#}"),
            },
            other => bail!("unknown peer {other:?}: `redis` or `valkey`"),
        }
    }
    Ok(out)
}

fn run(cli: Cli) -> Result<()> {
    let o = &cli.opts;
    arm_deadline(o.deadline);
    let tests = throughput::expand_tests(&o.tests);
    throughput::validate_tests(&tests)?;
    if o.rounds == 0 || o.requests == 0 || o.keys == 0 || o.pipelines.is_empty() {
        bail!("--rounds, --requests, --keys and --pipelines must be positive");
    }
    let server_bin = o
        .server_bin
        .clone()
        .unwrap_or_else(procs::default_server_bin);
    check_tool(
        &server_bin,
        "build it: cargo build --release -p slotcache-server",
    )?;
    check_tool(&o.redis_server, "install Debian's redis-server")?;
    let pinning = if o.no_pin {
        None
    } else {
        procs::detect_pinning()
    };
    let peers = resolve_peers(o)?;
    let mut settings = vec![
        ("slotcache_server", server_bin.display().to_string()),
        ("redis_server", o.redis_server.display().to_string()),
        (
            "peers",
            peers
                .iter()
                .map(|(f, b)| format!("{}={}", f.label(), b.display()))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("pinning", format!("{pinning:?}")),
        ("slotcache_args", o.slotcache_arg.join(" ")),
    ];

    if cli.what == What::Hll {
        let hopts = hll_error::Opts {
            cardinalities: o.cardinalities.clone(),
            trials: o.trials,
            batch: 1000,
            pipeline: 10,
        };
        let slot = ServerProc::start_with(Flavor::Slotcache, &server_bin, None, &o.slotcache_arg)?;
        let redis = ServerProc::start(Flavor::Redis, &o.redis_server, None)?;
        let rows = hll_error::run(&hopts, &slot, &redis)?;
        println!(
            "\nHyperLogLog relative error (PFCOUNT / truth - 1; {} trials per cardinality, merged = PFMERGE of trial pairs)",
            o.trials
        );
        println!("{}", hll_error::table(&rows));
        if o.json.is_some() {
            eprintln!("compare: --json is not written for hll");
        }
        return Ok(());
    }

    if cli.what == What::Types {
        let core = pinning.map(|p| p.server_core);
        let servers: Vec<(Flavor, PathBuf)> = std::iter::once((Flavor::Slotcache, server_bin))
            .chain(peers.iter().cloned())
            .collect();
        let mut rows = Vec::new();
        for case in types_memory::cases(o.type_keys, o.elements)
            .into_iter()
            .filter(|c| o.kinds.is_empty() || o.kinds.contains(&c.data))
        {
            let mut per = Vec::new();
            for (flavor, bin) in &servers {
                eprintln!("types: {} into {}", case.label, flavor.label());
                let extra: &[String] = if *flavor == Flavor::Slotcache {
                    &o.slotcache_arg
                } else {
                    &[]
                };
                let m = memory::measure_with(*flavor, bin, &case.opts(core), extra)?;
                per.push((*flavor, m.rss_per_key()));
            }
            rows.push((case.label, per));
        }
        println!("\nMemory by type (RSS growth per key, or per element for one big key; a fresh server per case)");
        println!("{}", types_memory::table(&rows));
        return Ok(());
    }

    if cli.what == What::Dump {
        let dopts = dump_bench::Opts {
            keys: o.keys,
            rounds: o.rounds,
            batch: 1000,
            server_core: pinning.map(|p| p.server_core),
        };
        return dump_bench::run(&dopts, &server_bin, &o.redis_server);
    }

    if cli.what == What::StreamCycle {
        let core = pinning.map(|p| p.server_core);
        let servers: Vec<(Flavor, PathBuf, &[String])> =
            std::iter::once((Flavor::Slotcache, server_bin, &o.slotcache_arg[..]))
                .chain(peers.iter().map(|(f, b)| (*f, b.clone(), &[][..])))
                .collect();
        let mut all = Vec::new();
        for &p in &o.pipelines {
            // Rounds alternate between the servers, so a slow spell of the shared machine
            // does not fall on one of them only.
            let mut runs: Vec<Vec<stream_cycle::Measure>> =
                servers.iter().map(|_| Vec::new()).collect();
            for _ in 0..o.rounds {
                for (i, (flavor, bin, extra)) in servers.iter().enumerate() {
                    runs[i].push(stream_cycle::measure(
                        *flavor, bin, core, extra, o.keys, p as usize,
                    )?);
                }
            }
            for mut r in runs {
                r.sort_by(|a, b| a.cycles_per_s.total_cmp(&b.cycles_per_s));
                all.push(r.swap_remove(r.len() / 2));
            }
        }
        println!(
            "\nXREADGROUP COUNT 1 + XACK cycles/s over {} entries (median of {} rounds)",
            o.keys, o.rounds
        );
        println!("{}", stream_cycle::table(&all));
        return Ok(());
    }

    let rows = if matches!(cli.what, What::Throughput | What::All) {
        check_tool(&o.redis_benchmark, "install Debian's redis-tools")?;
        let topts = throughput::Opts {
            rounds: o.rounds,
            requests: o.requests,
            clients: o.clients,
            pipelines: o.pipelines.clone(),
            tests,
            timeout_s: o.bench_timeout,
            redis_benchmark: o.redis_benchmark.clone(),
            pinning,
            random_keys: o.random_keys,
            preload: o.preload,
            value_size: o.value_size,
        };
        settings.push(("rounds", o.rounds.to_string()));
        settings.push(("requests", o.requests.to_string()));
        settings.push(("clients", o.clients.to_string()));
        settings.push(("random_keys", o.random_keys.to_string()));
        settings.push(("preload", o.preload.to_string()));
        settings.push(("value_size", o.value_size.to_string()));
        settings.push(("cluster_mode", o.cluster_mode.to_string()));
        let core = pinning.map(|p| p.server_core);
        let mode: Vec<String> = if o.cluster_mode {
            [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes-{port}.conf",
            ]
            .map(String::from)
            .to_vec()
        } else {
            Vec::new()
        };
        let ours: Vec<String> = mode.iter().chain(&o.slotcache_arg).cloned().collect();
        let mut servers = vec![ServerProc::start_with(
            Flavor::Slotcache,
            &server_bin,
            core,
            &ours,
        )?];
        for (flavor, bin) in &peers {
            servers.push(ServerProc::start_with(*flavor, bin, core, &mode)?);
        }
        if o.cluster_mode {
            for s in &servers {
                own_all_slots(s)?;
            }
        }
        let rows = throughput::run(&topts, &mut servers)?;
        drop(servers);
        println!(
            "\nThroughput (requests/s, median of {} rounds, {} clients, {} requests, pinning {:?})",
            o.rounds, o.clients, o.requests, pinning
        );
        println!("{}", report::throughput_table(&rows));
        Some(rows)
    } else {
        None
    };

    let mem = if matches!(cli.what, What::Memory | What::All) {
        let mopts = memory::Opts {
            data: cli.opts.data,
            keys: o.keys,
            value_size: o.value_size,
            batch: 10_000,
            server_core: pinning.map(|p| p.server_core),
        };
        settings.push(("keys", o.keys.to_string()));
        settings.push(("value_size", o.value_size.to_string()));
        let mut m = Vec::new();
        let all = std::iter::once((Flavor::Slotcache, server_bin)).chain(peers);
        for (flavor, bin) in all {
            eprintln!("memory: loading {} keys into {}", o.keys, flavor.label());
            m.push(memory::measure(flavor, &bin, &mopts)?);
        }
        println!(
            "\nMemory ({} keys key:<n>, {}-byte values; RSS growth per key)",
            o.keys, o.value_size
        );
        println!("{}", report::memory_table(&m));
        Some(m)
    } else {
        None
    };

    if let Some(path) = &o.json {
        std::fs::write(
            path,
            report::json(rows.as_deref(), mem.as_deref(), &settings),
        )
        .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
