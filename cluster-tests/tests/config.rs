//! CONFIG GET / CONFIG SET replies as Redis 7.0.15 gives them, through the `redis` crate:
//! aliases listed as names of their own, exact names answered as given, the syntax error for
//! an odd argument count, and enum errors that list the choices in Redis's order. (The reply-shape check compares these
//! with redis-server too; these run without one.)

use cluster_tests::{q, server_error, Node};
use std::collections::HashMap;

#[test]
fn config_get_lists_an_alias_beside_its_name() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let got: HashMap<String, String> = q(&mut c, &["CONFIG", "GET", "*slave-no-failover"]);
    assert_eq!(
        got.get("cluster-slave-no-failover").map(String::as_str),
        Some("no")
    );
    let got: HashMap<String, String> = q(&mut c, &["CONFIG", "GET", "*no-failover"]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains_key("cluster-replica-no-failover"), "{got:?}");
    let all: HashMap<String, String> = q(&mut c, &["CONFIG", "GET", "*"]);
    for (name, alias) in [
        ("replicaof", "slaveof"),
        ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ] {
        assert!(
            all.contains_key(name) && all.contains_key(alias),
            "{name} / {alias} in CONFIG GET *"
        );
    }
    // An alias set changes what both names read.
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "cluster-slave-validity-factor", "7"],
    );
    let got: HashMap<String, String> = q(&mut c, &["CONFIG", "GET", "cluster-*-validity-factor"]);
    assert_eq!(
        got.get("cluster-replica-validity-factor")
            .map(String::as_str),
        Some("7")
    );
    assert_eq!(
        got.get("cluster-slave-validity-factor").map(String::as_str),
        Some("7")
    );
}

#[test]
fn config_set_errors_match_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(
        server_error(&mut c, &["CONFIG", "SET", "hz", "10", "hz"]),
        "ERR syntax error"
    );
    assert_eq!(
        server_error(&mut c, &["CONFIG", "SET", "maxmemory-policy", "nosuch"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) \
         must be one of the following: volatile-lru, volatile-lfu, volatile-random, \
         volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    );
}

#[test]
fn config_get_answers_an_exact_name_as_given_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let got: Vec<String> = q(
        &mut c,
        &["CONFIG", "GET", "MaxMemory", "maxmemory", "MAXMEMORY"],
    );
    assert_eq!(got, ["MaxMemory", "0"]);
    // A pattern matches whatever its case and answers with the table's names.
    let got: HashMap<String, String> = q(&mut c, &["CONFIG", "GET", "MAXMEMORY-POLICY*"]);
    assert_eq!(
        got.get("maxmemory-policy").map(String::as_str),
        Some("noeviction")
    );
    // An alias asked for by name is answered under it, beside its name.
    let got: Vec<String> = q(
        &mut c,
        &["CONFIG", "GET", "slave-read-only", "replica-read-only"],
    );
    assert_eq!(got, ["slave-read-only", "yes", "replica-read-only", "yes"]);
}
