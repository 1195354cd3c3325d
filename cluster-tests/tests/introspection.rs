//! Operational introspection over TCP with the `redis` crate and raw sockets: INFO section
//! selection, commandstats / errorstats / latencystats and CONFIG RESETSTAT, SLOWLOG,
//! LATENCY, MONITOR (format, redaction, admin commands hidden, a stalled monitor cut by the
//! output limits), LOLWUT and RESET.

use cluster_tests::{info_field, q, read_to_close, server_error, still_serves, wait_for, Node};
use redis::{Connection, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn info(c: &mut Connection, sections: &[&str]) -> String {
    let mut args = vec!["INFO"];
    args.extend_from_slice(sections);
    q(c, &args)
}

fn headers(info: &str) -> Vec<String> {
    info.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn info_selects_sections_as_redis_7() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let default = [
        "Server",
        "Clients",
        "Memory",
        "Persistence",
        "Stats",
        "Replication",
        "CPU",
        "Modules",
        "Errorstats",
        "Cluster",
        "Keyspace",
    ];
    assert_eq!(headers(&info(&mut c, &[])), default);
    assert_eq!(headers(&info(&mut c, &["default"])), default);
    let all = headers(&info(&mut c, &["all"]));
    assert!(all.contains(&"Commandstats".to_string()));
    assert!(all.contains(&"Latencystats".to_string()));
    assert_eq!(all, headers(&info(&mut c, &["everything"])));
    // Several names, any case, each section once; unknown names select nothing.
    assert_eq!(headers(&info(&mut c, &["cpu", "sentinel"])), ["CPU"]);
    assert_eq!(headers(&info(&mut c, &["commandSTATS"])), ["Commandstats"]);
    let both = info(&mut c, &["cpu", "all"]);
    assert_eq!(both.matches("used_cpu_user_children").count(), 1);
    assert!(info(&mut c, &["sentinel"]).is_empty());
}

#[test]
fn commandstats_errorstats_and_latencystats_count_as_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]);
    let _: () = q(&mut c, &["SET", "s", "v"]);
    let _: Option<String> = q(&mut c, &["GET", "s"]);
    // Refused before running (arity): rejected_calls. Ran and failed: failed_calls.
    assert!(server_error(&mut c, &["GET"]).starts_with("ERR wrong number"));
    assert!(server_error(&mut c, &["LPUSH", "s", "x"]).starts_with("WRONGTYPE"));
    assert!(server_error(&mut c, &["NOSUCHCOMMAND"]).starts_with("ERR unknown command"));
    let _: Value = q(&mut c, &["CONFIG", "GET", "maxmemory"]);
    let text = info(&mut c, &["commandstats"]);
    let get = info_field(&text, "cmdstat_get").expect("cmdstat_get");
    assert!(get.starts_with("calls=1,usec="), "{get}");
    assert!(get.ends_with("rejected_calls=1,failed_calls=0"), "{get}");
    let lpush = info_field(&text, "cmdstat_lpush").expect("cmdstat_lpush");
    assert!(
        lpush.ends_with("rejected_calls=0,failed_calls=1"),
        "{lpush}"
    );
    assert!(info_field(&text, "cmdstat_config|get").is_some(), "{text}");
    let errs = info(&mut c, &["errorstats"]);
    assert_eq!(
        info_field(&errs, "errorstat_ERR").as_deref(),
        Some("count=2")
    );
    assert_eq!(
        info_field(&errs, "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
    let stats = info(&mut c, &["stats"]);
    assert_eq!(
        info_field(&stats, "total_error_replies").as_deref(),
        Some("3")
    );
    let lat = info(&mut c, &["latencystats"]);
    let set = info_field(&lat, "latency_percentiles_usec_set").expect("set percentiles");
    assert!(
        set.starts_with("p50=") && set.contains(",p99=") && set.contains(",p99.9="),
        "{set}"
    );
    let _: () = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 99.99",
        ],
    );
    let lat = info(&mut c, &["latencystats"]);
    let set = info_field(&lat, "latency_percentiles_usec_set").expect("set percentiles");
    assert!(set.contains(",p99.99=") && !set.contains("p99.9="), "{set}");
    assert!(server_error(
        &mut c,
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "101"]
    )
    .starts_with("ERR CONFIG SET failed"));
    // A blocking call that times out counts once.
    let _: Value = q(&mut c, &["BLPOP", "nolist", "0.05"]);
    let text = info(&mut c, &["commandstats"]);
    let blpop = info_field(&text, "cmdstat_blpop").expect("cmdstat_blpop");
    assert!(blpop.starts_with("calls=1,"), "{blpop}");
    // RESETSTAT starts everything again.
    let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]);
    let text = info(&mut c, &["commandstats", "errorstats"]);
    assert!(info_field(&text, "cmdstat_get").is_none(), "{text}");
    assert!(info_field(&text, "errorstat_ERR").is_none(), "{text}");
    assert_eq!(
        info_field(&info(&mut c, &["stats"]), "total_error_replies").as_deref(),
        Some("0")
    );
}

