//! The wire protocol and connection handling through stock clients and raw sockets: RESP3,
//! inline commands, deep pipelines, malformed and oversized input, limits, AUTH, CLIENT.

use cluster_tests::{info_field, raw_exchange, run_tool, wait_for, Node};
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn resp3_through_redis_cli_and_the_redis_crate() {
    let node = Node::start(&[]);
    let (ok, out) = node.cli(&["-3", "HELLO", "3"]);
    assert!(ok && out.contains("proto") && out.contains('3'), "{out}");
    let mut c = node.client_resp3();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    // A map reply arrives as a map.
    let cfg: redis::Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query(&mut c)
        .unwrap();
    assert!(matches!(cfg, redis::Value::Map(_)), "{cfg:?}");
    // Raw: a RESP3 null for a missing key.
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"HELLO 3\r\n", 10);
    assert!(
        got.starts_with(b"%7\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    std::thread::sleep(Duration::from_millis(50));
    let got = raw_exchange(&mut s, b"GET missing\r\n", 3);
    assert_eq!(got, b"_\r\n");
}

#[test]
fn hello_authenticates_and_names_the_connection() {
    let node = Node::start(&["--requirepass", "pw"]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"GET k\r\n", 10);
    assert_eq!(got, b"-NOAUTH Authentication required.\r\n");
    let got = raw_exchange(&mut s, b"AUTH wrong\r\n", 10);
    assert_eq!(
        got,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let got = raw_exchange(&mut s, b"HELLO 3 AUTH default pw SETNAME me\r\n", 20);
    assert!(got.starts_with(b"%7"), "{}", String::from_utf8_lossy(&got));
    std::thread::sleep(Duration::from_millis(50));
    let got = raw_exchange(&mut s, b"CLIENT GETNAME\r\n", 8);
    assert_eq!(got, b"$2\r\nme\r\n");
}

#[test]
fn inline_commands_with_quotes_work_over_a_raw_socket() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"SET greeting \"hello world\"\r\n", 5);
    assert_eq!(got, b"+OK\r\n");
    let got = raw_exchange(&mut s, b"GET greeting\r\n", 17);
    assert_eq!(got, b"$11\r\nhello world\r\n");
    let got = raw_exchange(&mut s, b"PING\n", 7);
    assert_eq!(got, b"+PONG\r\n");
}

#[test]
fn a_pipeline_of_10k_commands_gets_every_reply_in_order() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut p = redis::pipe();
    for i in 0..10_000 {
        p.cmd("INCR").arg("counter");
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    let replies: Vec<i64> = p.query(&mut c).unwrap();
    assert_eq!(replies.len(), 10_000);
    assert!(replies.iter().enumerate().all(|(i, v)| *v == i as i64 + 1));
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 10_001);
}

