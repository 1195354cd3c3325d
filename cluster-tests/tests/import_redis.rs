//! `redis-cli --cluster import` from a live redis-server 7.0.15 fills a 3-primary slotcache
//! cluster: 100k keys of every type (plus one of each encoding), every key equal afterwards
//! by DEBUG DIGEST-VALUE. Skips, saying so, where redis-server is not installed.

use cluster_tests::cluster::TestCluster;
use cluster_tests::q;
use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use std::process::{Command, Stdio};
use std::time::Duration;

const PER_TYPE: usize = 20_000;

/// 20k keys of each of the five types, small ones (the common case), by pipelines.
fn fill(c: &mut redis::Connection) {
    for start in (0..PER_TYPE).step_by(1000) {
        let mut p = redis::pipe();
        for i in start..start + 1000 {
            p.cmd("SET")
                .arg(format!("str:{i}"))
                .arg(format!("value-{i}"))
                .ignore();
            p.cmd("RPUSH")
                .arg(format!("list:{i}"))
                .arg(i)
                .arg("b")
                .arg("c")
                .ignore();
            p.cmd("SADD")
                .arg(format!("set:{i}"))
                .arg(i)
                .arg(i + 1)
                .ignore();
            p.cmd("ZADD")
                .arg(format!("zset:{i}"))
                .arg(i as f64 / 7.0)
                .arg("m")
                .arg(-1)
                .arg("n")
                .ignore();
            p.cmd("HSET")
                .arg(format!("hash:{i}"))
                .arg("f")
                .arg(i)
                .ignore();
            if i % 10 == 0 {
                p.cmd("EXPIRE")
                    .arg(format!("str:{i}"))
                    .arg(100_000)
                    .ignore();
            }
        }
        p.query::<()>(c).expect("fill redis-server");
    }
}

#[test]
fn redis_cli_import_fills_a_slotcache_cluster_from_redis_server() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut src = redis.client();
    fill(&mut src);
    load(&mut src, &every_type("enc:").0);
    let total: i64 = q(&mut src, &["DBSIZE"]);
    assert!(total >= 5 * PER_TYPE as i64);

    let cluster = TestCluster::start(3, &[]);
    let (ok, out) = cluster.create_with_redis_cli(0);
    assert!(ok, "create: {out}");
    assert!(cluster.wait_ok(Duration::from_secs(20)));

    let out = Command::new("timeout")
        .arg("300")
        .arg("redis-cli")
        .args(["--cluster", "import", &cluster.addrs()[0]])
        .args(["--cluster-from", &format!("127.0.0.1:{}", redis.port)])
        .arg("--cluster-copy")
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "import failed: {text}");

    // Every key arrived, once, with its value and TTL flag.
    let mut seen = 0;
    for node in &cluster.nodes {
        let mut c = node.client();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = "0".to_string();
        for _ in 0..100_000 {
            let (next, batch): (String, Vec<String>) =
                q(&mut c, &["SCAN", &cursor, "COUNT", "1000"]);
            keys.extend(batch);
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        let n: i64 = q(&mut c, &["DBSIZE"]);
        assert_eq!(keys.len() as i64, n, "SCAN saw every key once");
        seen += n;
        for chunk in keys.chunks(500) {
            let mut args = vec!["DEBUG", "DIGEST-VALUE"];
            args.extend(chunk.iter().map(String::as_str));
            let ours: Vec<String> = q(&mut c, &args);
            let theirs: Vec<String> = q(&mut src, &args);
            for ((k, a), b) in chunk.iter().zip(&ours).zip(&theirs) {
                assert_eq!(a, b, "{k}");
            }
        }
    }
    assert_eq!(seen, total);
}
