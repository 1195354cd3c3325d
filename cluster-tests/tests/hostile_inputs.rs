//! Inputs built to hurt a node: huge counts, counted keys past the arguments, patterns built to
//! backtrack, unauthenticated floods, clients that never read, panics, config values that
//! carry newlines, crafted payloads. Each test names the case of issue #20 it covers; the
//! node must answer with a Redis-style error or drop that one connection, and keep serving.

use cluster_tests::{
    info_field, own_all_slots, raw_exchange, read_to_close, server_error, still_serves, wait_for,
    Node,
};
use redis::Connection;
use std::io::Write;
use std::time::{Duration, Instant};

fn used_memory(c: &mut Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
    info_field(&info, "used_memory").unwrap().parse().unwrap()
}

fn info(c: &mut Connection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    info_field(&text, field).unwrap_or_default()
}

/// Whether the peer closes the connection within `secs`.
fn closes_within(s: &mut std::net::TcpStream, secs: u64) -> bool {
    read_to_close(s, Duration::from_secs(secs)).1
}

/// Case 1: a random-count command cannot size a reply from a count alone.
#[test]
fn random_member_commands_refuse_counts_they_could_never_serve() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg("a")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SADD").arg("s").arg("a").query(&mut c).unwrap();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let rss_before = node.rss().unwrap_or(0);
    for count in ["-9223372036854770000", "-9223372036854775807"] {
        for cmd in [
            vec!["ZRANDMEMBER", "z", count],
            vec!["ZRANDMEMBER", "z", count, "WITHSCORES"],
            vec!["SRANDMEMBER", "s", count],
            vec!["HRANDFIELD", "h", count],
            vec!["HRANDFIELD", "h", count, "WITHVALUES"],
        ] {
            let e = server_error(&mut c, &cmd);
            assert!(e.contains("value is out of range"), "{cmd:?}: {e}");
        }
    }
    let e = server_error(&mut c, &["ZRANDMEMBER", "z", "-9223372036854775808"]);
    assert!(e.contains("value is out of range"), "{e}");
    // Counts a reply can hold are still served, with repetitions.
    let v: Vec<String> = redis::cmd("ZRANDMEMBER")
        .arg("z")
        .arg(-5)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["a"; 5]);
    let grown = node.rss().unwrap_or(0).saturating_sub(rss_before);
    assert!(grown < 64 << 20, "RSS grew by {grown} bytes");
    still_serves(&node);
}

