//! The Prometheus endpoint and the events channel, end to end: each node's `/metrics`
//! passes `promtool check metrics` and agrees with INFO; a real Prometheus (Debian's
//! `prometheus`) scrapes a 3x2 cluster, loads the alert rules of deploy/prometheus, sees
//! every node up and the failover counter rise after a primary is killed; a subscriber on
//! `__slotcache__:events` sees the failover with its timings.
//!
//! Metrics ports come from `SLOTCACHE_METRICS_PORTS` (`lo-hi`) when set. Every external
//! tool runs under `timeout`, every wait is bounded and polls a structured answer.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::{info_field, metrics_port, q, stop_tool, wait_for, Node};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `GET path` over HTTP/1.0 (no chunked replies); `(status code, body)`.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// `promtool check metrics` on a scrape: (success, everything it printed).
fn promtool_check(body: &str) -> (bool, String) {
    let mut child = Command::new("timeout")
        .args(["60", "promtool", "check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian's prometheus package; scripts/test installs it)");
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(body.as_bytes());
    }
    let out = child.wait_with_output().expect("wait for promtool");
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), printed)
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn node_with_metrics(extra: &[&str], taken: &mut Vec<u16>) -> (Node, u16) {
    let mp = metrics_port(taken).expect("a free metrics port");
    taken.push(mp);
    let mps = mp.to_string();
    let mut args = vec!["--metrics-port", mps.as_str()];
    args.extend_from_slice(extra);
    (Node::start(&args), mp)
}