#[test]
fn slowlog_records_trims_and_redacts() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let _: () = q(&mut c, &["SLOWLOG", "RESET"]);
    let _: () = q(&mut c, &["CLIENT", "SETNAME", "slowpoke"]);
    let long = "A".repeat(129);
    let _: i64 = q(&mut c, &["SADD", "set", "foo", &long]);
    let mut many = vec!["SADD", "set2"];
    let nums: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    many.extend(nums.iter().map(|s| s.as_str()));
    let _: i64 = q(&mut c, &many);
    let _: () = q(&mut c, &["CONFIG", "SET", "masterauth", "secret"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    // Not itself logged: the new threshold applies to the command that set it.
    let entries: Vec<Value> = q(&mut c, &["SLOWLOG", "GET", "-1"]);
    assert_eq!(entries.len(), 5, "{entries:?}");
    let args_of = |v: &Value| -> Vec<String> {
        let Value::Array(e) = v else { panic!("{v:?}") };
        assert_eq!(e.len(), 6);
        let args: Vec<String> = redis::from_redis_value(&e[3]).expect("args");
        args.into_iter().map(|a| a.to_lowercase()).collect()
    };
    assert_eq!(
        args_of(&entries[0]),
        ["config", "set", "masterauth", "(redacted)"]
    );
    let trimmed = args_of(&entries[1]);
    assert_eq!(trimmed.len(), 32);
    assert_eq!(trimmed[31], "... (11 more arguments)");
    let long_entry = args_of(&entries[2]);
    assert_eq!(
        long_entry[3],
        format!("{}... (1 more bytes)", "a".repeat(128))
    );
    let Value::Array(e) = &entries[2] else {
        panic!()
    };
    let name: String = redis::from_redis_value(&e[5]).unwrap();
    assert_eq!(name, "slowpoke");
    let addr: String = redis::from_redis_value(&e[4]).unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let newest: Vec<Value> = q(&mut c, &["SLOWLOG", "GET", "1"]);
    assert_eq!(newest.len(), 1);
    assert_eq!(
        server_error(&mut c, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
    // max-len keeps the newest entries.
    let _: () = q(&mut c, &["CONFIG", "SET", "slowlog-max-len", "2"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    for _ in 0..10 {
        let _: String = q(&mut c, &["PING"]);
    }
    let n: i64 = q(&mut c, &["SLOWLOG", "LEN"]);
    assert_eq!(n, 2);
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "100000"],
    );
    let _: () = q(&mut c, &["SLOWLOG", "RESET"]);
    let n: i64 = q(&mut c, &["SLOWLOG", "LEN"]);
    assert_eq!(n, 0);
    let help: Vec<String> = q(&mut c, &["SLOWLOG", "HELP"]);
    assert!(help[0].starts_with("SLOWLOG <subcommand>"));
}

#[test]
fn latency_monitor_records_events_and_histograms() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let latest: Vec<Value> = q(&mut c, &["LATENCY", "LATEST"]);
    assert!(latest.is_empty());
    let doctor: String = q(&mut c, &["LATENCY", "DOCTOR"]);
    assert!(doctor.contains("no latency spike"), "{doctor}");
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "10"],
    );
    let _: () = q(&mut c, &["DEBUG", "SLEEP", "0.05"]);
    let latest: Vec<(String, i64, i64, i64)> = q(&mut c, &["LATENCY", "LATEST"]);
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].0, "command");
    assert!(
        latest[0].2 >= 50 && latest[0].3 >= latest[0].2,
        "{latest:?}"
    );
    let history: Vec<(i64, i64)> = q(&mut c, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.len(), 1);
    let graph: String = q(&mut c, &["LATENCY", "GRAPH", "command"]);
    assert!(graph.starts_with("command - high "), "{graph}");
    assert_eq!(
        server_error(&mut c, &["LATENCY", "GRAPH", "nothing"]),
        "ERR No samples available for event 'nothing'"
    );
    let doctor: String = q(&mut c, &["LATENCY", "DOCTOR"]);
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    // Histograms: calls and cumulative power-of-two buckets, containers bring subcommands.
    let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]);
    let _: () = q(&mut c, &["SET", "a", "b"]);
    let _: () = q(&mut c, &["SET", "c", "d"]);
    let _: i64 = q(&mut c, &["CLIENT", "ID"]);
    let h: Value = q(&mut c, &["LATENCY", "HISTOGRAM", "set", "client", "nosuch"]);
    let Value::Array(items) = h else {
        panic!("{h:?}")
    };
    assert_eq!(items.len(), 4, "{items:?}");
    let names: Vec<String> = items
        .iter()
        .step_by(2)
        .map(|v| redis::from_redis_value(v).unwrap())
        .collect();
    assert_eq!(names, ["set", "client|id"]);
    let Value::Array(set) = &items[1] else {
        panic!()
    };
    let calls: i64 = redis::from_redis_value(&set[1]).unwrap();
    assert_eq!(calls, 2);
    let n: i64 = q(&mut c, &["LATENCY", "RESET"]);
    assert_eq!(n, 1);
    let n: i64 = q(&mut c, &["LATENCY", "RESET", "nothing"]);
    assert_eq!(n, 0);
}