/// Case 2: a key count larger than the arguments names no keys, in COMMAND GETKEYS and in
/// cluster routing, and costs nothing.
#[test]
fn counted_keys_past_the_arguments_neither_hang_nor_invent_keys() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let started = Instant::now();
    for cmd in [
        vec![
            "COMMAND",
            "GETKEYS",
            "LMPOP",
            "9223372036854775807",
            "a",
            "LEFT",
        ],
        vec!["COMMAND", "GETKEYS", "LMPOP", "1000", "a", "LEFT"],
        vec!["COMMAND", "GETKEYS", "ZUNION", "-5", "a"],
        vec![
            "COMMAND",
            "GETKEYS",
            "ZUNIONSTORE",
            "d",
            "9223372036854775807",
            "a",
        ],
    ] {
        assert_eq!(
            server_error(&mut c, &cmd),
            "ERR Invalid arguments specified for command",
            "{cmd:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("LMPOP")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["a", "b"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("ZUNIONSTORE")
        .arg("d")
        .arg(2)
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["d", "a", "b"]);
    assert_eq!(
        server_error(&mut c, &["COMMAND", "GETKEYS", "PING", "x"]),
        "ERR The command has no key arguments"
    );

    // In cluster mode, routing reads the same key positions before the command runs.
    let cluster = Node::start(&["--cluster-enabled", "yes"]);
    let mut cc = cluster.client();
    own_all_slots(&mut cc);
    let started = Instant::now();
    let e = server_error(
        &mut cc,
        &["ZUNIONSTORE", "{t}d", "9223372036854775807", "{t}a"],
    );
    assert!(e.starts_with("ERR"), "{e}");
    let e = server_error(&mut cc, &["LMPOP", "9223372036854775807", "a", "LEFT"]);
    assert!(e.starts_with("ERR"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    still_serves(&cluster);
}

/// Case 3: glob patterns match in bounded time, whatever their stars or length.
#[test]
fn glob_patterns_built_to_backtrack_answer_at_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let key = "a".repeat(60);
    let _: () = redis::cmd("SET").arg(&key).arg(1).query(&mut c).unwrap();
    let _: () = redis::cmd("SADD").arg("s").arg(&key).query(&mut c).unwrap();
    let hostile = format!("{}b", "*a".repeat(30));
    let mega_stars = "*".repeat(1 << 20);
    let mega_alternating = format!("{}b", "*a".repeat(1 << 19));
    let started = Instant::now();
    let found: Vec<String> = redis::cmd("KEYS").arg(&hostile).query(&mut c).unwrap();
    assert!(found.is_empty());
    let found: Vec<String> = redis::cmd("KEYS").arg(&mega_stars).query(&mut c).unwrap();
    assert_eq!(found.len(), 2);
    let found: Vec<String> = redis::cmd("KEYS")
        .arg(&mega_alternating)
        .query(&mut c)
        .unwrap();
    assert!(found.is_empty());
    let (_, found): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(&mega_alternating)
        .arg("COUNT")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    assert!(found.is_empty());
    let (_, found): (String, Vec<String>) = redis::cmd("SSCAN")
        .arg("s")
        .arg(0)
        .arg("MATCH")
        .arg(&hostile)
        .query(&mut c)
        .unwrap();
    assert!(found.is_empty());
    // A subscriber's pattern is matched on every PUBLISH.
    let mut sub = node.client();
    let _: () = redis::cmd("PSUBSCRIBE")
        .arg(&hostile)
        .query(&mut sub)
        .unwrap();
    let n: i64 = redis::cmd("PUBLISH")
        .arg(&key)
        .arg("m")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    still_serves(&node);
}

/// Case 5: before AUTH a client gets Redis's small limits, and no announced length sizes
/// an allocation for anyone.
#[test]
fn unauthenticated_clients_cannot_make_the_node_reserve_memory() {
    let node = Node::start(&[
        "--requirepass",
        "pw",
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    let url = format!("redis://:pw@127.0.0.1:{}/", node.port);
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg("v").ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let before = used_memory(&mut c);
    let mut held = Vec::new();
    for _ in 0..30 {
        let mut s = node.raw();
        let got = raw_exchange(&mut s, b"*1\r\n$536870000\r\n", 40);
        assert_eq!(
            String::from_utf8_lossy(&got),
            "-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        held.push(s);
    }
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"*100000\r\n", 40);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    // An authenticated client announcing a 500 MB argument and sending 1 KB of it.
    let mut big = node.raw();
    big.write_all(b"AUTH pw\r\n*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$500000000\r\n")
        .unwrap();
    big.write_all(&[b'x'; 1024]).unwrap();
    let _ = raw_exchange(&mut big, b"", 5);
    for i in 0..30 {
        let _: () = redis::cmd("SET")
            .arg(format!("new:{i}"))
            .arg("v")
            .query(&mut c)
            .unwrap();
    }
    let after = used_memory(&mut c);
    assert!(
        after < before + (16 << 20),
        "used_memory went from {before} to {after}"
    );
    let keys: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(keys, 20_030, "keys were evicted");
    // AUTH then a 20 KB argument in one write: the limit lifts at AUTH, not later.
    let mut s = node.raw();
    let mut req = b"AUTH pw\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$20000\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 20000]);
    req.extend_from_slice(b"\r\n");
    let got = raw_exchange(&mut s, &req, 10);
    assert_eq!(got, b"+OK\r\n+OK\r\n");
    drop(held);
    still_serves_with_auth(&node);
}

/// Refusals that need no data (NOAUTH, unknown command, wrong arity) are answered without the
/// keyspace lock: while an authenticated command holds it (DEBUG SLEEP), a flood of
/// unauthenticated commands is answered before the sleeping command is.
#[test]
fn unauthenticated_refusals_do_not_wait_for_the_keyspace_lock() {
    // One serving thread (the default on two cores), which the sleep occupies.
    let node = Node::start(&[
        "--requirepass",
        "pw",
        "--enable-debug-command",
        "yes",
        "--io-threads",
        "1",
    ]);
    let mut s = node.raw();
    let _ = raw_exchange(&mut s, b"PING\r\n", 40);
    let mut sleeper = node.raw();
    sleeper
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    assert_eq!(raw_exchange(&mut sleeper, b"AUTH pw\r\n", 5), b"+OK\r\n");
    sleeper.write_all(b"DEBUG SLEEP 3\r\n").unwrap();
    let sleeping = std::thread::spawn(move || {
        let got = raw_exchange(&mut sleeper, b"", 5);
        (got, std::time::Instant::now())
    });
    // Give the sleep a moment to start; the assertions below do not depend on how long.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.extend_from_slice(b"GET k\r\nNOSUCH\r\nGET\r\n");
    }
    let want_one = "-NOAUTH Authentication required.\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n-ERR wrong number of arguments for 'get' command\r\n";
    let got = raw_exchange(&mut s, &flood, want_one.len() * 200);
    let flood_done = std::time::Instant::now();
    assert_eq!(String::from_utf8_lossy(&got), want_one.repeat(200));
    let (slept, sleep_done) = sleeping.join().unwrap();
    assert_eq!(slept, b"+OK\r\n");
    assert!(
        flood_done < sleep_done,
        "the refusals were answered only after DEBUG SLEEP released the lock"
    );
    still_serves_with_auth(&node);
}

fn still_serves_with_auth(node: &Node) {
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"AUTH pw\r\nPING\r\n", 12);
    assert_eq!(got, b"+OK\r\n+PONG\r\n");
}

/// Case 6: a configured output limit closes a client that never reads; with no limit, a
/// pipeline of large replies is written as produced, not built whole.
#[test]
fn clients_that_never_read_cannot_grow_the_node() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(1)
        .arg("big")
        .arg(10_000_000)
        .query(&mut c)
        .unwrap();
    let pipeline: Vec<u8> = b"GET big:0\r\n".repeat(60);
    let rss_before = node.rss().unwrap_or(0);

    // No limit (Redis's default for normal clients): at most a batch's worth is held.
    let s = std::net::TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(&pipeline).unwrap();
    let omem = wait_for(Duration::from_secs(10), || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).ok()?;
        let line = list.lines().find(|l| l.contains("cmd=get"))?;
        let omem: u64 = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("omem="))?
            .parse()
            .ok()?;
        (omem > 0).then_some(omem)
    })
    .expect("the reader-less client shows pending output");
    assert!(omem < 32 << 20, "omem {omem}");
    std::thread::sleep(Duration::from_millis(300));
    let grown = node.rss().unwrap_or(0).saturating_sub(rss_before);
    assert!(
        grown < 128 << 20,
        "RSS grew by {grown} bytes with no limit set"
    );
    drop(w);
    drop(s);

    // `normal 1mb 1mb 0`: the client is closed, as Redis closes it.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 1mb 1mb 0")
        .query(&mut c)
        .unwrap();
    let limits: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("client-output-buffer-limit")
        .query(&mut c)
        .unwrap();
    assert!(
        limits[1].starts_with("normal 1048576 1048576 0 slave 268435456 67108864 60 pubsub"),
        "other classes kept: {limits:?}"
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.set_nonblocking(false).unwrap();
    s.write_all(&pipeline).unwrap();
    assert!(closes_within(&mut s, 10), "the client was not closed");
    let grown = node.rss().unwrap_or(0).saturating_sub(rss_before);
    assert!(grown < 128 << 20, "RSS grew by {grown} bytes");
    still_serves(&node);
}

