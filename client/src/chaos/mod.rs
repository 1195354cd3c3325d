//! `slotcache-cli chaos`: measures availability under faults (issue #31). It starts a
//! cluster (six nodes in network namespaces as root, else on loopback) or attaches to one,
//! drives a counter-writing load against it, injects faults on a schedule (kill -9 and
//! restart, SIGSTOP/SIGCONT, partitions, a slow node), and reports what clients saw: lost
//! writes, reads going backwards, overlapping primaries, false failovers, detection and
//! failover times, availability and MTTR per shard, and A = MTBF / (MTBF + MTTR) — as
//! `report.json` and `report.html` (with a timeline) in the output directory.
//!
//! One module per concern: [`nodes`] (the cluster and the faults a node can take),
//! [`schedule`] (which fault when), [`load`] (the clients), [`monitor`] (the cluster's own
//! events), [`checker`] (the verdict), [`report`] and [`browser`] (the page, looked at).

mod browser;
mod checker;
mod load;
mod monitor;
mod nodes;
mod report;
mod schedule;

use crate::conn::Target;
use anyhow::{anyhow, bail, Context, Result};
use cluster_tests::netns::NetLab;
use cluster_tests::partition_lab::{connect, find_owner, Lab};
use nodes::{Backend, Procs};
use schedule::{Kind, Schedule};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by Ctrl-C or SIGTERM: the run lifts the fault in progress, stops injecting, and
/// still checks, reports and stops the nodes it started.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn interrupted(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn catch_interrupts() {
    let handler = interrupted as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