#[test]
fn malformed_requests_get_protocol_errors_and_only_that_connection_closes() {
    let node = Node::start(&[]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"SET k \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    let mut healthy = node.client();
    for (input, want) in cases {
        let mut s = node.raw();
        let got = raw_exchange(&mut s, input, 200);
        assert_eq!(String::from_utf8_lossy(&got), *want);
        // The connection is closed by the server.
        let mut buf = [0u8; 8];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        let pong: String = redis::cmd("PING").query(&mut healthy).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn oversized_bulk_is_refused_before_the_body_is_sent() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("1mb")
        .query(&mut c)
        .unwrap();
    let mut s = node.raw();
    // Only the header of a 2 MB argument: the error comes back without the body.
    let got = raw_exchange(&mut s, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n", 100);
    assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn query_buffer_limit_closes_a_runaway_client() {
    let node = Node::start(&["--client-query-buffer-limit", "1mb"]);
    let mut s = node.raw();
    let _ = s.write_all(b"*2\r\n$3\r\nGET\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..100 {
        if s.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        let mut buf = [0u8; 16];
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
    }
    assert!(closed, "connection over the query buffer limit stayed open");
    let pong: String = redis::cmd("PING").query(&mut node.client()).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn maxclients_refuses_the_connection_over_the_limit() {
    let node = Node::start(&["--maxclients", "3"]);
    // Let the harness's own readiness connection finish closing.
    let settled = wait_for(Duration::from_secs(5), || {
        let mut s = node.raw();
        let got = raw_exchange(&mut s, b"INFO clients\r\n", 40);
        String::from_utf8_lossy(&got)
            .contains("connected_clients:1\r\n")
            .then_some(())
    });
    assert!(settled.is_some());
    std::thread::sleep(Duration::from_millis(100));
    let mut open = Vec::new();
    let mut refused = None;
    for i in 0..10 {
        let mut s = node.raw();
        let got = raw_exchange(&mut s, b"PING\r\n", 7);
        if got == b"+PONG\r\n" {
            open.push(s);
        } else {
            let mut rest = got;
            rest.extend(raw_exchange(&mut s, b"", 100));
            assert_eq!(
                String::from_utf8_lossy(&rest),
                "-ERR max number of clients reached\r\n"
            );
            refused = Some(i);
            break;
        }
    }
    assert_eq!(
        refused,
        Some(3),
        "the fourth simultaneous client must be refused"
    );
}

#[test]
fn client_kill_reply_and_list_work_across_connections() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    let b_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("victim")
        .query(&mut b)
        .unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut a).unwrap();
    assert!(list.contains("name=victim"), "{list}");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(b_id)
        .query(&mut a)
        .unwrap();
    assert_eq!(killed, 1);
    let gone = wait_for(Duration::from_secs(5), || {
        redis::cmd("PING")
            .query::<String>(&mut b)
            .is_err()
            .then_some(())
    });
    assert!(gone.is_some(), "killed client still served");
    // CLIENT REPLY OFF / ON and SKIP over a raw socket.
    let mut s = node.raw();
    let got = raw_exchange(
        &mut s,
        b"CLIENT REPLY OFF\r\nSET x 1\r\nCLIENT REPLY ON\r\n",
        5,
    );
    assert_eq!(got, b"+OK\r\n");
    let got = raw_exchange(&mut s, b"CLIENT REPLY SKIP\r\nSET y 1\r\nGET x\r\n", 7);
    assert_eq!(got, b"$1\r\n1\r\n");
    let got = raw_exchange(&mut s, b"CLIENT NOSUCH\r\n", 10);
    assert!(String::from_utf8_lossy(&got).starts_with("-ERR unknown subcommand 'NOSUCH'"));
}

#[test]
fn select_and_databases_follow_redis() {
    let node = Node::start(&["--databases", "4"]);
    let mut c = node.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("db3").query(&mut c).unwrap();
    let err = redis::cmd("SELECT").arg(4).query::<()>(&mut c).unwrap_err();
    assert!(err.to_string().contains("DB index is out of range"));
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, None);
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db3:keys=1,expires=0"), "{info}");
}

#[test]
fn info_and_command_introspection_answer_what_tools_ask() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for f in [
        "redis_version",
        "tcp_port",
        "connected_clients",
        "used_memory",
        "used_memory_rss",
        "maxmemory_policy",
        "total_commands_processed",
        "keyspace_hits",
        "role",
        "master_repl_offset",
        "used_cpu_sys",
        "cluster_enabled",
    ] {
        assert!(info_field(&info, f).is_some(), "INFO lacks {f}");
    }
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(count > 100);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["a", "b"]);
    let err = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("PING")
        .arg("hello")
        .query::<Vec<String>>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string().contains("The command has no key arguments"),
        "{err}"
    );
    // redis-cli asks for COMMAND DOCS on connect, in RESP2 and RESP3.
    let (ok, out) = node.cli(&["-3", "COMMAND", "DOCS", "get"]);
    assert!(ok && out.contains("summary"), "{out}");
    let (ok, out) = node.cli(&["COMMAND", "INFO", "get"]);
    assert!(ok && out.contains("readonly"), "{out}");
}

/// One COMMAND INFO entry's arity, first/last/step, ACL categories and key-spec shapes
/// (begin_search index, find_keys type, flags), as cluster clients read them.
struct Info {
    arity: i64,
    legacy: (i64, i64, i64),
    categories: Vec<String>,
    specs: Vec<(i64, String, Vec<String>)>,
}

fn command_info(c: &mut redis::Connection, name: &str) -> Info {
    use redis::Value;
    let v: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(c)
        .unwrap();
    let Value::Array(mut outer) = v else {
        panic!("{v:?}")
    };
    let Value::Array(e) = outer.remove(0) else {
        panic!("{name}: not an entry")
    };
    let int = |v: &Value| match v {
        Value::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    let strs = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) | Value::Set(a) => a
                .iter()
                .map(|x| redis::from_redis_value(x).unwrap())
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    // Key specs are maps, flattened to arrays in RESP2: look fields up by name.
    fn field<'a>(m: &'a Value, name: &str) -> &'a Value {
        let Value::Array(kv) = m else { panic!("{m:?}") };
        kv.chunks(2)
            .find(|p| redis::from_redis_value::<String>(&p[0]).ok().as_deref() == Some(name))
            .map(|p| &p[1])
            .unwrap_or_else(|| panic!("no {name} in {m:?}"))
    }
    let Value::Array(specs) = &e[8] else {
        panic!("{:?}", e[8])
    };
    let specs = specs
        .iter()
        .map(|sp| {
            let index = int(field(field(field(sp, "begin_search"), "spec"), "index"));
            let kind: String =
                redis::from_redis_value(field(field(sp, "find_keys"), "type")).unwrap();
            (index, kind, strs(field(sp, "flags")))
        })
        .collect();
    Info {
        arity: int(&e[1]),
        legacy: (int(&e[3]), int(&e[4]), int(&e[5])),
        categories: strs(&e[6]),
        specs,
    }
}