/// Case 6 (maxmemory-clients): the clients' buffers together are bounded; the largest
/// client goes first, and CLIENT NO-EVICT spares one.
#[test]
fn maxmemory_clients_evicts_the_largest_client() {
    let node = Node::start(&["--maxmemory-clients", "4mb"]);
    let mut c = node.client();
    let _: () = redis::cmd("CLIENT")
        .arg("NO-EVICT")
        .arg("on")
        .query(&mut c)
        .unwrap();
    let mut hog = node.raw();
    hog.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$100000000\r\n")
        .unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    let mut sent = 0usize;
    let mut cut = false;
    while sent < 64 << 20 {
        if hog.write_all(&chunk).is_err() {
            cut = true;
            break;
        }
        sent += chunk.len();
        if info(&mut c, "stats", "evicted_clients") == "1" {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "a client holding {sent} bytes of query buffer was not evicted"
    );
    let evicted = wait_for(Duration::from_secs(5), || {
        (info(&mut c, "stats", "evicted_clients") == "1").then_some(())
    });
    assert!(evicted.is_some());
    assert!(closes_within(&mut hog, 5));
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG", "the no-evict client stays");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-clients")
        .arg("10%")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-clients")
        .query(&mut c)
        .unwrap();
    assert_eq!(v[1], "10%");
}

