//! Client-side caching (CLIENT TRACKING) over real connections: RESP3 push invalidations
//! and RESP2 redirection to a `__redis__:invalidate` subscriber, for writes, expiry,
//! eviction, flushes, a slot moved away, a failover of the tracked node, and a caching
//! client racing a writer that must never serve a value the server has since changed.

use cluster_tests::cluster::{query_string, TestCluster};
use cluster_tests::{q, wait_for, Node};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A RESP3 value, as much of it as these tests read.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Str(Vec<u8>),
    Int(i64),
    Nil,
    Err(String),
    Arr(Vec<V>),
    Push(Vec<V>),
}

impl V {
    fn text(&self) -> String {
        match self {
            V::Str(b) => String::from_utf8_lossy(b).into_owned(),
            V::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// A raw connection that sees push messages as they come, between replies.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, args: &[&str]) {
        self.w
            .write_all(&slotcache_proto::command::to_vec(args))
            .unwrap();
    }

    fn read(&mut self) -> V {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).expect("read");
        assert!(line.len() >= 3, "connection closed");
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let n = || body.parse::<i64>().unwrap_or(-1);
        match line[0] {
            b'+' => V::Str(body.into_bytes()),
            b'-' => V::Err(body),
            b':' => V::Int(n()),
            b'_' => V::Nil,
            b'$' if n() < 0 => V::Nil,
            b'$' => {
                let mut b = vec![0; n() as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n() as usize);
                V::Str(b)
            }
            b'*' | b'~' | b'>' if n() < 0 => V::Nil,
            b'*' | b'~' => V::Arr((0..n()).map(|_| self.read()).collect()),
            b'>' => V::Push((0..n()).map(|_| self.read()).collect()),
            b'%' => V::Arr((0..2 * n()).map(|_| self.read()).collect()),
            other => panic!("unexpected RESP type {}", other as char),
        }
    }

    /// Sends a command and returns its reply, keeping push messages that came first.
    fn call(&mut self, args: &[&str], pushes: &mut Vec<V>) -> V {
        self.send(args);
        loop {
            match self.read() {
                V::Push(p) => pushes.push(V::Push(p)),
                v => return v,
            }
        }
    }

    fn call_ok(&mut self, args: &[&str]) -> V {
        let mut pushes = Vec::new();
        let v = self.call(args, &mut pushes);
        assert!(!matches!(v, V::Err(_)), "{args:?}: {v:?}");
        v
    }
}

/// `invalidate [keys]` (or `invalidate nil` for "everything").
fn invalidate(keys: Option<&[&str]>) -> V {
    V::Push(vec![
        V::Str(b"invalidate".to_vec()),
        match keys {
            Some(ks) => V::Arr(ks.iter().map(|k| V::Str(k.as_bytes().to_vec())).collect()),
            None => V::Nil,
        },
    ])
}

fn resp3_tracking(port: u16, opts: &[&str]) -> Raw {
    let mut c = Raw::connect(port);
    c.call_ok(&["HELLO", "3"]);
    let mut args = vec!["CLIENT", "TRACKING", "on"];
    args.extend_from_slice(opts);
    assert_eq!(c.call_ok(&args), V::Str(b"OK".to_vec()));
    c
}

#[test]
fn writes_expiry_and_flushes_invalidate_resp3_clients() {
    let node = Node::start(&[]);
    let mut w = node.client();
    let mut t = resp3_tracking(node.port, &[]);
    let _: () = q(&mut w, &["SET", "k", "1"]);
    assert_eq!(t.call_ok(&["GET", "k"]).text(), "1");
    let _: () = q(&mut w, &["SET", "k", "2"]);
    assert_eq!(t.read(), invalidate(Some(&["k"])));
    // A key nobody read since its last invalidation is not reported again.
    let _: () = q(&mut w, &["SET", "k", "3"]);
    let mut pushes = Vec::new();
    assert_eq!(t.call(&["GET", "k"], &mut pushes).text(), "3");
    assert!(pushes.is_empty(), "invalidated twice: {pushes:?}");
    // Its own write: the reply first, then the message.
    let mut pushes = Vec::new();
    assert_eq!(t.call(&["DEL", "k"], &mut pushes), V::Int(1));
    assert!(pushes.is_empty(), "{pushes:?}");
    assert_eq!(t.read(), invalidate(Some(&["k"])));
    // Active expiry.
    let _: () = q(&mut w, &["SET", "e", "v", "PX", "50"]);
    t.call_ok(&["GET", "e"]);
    assert_eq!(t.read(), invalidate(Some(&["e"])));
    // FLUSHALL: everything.
    t.call_ok(&["GET", "x"]);
    let _: () = q(&mut w, &["FLUSHALL"]);
    assert_eq!(t.read(), invalidate(None));
    let info: String = q(&mut w, &["INFO", "clients"]);
    assert!(info.contains("tracking_clients:1"), "{info}");
}

