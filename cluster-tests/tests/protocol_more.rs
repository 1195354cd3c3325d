//! The wire protocol end to end: RESP3, inline commands, deep pipelines, malformed input and
//! the size limits, through raw sockets, the `redis` crate and redis-cli.

use cluster_tests::{raw_exchange, read_to_close, still_serves, Node};
use std::io::Write;
use std::time::Duration;

#[test]
fn resp3_through_redis_crate_and_hello_with_auth_and_setname() {
    let node = Node::start(&["--requirepass", "s3cret"]);
    let mut s = node.raw();
    let got = raw_exchange(
        &mut s,
        b"HELLO 3 AUTH default s3cret SETNAME conn-a\r\n",
        40,
    );
    assert!(
        got.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let got = raw_exchange(&mut s, b"CLIENT GETNAME\r\n", 12);
    assert_eq!(got, b"$6\r\nconn-a\r\n");
    // A RESP3 map reply: CONFIG GET renders as `%` in RESP3.
    let got = raw_exchange(&mut s, b"CONFIG GET port\r\n", 10);
    assert!(
        got.starts_with(b"%1\r\n$4\r\nport\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // The redis crate in RESP3 mode against an unauthenticated node.
    let plain = Node::start(&[]);
    let mut c = plain.client_resp3();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let m: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut c)
        .unwrap();
    assert_eq!(m.get("maxmemory").map(String::as_str), Some("0"));
}

#[test]
fn redis_cli_resp3_gets_verbatim_info_and_command_docs() {
    let node = Node::start(&[]);
    let (ok, out) = node.cli(&["-3", "INFO", "server"]);
    assert!(ok && out.contains("redis_version:7.2.4"), "{out}");
    let (ok, out) = node.cli(&["-3", "COMMAND", "DOCS", "get"]);
    assert!(
        ok && out.contains("summary") && out.contains("group"),
        "{out}"
    );
    // Interactive redis-cli calls COMMAND DOCS on connect, in RESP2 and RESP3.
    for proto in ["-2", "-3"] {
        let port = node.port.to_string();
        let (ok, out) = cluster_tests::run_tool(
            "redis-cli",
            &["-h", "127.0.0.1", "-p", &port, proto],
            Some(b"SET x 1\nGET x\n"),
        );
        assert!(
            ok && out.contains("OK") && out.contains('1'),
            "{proto}: {out}"
        );
    }
}

#[test]
fn inline_commands_with_quotes() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"SET k \"a b\\x41\\n\"\r\n", 5);
    assert_eq!(got, b"+OK\r\n");
    let got = raw_exchange(&mut s, b"GET k\r\n", 10);
    assert_eq!(got, b"$5\r\na bA\n\r\n");
    let got = raw_exchange(&mut s, b"SET 'single q' 'it''s'\r\n", 10);
    assert!(
        got.starts_with(b"-ERR Protocol error: unbalanced quotes"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let (_, closed) = read_to_close(&mut s, Duration::from_secs(5));
    assert!(closed);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"ECHO 'it\\'s'\n", 10);
    assert_eq!(got, b"$4\r\nit's\r\n");
}

#[test]
fn pipeline_of_ten_thousand_commands_answers_in_order() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..10_000 {
        let v = i.to_string();
        req.extend_from_slice(format!("*2\r\n$4\r\nECHO\r\n${}\r\n{v}\r\n", v.len()).as_bytes());
        want.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    let got = raw_exchange(&mut s, &req, want.len());
    assert_eq!(got.len(), want.len());
    assert!(got == want, "replies out of order");
}

#[test]
fn malformed_input_gets_protocol_error_and_close() {
    let node = Node::start(&[]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nPING\r\n",
            "-ERR Protocol error: expected '$', got 'P'\r\n",
        ),
        (
            b"GET \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    let mut other = node.client();
    for (input, want) in cases {
        let mut s = node.raw();
        s.write_all(input).unwrap();
        let (got, closed) = read_to_close(&mut s, Duration::from_secs(5));
        assert_eq!(String::from_utf8_lossy(&got), *want);
        assert!(
            closed,
            "connection left open after {:?}",
            String::from_utf8_lossy(input)
        );
        let pong: String = redis::cmd("PING").query(&mut other).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn proto_max_bulk_len_rejects_header_before_body() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("1mb")
        .query(&mut c)
        .unwrap();
    let mut s = node.raw();
    s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        .unwrap();
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(5));
    assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    // Under the limit still works.
    let big = vec![b'x'; 900_000];
    let _: () = redis::cmd("SET").arg("k").arg(&big).query(&mut c).unwrap();
    let v: Vec<u8> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v.len(), 900_000);
}

#[test]
fn client_query_buffer_limit_closes_the_client() {
    let node = Node::start(&["--client-query-buffer-limit", "1mb"]);
    let mut s = node.raw();
    let body = vec![b'a'; 2_000_000];
    let mut req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n");
    let _ = s.write_all(&req);
    let (got, closed) = read_to_close(&mut s, Duration::from_secs(5));
    assert!(closed, "client over the query buffer limit was not closed");
    assert!(!got.starts_with(b"+OK"));
    still_serves(&node);
}

#[test]
fn maxclients_refuses_the_extra_connection() {
    let node = Node::start(&["--maxclients", "3"]);
    // The first held connection waits until it is the only one counted (the start-up
    // readiness probe's connection may not be counted out yet); then two more fill the limit.
    let mut first = node.client();
    let alone = cluster_tests::wait_for(Duration::from_secs(5), || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut first).ok()?;
        info.contains("connected_clients:1\r").then_some(())
    });
    assert!(alone.is_some(), "start-up connections never went away");
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = node.raw();
        assert_eq!(raw_exchange(&mut s, b"PING\r\n", 7), b"+PONG\r\n");
        held.push(s);
    }
    let mut extra = node.raw();
    let (got, closed) = read_to_close(&mut extra, Duration::from_secs(5));
    assert_eq!(got, b"-ERR max number of clients reached\r\n");
    assert!(closed);
    held.pop();
    let ok = cluster_tests::wait_for(Duration::from_secs(5), || {
        let mut s = node.raw();
        (raw_exchange(&mut s, b"PING\r\n", 7) == b"+PONG\r\n").then_some(())
    });
    assert!(ok.is_some(), "a freed slot was not reusable");
}

