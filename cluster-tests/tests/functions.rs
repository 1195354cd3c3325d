//! FUNCTION and FCALL through the redis crate: libraries load, list, delete, flush, dump
//! and restore as in Redis 7.0; functions run with their flags; FUNCTION LOAD reaches
//! replicas.

use cluster_tests::{q, repl_stream, server_error, Node};
use redis::Value;

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
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let libs: Value = q(&mut c, &["FUNCTION", "LIST"]);
    assert_eq!(libs, Value::Array(vec![]));
    assert_eq!(load(&mut c, LIB), "mylib");
    let hi: String = q(&mut c, &["FCALL", "hello", "0", "again"]);
    assert_eq!(hi, "hello again");
}