/// Reads CRLF-terminated lines from a raw connection.
fn read_lines(s: &mut TcpStream, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    while got.iter().filter(|&&b| b == b'\n').count() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn monitor_streams_commands_hiding_admin_ones_and_secrets() {
    let node = Node::start(&["--requirepass", "pw"]);
    let mut m = node.raw();
    m.write_all(b"AUTH pw\r\nMONITOR\r\n").unwrap();
    assert_eq!(read_lines(&mut m, 2), ["+OK", "+OK"]);
    let mut c = redis::Client::open(format!("redis://:pw@127.0.0.1:{}/", node.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = q(&mut c, &["SELECT", "3"]);
    let _: () = q(&mut c, &["SET", "k", "a \"quoted\"\nvalue"]);
    let _: Value = q(&mut c, &["CONFIG", "GET", "maxmemory"]);
    assert!(server_error(&mut c, &["AUTH", "wrong"]).starts_with("WRONGPASS"));
    let _: String = q(&mut c, &["PING"]);
    // What the redis crate sends on connecting (AUTH, maybe CLIENT SETINFO) comes first.
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..10 {
        lines.extend(
            read_lines(&mut m, 1)
                .into_iter()
                .map(|l| l.to_lowercase())
                .filter(|l| !l.contains("\"client\"")),
        );
        if lines.len() >= 5 {
            break;
        }
    }
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].ends_with("\"auth\" \"(redacted)\""), "{lines:?}");
    assert!(lines[1].contains("] \"select\" \"3\""), "{lines:?}");
    let set = &lines[2];
    assert!(set.starts_with('+'), "{set}");
    assert!(set.contains(" [3 127.0.0.1:"), "{set}");
    assert!(
        set.ends_with("\"set\" \"k\" \"a \\\"quoted\\\"\\nvalue\""),
        "{set}"
    );
    // CONFIG (admin) is not shown; a refused AUTH is shown redacted, then PING.
    assert!(lines[3].ends_with("\"auth\" \"(redacted)\""), "{lines:?}");
    assert!(lines[4].ends_with("\"ping\""), "{lines:?}");
    // RESET leaves MONITOR mode.
    m.write_all(b"RESET\r\n").unwrap();
    assert_eq!(read_lines(&mut m, 1), ["+RESET"]);
    let _: String = q(&mut c, &["PING"]);
    m.set_read_timeout(Some(Duration::from_millis(300))).ok();
    let mut buf = [0u8; 256];
    assert!(
        m.read(&mut buf).is_err(),
        "a reset connection still monitors"
    );
}

#[test]
fn a_monitor_that_does_not_read_is_cut_by_its_output_limit() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1mb 0 0",
        ],
    );
    let mut m = node.raw();
    m.set_read_timeout(Some(Duration::from_secs(5))).ok();
    m.write_all(b"MONITOR\r\n").unwrap();
    let mut ok = [0u8; 5];
    m.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    // The monitor stops reading; every SET of 64 KB would be queued for it.
    let big = "x".repeat(64 * 1024);
    for i in 0..400 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), &big]);
    }
    let cut = wait_for(Duration::from_secs(10), || {
        let list: String = q(&mut c, &["CLIENT", "LIST"]);
        (!list.contains("flags=O")).then_some(())
    });
    assert!(cut.is_some(), "the stalled monitor is still connected");
    let (_, closed) = read_to_close(&mut m, Duration::from_secs(10));
    assert!(closed);
    still_serves(&node);
}