#[derive(clap::Args, Debug)]
pub struct ChaosArgs {
    /// How long to inject faults, in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// One seed replays one schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fault kinds, taken in turn: kill, pause, partition, slow.
    #[arg(long, default_value = "kill,pause,partition,slow")]
    faults: String,
    /// Stop after this many faults.
    #[arg(long)]
    max_faults: Option<usize>,
    /// Where report.json, report.html, report.png and the node logs go.
    #[arg(long, default_value = "chaos-report")]
    out: PathBuf,
    /// Attach to the running cluster this node belongs to (host:port) instead of starting
    /// one; every node must run on this machine.
    #[arg(long, value_name = "HOST:PORT")]
    attach: Option<String>,
    /// Start the cluster on loopback even where network namespaces are available.
    #[arg(long)]
    loopback: bool,
    /// First port of a loopback cluster this run starts (six consecutive ports).
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// cluster-node-timeout of a cluster this run starts, ms (slotcache's default); give
    /// the attached cluster's when attaching.
    #[arg(long, default_value_t = 700)]
    node_timeout: u64,
    /// Longest partition, seconds.
    #[arg(long, default_value_t = 8)]
    max_partition: u64,
    /// How long a WAIT may wait for its replica, ms.
    #[arg(long, default_value_t = 50)]
    wait_ms: u64,
    /// The slotcache-server binary (default: next to slotcache-cli, else built).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// Whether network namespaces and iptables inside them work here (root, iproute2).
fn namespaces_work() -> bool {
    NetLab::new(1).is_ok()
}

fn start_backend(t: &Target, a: &ChaosArgs) -> Result<(Backend, String, bool)> {
    if let Some(seed) = &a.attach {
        let p = Procs::attach(seed)?;
        return Ok((Backend::Procs(p), format!("attached via {seed}"), false));
    }
    let bin = crate::server::find_server_bin(a.server_bin.clone())?;
    if !a.loopback && namespaces_work() {
        // The partition lab starts slotcache-server from this variable.
        std::env::set_var("SLOTCACHE_SERVER_BIN", &bin);
        let nt = a.node_timeout;
        let lab = std::panic::catch_unwind(move || Lab::start(nt))
            .map_err(|_| anyhow!("the namespace cluster did not start (see above)"))?;
        return Ok((
            Backend::Lab(Box::new(lab)),
            "3 primaries + 3 replicas, each node in its own network namespace".into(),
            true,
        ));
    }
    let dir = a.out.join("cluster");
    let extra = vec![
        "--cluster-node-timeout".to_string(),
        a.node_timeout.to_string(),
    ];
    crate::cluster::start(t, 6, 1, a.base_port, &dir, Some(bin), 60, &extra)?;
    let seed = format!("{}:{}", t.host, a.base_port);
    let p = Procs::attach(&seed)?;
    Ok((
        Backend::Procs(p),
        format!(
            "3 primaries + 3 replicas on loopback, ports {}..",
            a.base_port
        ),
        true,
    ))
}

pub fn run(t: &Target, a: ChaosArgs) -> Result<()> {
    let kinds = Kind::parse_list(&a.faults)?;
    catch_interrupts();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (mut b, cluster, owned) = start_backend(t, &a)?;
    let res = chaos(&mut b, &a, kinds, cluster);
    if owned {
        if let Backend::Procs(p) = &mut b {
            p.kill_all();
        }
    }
    drop(b);
    res
}

fn chaos(b: &mut Backend, a: &ChaosArgs, kinds: Vec<Kind>, cluster: String) -> Result<()> {
    let ids: Vec<String> = (0..b.len())
        .map(|i| {
            let mut c = connect(&b.addr(i), Duration::from_secs(2))
                .ok_or_else(|| anyhow!("cannot reach {}", b.addr(i)))?;
            Ok(redis::cmd("CLUSTER").arg("MYID").query::<String>(&mut c)?)
        })
        .collect::<Result<_>>()?;
    let primaries = schedule::ready(b, &ids, Duration::from_secs(60))?;
    if primaries != (0..b.shards()).collect::<Vec<_>>() {
        bail!("the primaries moved before the run began: {primaries:?}");
    }
    let addrs = b.addrs();
    println!(
        "chaos: {cluster}; {} s of faults ({}), seed {}, output in {}",
        a.seconds,
        a.faults,
        a.seed,
        a.out.display()
    );
    let t0 = Instant::now();
    let mon = monitor::Monitor::start(&addrs, monitor::unix_ms());
    let load = load::Load::start(&addrs, b.shards(), t0, a.wait_ms);
    let slots: Vec<u16> = load.shards().iter().map(|s| s.1).collect();
    let mut sched = Schedule::new(kinds.clone(), a.seed, a.node_timeout, a.max_partition);
    let until = t0 + Duration::from_secs(a.seconds);
    let mut faults: Vec<schedule::Fault> = Vec::new();
    let mut primaries = primaries;
    let mut broken = None;
    while Instant::now() < until
        && a.max_faults.is_none_or(|m| faults.len() < m)
        && !INTERRUPTED.load(Ordering::Relaxed)
    {
        std::thread::sleep(
            sched
                .gap()
                .min(until.saturating_duration_since(Instant::now())),
        );
        if until.saturating_duration_since(Instant::now()) < Duration::from_secs(3)
            || INTERRUPTED.load(Ordering::Relaxed)
        {
            break;
        }
        let f = match sched.inject(b, &mon, &ids, &primaries, t0) {
            Ok(f) => f,
            Err(e) => {
                broken = Some(format!("injecting a fault failed: {e:#}"));
                break;
            }
        };
        println!(
            "+{:>6.1}s fault {}: {}",
            f.start_ms as f64 / 1000.0,
            faults.len(),
            f.desc
        );
        faults.push(f);
        match schedule::ready(b, &ids, Duration::from_secs(120)) {
            Ok(p) => {
                primaries = p;
                if let Some(f) = faults.last_mut() {
                    f.ready_ms = Some(t0.elapsed().as_millis() as u64);
                }
            }
            Err(e) => {
                broken = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let run_ms = t0.elapsed().as_millis() as u64;
    let seen = load.stop();
    if broken.is_none() {
        if let Err(e) = schedule::ready(b, &ids, Duration::from_secs(60)) {
            broken = Some(format!("{e:#}"));
        }
    }
    let mut lost = Vec::new();
    for (s, log) in seen.writes.iter().enumerate() {
        let owner =
            find_owner(&addrs, slots[s]).ok_or_else(|| anyhow!("no owner for shard {s}"))?;
        let confirmed = log
            .missing_at(&owner, &log.confirmed)
            .map_err(|e| anyhow!(e))?;
        let plain = log
            .missing_at(&owner, &log.unconfirmed)
            .map_err(|e| anyhow!(e))?;
        lost.push((confirmed, plain.len() as u64));
    }
    let events = mon.stop();
    let verdict = checker::judge(&seen, &lost, &faults, &events, &ids, run_ms);
    let setup = report::Setup {
        seed: a.seed,
        seconds: a.seconds,
        node_timeout_ms: a.node_timeout,
        cluster,
        partitions: b.partition_method().into(),
        kinds,
        ids: ids.clone(),
    };
    let mut json = report::json(&setup, &verdict);
    if let Some(why) = &broken {
        json["broken"] = serde_json::json!(why);
    }
    json["interrupted"] = serde_json::json!(INTERRUPTED.load(Ordering::Relaxed));
    let html = report::html(&setup, &verdict);
    std::fs::write(
        a.out.join("report.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    let page = a.out.join("report.html");
    std::fs::write(&page, html)?;
    let logs_dir = a.out.join("nodes");
    std::fs::create_dir_all(&logs_dir)?;
    for (i, log) in b.logs().iter().enumerate() {
        std::fs::write(logs_dir.join(format!("node{i}.log")), log)?;
    }
    print_summary(&verdict);
    match browser::find() {
        Some(c) => match browser::look(&c, &page) {
            Ok(l) => println!(
                "report page: {} fault markers, {} console errors; screenshot {}",
                l.markers,
                l.console_errors.len(),
                l.screenshot.display()
            ),
            Err(e) => println!("report page: no screenshot ({e:#})"),
        },
        None => println!("report page: no chromium here, so no screenshot"),
    }
    println!("report: {} and report.json", page.display());
    if let Some(why) = broken {
        bail!("the run was cut short: {why}");
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        println!("interrupted: the report covers the faults injected until then");
    }
    if !verdict.passed() {
        bail!("invariants violated (see the report)");
    }
    Ok(())
}

fn print_summary(v: &checker::Verdict) {
    use checker::percentile;
    println!(
        "--- {} faults in {:.0} s",
        v.faults.len(),
        v.run_ms as f64 / 1000.0
    );
    println!(
        "{:<10} {:>6} {:>10} {:>10} {:>10} {:>9} {:>12}",
        "fault", "count", "MTTR p50", "p95", "max", "detected", "failed over"
    );
    for r in v.by_kind() {
        println!(
            "{:<10} {:>6} {:>8}ms {:>8}ms {:>8}ms {:>9} {:>12}",
            r.kind.name(),
            r.count,
            r.mttr_p50,
            r.mttr_p95,
            r.mttr_max,
            r.detected,
            r.failed_over,
        );
    }
    println!(
        "{:<6} {:>12} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8}",
        "shard", "availability", "faults", "MTBF", "MTTR p50", "p95", "max", "A"
    );
    for (i, s) in v.shards.iter().enumerate() {
        println!(
            "{:<6} {:>11.3}% {:>7} {:>7.1}s {:>8}ms {:>6}ms {:>6}ms {:>8}",
            i,
            100.0 * s.availability(),
            s.faults,
            s.mtbf_ms(v.run_ms).unwrap_or(0.0) / 1000.0,
            percentile(&s.mttr_ms, 50.0),
            percentile(&s.mttr_ms, 95.0),
            s.mttr_ms.iter().max().unwrap_or(&0),
            s.a(v.run_ms).map_or("-".into(), |a| format!("{a:.4}")),
        );
    }
    println!(
        "WAIT-confirmed writes lost: {}; plain writes lost: {}; reads backwards: {} ({} of a late write); below a confirmed value: {} (and {} of a late write); overlapping primaries: {}; false failovers: {}",
        v.lost_confirmed(),
        v.shards.iter().map(|s| s.lost_plain).sum::<u64>(),
        v.backwards(),
        v.backwards_late(),
        v.below_confirmed(),
        v.below_late(),
        v.overlaps(),
        v.false_failovers.len()
    );
}