/// Case 7: a panic inside a command closes that one connection and releases its place.
#[test]
fn a_panicking_command_closes_only_its_connection_and_frees_its_slot() {
    let node = Node::start(&["--maxclients", "3"]);
    for _ in 0..6 {
        let mut s = node.raw();
        let got = raw_exchange(&mut s, b"DEBUG PANIC-CONNECTION\r\n", 200);
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("-ERR internal error"), "{text}");
        assert!(closes_within(&mut s, 5));
    }
    let ok = wait_for(Duration::from_secs(5), || {
        let mut c = node.client();
        (info(&mut c, "clients", "connected_clients") == "1").then_some(())
    });
    assert!(ok.is_some(), "connections leaked by panics");
    // Three clients fit under maxclients 3 after six panics.
    let mut held: Vec<Connection> = (0..3).map(|_| node.client()).collect();
    for c in &mut held {
        let pong: String = redis::cmd("PING").query(c).unwrap();
        assert_eq!(pong, "PONG");
    }
    let log = node.log();
    assert_eq!(
        log.matches("a command panicked").count(),
        6,
        "one log line per panic, with its command"
    );
    assert!(log.contains("command=DEBUG PANIC-CONNECTION"));
}

/// Case 8: CONFIG REWRITE writes values with newlines, tabs, quotes and spaces so that they
/// load back as they were, never as extra directives.
#[test]
fn config_rewrite_cannot_be_used_to_inject_directives() {
    let mut node = Node::start_with_config("# test config\nport 0\n", &[]);
    let mut c = node.client();
    let cases = [
        ("masterauth", "x\nmaxmemory 12345"),
        ("masteruser", "a b\t\"c\" 'd' \\e"),
        ("notify-keyspace-events", ""),
    ];
    for (name, value) in cases {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("CONFIG").arg("REWRITE").query(&mut c).unwrap();
    let text = std::fs::read_to_string(node.config_path()).unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("maxmemory ")),
        "injected line in:\n{text}"
    );
    drop(c);
    node.restart().expect("the rewritten file loads");
    let mut c = node.client();
    for (name, value) in cases {
        let v: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query(&mut c)
            .unwrap();
        assert_eq!(v[1], value, "{name}");
    }
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut c)
        .unwrap();
    assert_eq!(v[1], "0");
}

