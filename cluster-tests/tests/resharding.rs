//! Live resharding: slots move between primaries with stock `redis-cli --cluster` (add-node,
//! rebalance, reshard, del-node, fix) while a stock cluster client keeps writing per-key
//! increasing counters; nothing acknowledged is lost and every key of every type survives.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::{run_tool, wait_for, Node};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MIXED_KEYS: usize = 50_000;
const COUNTERS: usize = 1_000;

fn cluster_client(urls: &[String]) -> redis::cluster::ClusterConnection {
    redis::cluster::ClusterClientBuilder::new(urls.to_vec())
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(10))
        .retries(30)
        // TRYAGAIN and CLUSTERDOWN are retried after 10..500 ms (the crate's default starts
        // at 1.28 s, which would make a reshard under load crawl).
        .min_retry_wait(10)
        .max_retry_wait(500)
        .retry_wait_formula(10, 2)
        .build()
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

/// 50,000 keys of five types, written through cluster pipelines.
fn load_mixed(urls: &[String]) {
    let mut c = cluster_client(urls);
    for chunk in (0..MIXED_KEYS).collect::<Vec<_>>().chunks(2000) {
        let mut p = redis::cluster::cluster_pipe();
        for &i in chunk {
            match i % 5 {
                0 => p.cmd("SET").arg(format!("s:{i}")).arg(i).ignore(),
                1 => p
                    .cmd("HSET")
                    .arg(format!("h:{i}"))
                    .arg("a")
                    .arg(i)
                    .arg("b")
                    .arg("x")
                    .ignore(),
                2 => p
                    .cmd("RPUSH")
                    .arg(format!("l:{i}"))
                    .arg(i)
                    .arg("y")
                    .ignore(),
                3 => p.cmd("SADD").arg(format!("t:{i}")).arg(i).arg("z").ignore(),
                _ => p.cmd("ZADD").arg(format!("z:{i}")).arg(i).arg("m").ignore(),
            };
        }
        let _: () = p.query(&mut c).expect("load mixed keys");
    }
}

/// Every mixed key is there with its content.
fn verify_mixed(urls: &[String]) {
    let mut c = cluster_client(urls);
    for chunk in (0..MIXED_KEYS).collect::<Vec<_>>().chunks(2000) {
        let mut p = redis::cluster::cluster_pipe();
        for &i in chunk {
            match i % 5 {
                0 => p.cmd("GET").arg(format!("s:{i}")),
                1 => p.cmd("HGET").arg(format!("h:{i}")).arg("a"),
                2 => p.cmd("LINDEX").arg(format!("l:{i}")).arg(0),
                3 => p.cmd("SRANDMEMBER").arg(format!("t:{i}")).arg(-1),
                _ => p.cmd("ZSCORE").arg(format!("z:{i}")).arg("m"),
            };
        }
        let got: Vec<redis::Value> = p.query(&mut c).expect("read mixed keys");
        for (&i, v) in chunk.iter().zip(got) {
            let s = match v {
                redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                redis::Value::Array(a) if a.len() == 1 => match &a[0] {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("key {i}: unexpected {other:?}"),
                },
                redis::Value::Double(d) => d.to_string(),
                other => panic!("key {i} lost or wrong: {other:?}"),
            };
            let want = if i % 5 == 3 {
                // SRANDMEMBER -1 gives either member.
                assert!(s == i.to_string() || s == "z", "key t:{i}: {s}");
                continue;
            } else {
                i.to_string()
            };
            assert_eq!(s, want, "key {i}");
        }
    }
}

/// Runs `cmd`; on CLUSTERDOWN, reconnects and runs it once more. A node that left the
/// cluster (del-node resets it) answers CLUSTERDOWN for slots this client still maps to it,
/// and the crate re-reads the topology only on MOVED; redis-py reconnects on CLUSTERDOWN.
fn query_reconnecting<T: redis::FromRedisValue>(
    c: &mut redis::cluster::ClusterConnection,
    urls: &[String],
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query(c) {
        Err(e) if e.kind() == redis::ErrorKind::ClusterDown => {
            *c = cluster_client(urls);
            cmd.query(c)
        }
        r => r,
    }
}

/// What the writer saw: per counter, the last value the cluster acknowledged and the last it
/// tried to write.
struct LoadReport {
    acked: Vec<u64>,
    attempted: Vec<u64>,
    errors: Vec<String>,
    writes: u64,
}

struct Load {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<LoadReport>,
}