#[test]
fn metrics_are_off_by_default_and_served_when_configured() {
    let plain = Node::start(&[]);
    let mut c = plain.client();
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "metrics-port"]);
    assert_eq!(v, vec!["metrics-port".to_string(), "0".to_string()]);

    let (node, mp) = node_with_metrics(&[], &mut Vec::new());
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let _: () = q(&mut c, &["SET", "b", "2", "EX", "100"]);
    let _: String = q(&mut c, &["GET", "a"]);
    let _: redis::RedisResult<i64> = redis::cmd("HSET").arg("a").arg("f").arg("v").query(&mut c);
    let (code, body) = http_get(mp, "/metrics").expect("scrape");
    assert_eq!(code, 200, "{body}");
    let (ok, printed) = promtool_check(&body);
    assert!(
        ok && printed.trim().is_empty(),
        "promtool: {printed}\n{body}"
    );

    // One source with INFO: the same counters.
    let info: String = q(&mut c, &["INFO", "commandstats"]);
    let set_calls = info_field(&info, "cmdstat_set").and_then(|v| {
        v.split(',')
            .next()?
            .strip_prefix("calls=")?
            .parse::<f64>()
            .ok()
    });
    assert_eq!(
        sample(&body, "slotcache_commands_total{command=\"set\"}"),
        set_calls,
        "{body}"
    );
    assert_eq!(
        sample(&body, "slotcache_commands_failed_total{command=\"hset\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "slotcache_errors_total{code=\"WRONGTYPE\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "slotcache_keys{db=\"0\"}"), Some(2.0));
    assert_eq!(
        sample(&body, "slotcache_expiring_keys{db=\"0\"}"),
        Some(1.0)
    );
    assert!(
        sample(
            &body,
            "slotcache_command_duration_seconds_count{family=\"string\"}"
        )
        .is_some_and(|n| n >= 3.0),
        "{body}"
    );
    assert!(sample(&body, "slotcache_memory_used_bytes").is_some_and(|n| n > 0.0));

    let (code, _) = http_get(mp, "/").expect("scrape /");
    assert_eq!(code, 404);
    // Not HTTP at all: a 400, and the node still serves.
    let mut raw = TcpStream::connect(("127.0.0.1", mp)).unwrap();
    raw.write_all(b"*1\r\n$4\r\nPING\r\n\r\n").unwrap();
    let mut reply = String::new();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = raw.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}

/// A Prometheus server for the test, stopped (and its data removed) on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[u16], taken: &mut Vec<u16>) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/prometheus/slotcache-alerts.yml");
        let list: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: slotcache\n    static_configs:\n      - targets: [{}]\n",
            rules.display(),
            list.join(", ")
        );
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(&conf, config).unwrap();
        let port = metrics_port(taken).expect("a free port for prometheus");
        taken.push(port);
        let child = Command::new("timeout")
            .arg("300")
            .arg("prometheus")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .expect("run prometheus (Debian's prometheus package; scripts/test installs it)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// An instant query's result vector as (instance, value) pairs.
    fn query(&self, promql: &str) -> Option<Vec<(String, f64)>> {
        let mut enc = String::new();
        for b in promql.bytes() {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("%{b:02X}"));
            }
        }
        let (code, body) = http_get(self.port, &format!("/api/v1/query?query={enc}"))?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?;
        Some(
            result
                .iter()
                .filter_map(|r| {
                    let inst = r["metric"]["instance"].as_str().unwrap_or("").to_string();
                    let val = r["value"][1].as_str()?.parse().ok()?;
                    Some((inst, val))
                })
                .collect(),
        )
    }

    /// Whether Prometheus loaded the alert rules file (its rules API lists the group).
    fn rules_loaded(&self) -> bool {
        http_get(self.port, "/api/v1/rules")
            .is_some_and(|(code, body)| code == 200 && body.contains("SlotcacheFailoverHappened"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop_tool(&mut self.child);
    }
}

/// Collects every message published on the events channel of `node`.
fn subscribe_events(node: &Node, tx: mpsc::Sender<(u16, serde_json::Value)>) {
    let mut con = node.client();
    let port = node.port;
    std::thread::spawn(move || {
        let _ = con.set_read_timeout(Some(Duration::from_secs(120)));
        let mut ps = con.as_pubsub();
        if ps.subscribe("__slotcache__:events").is_err() {
            return;
        }
        while let Ok(m) = ps.get_message() {
            let payload: String = m.get_payload().unwrap_or_default();
            if let Ok(v) = serde_json::from_str(&payload) {
                if tx.send((port, v)).is_err() {
                    return;
                }
            }
        }
    });
}

#[test]
fn prometheus_scrapes_a_cluster_and_sees_a_failover() {
    let mut taken = Vec::new();
    let timeout = cluster_tests::cluster::NODE_TIMEOUT_MS.to_string();
    let mut nodes = Vec::new();
    let mut mports = Vec::new();
    for _ in 0..6 {
        let (n, mp) = node_with_metrics(
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                &timeout,
            ],
            &mut taken,
        );
        nodes.push(n);
        mports.push(mp);
    }
    let mut c = TestCluster { nodes };
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(30)), "cluster not ok");
    let replicas_seen = wait_for(Duration::from_secs(30), || {
        let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).ok()?;
        (text.lines().filter(|l| l.contains("slave")).count() == 3).then_some(())
    });
    assert!(replicas_seen.is_some(), "replicas not attached");

    // Every node's output lints clean, cluster metrics included.
    for &mp in &mports {
        let (code, body) = http_get(mp, "/metrics").expect("scrape");
        assert_eq!(code, 200);
        let (ok, printed) = promtool_check(&body);
        assert!(
            ok && printed.trim().is_empty(),
            "promtool on :{mp}: {printed}"
        );
        assert_eq!(
            sample(&body, "slotcache_cluster_state_ok"),
            Some(1.0),
            "{body}"
        );
        assert_eq!(sample(&body, "slotcache_cluster_known_nodes"), Some(6.0));
        // Each replica's full sync at formation was counted (and published) as an event.
        if sample(&body, "slotcache_is_primary") == Some(0.0) {
            let resyncs = sample(
                &body,
                "slotcache_cluster_events_total{kind=\"replica_resync\"}",
            );
            assert!(resyncs.is_some_and(|n| n >= 1.0), "{body}");
        }
    }

    let prom = Prometheus::start(&mports, &mut taken);
    let all_up = wait_for(Duration::from_secs(60), || {
        let up = prom.query("up{job=\"slotcache\"}")?;
        (up.len() == 6 && up.iter().all(|(_, v)| *v == 1.0)).then_some(())
    });
    assert!(all_up.is_some(), "prometheus does not see 6 nodes up");
    assert!(
        prom.rules_loaded(),
        "prometheus did not load the alert rules"
    );
    let before = prom
        .query("sum(slotcache_cluster_failovers_total)")
        .and_then(|r| r.first().map(|x| x.1))
        .unwrap_or(0.0);

    // Subscribe on every replica, then kill the primary of slot 0.
    let (tx, rx) = mpsc::channel();
    let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).unwrap();
    let layout = parse_nodes(&text);
    let victim_id = layout
        .iter()
        .find(|n| n.is_primary() && n.owns(0))
        .map(|n| n.id.clone())
        .expect("owner of slot 0");
    let ids = c.ids();
    let victim = ids.iter().position(|id| *id == victim_id).unwrap();
    for (i, n) in c.nodes.iter().enumerate() {
        if i != victim {
            subscribe_events(n, tx.clone());
        }
    }
    drop(tx);
    // `slotcache-cli cluster events` follows the same events across all nodes.
    let mut follower = Command::new("timeout")
        .arg("120")
        .arg(cluster_tests::cli_bin())
        .args([
            "-p",
            &c.nodes[0].port.to_string(),
            "cluster",
            "events",
            "--for",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run slotcache-cli");
    let (cli_tx, cli_rx) = mpsc::channel::<String>();
    let out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if cli_tx.send(line).is_err() {
                return;
            }
        }
    });
    // Subscriptions are in place before the kill (PUBSUB NUMSUB on each node).
    let subscribed = wait_for(Duration::from_secs(10), || {
        c.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .all(|(_, n)| {
                let mut con = n.client();
                let r: Vec<redis::Value> =
                    q(&mut con, &["PUBSUB", "NUMSUB", "__slotcache__:events"]);
                // This test's subscriber and the CLI's.
                matches!(r.get(1), Some(redis::Value::Int(2)))
            })
            .then_some(())
    });
    assert!(subscribed.is_some(), "subscribers not in place");
    c.nodes[victim].kill();

    // The replica's election shows as an event with its timings...
    let failover = wait_for(Duration::from_secs(30), || loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((_, v)) if v["event"] == "failover" => break Some(v),
            Ok(_) => continue,
            Err(_) => break None,
        }
    })
    .expect("no failover event within 30 s");
    assert_eq!(failover["shard"], victim_id.as_str(), "{failover}");
    assert_eq!(failover["old_primary"], victim_id.as_str(), "{failover}");
    assert_eq!(failover["manual"], false, "{failover}");
    assert!(
        failover["epoch"].as_u64().is_some_and(|e| e > 0),
        "{failover}"
    );
    assert!(failover["election_ms"].as_u64().is_some(), "{failover}");
    assert!(failover["at_ms"].as_u64().is_some(), "{failover}");
    let winner = failover["node"].as_str().unwrap().to_string();
    assert_ne!(winner, victim_id);

    // The CLI printed it too, after the address of the node that published it.
    let winner_port = c.nodes[ids.iter().position(|id| *id == failover["node"]).unwrap()].port;
    let printed = wait_for(Duration::from_secs(10), || loop {
        match cli_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.contains("\"event\":\"failover\"") => break Some(l),
            Ok(_) => continue,
            Err(_) => break None,
        }
    });
    stop_tool(&mut follower);
    let printed = printed.expect("slotcache-cli cluster events printed no failover");
    assert!(
        printed.starts_with(&format!("127.0.0.1:{winner_port} {{")),
        "{printed}"
    );

    // ...and in Prometheus, where the failover counter rises and the killed node is down.
    let risen = wait_for(Duration::from_secs(60), || {
        let r = prom.query("sum(slotcache_cluster_failovers_total)")?;
        r.first().filter(|x| x.1 > before).map(|x| x.1)
    });
    assert!(
        risen.is_some(),
        "failover counter did not rise in prometheus"
    );
    let down = wait_for(Duration::from_secs(30), || {
        let up = prom.query("up{job=\"slotcache\"} == 0")?;
        (up.len() == 1).then_some(up)
    });
    assert!(
        down.is_some_and(|d| d[0].0.ends_with(&format!(":{}", mports[victim]))),
        "the killed node is not reported down"
    );
    // The winner's own scrape agrees with the event.
    let w = ids.iter().position(|id| *id == winner).unwrap();
    let (_, body) = http_get(mports[w], "/metrics").unwrap();
    assert_eq!(
        sample(&body, "slotcache_cluster_failovers_total"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "slotcache_is_primary"), Some(1.0));
    let info = query_string(&c.nodes[w], &["INFO", "replication"]).unwrap();
    assert_eq!(info_field(&info, "role").as_deref(), Some("master"));
}