/// CRC-64 as Redis computes it (Jones polynomial, reflected, no inversion), bitwise: enough
/// for a test.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Case 9: RESTORE of a set payload claiming a huge compact encoding loads in linear time.
#[test]
fn restore_of_a_crafted_set_payload_is_not_quadratic() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // An RDB 11 listpack set (type 20) of 80k members: far past any compact limit.
    let mut lp = vec![0u8; 6];
    for i in 0..80_000u32 {
        let m = format!("member:{i}");
        lp.push(0x80 | m.len() as u8);
        lp.extend_from_slice(m.as_bytes());
        lp.push(m.len() as u8 + 1);
    }
    lp.push(0xff);
    let total = lp.len() as u32;
    lp[..4].copy_from_slice(&total.to_le_bytes());
    lp[4..6].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut payload = vec![20u8, 0x80];
    payload.extend_from_slice(&total.to_be_bytes());
    payload.extend_from_slice(&lp);
    payload.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let started = Instant::now();
    let _: () = redis::cmd("RESTORE")
        .arg("t")
        .arg(0)
        .arg(&payload)
        .query(&mut c)
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "RESTORE took {took:?}");
    let n: i64 = redis::cmd("SCARD").arg("t").query(&mut c).unwrap();
    assert_eq!(n, 80_000);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("t")
        .query(&mut c)
        .unwrap();
    assert_eq!(enc, "hashtable");
    // A duplicate member is still refused.
    let small: Vec<u8> = {
        let _: () = redis::cmd("SADD")
            .arg("d")
            .arg("x")
            .arg("y")
            .query(&mut c)
            .unwrap();
        redis::cmd("DUMP").arg("d").query(&mut c).unwrap()
    };
    let mut dup = small[..small.len() - 8].to_vec();
    let y = dup.iter().rposition(|&b| b == b'y').unwrap();
    dup[y] = b'x';
    let crc = crc64(&dup);
    dup.extend_from_slice(&crc.to_le_bytes());
    let e = server_error_bytes(&mut c, "u", &dup);
    assert_eq!(e, "ERR Bad data format");
}

