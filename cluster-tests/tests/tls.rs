//! TLS (issue #27): the TLS port beside the plain one, client certificates required by
//! `tls-auth-clients yes`, redis-cli / the redis crate / redis-py over TLS, certificates
//! reloaded by CONFIG SET (a bad one leaves the old in place), `port 0` for TLS only,
//! options rustls cannot honour refused at start, and a 3x2 cluster whose bus and
//! replication run over TLS failing over. Certificates are made with openssl at test time.

use cluster_tests::certs::Certs;
use cluster_tests::cluster::{query_string, TestCluster, NODE_TIMEOUT_MS};
use cluster_tests::{free_port, info_field, q, run_tool, server_bin, wait_for, Node};
use std::time::Duration;

/// A node serving TLS on a port of its own beside its plain port, with `extra` options.
fn tls_node(certs: &Certs, extra: &[&str]) -> (Node, u16) {
    let tls_port = free_port().expect("a free port for TLS");
    let mut args = certs.server_args(tls_port);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    (Node::start(&args), tls_port)
}

/// redis-cli over TLS; `cacert` names the CA file, `cert` whether to present the client
/// certificate.
fn cli_tls(certs: &Certs, port: u16, cacert: &str, cert: bool, cmd: &[&str]) -> String {
    let port = port.to_string();
    let ca = certs.path(cacert);
    let (crt, key) = (certs.path("client.crt"), certs.path("client.key"));
    let mut args = vec!["-p", port.as_str(), "--tls", "--cacert", ca.as_str()];
    if cert {
        args.extend(["--cert", crt.as_str(), "--key", key.as_str()]);
    }
    args.extend_from_slice(cmd);
    run_tool("redis-cli", &args, None).1.trim().to_string()
}

#[test]
fn clients_connect_over_tls_with_a_client_certificate_and_not_without() {
    let certs = Certs::new();
    // The server key is encrypted PKCS#8, opened with tls-key-file-pass.
    let enc = certs.path("server.enc.key");
    let (node, tls_port) = tls_node(
        &certs,
        &["--tls-key-file", &enc, "--tls-key-file-pass", "sekret"],
    );
    assert_eq!(
        cli_tls(&certs, tls_port, "ca.crt", true, &["SET", "k", "v1"]),
        "OK"
    );
    assert_eq!(
        cli_tls(&certs, tls_port, "ca.crt", true, &["GET", "k"]),
        "v1"
    );
    // tls-auth-clients yes (the default): no certificate, no service.
    let refused = cli_tls(&certs, tls_port, "ca.crt", false, &["PING"]);
    assert_ne!(refused, "PONG");
    // The plain port serves as before.
    let v: String = q(&mut node.client(), &["GET", "k"]);
    assert_eq!(v, "v1");

    // The redis crate's TLS (rustls) with the client certificate.
    let read = |f: &str| std::fs::read(certs.path(f)).expect("cert file");
    let client = redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{tls_port}/"),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read("client.crt"),
                client_key: read("client.key"),
            }),
            root_cert: Some(read("ca.crt")),
        },
    )
    .expect("TLS client");
    let mut c = client.get_connection().expect("TLS connection");
    let v: String = q(&mut c, &["GET", "k"]);
    assert_eq!(v, "v1");
    let big = "x".repeat(1 << 20);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut c)
        .unwrap();
    let back: String = q(&mut c, &["GET", "big"]);
    assert_eq!(back.len(), big.len(), "a 1 MB reply crosses TLS whole");
    let info: String = q(&mut c, &["INFO", "server"]);
    assert!(info.contains("redis_version"));

    // redis-py with ssl=True, when Debian's python3-redis is there.
    let py = format!(
        "import redis\nr = redis.Redis(host='127.0.0.1', port={tls_port}, ssl=True, ssl_certfile='{}', ssl_keyfile='{}', ssl_ca_certs='{}')\nprint(r.get('k').decode())\n",
        certs.path("client.crt"),
        certs.path("client.key"),
        certs.path("ca.crt")
    );
    // scripts/test names a Python that imports redis (and so this part cannot be skipped
    // there); a bare `cargo test` uses python3 when it has redis-py.
    let named = std::env::var("SLOTCACHE_PYTHON").ok();
    let python = named.clone().unwrap_or_else(|| "python3".into());
    let (has_py, _) = run_tool(&python, &["-c", "import redis"], None);
    if has_py {
        let (ok, out) = run_tool(&python, &["-c", &py], None);
        assert!(ok, "redis-py over TLS failed: {out}");
        assert_eq!(out.trim(), "v1");
    } else {
        assert!(
            named.is_none(),
            "SLOTCACHE_PYTHON={python} cannot import redis"
        );
        eprintln!(
            "skipping redis-py over TLS: python3 has no redis-py (apt install python3-redis)"
        );
    }
}

