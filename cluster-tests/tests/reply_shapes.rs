//! The reply-shape check (issue #41): every command slotcache implements, run side by side
//! against slotcache and redis-server 7.0.15 in RESP2 and RESP3, standalone and as one-node
//! clusters, comparing the reply's type tree and, where deterministic, its values (and the
//! keyspace events it causes).
//!
//! The invocations are in `conformance/reply-shapes.txt`, the accepted differences (each
//! with its reason) in `conformance/reply-shape-diffs.txt`. The check fails on
//! - a command in slotcache's `COMMAND LIST` with no invocation and no listed exclusion, so
//!   a new command cannot arrive without one;
//! - a difference that is not listed, and a listed difference that no longer occurs, so the
//!   list stays true.
//!
//! Run it alone with `cargo test -p cluster-tests --test suite -- reply_shapes:: --nocapture` (or
//! `scripts/reply-shapes`, which builds the server first). It needs `redis-server` 7.0.x on
//! PATH; `SLOTCACHE_SKIP_REDIS_COMPARE=1` skips it where none can be installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::shapes::{self, covered_names, DiffList, Script};
use cluster_tests::{wait_for, Node};
use slotcache_proto::reply::Reply;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn conformance_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance")
        .join(name)
}

/// Sends one command on a fresh connection and returns its reply.
fn ask(addr: &str, args: &[&str]) -> Result<Reply, String> {
    let mut c = shapes::Conn::open(addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    c.send(
        &args
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    )?;
    c.recv(1)?.pop().ok_or_else(|| "no reply".to_string())
}

/// Makes a lone cluster-mode server own every slot and waits for `cluster_state:ok`.
fn own_all_slots(addr: &str) {
    ask(addr, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).expect("CLUSTER ADDSLOTSRANGE");
    let ok = wait_for(Duration::from_secs(10), || {
        match ask(addr, &["CLUSTER", "INFO"]).ok()? {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b)
                .contains("cluster_state:ok")
                .then_some(()),
            _ => None,
        }
    });
    assert!(ok.is_some(), "{addr} did not reach cluster_state:ok");
}

/// The names in a server's `COMMAND LIST` (lower case, `container|sub` for subcommands).
fn command_list(addr: &str) -> BTreeSet<String> {
    let mut c = shapes::Conn::open(addr, Duration::from_secs(5)).expect("connect");
    c.send(&[b"COMMAND".to_vec(), b"LIST".to_vec()])
        .expect("send COMMAND LIST");
    let reply = c.recv(1).expect("COMMAND LIST reply");
    reply[0]
        .items()
        .expect("COMMAND LIST is an array")
        .iter()
        .filter_map(|r| match r {
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[test]
fn replies_have_redis_shapes_for_every_command() {
    let started = Instant::now();
    let script_text =
        std::fs::read_to_string(conformance_file("reply-shapes.txt")).expect("reply-shapes.txt");
    let diffs_text = std::fs::read_to_string(conformance_file("reply-shape-diffs.txt"))
        .expect("reply-shape-diffs.txt");
    let script = Script::parse(&script_text).unwrap_or_else(|e| panic!("reply-shapes.txt: {e}"));
    let listed =
        DiffList::parse(&diffs_text).unwrap_or_else(|e| panic!("reply-shape-diffs.txt: {e}"));

    let reference = match RedisServer::launch(false, &[]) {
        Ok(Some(r)) => r,
        Ok(None) if std::env::var_os("SLOTCACHE_SKIP_REDIS_COMPARE").is_some() => {
            eprintln!("reply-shape check skipped: no redis-server (SLOTCACHE_SKIP_REDIS_COMPARE)");
            return;
        }
        Ok(None) => panic!(
            "the reply-shape check needs redis-server 7.0 on PATH (Debian/Ubuntu: apt-get \
             install redis-server; scripts/test installs it); set SLOTCACHE_SKIP_REDIS_COMPARE=1 \
             to skip it"
        ),
        Err(e) => panic!("{e}"),
    };
    let node = Node::start(&[]);
    let ours = format!("127.0.0.1:{}", node.port);
    let theirs = reference.addr();

    // Coverage: every command and subcommand slotcache serves has an invocation or a reason.
    let known = command_list(&ours);
    let mut covered: BTreeMap<String, usize> = BTreeMap::new();
    for step in script.invocations() {
        for name in covered_names(&step.args, &known) {
            *covered.entry(name).or_default() += 1;
        }
    }
    let uncovered: Vec<&String> = known
        .iter()
        .filter(|n| !covered.contains_key(*n) && !script.excluded.contains_key(*n))
        .collect();
    let stale_exclusions: Vec<&String> = script
        .excluded
        .keys()
        .filter(|n| !known.contains(*n) || covered.contains_key(*n))
        .collect();

    let timeout = Duration::from_secs(5);
    let mut report = shapes::run(&script, false, &ours, &theirs, timeout)
        .unwrap_or_else(|e| panic!("reply-shape run failed: {e}"));
    drop(node);
    drop(reference);

    // Again on a cluster-mode pair, each owning every slot: the groups not marked
    // `@standalone`, and those after `@cluster`.
    {
        let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
        let reference = RedisServer::launch(true, &[])
            .and_then(|r| r.ok_or_else(|| "redis-server vanished".to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = format!("127.0.0.1:{}", node.port);
        let theirs = reference.addr();
        own_all_slots(&ours);
        own_all_slots(&theirs);
        let more = shapes::run(&script, true, &ours, &theirs, timeout)
            .unwrap_or_else(|e| panic!("reply-shape run (cluster mode) failed: {e}"));
        report.invocations += more.invocations;
        report.differences.extend(more.differences);
    }

    let mut unlisted = Vec::new();
    let mut seen = BTreeSet::new();
    for d in &report.differences {
        let key = (d.proto, d.text.clone());
        if listed.entries.contains_key(&key) {
            seen.insert(key);
        } else {
            unlisted.push(d);
        }
    }
    let gone: Vec<_> = listed
        .entries
        .keys()
        .filter(|k| !seen.contains(*k))
        .collect();

    let excluded_known = script
        .excluded
        .keys()
        .filter(|n| known.contains(*n))
        .count();
    println!(
        "reply shapes: {} of {} commands/subcommands covered ({} excluded with a reason), \
         {} invocations, {} comparisons in RESP2 and RESP3, {} differing ({} listed differences seen, {} unlisted), \
         {} listed differences no longer seen, {:.1}s",
        known.iter().filter(|n| covered.contains_key(*n)).count(),
        known.len(),
        excluded_known,
        script.invocations().count(),
        report.invocations,
        report.differences.len(),
        seen.len(),
        unlisted.len(),
        gone.len(),
        started.elapsed().as_secs_f64()
    );
    let mut problems = String::new();
    for n in &uncovered {
        problems += &format!(
            "no invocation for `{n}` in reply-shapes.txt (add one, or `!exclude {n} :: reason`)\n"
        );
    }
    for n in &stale_exclusions {
        problems +=
            &format!("`!exclude {n}` is stale (not in COMMAND LIST, or it has invocations)\n");
    }
    for d in &unlisted {
        problems += &format!(
            "{} line {}: {}\n   {}\n",
            d.proto.name(),
            d.line,
            d.text,
            d.detail
        );
    }
    for (proto, text) in &gone {
        problems += &format!(
            "listed difference no longer occurs, remove it from reply-shape-diffs.txt: {} {text}\n",
            proto.name()
        );
    }
    assert!(problems.is_empty(), "reply-shape check failed:\n{problems}");
}