fn server_error_bytes(c: &mut Connection, key: &str, payload: &[u8]) -> String {
    let r: redis::RedisResult<redis::Value> =
        redis::cmd("RESTORE").arg(key).arg(0).arg(payload).query(c);
    let e = r.expect_err("RESTORE should fail");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

/// Case 10: protected mode refuses non-loopback clients of a node that listens everywhere
/// with no password; tcp-keepalive is set on client sockets.
#[test]
fn protected_mode_refuses_remote_clients_and_keepalive_is_on() {
    let lab = cluster_tests::netns::NetLab::new(2)
        .unwrap_or_else(|e| panic!("network namespaces are required for this test: {e}"));
    // Listening on every address; started unprotected so the harness can reach it, then
    // protected from inside its own namespace (a loopback client).
    let mut node = Node::start_in(
        &lab.prefix(0),
        &lab.ip(0),
        7000,
        &[
            "--bind",
            "*",
            "--protected-mode",
            "no",
            "--tcp-keepalive",
            "60",
        ],
    )
    .expect("start node");
    let (ns0, ns1, host) = (lab.ns(0), lab.ns(1), lab.ip(0));
    let inside = |args: &[&str]| {
        let mut full = vec!["netns", "exec", ns0.as_str(), "redis-cli", "-p", "7000"];
        full.extend_from_slice(args);
        cluster_tests::run_tool("ip", &full, None).1
    };
    let from_outside = |args: &[&str]| {
        let mut full = vec![
            "netns",
            "exec",
            ns1.as_str(),
            "redis-cli",
            "-h",
            host.as_str(),
            "-p",
            "7000",
        ];
        full.extend_from_slice(args);
        cluster_tests::run_tool("ip", &full, None).1
    };
    // tcp-keepalive: the server's socket of a connected client runs a keepalive timer.
    let mut s = node.raw();
    let _ = raw_exchange(&mut s, b"PING\r\n", 7);
    let ss = std::process::Command::new("timeout")
        .args([
            "10",
            "ip",
            "netns",
            "exec",
            &ns0,
            "ss",
            "-tno",
            "state",
            "established",
        ])
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&ss.stdout);
    let server_side = text
        .lines()
        .find(|l| l.contains(&format!("{}:7000 ", lab.ip(0))))
        .unwrap_or_else(|| panic!("no server socket in:\n{text}"));
    assert!(server_side.contains("keepalive"), "{server_side}");
    assert_eq!(from_outside(&["PING"]).trim(), "PONG");
    assert_eq!(
        inside(&["CONFIG", "SET", "protected-mode", "yes"]).trim(),
        "OK"
    );
    let denied = from_outside(&["PING"]);
    assert!(
        denied.contains("DENIED Redis is running in protected mode"),
        "{denied}"
    );
    assert_eq!(
        inside(&["PING"]).trim(),
        "PONG",
        "loopback clients are served"
    );
    assert_eq!(inside(&["CONFIG", "SET", "requirepass", "pw"]).trim(), "OK");
    assert_eq!(
        from_outside(&["-a", "pw", "--no-auth-warning", "PING"]).trim(),
        "PONG",
        "a password lifts protected mode"
    );
    assert_eq!(
        inside(&[
            "-a",
            "pw",
            "--no-auth-warning",
            "CONFIG",
            "SET",
            "requirepass",
            ""
        ])
        .trim(),
        "OK"
    );

    node.kill();
}