#[test]
fn lolwut_draws_and_ends_with_the_version() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let plain: String = q(&mut c, &["LOLWUT"]);
    assert!(plain.starts_with("slotcache ver. ") && plain.contains("(Redis ver. 7."));
    let art: String = q(&mut c, &["LOLWUT", "VERSION", "5", "20", "3", "3"]);
    let last = art
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(last.ends_with(plain.trim_end()), "{art}");
    assert!(
        art.chars()
            .any(|ch| ('\u{2801}'..='\u{28ff}').contains(&ch)),
        "{art}"
    );
    let city: String = q(&mut c, &["LOLWUT", "VERSION", "6", "30", "8"]);
    assert!(city.contains('#') && city.trim_end().ends_with(plain.trim_end()));
    // Sizes are clamped: a huge request draws the largest picture, quickly.
    let started = std::time::Instant::now();
    let big: String = q(
        &mut c,
        &["LOLWUT", "VERSION", "5", "99999999", "99999999", "99999999"],
    );
    assert!(big.len() < 4 << 20);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        server_error(&mut c, &["LOLWUT", "VERSION", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn reset_returns_the_connection_to_its_initial_state() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut send = |req: &str, lines: usize| -> Vec<String> {
        s.write_all(req.as_bytes()).unwrap();
        read_lines(&mut s, lines)
    };
    // Name, db 3, RESP3, a watch and an open transaction, replies off...
    assert_eq!(send("CLIENT SETNAME before\r\n", 1), ["+OK"]);
    assert_eq!(send("SELECT 3\r\nSET k v\r\n", 2), ["+OK", "+OK"]);
    let hello = send("HELLO 3\r\n", 1);
    assert!(hello[0].starts_with('%'), "{hello:?}");
    s.write_all(b"WATCH k\r\nMULTI\r\nCLIENT REPLY OFF\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut drain = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    while s.read(&mut drain).map(|n| n > 0).unwrap_or(false) {}
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // ... RESET answers, and all of it is gone.
    s.write_all(b"RESET\r\n").unwrap();
    assert_eq!(read_lines(&mut s, 1), ["+RESET"]);
    s.write_all(b"CLIENT GETNAME\r\nGET k\r\nEXEC\r\n").unwrap();
    let lines = read_lines(&mut s, 3);
    // RESP2 again (null bulk, not `_`), db 0 (no `k` there), no transaction.
    assert_eq!(lines, ["$-1", "$-1", "-ERR EXEC without MULTI"]);
}
