//! FUNCTION and FCALL through the redis crate: libraries load, list, delete, flush, dump
//! and restore as in Redis 7.0; functions run with their flags; FUNCTION LOAD reaches
//! replicas.

use cluster_tests::cluster::{query_string, TestCluster};
use cluster_tests::{info_field, q, repl_stream, server_error, wait_for, Node};
use redis::Value;
use std::time::Duration;

const LIB: &str = "#!lua name=mylib
redis.register_function('hello', function(keys, args) return 'hello ' .. args[1] end)
redis.register_function{function_name='get_ro', callback=function(keys, args)
    return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}
redis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)";

fn load(c: &mut redis::Connection, code: &str) -> String {
    q(c, &["FUNCTION", "LOAD", code])
}

#[test]
fn libraries_register_functions_that_fcall_runs() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(load(&mut c, LIB), "mylib");
    let hi: String = q(&mut c, &["FCALL", "hello", "0", "world"]);
    assert_eq!(hi, "hello world");
    let ok: String = q(&mut c, &["FCALL", "setter", "1", "k", "v"]);
    assert_eq!(ok, "OK");
    let v: String = q(&mut c, &["FCALL_RO", "get_ro", "1", "k"]);
    assert_eq!(v, "v");
    assert_eq!(
        server_error(&mut c, &["FCALL_RO", "setter", "1", "k", "v"]),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        server_error(&mut c, &["FCALL", "nosuch", "0"]),
        "ERR Function not found"
    );
    assert_eq!(
        server_error(&mut c, &["FCALL", "hello", "x"]),
        "ERR Bad number of keys provided"
    );
    // Loading again needs REPLACE; a function name belongs to one library.
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "LOAD", LIB]),
        "ERR Library 'mylib' already exists"
    );
    let _: String = q(&mut c, &["FUNCTION", "LOAD", "REPLACE", LIB]);
    assert_eq!(
        server_error(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=other\nredis.register_function('hello', function() return 1 end)"
            ]
        ),
        "ERR Function hello already exists"
    );
    // The loading code sees only register_function and log.
    let e = server_error(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=bad\nreturn redis.call('ping')",
        ],
    );
    assert!(
        e.starts_with("ERR Error registering functions:")
            && e.contains("nonexistent global variable 'call'"),
        "{e}"
    );
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "LOAD", "#!lua name=empty\nreturn 1"]),
        "ERR No functions registered"
    );
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "LOAD", "return 1"]),
        "ERR Missing library metadata"
    );
    // Errors in a function name it.
    let _: String = q(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=oops\nredis.register_function('oops', function() return nope end)",
        ],
    );
    let e = server_error(&mut c, &["FCALL", "oops", "0"]);
    assert_eq!(
        e,
        "ERR user_function:2: Script attempted to access nonexistent global variable 'nope' script: oops, on @user_function:2."
    );
}

#[test]
fn list_delete_flush_dump_and_restore() {
    let node = Node::start(&[]);
    let mut c = node.client();
    load(&mut c, LIB);
    let list: Value = q(&mut c, &["FUNCTION", "LIST", "WITHCODE"]);
    let text = format!("{list:?}");
    for want in [
        "mylib",
        "LUA",
        "get_ro",
        "no-writes",
        "reads",
        "library_code",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    let none: Vec<Value> = q(&mut c, &["FUNCTION", "LIST", "LIBRARYNAME", "zzz*"]);
    assert!(none.is_empty());
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "LIST", "bogus"]),
        "ERR Unknown argument bogus"
    );
    let dump: Vec<u8> = q(&mut c, &["FUNCTION", "DUMP"]);
    let _: () = q(&mut c, &["FUNCTION", "FLUSH"]);
    assert_eq!(
        server_error(&mut c, &["FCALL", "hello", "0", "x"]),
        "ERR Function not found"
    );
    let _: () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .query(&mut c)
        .unwrap();
    let hi: String = q(&mut c, &["FCALL", "hello", "0", "again"]);
    assert_eq!(hi, "hello again");
    // APPEND (the default) refuses a library that exists; REPLACE takes it.
    let e: redis::RedisResult<()> = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .query(&mut c);
    assert!(e.unwrap_err().to_string().contains("already exists"));
    let _: () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .arg("REPLACE")
        .query(&mut c)
        .unwrap();
    let mut bad = dump.clone();
    bad[0] ^= 0xff;
    let e: redis::RedisResult<()> = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&bad)
        .query(&mut c);
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("payload version or checksum are wrong"));
    let stats: Value = q(&mut c, &["FUNCTION", "STATS"]);
    assert!(format!("{stats:?}").contains("libraries_count"));
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "DELETE", "nolib"]),
        "ERR Library not found"
    );
    let _: () = q(&mut c, &["FUNCTION", "DELETE", "mylib"]);
    let list: Vec<Value> = q(&mut c, &["FUNCTION", "LIST"]);
    assert!(list.is_empty());
}

#[test]
fn function_load_reaches_replicas_and_fcall_sends_its_effects() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut stream = repl_stream::attach(&node);
    load(&mut c, LIB);
    let mut first = repl_stream::next_cmd(&mut stream);
    if first[0] == "select" {
        first = repl_stream::next_cmd(&mut stream);
    }
    assert_eq!(
        first,
        vec!["function".to_string(), "LOAD".into(), LIB.into()]
    );
    let _: String = q(&mut c, &["FCALL", "setter", "1", "k", "v"]);
    assert_eq!(repl_stream::next_cmd(&mut stream), vec!["set", "k", "v"]);
}