/// Case 11: the offsets and values Redis fixed after CVEs.
#[test]
fn offsets_and_float_edges_fixed_in_redis_after_cves_are_refused() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let cases: &[(&[&str], &str)] = &[
        (
            &["SETRANGE", "k", "9223372036854775807", "x"],
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ),
        (
            &["SETRANGE", "k", "536870911", "xx"],
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ),
        (&["SETRANGE", "k", "-1", "x"], "ERR offset is out of range"),
        (
            &["SETBIT", "b", "4294967296", "1"],
            "ERR bit offset is not an integer or out of range",
        ),
        (
            &["BITFIELD", "b", "GET", "i64", "18446744073709551615"],
            "ERR bit offset is not an integer or out of range",
        ),
        (
            &["BITFIELD", "b", "SET", "u8", "#9223372036854775807", "1"],
            "ERR bit offset is not an integer or out of range",
        ),
    ];
    for (cmd, want) in cases {
        assert_eq!(&server_error(&mut c, cmd), want, "{cmd:?}");
    }
    // HINCRBYFLOAT at the edges (CVE-2023-28856), with Redis's long-double arithmetic:
    // every reply below is what redis-server 7.0.15 gives.
    let incr = |c: &mut Connection, field: &str, by: &str| -> String {
        redis::cmd("HINCRBYFLOAT")
            .arg("h")
            .arg(field)
            .arg(by)
            .query(c)
            .unwrap()
    };
    assert_eq!(incr(&mut c, "m", "0.1"), "0.1");
    assert_eq!(incr(&mut c, "m", "0.2"), "0.3");
    assert!(incr(&mut c, "f", "1.5e308").starts_with("14999999999999999999"));
    assert!(incr(&mut c, "f", "1.5e308").starts_with("29999999999999999999"));
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("g")
        .arg("1.18e4932")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        server_error(&mut c, &["HINCRBYFLOAT", "h", "g", "1.18e4932"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(
        server_error(&mut c, &["HINCRBYFLOAT", "h", "x", "inf"]),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(
        server_error(&mut c, &["HINCRBYFLOAT", "h", "x", "1e5000"]),
        "ERR value is not a valid float"
    );
    for bad in ["nan", " 1"] {
        let _: () = redis::cmd("HSET")
            .arg("h")
            .arg("n")
            .arg(bad)
            .query(&mut c)
            .unwrap();
        assert_eq!(
            server_error(&mut c, &["HINCRBYFLOAT", "h", "n", "1"]),
            "ERR hash value is not a float"
        );
    }
    let all: Vec<String> = redis::cmd("HGETALL").arg("h").query(&mut c).unwrap();
    assert_eq!(all.len(), 8);
    // Ranges at the ends of i64.
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(i64::MIN)
        .arg(i64::MAX)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["a", "b"]);
    let v: String = redis::cmd("GETRANGE")
        .arg("l2")
        .arg(i64::MIN)
        .arg(i64::MAX)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "");

    // A crafted HyperLogLog written with SET (CVE-2025-32023): sparse runs that address
    // registers past the end, and headers that lie about their encoding.
    let mut header = b"HYLL".to_vec();
    header.extend_from_slice(&[1, 0, 0, 0]);
    header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80]); // cached cardinality: invalid
    let mut overflow = header.clone();
    overflow.extend_from_slice(&[0x7f, 0xff].repeat(3));
    overflow.push(0x80 | (31 << 2) | 3);
    let mut many_vals = header.clone();
    many_vals.extend_from_slice(&[0xff; 20_000]);
    let mut dense_short = b"HYLL".to_vec();
    dense_short.extend_from_slice(&[0; 112]);
    for (name, payload) in [
        ("sparse past the end", overflow),
        ("sparse values past the end", many_vals),
        ("dense too short", dense_short),
    ] {
        for cmd in [
            vec!["PFCOUNT", "hll"],
            vec!["PFADD", "hll", "x"],
            vec!["PFMERGE", "dst", "hll"],
            vec!["PFDEBUG", "GETREG", "hll"],
        ] {
            let _: () = redis::cmd("SET")
                .arg("hll")
                .arg(&payload)
                .query(&mut c)
                .unwrap();
            let mut q = redis::cmd(cmd[0]);
            for a in &cmd[1..] {
                q.arg(*a);
            }
            let r: redis::RedisResult<redis::Value> = q.query(&mut c);
            let e = r.expect_err(&format!("{name}: {cmd:?} accepted a corrupt sketch"));
            let code = e.code().unwrap_or("");
            assert!(
                code == "INVALIDOBJ" || code == "WRONGTYPE",
                "{name}: {cmd:?}: {e}"
            );
        }
    }

    // An inline request over 64 KB is a protocol error, and only that client goes.
    let mut s = node.raw();
    let mut line = vec![b'a'; 70_000];
    line.extend_from_slice(b"\r\n");
    let got = raw_exchange(&mut s, &line, 60);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: too big inline request\r\n"
    );
    still_serves(&node);
}