/// A stock cluster client writing `SET c:{i} <n>` with n increasing per key, and reading
/// keys back (a read never goes backwards past an acknowledged write).
fn start_load(urls: &[String]) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let urls = urls.to_vec();
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut c = cluster_client(&urls);
        let mut r = LoadReport {
            acked: vec![0; COUNTERS],
            attempted: vec![0; COUNTERS],
            errors: Vec::new(),
            writes: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut n: u64 = 0;
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline && r.errors.len() < 20 {
            n += 1;
            let i = (n as usize * 7919) % COUNTERS;
            let v = r.attempted[i] + 1;
            r.attempted[i] = v;
            let set = redis::cmd("SET").arg(format!("c:{i}")).arg(v).clone();
            let res: redis::RedisResult<()> = query_reconnecting(&mut c, &urls, &set);
            match res {
                Ok(()) => {
                    r.acked[i] = v;
                    r.writes += 1;
                }
                Err(e) => r.errors.push(format!("SET c:{i}: {e}")),
            }
            if n.is_multiple_of(3) {
                let j = (n as usize * 104_729) % COUNTERS;
                let get = redis::cmd("GET").arg(format!("c:{j}")).clone();
                let got: redis::RedisResult<Option<u64>> = query_reconnecting(&mut c, &urls, &get);
                match got {
                    Ok(g) => {
                        let g = g.unwrap_or(0);
                        if g < r.acked[j] || g > r.attempted[j] {
                            r.errors.push(format!(
                                "GET c:{j} = {g}, acked {}, attempted {}",
                                r.acked[j], r.attempted[j]
                            ));
                        }
                    }
                    Err(e) => r.errors.push(format!("GET c:{j}: {e}")),
                }
            }
        }
        r
    });
    Load { stop, handle }
}

/// Stops the writer and checks every counter: acked <= final <= attempted.
fn finish_load(load: Load, urls: &[String]) {
    load.stop.store(true, Ordering::Relaxed);
    let r = load.handle.join().expect("load thread");
    assert!(r.errors.is_empty(), "client saw errors: {:?}", r.errors);
    assert!(r.writes > 100, "the load ran ({} writes)", r.writes);
    let mut c = cluster_client(urls);
    for i in 0..COUNTERS {
        let got: Option<u64> = redis::cmd("GET")
            .arg(format!("c:{i}"))
            .query(&mut c)
            .expect("final read");
        let got = got.unwrap_or(0);
        assert!(
            r.acked[i] <= got && got <= r.attempted[i],
            "c:{i}: final {got}, acked {}, attempted {}",
            r.acked[i],
            r.attempted[i]
        );
    }
    eprintln!("load: {} acknowledged writes", r.writes);
}

/// `redis-cli --cluster check` reports no problem, and every node agrees on one owner per slot.
fn assert_clean(seed: &Node, nodes: &[&Node]) {
    let addr = format!("{}:{}", seed.host, seed.port);
    let ok = wait_for(Duration::from_secs(20), || {
        let (_, out) = run_tool("redis-cli", &["--cluster", "check", &addr], None);
        let clean = out.contains("[OK] All nodes agree about slots configuration.")
            && out.contains("[OK] All 16384 slots covered.")
            && !out.contains("[WARNING]")
            && !out.contains("[ERR]");
        clean.then_some(())
    });
    if ok.is_none() {
        let (_, out) = run_tool("redis-cli", &["--cluster", "check", &addr], None);
        panic!("cluster check not clean:\n{out}");
    }
    // The last SETSLOTs of a fix reach the other nodes by gossip: wait until every node
    // tells the same story.
    let mut first_try = true;
    let agreed = wait_for(Duration::from_secs(20), || {
        let views = owner_views(nodes);
        let same = views.windows(2).all(|w| w[0] == w[1]);
        if !same && first_try {
            eprintln!("nodes disagreed right after a clean check; waiting for gossip");
        }
        first_try = false;
        same.then_some(())
    });
    if agreed.is_none() {
        let texts: Vec<String> = nodes
            .iter()
            .map(|n| query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default())
            .collect();
        panic!(
            "nodes disagree about slot owners:\n{}",
            texts.join("\n---\n")
        );
    }
}

/// Each node's owner per slot, from its CLUSTER NODES (asserting one owner per slot).
fn owner_views(nodes: &[&Node]) -> Vec<HashMap<u16, String>> {
    let mut views = Vec::new();
    for n in nodes {
        let text = query_string(n, &["CLUSTER", "NODES"]).expect("cluster nodes");
        let mut owners: HashMap<u16, String> = HashMap::new();
        for n in parse_nodes(&text) {
            if !n.is_primary() {
                continue;
            }
            for &s in &n.slots {
                assert!(
                    owners.insert(s, n.id.clone()).is_none(),
                    "slot {s} owned twice"
                );
            }
        }
        assert_eq!(owners.len(), 16384, "every slot has an owner");
        views.push(owners);
    }
    views
}

fn total_keys(nodes: &[&Node]) -> u64 {
    nodes
        .iter()
        .map(|n| {
            let mut c = n.client();
            redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap_or(0)
        })
        .sum()
}