#[test]
fn command_info_reports_key_positions_and_categories_as_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let i = command_info(&mut c, "zadd");
    assert_eq!((i.arity, i.legacy), (-4, (1, 1, 1)));
    for cat in ["@write", "@sortedset", "@fast"] {
        assert!(i.categories.iter().any(|x| x == cat), "{:?}", i.categories);
    }
    // Counted keys are not a fixed range: only the destination is, as in Redis, and a
    // keynum spec gives the rest (a client trusting last = -1 would route on WEIGHTS).
    let i = command_info(&mut c, "zunionstore");
    assert_eq!(i.legacy, (1, 1, 1));
    assert_eq!(i.specs.len(), 2);
    assert_eq!((i.specs[0].0, i.specs[0].1.as_str()), (1, "range"));
    assert_eq!((i.specs[1].0, i.specs[1].1.as_str()), (2, "keynum"));
    let i = command_info(&mut c, "blmpop");
    assert_eq!(i.legacy, (0, 0, 0));
    assert_eq!(i.specs[0].0, 2);
    assert!(
        i.categories.iter().any(|x| x == "@blocking"),
        "{:?}",
        i.categories
    );
    // Sharded pub/sub's channel is where cluster clients route SPUBLISH.
    let i = command_info(&mut c, "spublish");
    assert_eq!(i.legacy, (1, 1, 1));
    assert_eq!(
        i.specs,
        [(1, "range".to_string(), vec!["not_key".to_string()])]
    );
    assert_eq!(command_info(&mut c, "ssubscribe").legacy, (1, -1, 1));
    assert_eq!(command_info(&mut c, "publish").legacy, (0, 0, 0));

    let sorted: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("ACLCAT")
        .arg("sortedset")
        .query(&mut c)
        .unwrap();
    assert!(sorted.iter().any(|n| n == "zadd") && !sorted.iter().any(|n| n == "sadd"));
    let blocking: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("ACLCAT")
        .arg("@blocking")
        .query(&mut c)
        .unwrap();
    assert!(blocking.iter().any(|n| n == "blpop"));
    assert!(!blocking.iter().any(|n| n == "lpop"));
}

#[test]
fn config_set_get_rewrite_round_trip_and_unknown_options_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("slotcache.conf");
    std::fs::write(&conf, "# my settings\nhz 10\n").unwrap();
    let node = Node::start(&[conf.to_str().unwrap()]);
    let mut c = node.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("100mb")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut c)
        .unwrap();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, vec!["maxmemory", "104857600"]);
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("port")
        .arg("1")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string().contains("can't set immutable config"),
        "{err}"
    );
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hz")
        .arg("20")
        .arg("maxmemory")
        .arg("lots")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("maxmemory"), "{err}");
    let hz: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query(&mut c)
        .unwrap();
    assert_eq!(hz[1], "10", "a failed CONFIG SET must change nothing");
    let _: () = redis::cmd("CONFIG").arg("REWRITE").query(&mut c).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("# my settings")
            && text.contains("maxmemory 104857600")
            && text.contains("maxmemory-policy allkeys-lru"),
        "{text}"
    );
    let err = Node::try_start(&["--frobnicate", "yes"]).err().unwrap();
    assert!(err.contains("frobnicate"), "{err}");
    // Options Redis users pass routinely are accepted.
    let ok = Node::try_start(&["--save", "", "--appendonly", "no", "--daemonize", "no"]);
    assert!(ok.is_ok());
}

#[test]
fn idle_spin_us_starts_off_from_the_command_line_and_is_set_live() {
    let node = Node::start(&["--idle-spin-us", "0"]);
    let mut c = node.client();
    let get = |c: &mut redis::Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("idle-spin-us")
            .query(c)
            .unwrap()
    };
    assert_eq!(get(&mut c), vec!["idle-spin-us", "0"]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("idle-spin-us")
        .arg("50")
        .query(&mut c)
        .unwrap();
    assert_eq!(get(&mut c), vec!["idle-spin-us", "50"]);
    // Serving goes on with spinning on: a pipeline of writes and reads from two clients.
    let mut other = node.client();
    for (i, conn) in [&mut c, &mut other].into_iter().enumerate() {
        let mut p = redis::pipe();
        for k in 0..500 {
            p.cmd("RPUSH").arg(format!("l{i}")).arg(k).ignore();
        }
        p.cmd("LRANGE").arg(format!("l{i}")).arg(0).arg(-1);
        let (all,): (Vec<u32>,) = p.query(conn).unwrap();
        assert_eq!(all, (0..500).collect::<Vec<u32>>());
    }
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("idle-spin-us")
        .arg("500")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("idle-spin-us"), "{err}");
    assert_eq!(get(&mut c), vec!["idle-spin-us", "50"]);
}

#[test]
fn shutdown_and_sigterm_exit_zero() {
    let mut node = Node::start(&[]);
    let (_, _) = run_tool(
        "redis-cli",
        &["-p", &node.port.to_string(), "SHUTDOWN"],
        None,
    );
    let status = node
        .wait_exit(10)
        .expect("node did not exit after SHUTDOWN");
    assert!(status.success(), "{status:?}");
    let mut node = Node::start(&[]);
    let status = node.terminate().expect("exit");
    assert!(status.success());
}