#[test]
fn requirepass_auth_noauth_wrongpass() {
    let node = Node::start(&["--requirepass", "pw"]);
    let mut s = node.raw();
    assert_eq!(
        raw_exchange(&mut s, b"GET k\r\n", 10),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"AUTH nope\r\n", 10),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"AUTH other pw\r\n", 10),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw_exchange(&mut s, b"AUTH pw\r\n", 5), b"+OK\r\n");
    assert_eq!(raw_exchange(&mut s, b"GET k\r\n", 5), b"$-1\r\n");
    let mut s = node.raw();
    assert_eq!(raw_exchange(&mut s, b"AUTH default pw\r\n", 5), b"+OK\r\n");
    let c = redis::Client::open(format!("redis://:pw@127.0.0.1:{}/", node.port)).unwrap();
    let mut c = c.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let plain = Node::start(&[]);
    let mut s = plain.raw();
    let got = raw_exchange(&mut s, b"AUTH x\r\n", 10);
    assert!(got.starts_with(b"-ERR AUTH <password> called without any password configured"));
}

#[test]
fn select_and_databases() {
    let node = Node::start(&["--databases", "4"]);
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("k").arg("db0").query(&mut c).unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, None);
    let e = redis::cmd("SELECT").arg(4).query::<()>(&mut c).unwrap_err();
    assert!(e.to_string().contains("DB index is out of range"), "{e}");
    let e = redis::cmd("SELECT")
        .arg("x")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "db0");
}