fn myid(n: &Node) -> String {
    query_string(n, &["CLUSTER", "MYID"]).expect("myid")
}

/// Waits until every node in `nodes` knows exactly `count` nodes and says the cluster is ok.
fn wait_known(nodes: &[&Node], count: usize) {
    let ok = wait_for(Duration::from_secs(20), || {
        nodes
            .iter()
            .all(|n| {
                let info = query_string(n, &["CLUSTER", "INFO"]).unwrap_or_default();
                info.contains(&format!("cluster_known_nodes:{count}\r"))
                    && info.contains("cluster_state:ok")
            })
            .then_some(())
    });
    assert!(ok.is_some(), "nodes did not converge on {count} members");
}

/// Writes `{tag}:i = i` for i in 0..n through a cluster client.
fn set_tagged(urls: &[String], tag: &str, n: u64) {
    let mut cc = cluster_client(urls);
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("{tag}:{i}"))
            .arg(i)
            .query(&mut cc)
            .unwrap();
    }
}

/// `MIGRATE <dst> "" 0 <timeout> KEYS ...`, ready to send to the source.
fn migrate_keys<K: redis::ToRedisArgs>(
    dst: &Node,
    timeout_ms: u64,
    keys: impl IntoIterator<Item = K>,
) -> redis::Cmd {
    let mut m = redis::cmd("MIGRATE");
    m.arg(&dst.host)
        .arg(dst.port)
        .arg("")
        .arg(0)
        .arg(timeout_ms)
        .arg("KEYS");
    for k in keys {
        m.arg(k);
    }
    m
}

/// The slot of a hash tag and the index of the node among `nodes` that holds its keys.
fn holder(nodes: &[Node], tag: &str) -> (u16, usize) {
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(tag)
        .query(&mut nodes[0].client())
        .unwrap();
    let owner = nodes
        .iter()
        .position(|n| {
            redis::cmd("CLUSTER")
                .arg("COUNTKEYSINSLOT")
                .arg(slot)
                .query::<u64>(&mut n.client())
                .unwrap_or(0)
                > 0
        })
        .unwrap_or_else(|| panic!("no node holds keys of {tag}"));
    (slot, owner)
}

/// Opens `slot` for a move from `src` to `dst`, as redis-cli does: target first.
fn open_slot(src: &Node, dst: &Node, slot: u16) {
    let s = slot.to_string();
    assert_eq!(
        query_string(dst, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &myid(src)]).as_deref(),
        Ok("OK")
    );
    assert_eq!(
        query_string(src, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &myid(dst)]).as_deref(),
        Ok("OK")
    );
}

/// One `redis-cli --cluster fix`, which must succeed (no retries: a reshard killed halfway
/// is stopped for good by `stop_tool`, so nothing moves slots while the fix runs).
fn redis_cli_fix(seed: &str) {
    let (ok, out) = run_tool("redis-cli", &["--cluster", "fix", seed], Some(b"yes\n"));
    assert!(ok, "fix: {out}");
}

fn three_primaries(extra: &[&str]) -> TestCluster {
    let c = TestCluster::start(3, extra);
    let (ok, out) = c.create_with_redis_cli(0);
    assert!(ok, "create: {out}");
    assert!(c.wait_ok(Duration::from_secs(20)));
    c
}

fn start_like(c: &TestCluster) -> Node {
    let _ = c;
    Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &cluster_tests::cluster::NODE_TIMEOUT_MS.to_string(),
    ])
}

#[test]
fn redis_cli_add_rebalance_reshard_and_del_node_under_load() {
    let c = three_primaries(&[]);
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    load_mixed(&urls);
    let load = start_load(&urls);

    let new = start_like(&c);
    let seed = c.addrs()[0].clone();
    let new_addr = format!("{}:{}", new.host, new.port);
    let (ok, out) = run_tool(
        "redis-cli",
        &["--cluster", "add-node", &new_addr, &seed],
        None,
    );
    assert!(ok, "add-node: {out}");
    let all: Vec<&Node> = c.nodes.iter().chain(std::iter::once(&new)).collect();
    wait_known(&all, 4);

    let started = Instant::now();
    let (ok, out) = run_tool(
        "redis-cli",
        &[
            "--cluster",
            "rebalance",
            &seed,
            "--cluster-use-empty-masters",
        ],
        None,
    );
    assert!(ok, "rebalance: {out}");
    eprintln!("rebalance onto the new primary: {:?}", started.elapsed());
    let new_id = myid(&new);
    let slots_of_new = || {
        let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).unwrap();
        parse_nodes(&text)
            .into_iter()
            .find(|n| n.id == new_id)
            .map(|n| n.slots)
            .unwrap_or_default()
    };
    assert!(!slots_of_new().is_empty(), "the new primary got slots");
    assert_clean(&c.nodes[0], &all);

    // Remove it again: reshard everything away, then del-node.
    let to = myid(&c.nodes[0]);
    let (ok, out) = run_tool(
        "redis-cli",
        &[
            "--cluster",
            "reshard",
            &seed,
            "--cluster-from",
            &new_id,
            "--cluster-to",
            &to,
            "--cluster-slots",
            "16384",
            "--cluster-yes",
        ],
        None,
    );
    assert!(ok, "reshard: {out}");
    let (ok, out) = run_tool(
        "redis-cli",
        &["--cluster", "del-node", &seed, &new_id],
        None,
    );
    assert!(ok, "del-node: {out}");
    let rest: Vec<&Node> = c.nodes.iter().collect();
    wait_known(&rest, 3);
    assert_clean(&c.nodes[0], &rest);

    finish_load(load, &urls);
    verify_mixed(&urls);
    assert_eq!(total_keys(&rest), (MIXED_KEYS + COUNTERS) as u64);
}