#[test]
fn tls_auth_clients_optional_and_no() {
    let certs = Certs::new();
    let (node, tls_port) = tls_node(&certs, &["--tls-auth-clients", "optional"]);
    assert_eq!(
        cli_tls(&certs, tls_port, "ca.crt", false, &["PING"]),
        "PONG"
    );
    assert_eq!(cli_tls(&certs, tls_port, "ca.crt", true, &["PING"]), "PONG");
    let r: String = q(
        &mut node.client(),
        &["CONFIG", "SET", "tls-auth-clients", "yes"],
    );
    assert_eq!(r, "OK");
    assert_ne!(
        cli_tls(&certs, tls_port, "ca.crt", false, &["PING"]),
        "PONG"
    );
    let r: String = q(
        &mut node.client(),
        &["CONFIG", "SET", "tls-auth-clients", "no"],
    );
    assert_eq!(r, "OK");
    assert_eq!(
        cli_tls(&certs, tls_port, "ca.crt", false, &["PING"]),
        "PONG"
    );
}

#[test]
fn config_set_reloads_certificates_and_a_bad_one_keeps_the_old() {
    let certs = Certs::new();
    let (node, tls_port) = tls_node(&certs, &[]);
    let mut c = node.client();
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg("/nonexistent/cert.pem")
        .query::<String>(&mut c)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An error was signalled by the server - ResponseError: CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."
    );
    let kept: Vec<String> = q(&mut c, &["CONFIG", "GET", "tls-cert-file"]);
    assert_eq!(kept[1], certs.path("server.crt"));
    assert_eq!(cli_tls(&certs, tls_port, "ca.crt", true, &["PING"]), "PONG");

    // A certificate from another CA, swapped in without a restart.
    certs.make_ca("ca2");
    certs.make_cert("ca2", "server2");
    let r: String = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &certs.path("server2.crt"),
            "tls-key-file",
            &certs.path("server2.key"),
        ],
    );
    assert_eq!(r, "OK");
    assert_eq!(
        cli_tls(&certs, tls_port, "ca2.crt", true, &["PING"]),
        "PONG"
    );
    assert_ne!(cli_tls(&certs, tls_port, "ca.crt", true, &["PING"]), "PONG");
    // Cipher strings rustls cannot honour are refused, and change nothing.
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-ciphers")
        .arg("HIGH:!aNULL")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("tls-ciphers"), "{err}");
    assert!(
        node.log().contains("OpenSSL cipher strings"),
        "the reason is logged"
    );
    let r: String = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "tls-ciphers",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "tls-protocols",
            "TLSv1.2",
        ],
    );
    assert_eq!(r, "OK");
    assert_eq!(
        cli_tls(&certs, tls_port, "ca2.crt", true, &["PING"]),
        "PONG"
    );
}

#[test]
fn options_rustls_cannot_honour_are_refused_at_start() {
    let certs = Certs::new();
    let port = free_port().expect("port").to_string();
    let mut base = certs.server_args(port.parse().unwrap());
    for (opt, val, says) in [
        ("--tls-ciphers", "HIGH:!aNULL", "OpenSSL cipher strings"),
        (
            "--tls-protocols",
            "TLSv1.1 TLSv1.2",
            "TLSv1.1 is not supported",
        ),
        (
            "--tls-ciphersuites",
            "TLS_AES_128_CCM_SHA256",
            "is not available",
        ),
        ("--tls-key-file-pass", "wrong", "could not be decrypted"),
    ] {
        let mut args = base.clone();
        if opt == "--tls-key-file-pass" {
            args.extend(["--tls-key-file".into(), certs.path("server.enc.key")]);
        }
        args.extend([opt.to_string(), val.to_string()]);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let err = Node::try_start(&args).err().unwrap_or_default();
        assert!(err.contains(says), "{opt} {val}: {err}");
    }
    // An encrypted key without its password.
    base.extend(["--tls-key-file".into(), certs.path("server.enc.key")]);
    let args: Vec<&str> = base.iter().map(|s| s.as_str()).collect();
    let err = Node::try_start(&args).err().unwrap_or_default();
    assert!(err.contains("tls-key-file-pass is not set"), "{err}");
}