#[test]
fn resp2_clients_redirect_to_a_subscriber_and_bcast_sends_prefixes() {
    let node = Node::start(&[]);
    let mut w = node.client();
    let mut sub = Raw::connect(node.port);
    let id = sub.call_ok(&["CLIENT", "ID"]).text();
    sub.send(&["SUBSCRIBE", "__redis__:invalidate"]);
    sub.read();
    let mut t = Raw::connect(node.port);
    t.call_ok(&["CLIENT", "TRACKING", "on", "REDIRECT", &id]);
    assert_eq!(
        t.call_ok(&["CLIENT", "GETREDIR"]),
        V::Int(id.parse().unwrap())
    );
    t.call_ok(&["MGET", "a", "b"]);
    let _: () = q(&mut w, &["MSET", "a", "1", "c", "1"]);
    let m = sub.read();
    assert_eq!(
        m,
        V::Arr(vec![
            V::Str(b"message".to_vec()),
            V::Str(b"__redis__:invalidate".to_vec()),
            V::Arr(vec![V::Str(b"a".to_vec())]),
        ])
    );
    // BCAST with prefixes: one message per prefix, after the whole transaction.
    t.call_ok(&["CLIENT", "TRACKING", "off"]);
    t.call_ok(&[
        "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &id, "PREFIX", "p:",
    ]);
    let _: () = q(&mut w, &["MSET", "p:1", "x", "p:2", "y", "q:1", "z"]);
    match sub.read() {
        V::Arr(parts) => {
            let mut keys: Vec<String> = match &parts[2] {
                V::Arr(ks) => ks.iter().map(V::text).collect(),
                other => panic!("{other:?}"),
            };
            keys.sort();
            assert_eq!(keys, ["p:1", "p:2"]);
        }
        other => panic!("{other:?}"),
    }
    let info = t.call_ok(&["CLIENT", "TRACKINGINFO"]);
    match &info {
        V::Arr(fields) => assert_eq!(
            fields[1],
            V::Arr(vec![V::Str(b"on".to_vec()), V::Str(b"bcast".to_vec())])
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn eviction_invalidates_before_the_reply() {
    let node = Node::start(&["--maxmemory-policy", "volatile-lru"]);
    let mut w = node.client();
    let mut t = resp3_tracking(node.port, &[]);
    let _: () = q(&mut w, &["SET", "volatile", "x", "EX", "1000"]);
    t.call_ok(&["GET", "volatile"]);
    let info: String = q(&mut w, &["INFO", "memory"]);
    let used: u64 = cluster_tests::info_field(&info, "used_memory")
        .and_then(|v| v.parse().ok())
        .unwrap();
    let limit = (used + 200 * 1024).to_string();
    let _: () = q(&mut w, &["CONFIG", "SET", "maxmemory", &limit]);
    // Grows memory past the limit without a write that would be refused: the next
    // command of the tracking client evicts the volatile key and hears of it first.
    let _: i64 = q(&mut w, &["SETBIT", "big", "3200000", "1"]);
    let mut pushes = Vec::new();
    let reply = t.call(&["GETBIT", "big", "0"], &mut pushes);
    assert_eq!(reply, V::Int(0));
    assert_eq!(pushes, vec![invalidate(Some(&["volatile"]))]);
    let _: () = q(&mut w, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn a_slot_moved_away_invalidates_its_keys() {
    let c = TestCluster::start(2, &[]);
    c.form_by_hand();
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let ids = c.ids();
    // {06S} hashes to slot 0, which node 0 owns.
    let key = "{06S}cached";
    let mut w = c.nodes[0].client();
    let _: () = q(&mut w, &["SET", key, "v"]);
    let mut t = resp3_tracking(c.nodes[0].port, &[]);
    assert_eq!(t.call_ok(&["GET", key]).text(), "v");
    let (src, dst) = (&c.nodes[0], &c.nodes[1]);
    for (n, args) in [
        (dst, vec!["CLUSTER", "SETSLOT", "0", "IMPORTING", &ids[0]]),
        (src, vec!["CLUSTER", "SETSLOT", "0", "MIGRATING", &ids[1]]),
    ] {
        assert_eq!(query_string(n, &args).as_deref(), Ok("OK"));
    }
    let port = dst.port.to_string();
    let moved = query_string(
        src,
        &["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS", key],
    );
    assert_eq!(moved.as_deref(), Ok("OK"));
    assert_eq!(t.read(), invalidate(Some(&[key])));
    for n in [dst, src] {
        let r = query_string(n, &["CLUSTER", "SETSLOT", "0", "NODE", &ids[1]]);
        assert_eq!(r.as_deref(), Ok("OK"));
    }
    match t.call_ok(&["CLIENT", "ID"]) {
        V::Int(_) => {}
        other => panic!("{other:?}"),
    }
    let mut pushes = Vec::new();
    let r = t.call(&["GET", key], &mut pushes);
    assert!(
        matches!(&r, V::Err(e) if e.starts_with("MOVED 0 ")),
        "{r:?}"
    );
}

#[test]
fn a_failover_of_the_tracked_node_invalidates_everything() {
    let c = TestCluster::start(4, &[]);
    c.form_with_replicas(2);
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let ids = c.ids();
    let key = "{06S}f";
    let nodes_text = || query_string(&c.nodes[0], &["CLUSTER", "NODES"]).unwrap_or_default();
    let primary = (0..c.nodes.len())
        .find(|&i| {
            nodes_text()
                .lines()
                .any(|l| l.starts_with(&ids[i]) && l.contains("master") && l.ends_with(" 0-8191"))
        })
        .expect("slot 0's primary");
    let replica = wait_for(Duration::from_secs(20), || {
        (0..c.nodes.len()).find(|&i| {
            query_string(&c.nodes[i], &["CLUSTER", "NODES"])
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&ids[primary]))
        })
    })
    .expect("slot 0's replica");
    let mut w = c.nodes[primary].client();
    let _: () = q(&mut w, &["SET", key, "v"]);
    let mut t = resp3_tracking(c.nodes[primary].port, &[]);
    assert_eq!(t.call_ok(&["GET", key]).text(), "v");
    let r = query_string(&c.nodes[replica], &["CLUSTER", "FAILOVER"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    // Before serving as a replica (and redirecting), the old primary tells its caching
    // clients that nothing they hold can be trusted.
    assert_eq!(t.read(), invalidate(None));
    let became_replica = wait_for(Duration::from_secs(10), || {
        let role: Vec<redis::Value> = q(&mut c.nodes[primary].client(), &["ROLE"]);
        (role.first() == Some(&redis::Value::BulkString(b"slave".to_vec()))).then_some(())
    });
    assert!(
        became_replica.is_some(),
        "the old primary did not become a replica"
    );
}

/// A caching client and a writer race over 1,000 keys. The caching client serves a read
/// from its cache only if no invalidation arrived for the key since it cached it; every
/// such read is checked against the writer's history: the cached value must be the latest
/// one the writer had confirmed when the caching client sent its previous command (a write
/// confirmed later may still have its invalidation in flight).
#[test]
fn a_caching_client_never_serves_a_value_changed_before_its_last_round_trip() {
    let node = Node::start(&[]);
    const KEYS: usize = 1000;
    let stop = Arc::new(AtomicBool::new(false));
    // Per key: versions confirmed to the writer, in order.
    let confirmed: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; KEYS]));
    {
        let mut w = node.client();
        for k in 0..KEYS {
            let _: () = q(&mut w, &["SET", &format!("r:{k}"), "0"]);
        }
    }
    let writer = {
        let (stop, confirmed, port) = (stop.clone(), confirmed.clone(), node.port);
        std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            let mut version = 0u64;
            let mut rng = 7u64;
            while !stop.load(Ordering::Relaxed) {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                let k = (rng >> 33) as usize % KEYS;
                version += 1;
                let _: () = redis::cmd("SET")
                    .arg(format!("r:{k}"))
                    .arg(version)
                    .query(&mut w)
                    .unwrap();
                confirmed.lock().unwrap()[k] = version;
            }
            version
        })
    };
    let mut t = resp3_tracking(node.port, &[]);
    let mut cache: HashMap<usize, u64> = HashMap::new();
    let (mut from_cache, mut from_server, mut stale) = (0u64, 0u64, 0u64);
    let mut rng = 11u64;
    let start = Instant::now();
    let duration = Duration::from_secs(30);
    while start.elapsed() < duration {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
        let k = (rng >> 33) as usize % KEYS;
        // What the writer had confirmed before this round trip: the server had run those
        // writes, so their invalidations precede the reply below.
        let before: Vec<u64> = confirmed.lock().unwrap().clone();
        let mut pushes = Vec::new();
        let pong = t.call(&["PING"], &mut pushes);
        assert_eq!(pong, V::Str(b"PONG".to_vec()));
        for p in pushes {
            if let V::Push(parts) = p {
                match &parts[1] {
                    V::Arr(keys) => keys.iter().for_each(|key| {
                        let name = key.text();
                        if let Some(i) = name.strip_prefix("r:").and_then(|i| i.parse().ok()) {
                            cache.remove(&i);
                        }
                    }),
                    _ => cache.clear(),
                }
            }
        }
        match cache.get(&k) {
            Some(&v) => {
                from_cache += 1;
                if v < before[k] {
                    stale += 1;
                }
            }
            None => {
                let mut pushes = Vec::new();
                let v: u64 = t
                    .call(&["GET", &format!("r:{k}")], &mut pushes)
                    .text()
                    .parse()
                    .unwrap();
                from_server += 1;
                // A message that came with the reply may be for this key's older value;
                // the value read is at least as new, so only other keys are dropped.
                for p in pushes {
                    if let V::Push(parts) = p {
                        if let V::Arr(keys) = &parts[1] {
                            for key in keys {
                                if let Some(i) =
                                    key.text().strip_prefix("r:").and_then(|i| i.parse().ok())
                                {
                                    if i != k {
                                        cache.remove(&i);
                                    }
                                }
                            }
                        }
                    }
                }
                cache.insert(k, v);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    eprintln!(
        "{writes} writes; {from_cache} reads from the cache, {from_server} from the server, {stale} stale"
    );
    assert!(
        writes > 1000 && from_cache > 100,
        "too little traffic to judge"
    );
    assert_eq!(
        stale, 0,
        "the caching client served values the server had changed"
    );
}

/// A node that takes a slot with a newer config (here by hand: SETSLOT NODE on itself, then
/// BUMPEPOCH) leaves the old owner holding keys nobody can reach: the old owner deletes them,
/// as Redis does with its dirty slots, which tells its caching clients; keys of the slots it
/// keeps stay.
#[test]
fn a_slot_taken_by_a_newer_config_deletes_its_keys_and_invalidates_them() {
    let c = TestCluster::start(2, &[]);
    c.form_by_hand();
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let ids = c.ids();
    // {06S} hashes to slot 0 and {Qi} to slot 1, both node 0's.
    let (lost, kept) = ("{06S}cached", "{Qi}kept");
    let mut w = c.nodes[0].client();
    let _: () = q(&mut w, &["SET", lost, "v"]);
    let _: () = q(&mut w, &["SET", kept, "k"]);
    let mut t = resp3_tracking(c.nodes[0].port, &[]);
    assert_eq!(t.call_ok(&["GET", lost]).text(), "v");
    assert_eq!(t.call_ok(&["GET", kept]).text(), "k");
    let taker = &c.nodes[1];
    let r = query_string(taker, &["CLUSTER", "SETSLOT", "0", "NODE", &ids[1]]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let r = query_string(taker, &["CLUSTER", "BUMPEPOCH"]).unwrap_or_default();
    assert!(r.starts_with("BUMPED") || r.starts_with("STILL"), "{r}");
    assert_eq!(t.read(), invalidate(Some(&[lost])));
    let counts = wait_for(Duration::from_secs(10), || {
        let n: i64 = q(&mut w, &["CLUSTER", "COUNTKEYSINSLOT", "0"]);
        (n == 0).then_some(n)
    });
    assert_eq!(counts, Some(0), "node 0 kept the keys of the slot it lost");
    let n: i64 = q(&mut w, &["CLUSTER", "COUNTKEYSINSLOT", "1"]);
    assert_eq!(n, 1, "the keys of a slot node 0 still owns must stay");
    let mut pushes = Vec::new();
    let r = t.call(&["GET", lost], &mut pushes);
    assert!(
        matches!(&r, V::Err(e) if e.starts_with("MOVED 0 ")),
        "{r:?}"
    );
}