/// Defence in depth (found by review): counts checked against what they address, and no
/// command whose work grows faster than its input.
#[test]
fn small_commands_cannot_build_huge_replies_or_copies() {
    let node = Node::start(&["--cluster-enabled", "yes"]);
    let mut c = node.client();
    let rss_before = node.rss().unwrap_or(0);
    // 40,000 copies of the full range: once expanded 16384 slots per pair (2 GB, abort).
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("ADDSLOTSRANGE");
    for _ in 0..40_000 {
        cmd.arg(0).arg(16383);
    }
    let r: redis::RedisResult<()> = cmd.query(&mut c);
    let e = r.expect_err("overlapping ranges");
    assert_eq!(e.detail(), Some("Slot 0 specified multiple times"));
    own_all_slots(&mut c);
    // 16M picks of a 1 KB member would be a 16 GB reply.
    let big = "m".repeat(1000);
    let _: () = redis::cmd("SADD").arg("s").arg(&big).query(&mut c).unwrap();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg(&big)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg(&big)
        .query(&mut c)
        .unwrap();
    for cmd in [
        vec!["SRANDMEMBER", "s", "-16000000"],
        vec!["HRANDFIELD", "h", "-16000000", "WITHVALUES"],
        vec!["ZRANDMEMBER", "z", "-16000000"],
    ] {
        let e = server_error(&mut c, &cmd);
        assert!(e.contains("value is out of range"), "{cmd:?}: {e}");
    }
    // BITOP over one 10 MB key named 150 times: folded, not copied 150 times.
    let _: () = redis::cmd("SETRANGE")
        .arg("{t}b")
        .arg(10_000_000)
        .arg("x")
        .query(&mut c)
        .unwrap();
    let mut bitop = redis::cmd("BITOP");
    bitop.arg("AND").arg("{t}d");
    for _ in 0..150 {
        bitop.arg("{t}b");
    }
    let n: i64 = bitop.query(&mut c).unwrap();
    assert_eq!(n, 10_000_001);
    let grown = node.rss().unwrap_or(0).saturating_sub(rss_before);
    assert!(grown < 256 << 20, "RSS grew by {grown} bytes");
    still_serves(&node);
}

#[test]
fn commands_over_many_keys_or_elements_stay_linear() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // LREM of the middle third of a 300k list (was one shift of the rest per match).
    let mut pipe = redis::pipe();
    for v in ["b", "a", "b"] {
        for _ in 0..10 {
            pipe.cmd("RPUSH").arg("l").arg(vec![v; 10_000]).ignore();
        }
    }
    let _: () = pipe.query(&mut c).unwrap();
    let started = Instant::now();
    let n: i64 = redis::cmd("LREM")
        .arg("l")
        .arg(0)
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 100_000);
    let n: i64 = redis::cmd("LREM")
        .arg("l")
        .arg(-5)
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 5);
    let len: i64 = redis::cmd("LLEN").arg("l").query(&mut c).unwrap();
    assert_eq!(len, 199_995);
    // WATCH of 90k keys (each checked against all watched so far).
    let keys: Vec<String> = (0..90_000).map(|i| format!("w{i}")).collect();
    let _: () = redis::cmd("WATCH").arg(&keys).query(&mut c).unwrap();
    let _: () = redis::cmd("UNWATCH").query(&mut c).unwrap();
    // One MSET of 60k keys a client blocks on (each ready key was searched for linearly).
    let bkeys: Vec<String> = (0..60_000).map(|i| format!("bk{i}")).collect();
    let mut blocker = node.raw();
    let mut req = format!("*{}\r\n$5\r\nBLPOP\r\n", bkeys.len() + 2).into_bytes();
    for k in &bkeys {
        req.extend_from_slice(format!("${}\r\n{k}\r\n", k.len()).as_bytes());
    }
    req.extend_from_slice(b"$1\r\n0\r\n");
    blocker.write_all(&req).unwrap();
    let parked = wait_for(Duration::from_secs(10), || {
        (info(&mut c, "clients", "blocked_clients") == "1").then_some(())
    });
    assert!(parked.is_some());
    let mut mset = redis::cmd("MSET");
    for k in &bkeys {
        mset.arg(k).arg("v");
    }
    // Every key is made ready at once and checked in one serving pass; strings do not
    // serve a BLPOP, so the client stays blocked.
    let _: () = mset.query(&mut c).unwrap();
    assert_eq!(info(&mut c, "clients", "blocked_clients"), "1");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Found by fuzzing the parser: a NUL in an inline request ended a word but not the line,
/// and the splitter produced empty words forever (one core and unbounded memory, per
/// client). A NUL ends the line, as in Redis.
#[test]
fn a_nul_in_an_inline_request_ends_the_line() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"SET k v\0garbage\r\nGET k\r\n", 12);
    assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n$1\r\nv\r\n");
    still_serves(&node);
}