/// A library whose top-level code does not end is stopped after 500 ms, as Redis's load
/// timeout; the node carries on and the library is not loaded.
#[test]
fn a_library_that_loads_forever_times_out() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let started = std::time::Instant::now();
    let e = server_error(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nlocal a = 1 while 1 do a = a + 1 end",
        ],
    );
    assert!(e.contains("FUNCTION LOAD timeout"), "{e}");
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(500) && took < std::time::Duration::from_secs(3),
        "{took:?}"
    );
    let libs: Value = q(&mut c, &["FUNCTION", "LIST"]);
    assert_eq!(libs, Value::Array(vec![]));
    assert_eq!(load(&mut c, LIB), "mylib");
    let hi: String = q(&mut c, &["FCALL", "hello", "0", "again"]);
    assert_eq!(hi, "hello again");
}

fn linked(replica: &Node) -> bool {
    let info: String = q(&mut replica.client(), &["INFO", "replication"]);
    info_field(&info, "master_link_status").as_deref() == Some("up")
}

/// A replica's full sync carries the primary's libraries (Redis's RDB has them ahead of the
/// keys) and replaces the ones the replica had; FUNCTION DELETE and FLUSH reach it after.
#[test]
fn a_full_sync_carries_the_libraries() {
    let primary = Node::start(&[]);
    let mut c = primary.client();
    assert_eq!(load(&mut c, LIB), "mylib");
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let replica = Node::start(&[]);
    let mut r = replica.client();
    let _: String = q(
        &mut r,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=own\nredis.register_function('mine', function() return 1 end)",
        ],
    );
    let port = primary.port.to_string();
    let _: () = q(&mut r, &["REPLICAOF", &primary.host, &port]);
    assert!(
        wait_for(Duration::from_secs(20), || linked(&replica).then_some(())).is_some(),
        "replica linked"
    );
    let v: String = q(&mut r, &["FCALL_RO", "get_ro", "1", "k"]);
    assert_eq!(v, "v");
    assert!(server_error(&mut r, &["FCALL", "mine", "0"]).contains("Function not found"));
    let listed: Vec<Value> = q(&mut r, &["FUNCTION", "LIST"]);
    assert_eq!(listed.len(), 1);
    // Deleting the library on the primary deletes it on the replica.
    let _: () = q(&mut c, &["FUNCTION", "DELETE", "mylib"]);
    let gone = wait_for(Duration::from_secs(10), || {
        let l: Vec<Value> = q(&mut r, &["FUNCTION", "LIST"]);
        l.is_empty().then_some(())
    });
    assert!(gone.is_some(), "FUNCTION DELETE reached the replica");
}

/// In a 3x2 cluster, libraries loaded on the primaries reach their replicas, and after a
/// failover FCALL runs on the new primary.
#[test]
fn after_a_failover_fcall_runs_on_the_new_primary() {
    let (c, ids) = TestCluster::start_3x2(&[]);
    for n in &c.nodes {
        let role = query_string(n, &["ROLE"]).unwrap_or_default();
        let info: String = q(&mut n.client(), &["INFO", "replication"]);
        if info_field(&info, "role").as_deref() == Some("master") {
            assert_eq!(load(&mut n.client(), LIB), "mylib", "{role}");
        }
    }
    let primary = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(0, 0))
        .expect("slot 0 has an owner");
    let replica = (0..c.nodes.len())
        .find(|&i| {
            query_string(&c.nodes[i], &["CLUSTER", "NODES"])
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&ids[primary]))
        })
        .expect("slot 0's primary has a replica");
    // "{06S}" hashes to slot 0.
    let key = "{06S}k";
    let ok: String = q(
        &mut c.nodes[primary].client(),
        &["FCALL", "setter", "1", key, "before"],
    );
    assert_eq!(ok, "OK");
    let synced = wait_for(Duration::from_secs(10), || {
        let l: Vec<Value> = q(&mut c.nodes[replica].client(), &["FUNCTION", "LIST"]);
        (l.len() == 1).then_some(())
    });
    assert!(synced.is_some(), "the replica has the library");
    let r = query_string(&c.nodes[replica], &["CLUSTER", "FAILOVER"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let swapped = wait_for(Duration::from_secs(10), || {
        (c.owner_of(replica, 0) == Some(ids[replica].clone())).then_some(())
    });
    assert!(swapped.is_some(), "manual failover did not complete");
    let mut n = c.nodes[replica].client();
    let ok: String = q(&mut n, &["FCALL", "setter", "1", key, "after"]);
    assert_eq!(ok, "OK");
    let v: String = q(&mut n, &["FCALL_RO", "get_ro", "1", key]);
    assert_eq!(v, "after");
}

/// The metadata line is split as Redis's sdssplitargs splits it: quotes group.
#[test]
fn library_metadata_may_quote_the_name() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let lib = "#!lua name=\"foo\"\nredis.register_function('foo', function() return 1 end)";
    assert_eq!(load(&mut c, lib), "foo");
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "LOAD", "#!lua name=\"bar\nreturn 1"]),
        "ERR Invalid library metadata"
    );
}