/// A server process started by hand (the node helper checks readiness on the plain port,
/// which `port 0` closes); killed on drop.
struct Bare {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn port_0_serves_tls_only() {
    let certs = Certs::new();
    let tls_port = free_port().expect("port");
    let dir = tempfile::tempdir().expect("dir");
    let mut args = certs.server_args(tls_port);
    args.extend(
        [
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--logfile",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push(dir.path().join("log").display().to_string());
    let child = std::process::Command::new(server_bin())
        .args(&args)
        .current_dir(dir.path())
        .spawn()
        .expect("spawn");
    let _bare = Bare { child, _dir: dir };
    let up = wait_for(Duration::from_secs(10), || {
        (cli_tls(&certs, tls_port, "ca.crt", true, &["PING"]) == "PONG").then_some(())
    });
    assert!(up.is_some(), "TLS-only node never answered");
    let info = cli_tls(&certs, tls_port, "ca.crt", true, &["INFO", "server"]);
    assert_eq!(
        info_field(&info, "tcp_port").as_deref(),
        Some(tls_port.to_string().as_str())
    );
    // Plain text on the TLS port is no Redis conversation.
    let port = tls_port.to_string();
    let (_, plain) = run_tool("redis-cli", &["-p", &port, "PING"], None);
    assert_ne!(plain.trim(), "PONG");
}

/// The report's last check: a 3x2 cluster whose bus is mutual TLS (`tls-cluster`) and whose
/// replicas sync over TLS (`tls-replication`) fails over when a primary dies.
#[test]
fn a_tls_cluster_with_tls_replication_fails_over() {
    let certs = Certs::new();
    let timeout = NODE_TIMEOUT_MS.to_string();
    let mut tls_ports = Vec::new();
    let mut nodes = Vec::new();
    for _ in 0..6 {
        let (node, tls_port) = tls_node(
            &certs,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                &timeout,
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
            ],
        );
        nodes.push(node);
        tls_ports.push(tls_port);
    }
    let cluster = TestCluster { nodes };
    cluster.form_with_replicas(3);
    assert!(
        cluster.wait_ok(Duration::from_secs(30)),
        "TLS cluster never became ok: {}",
        cluster.nodes[0].log()
    );
    // Clients are sent to the TLS ports.
    let nodes_text = query_string(&cluster.nodes[0], &["CLUSTER", "NODES"]).unwrap();
    for p in &tls_ports[..3] {
        assert!(nodes_text.contains(&format!(":{p}@")), "{nodes_text}");
    }
    // Replicas are linked to their primaries over TLS.
    let linked = wait_for(Duration::from_secs(20), || {
        cluster.nodes[3..]
            .iter()
            .all(|r| {
                let info = query_string(r, &["INFO", "replication"]).unwrap_or_default();
                info.contains("master_link_status:up")
            })
            .then_some(())
    });
    assert!(
        linked.is_some(),
        "replicas never linked: {}",
        cluster.nodes[3].log()
    );
    let primary = &cluster.nodes[0];
    let replica_of_0 = (3..6)
        .find(|&i| {
            let info = query_string(&cluster.nodes[i], &["INFO", "replication"]).unwrap();
            info.contains(&format!("master_port:{}", tls_ports[0]))
        })
        .expect("a replica of node 0");
    // Keys in node 0's slots, written on its plain port, reach its replica.
    let mut c = primary.client();
    let mut keys = Vec::new();
    for i in 0..2000 {
        let k = format!("key:{i}");
        let slot: i64 = q(&mut c, &["CLUSTER", "KEYSLOT", &k]);
        if slot < 5461 {
            let _: () = redis::cmd("SET").arg(&k).arg(i).query(&mut c).unwrap();
            keys.push(k);
        }
    }
    let n = keys.len() as i64;
    let synced = wait_for(Duration::from_secs(20), || {
        let d: i64 = q(&mut cluster.nodes[replica_of_0].client(), &["DBSIZE"]);
        (d == n).then_some(())
    });
    assert!(synced.is_some(), "the replica never got the keys over TLS");

    // The primary dies; its replica takes over.
    let mut cluster = cluster;
    cluster.nodes[0].kill();
    let promoted = wait_for(Duration::from_secs(30), || {
        let role: Vec<redis::Value> = q(&mut cluster.nodes[replica_of_0].client(), &["ROLE"]);
        let r: String = redis::from_redis_value(&role[0]).ok()?;
        let info = query_string(&cluster.nodes[replica_of_0], &["CLUSTER", "INFO"]).ok()?;
        (r == "master" && info.contains("cluster_state:ok")).then_some(())
    });
    assert!(
        promoted.is_some(),
        "no failover: {}",
        cluster.nodes[replica_of_0].log()
    );
    let v: String = q(
        &mut cluster.nodes[replica_of_0].client(),
        &["GET", &keys[0]],
    );
    assert_eq!(v, keys[0][4..]);
    // The bus speaks only TLS: plain text on it is refused and counted.
    let survivor = &cluster.nodes[1];
    let before = bus_rejected(survivor);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", survivor.port + 10000)).unwrap();
    use std::io::Write;
    let _ = s.write_all(&[0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let counted = wait_for(Duration::from_secs(10), || {
        (bus_rejected(survivor) > before).then_some(())
    });
    assert!(counted.is_some(), "a plain-text bus peer was not refused");
}

fn bus_rejected(node: &Node) -> u64 {
    let info: String = q(&mut node.client(), &["INFO", "cluster"]);
    info_field(&info, "cluster_bus_auth_rejected")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