/// A reshard whose redis-cli is killed halfway leaves an open slot; `--cluster fix` closes
/// it with every key kept.
#[test]
fn fix_repairs_a_reshard_killed_halfway() {
    let c = three_primaries(&[]);
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    // Many keys in one slot so the move of that slot takes a while.
    let mut cc = cluster_client(&urls);
    for chunk in (0..30_000).collect::<Vec<_>>().chunks(5000) {
        let mut p = redis::cluster::cluster_pipe();
        for i in chunk {
            p.cmd("SET").arg(format!("{{big}}:{i}")).arg(i).ignore();
        }
        let _: () = p.query(&mut cc).unwrap();
    }
    let (slot, owner) = holder(&c.nodes, "{big}");
    let target = (owner + 1) % 3;
    let (from, to) = (myid(&c.nodes[owner]), myid(&c.nodes[target]));
    let seed = c.addrs()[0].clone();
    let load = start_load(&urls);
    // Move the whole source (so {big}'s slot is among them), pipeline 10 keys per MIGRATE.
    let mut cli = Command::new("timeout")
        .args([
            "60",
            "redis-cli",
            "--cluster",
            "reshard",
            &seed,
            "--cluster-from",
            &from,
            "--cluster-to",
            &to,
            "--cluster-slots",
            "5461",
            "--cluster-yes",
            "--cluster-pipeline",
            "10",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli");
    // Kill it while {big}'s slot is open.
    let open = wait_for(Duration::from_secs(40), || {
        let text = query_string(&c.nodes[owner], &["CLUSTER", "NODES"]).unwrap_or_default();
        text.contains(&format!("[{slot}->-")).then_some(())
    });
    cluster_tests::stop_tool(&mut cli);
    assert!(open.is_some(), "slot {slot} was never seen migrating");
    let text = query_string(&c.nodes[owner], &["CLUSTER", "NODES"]).unwrap();
    assert!(text.contains(&format!("[{slot}->-")), "left open: {text}");

    redis_cli_fix(&seed);
    let all: Vec<&Node> = c.nodes.iter().collect();
    assert_clean(&c.nodes[0], &all);
    finish_load(load, &urls);
    assert_eq!(total_keys(&all), 30_000 + COUNTERS as u64);
    let mut cc = cluster_client(&urls);
    for i in (0..30_000).step_by(997) {
        let v: redis::RedisResult<u64> =
            redis::cmd("GET").arg(format!("{{big}}:{i}")).query(&mut cc);
        let v = v.unwrap_or_else(|e| {
            let views: Vec<String> = all
                .iter()
                .map(|n| query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default())
                .collect();
            panic!("GET {{big}}:{i}: {e}\n{}", views.join("\n"))
        });
        assert_eq!(v, i);
    }
}

/// A MIGRATE to a target that stopped answering fails with IOERR after its timeout, keeps
/// the keys at the source, and the slot is repaired by `--cluster fix` once the target is
/// back.
#[test]
fn migrate_to_a_stopped_target_fails_with_ioerr_and_fix_repairs() {
    let c = three_primaries(&[]);
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    set_tagged(&urls, "{m}", 200);
    let (slot, owner) = holder(&c.nodes, "{m}");
    let target = (owner + 1) % 3;
    let (src, dst) = (&c.nodes[owner], &c.nodes[target]);
    open_slot(src, dst, slot);
    // Half the keys move normally.
    let keys: Vec<String> = (0..100).map(|i| format!("{{m}}:{i}")).collect();
    let m = migrate_keys(dst, 5000, &keys);
    let r: String = m.query(&mut src.client()).unwrap();
    assert_eq!(r, "OK");
    // Then the target stops.
    dst.pause();
    let keys: Vec<String> = (100..200).map(|i| format!("{{m}}:{i}")).collect();
    let m = migrate_keys(dst, 300, &keys);
    let started = Instant::now();
    let r: redis::RedisResult<String> = m.query(&mut src.client());
    let took = started.elapsed();
    dst.resume();
    let e = r.expect_err("MIGRATE to a stopped node fails");
    assert!(e.to_string().contains("IOERR"), "{e}");
    assert!(
        took < Duration::from_secs(5),
        "bounded by its timeout: {took:?}"
    );
    // The source still has the keys it could not hand over, and serves them.
    let v: u64 = redis::cmd("GET")
        .arg("{m}:150")
        .query(&mut src.client())
        .unwrap();
    assert_eq!(v, 150);
    assert!(c.wait_ok(Duration::from_secs(20)));

    let seed = c.addrs()[0].clone();
    redis_cli_fix(&seed);
    let all: Vec<&Node> = c.nodes.iter().collect();
    assert_clean(&c.nodes[0], &all);
    let mut cc = cluster_client(&urls);
    for i in 0..200 {
        let v: u64 = redis::cmd("GET")
            .arg(format!("{{m}}:{i}"))
            .query(&mut cc)
            .unwrap();
        assert_eq!(v, i);
    }
    assert_eq!(total_keys(&all), 200);
}

/// Sends one inline command and reads its reply: a status or error line as is, a bulk
/// string as its content (read byte by byte so nothing is buffered past the reply).
fn line(s: &mut std::net::TcpStream, cmd: &str) -> String {
    use std::io::{Read, Write};
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    let read_line = |s: &mut std::net::TcpStream| {
        let mut l = Vec::new();
        let mut b = [0u8; 1];
        while !l.ends_with(b"\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "connection closed");
            l.push(b[0]);
        }
        String::from_utf8_lossy(&l[..l.len() - 2]).into_owned()
    };
    let first = read_line(s);
    match first.strip_prefix('$') {
        Some(n) if n != "-1" => read_line(s),
        _ => first,
    }
}

#[test]
fn ask_tryagain_asking_and_migrate_errors() {
    let c = three_primaries(&[]);
    let mut n0 = c.nodes[0].client();
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("{a}")
        .query(&mut n0)
        .unwrap();
    let ids: Vec<String> = c.nodes.iter().map(myid).collect();
    let owner = c
        .nodes
        .iter()
        .position(|n| {
            let text = query_string(n, &["CLUSTER", "NODES"]).unwrap();
            parse_nodes(&text)
                .iter()
                .any(|n| n.is_myself() && n.owns(slot))
        })
        .unwrap();
    let t = (owner + 1) % 3;
    let (o_node, t_node) = (&c.nodes[owner], &c.nodes[t]);
    let o_addr = format!("{}:{}", o_node.host, o_node.port);
    let t_addr = format!("{}:{}", t_node.host, t_node.port);
    let mut o = o_node.raw();
    let mut tt = t_node.raw();
    assert_eq!(line(&mut o, "SET {a}x 1"), "+OK");
    assert_eq!(line(&mut o, "SET {a}z 1"), "+OK");
    assert!(line(
        &mut tt,
        &format!("CLUSTER SETSLOT {slot} MIGRATING {}", ids[owner])
    )
    .contains("not the owner"));
    assert_eq!(
        line(
            &mut tt,
            &format!("cluster setslot {slot} importing {}", ids[owner])
        ),
        "+OK"
    );
    assert_eq!(
        line(
            &mut o,
            &format!("CLUSTER SETSLOT {slot} MIGRATING {}", ids[t])
        ),
        "+OK"
    );
    let nodes = query_string(o_node, &["CLUSTER", "NODES"]).unwrap();
    assert!(nodes.contains(&format!("[{slot}->-{}]", ids[t])), "{nodes}");
    let nodes = query_string(t_node, &["CLUSTER", "NODES"]).unwrap();
    assert!(
        nodes.contains(&format!("[{slot}-<-{}]", ids[owner])),
        "{nodes}"
    );

    // Source: present keys are served here, missing ones are asked for at the target.
    assert_eq!(line(&mut o, "GET {a}x"), "1");
    assert_eq!(line(&mut o, "GET {a}y"), format!("-ASK {slot} {t_addr}"));
    assert_eq!(
        line(&mut o, "MGET {a}x {a}y"),
        "-TRYAGAIN Multiple keys request during rehashing of slot"
    );
    // Target: only after ASKING, and only for the next command.
    assert_eq!(line(&mut tt, "GET {a}y"), format!("-MOVED {slot} {o_addr}"));
    assert_eq!(line(&mut tt, "ASKING"), "+OK");
    assert_eq!(line(&mut tt, "SET {a}y 2"), "+OK");
    assert_eq!(line(&mut tt, "GET {a}y"), format!("-MOVED {slot} {o_addr}"));
    assert_eq!(line(&mut tt, "ASKING"), "+OK");
    assert_eq!(
        line(&mut tt, "MGET {a}y {a}x"),
        "-TRYAGAIN Multiple keys request during rehashing of slot"
    );

    // MIGRATE: moves, NOKEY, BUSYKEY (and REPLACE), IOERR.
    let m = |keys: &str, extra: &str| {
        format!(
            "MIGRATE {} {} \"\" 0 2000 {extra} KEYS {keys}",
            t_node.host, t_node.port
        )
    };
    assert_eq!(line(&mut o, &m("{a}x", "")), "+OK");
    assert_eq!(line(&mut o, "GET {a}x"), format!("-ASK {slot} {t_addr}"));
    assert_eq!(line(&mut o, &m("{a}nothing", "")), "+NOKEY");
    assert_eq!(line(&mut tt, "ASKING"), "+OK");
    assert_eq!(line(&mut tt, "SET {a}z 2"), "+OK");
    let busy = line(&mut o, &m("{a}z", ""));
    assert!(
        busy.starts_with("-ERR Target instance replied with error: BUSYKEY"),
        "{busy}"
    );
    assert_eq!(line(&mut o, "GET {a}z"), "1", "kept at the source");
    assert!(
        line(&mut o, &format!("CLUSTER SETSLOT {slot} NODE {}", ids[t]))
            .contains("still hold keys")
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let ioerr = line(
        &mut o,
        &format!("MIGRATE 127.0.0.1 {dead_port} {{a}}z 0 500"),
    );
    assert!(ioerr.starts_with("-IOERR"), "{ioerr}");
    assert_eq!(line(&mut o, "GET {a}z"), "1", "kept at the source");
    assert_eq!(line(&mut o, &m("{a}z", "REPLACE")), "+OK");
    // A new key in a migrating slot is created at the target.
    assert_eq!(line(&mut o, "SET {a}w 1"), format!("-ASK {slot} {t_addr}"));

    // Finish the move as redis-cli does: target first, then source, then the others.
    assert_eq!(
        line(&mut tt, &format!("CLUSTER SETSLOT {slot} NODE {}", ids[t])),
        "+OK"
    );
    assert_eq!(
        line(&mut o, &format!("CLUSTER SETSLOT {slot} NODE {}", ids[t])),
        "+OK"
    );
    let other = &c.nodes[(owner + 2) % 3];
    assert_eq!(
        query_string(
            other,
            &["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &ids[t]]
        )
        .as_deref(),
        Ok("OK")
    );
    assert_eq!(line(&mut o, "GET {a}x"), format!("-MOVED {slot} {t_addr}"));
    assert_eq!(line(&mut tt, "GET {a}z"), "1");
    let all: Vec<&Node> = c.nodes.iter().collect();
    assert_clean(&c.nodes[0], &all);
    assert_eq!(total_keys(&all), 3);
}

/// Standalone MIGRATE: another database, COPY, AUTH, and the target's password check.
#[test]
fn standalone_migrate_with_db_copy_and_auth() {
    let src = Node::start(&[]);
    let dst = Node::start(&["--requirepass", "pw"]);
    let mut s = src.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut s).unwrap();
    let _: () = redis::cmd("SET").arg("k2").arg("v2").query(&mut s).unwrap();
    let no_auth: redis::RedisResult<String> = redis::cmd("MIGRATE")
        .arg(&dst.host)
        .arg(dst.port)
        .arg("k")
        .arg(3)
        .arg(1000)
        .query(&mut s);
    let e = no_auth.expect_err("target wants a password").to_string();
    assert!(e.contains("NOAUTH"), "{e}");
    let r: String = redis::cmd("MIGRATE")
        .arg(&dst.host)
        .arg(dst.port)
        .arg("k")
        .arg(3)
        .arg(1000)
        .arg("COPY")
        .arg("AUTH")
        .arg("pw")
        .query(&mut s)
        .unwrap();
    assert_eq!(r, "OK");
    let kept: Option<String> = redis::cmd("GET").arg("k").query(&mut s).unwrap();
    assert_eq!(kept.as_deref(), Some("v"), "COPY keeps the source key");
    let r: String = redis::cmd("MIGRATE")
        .arg(&dst.host)
        .arg(dst.port)
        .arg("")
        .arg(3)
        .arg(1000)
        .arg("AUTH2")
        .arg("default")
        .arg("pw")
        .arg("KEYS")
        .arg("k2")
        .query(&mut s)
        .unwrap();
    assert_eq!(r, "OK");
    let gone: Option<String> = redis::cmd("GET").arg("k2").query(&mut s).unwrap();
    assert_eq!(gone, None, "moved keys leave the source");
    let mut d = redis::Client::open(format!("redis://:pw@{}:{}/3", dst.host, dst.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let got: Vec<Option<String>> = redis::cmd("MGET").arg("k").arg("k2").query(&mut d).unwrap();
    assert_eq!(got, vec![Some("v".into()), Some("v2".into())]);
    let bad: redis::RedisResult<String> = redis::cmd("MIGRATE")
        .arg(&dst.host)
        .arg(dst.port)
        .arg("k")
        .arg(0)
        .arg(1000)
        .arg("KEYS")
        .arg("k")
        .query(&mut s);
    assert!(bad.unwrap_err().to_string().contains("empty string"));
}

/// Runs slotcache-cli (bounded by `timeout`), returning (success, stdout + stderr).
fn slotcache_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("300")
        .arg(cluster_tests::cli_bin())
        .args(args)
        .output()
        .expect("run slotcache-cli");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn slotcache_cli_add_node_remove_node_and_fix_under_load() {
    let c = three_primaries(&[]);
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    load_mixed(&urls);
    let load = start_load(&urls);
    let seed = c.addrs()[0].clone();

    let new = start_like(&c);
    let new_addr = format!("{}:{}", new.host, new.port);
    let (ok, out) = slotcache_cli(&["cluster", "add-node", &new_addr, "--to", &seed]);
    assert!(ok, "add-node: {out}");
    eprintln!("add-node: {}", out.lines().last().unwrap_or(""));
    let all: Vec<&Node> = c.nodes.iter().chain(std::iter::once(&new)).collect();
    assert_clean(&c.nodes[0], &all);
    let new_id = myid(&new);
    let owned = query_string(&new, &["CLUSTER", "NODES"]).unwrap();
    let mine = parse_nodes(&owned)
        .into_iter()
        .find(|n| n.id == new_id)
        .map(|n| n.slots)
        .unwrap_or_default();
    assert!(!mine.is_empty(), "the new primary got slots: {owned}");

    let (ok, out) = slotcache_cli(&["cluster", "remove-node", &new_id, "--seed", &seed]);
    assert!(ok, "remove-node: {out}");
    let rest: Vec<&Node> = c.nodes.iter().collect();
    wait_known(&rest, 3);
    assert_clean(&c.nodes[0], &rest);

    // An interrupted move, made by hand: half of a slot's keys moved, both sides open.
    set_tagged(&urls, "{f}", 100);
    let (slot, owner) = holder(&c.nodes, "{f}");
    let (src, dst) = (&c.nodes[owner], &c.nodes[(owner + 1) % 3]);
    open_slot(src, dst, slot);
    let m = migrate_keys(dst, 5000, (0..50).map(|i| format!("{{f}}:{i}")));
    assert_eq!(m.query::<String>(&mut src.client()).unwrap(), "OK");
    let (ok, out) = slotcache_cli(&["cluster", "fix", &seed]);
    assert!(ok, "fix: {out}");
    assert_clean(&c.nodes[0], &rest);

    finish_load(load, &urls);
    verify_mixed(&urls);
    let mut cc = cluster_client(&urls);
    for i in 0..100 {
        let v: u64 = redis::cmd("GET")
            .arg(format!("{{f}}:{i}"))
            .query(&mut cc)
            .unwrap();
        assert_eq!(v, i);
    }
    assert_eq!(total_keys(&rest), (MIXED_KEYS + COUNTERS + 100) as u64);
}

/// A big value is serialized off the lock: other clients keep being served while it moves;
/// a failed move puts it back whole.
#[test]
fn big_values_move_whole_and_come_back_after_a_failed_move() {
    let src = Node::start(&[]);
    let dst = Node::start(&[]);
    let mut s = src.client();
    const FIELDS: usize = 200_000;
    for chunk in (0..FIELDS).collect::<Vec<_>>().chunks(10_000) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg("big");
        for i in chunk {
            cmd.arg(format!("f{i}")).arg(format!("value-{i}"));
        }
        let _: u64 = cmd.query(&mut s).unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("small")
        .arg("1")
        .query(&mut s)
        .unwrap();
    // A failed move leaves it here, whole.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let r: redis::RedisResult<String> = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(dead)
        .arg("big")
        .arg(0)
        .arg(500)
        .query(&mut s);
    assert!(r.unwrap_err().to_string().contains("IOERR"));
    let n: usize = redis::cmd("HLEN").arg("big").query(&mut s).unwrap();
    assert_eq!(n, FIELDS);
    // A successful one, while another client keeps reading.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let url = src.url();
    let reader = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut worst = Duration::ZERO;
        let mut reads = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
            let t = Instant::now();
            let v: String = redis::cmd("GET").arg("small").query(&mut c).unwrap();
            assert_eq!(v, "1");
            worst = worst.max(t.elapsed());
            reads += 1;
        }
        (worst, reads)
    });
    let r: String = redis::cmd("MIGRATE")
        .arg(&dst.host)
        .arg(dst.port)
        .arg("big")
        .arg(0)
        .arg(10_000)
        .query(&mut s)
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (worst, reads) = reader.join().unwrap();
    eprintln!("other client during the move: {reads} reads, slowest {worst:?}");
    assert_eq!(r, "OK");
    let gone: u64 = redis::cmd("EXISTS").arg("big").query(&mut s).unwrap();
    assert_eq!(gone, 0);
    let mut d = dst.client();
    let n: usize = redis::cmd("HLEN").arg("big").query(&mut d).unwrap();
    assert_eq!(n, FIELDS);
    let v: String = redis::cmd("HGET")
        .arg("big")
        .arg("f12345")
        .query(&mut d)
        .unwrap();
    assert_eq!(v, "value-12345");
}

/// Replicas of both sides follow a slot move: the target's replica has the keys (the move
/// waited for it), the source's replica dropped them, every node agrees on the new owner,
/// and the target failing over right after the move loses nothing.
#[test]
fn replicas_follow_a_slot_move_and_a_target_failover_keeps_the_keys() {
    let c = TestCluster::start(6, &[]);
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(30)));
    let ids = c.ids();
    let urls: Vec<String> = c.nodes[..3].iter().map(|n| n.url()).collect();
    set_tagged(&urls, "{r}", 500);
    let (slot, owner) = holder(&c.nodes[..3], "{r}");
    let target = (owner + 1) % 3;
    // Replicas were attached round robin: node 3+i replicates primary i.
    let (src, dst) = (&c.nodes[owner], &c.nodes[target]);
    let (src_replica, dst_replica) = (&c.nodes[3 + owner], &c.nodes[3 + target]);
    let ok = wait_for(Duration::from_secs(20), || {
        let info = query_string(dst, &["INFO", "replication"]).unwrap_or_default();
        info.contains("connected_slaves:1").then_some(())
    });
    assert!(ok.is_some(), "target has its replica");
    open_slot(src, dst, slot);
    let s = slot.to_string();
    for chunk in (0..500).collect::<Vec<_>>().chunks(100) {
        let m = migrate_keys(dst, 5000, chunk.iter().map(|i| format!("{{r}}:{i}")));
        assert_eq!(m.query::<String>(&mut src.client()).unwrap(), "OK");
    }
    // The target's replica acknowledged every moved key before the source dropped it.
    let mut rc = dst_replica.client();
    let _: () = redis::cmd("READONLY").query(&mut rc).unwrap();
    let on_replica: u64 = redis::cmd("DBSIZE").query(&mut rc).unwrap();
    assert!(on_replica >= 500, "target replica has {on_replica} keys");
    for n in [dst, src, &c.nodes[(owner + 2) % 3]] {
        assert_eq!(
            query_string(n, &["CLUSTER", "SETSLOT", &s, "NODE", &ids[target]]).as_deref(),
            Ok("OK")
        );
    }
    // Every node, replicas included, sees the new owner.
    let agreed = wait_for(Duration::from_secs(20), || {
        c.nodes
            .iter()
            .all(|n| {
                let text = query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default();
                parse_nodes(&text)
                    .iter()
                    .any(|n| n.id == ids[target] && n.is_primary() && n.owns(slot))
            })
            .then_some(())
    });
    assert!(agreed.is_some(), "all nodes agree on the new owner");
    // The source's replica dropped the moved keys.
    let src_keys: u64 = redis::cmd("DBSIZE").query(&mut src.client()).unwrap();
    let followed = wait_for(Duration::from_secs(10), || {
        let n: u64 = redis::cmd("DBSIZE")
            .query(&mut src_replica.client())
            .unwrap_or(u64::MAX);
        (n == src_keys).then_some(())
    });
    assert!(followed.is_some(), "source replica dropped the moved keys");
    // The target dies right after the move: its replica takes over with every key.
    let pid = dst.pid().expect("target pid") as i32;
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let promoted = wait_for(Duration::from_secs(30), || {
        let info = query_string(dst_replica, &["INFO", "replication"]).unwrap_or_default();
        info.contains("role:master").then_some(())
    });
    assert!(promoted.is_some(), "target's replica promoted");
    let mut rc = dst_replica.client();
    for i in 0..500 {
        let v: Option<u64> = redis::cmd("GET")
            .arg(format!("{{r}}:{i}"))
            .query(&mut rc)
            .unwrap();
        assert_eq!(v, Some(i), "key {{r}}:{i} after the failover");
    }
}