#[test]
fn a_primary_cut_off_from_the_majority_counts_a_lost_lease_once() {
    let mut taken = Vec::new();
    let timeout = cluster_tests::cluster::NODE_TIMEOUT_MS.to_string();
    let mut nodes = Vec::new();
    let mut mports = Vec::new();
    for _ in 0..3 {
        let (n, mp) = node_with_metrics(
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                &timeout,
            ],
            &mut taken,
        );
        nodes.push(n);
        mports.push(mp);
    }
    let c = TestCluster { nodes };
    c.form_by_hand();
    assert!(c.wait_ok(Duration::from_secs(30)), "cluster not ok");
    let lost = |mp: u16| {
        http_get(mp, "/metrics")
            .and_then(|(_, b)| sample(&b, "slotcache_cluster_leases_lost_total"))
    };
    assert_eq!(lost(mports[0]), Some(0.0));
    let (tx, rx) = mpsc::channel();
    subscribe_events(&c.nodes[0], tx);
    let subscribed = wait_for(Duration::from_secs(10), || {
        let mut con = c.nodes[0].client();
        let r: Vec<redis::Value> = q(&mut con, &["PUBSUB", "NUMSUB", "__slotcache__:events"]);
        matches!(r.get(1), Some(redis::Value::Int(1))).then_some(())
    });
    assert!(subscribed.is_some());
    // Node 0 hears from no other primary: its lease (half the node timeout) runs out.
    c.nodes[1].pause();
    c.nodes[2].pause();
    let seen = wait_for(Duration::from_secs(10), || {
        lost(mports[0]).filter(|&n| n >= 1.0)
    });
    c.nodes[1].resume();
    c.nodes[2].resume();
    assert_eq!(seen, Some(1.0), "lease loss not counted once");
    let event = wait_for(Duration::from_secs(10), || loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((_, v)) if v["event"] == "lease_lost" => break Some(v),
            Ok(_) => continue,
            Err(_) => break None,
        }
    })
    .expect("no lease_lost event");
    assert!(event["since_majority_ms"].as_u64().is_some(), "{event}");
    assert!(c.wait_ok(Duration::from_secs(30)), "cluster not ok again");
    assert_eq!(lost(mports[0]), Some(1.0));
}
