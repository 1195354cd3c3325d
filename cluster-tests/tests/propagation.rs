//! What the replication stream carries, read as a client that attached with the old `SYNC`
//! command (as Redis's own test suite does): the snapshot as one `$<len>` bulk, then the
//! commands as Redis 7.0 propagates them — SELECT first, MULTI/EXEC only around a
//! transaction of several writes, expiries as absolute times, GETDEL as DEL, lazy expiry as
//! plain DELs, PUBLISH.

use cluster_tests::repl_stream::{attach, next_cmd};
use cluster_tests::Node;
use std::time::Duration;

fn q(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

#[test]
fn transactions_are_wrapped_only_when_they_write_more_than_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut repl = attach(&node);
    // One write in a transaction: no MULTI/EXEC around it.
    q(&mut c, &["MULTI"]);
    q(&mut c, &["SET", "foo", "bar"]);
    q(&mut c, &["GET", "foo"]);
    q(&mut c, &["EXEC"]);
    // Reads only, and an empty transaction: nothing.
    q(&mut c, &["MULTI"]);
    q(&mut c, &["GET", "foo"]);
    q(&mut c, &["EXEC"]);
    // Several writes, across databases.
    q(&mut c, &["MULTI"]);
    q(&mut c, &["SET", "a", "1"]);
    q(&mut c, &["SELECT", "1"]);
    q(&mut c, &["SET", "b", "2"]);
    q(&mut c, &["EXEC"]);
    assert_eq!(next_cmd(&mut repl), ["select", "0"]);
    assert_eq!(next_cmd(&mut repl), ["set", "foo", "bar"]);
    assert_eq!(next_cmd(&mut repl), ["multi"]);
    assert_eq!(next_cmd(&mut repl), ["set", "a", "1"]);
    assert_eq!(next_cmd(&mut repl), ["select", "1"]);
    assert_eq!(next_cmd(&mut repl), ["set", "b", "2"]);
    assert_eq!(next_cmd(&mut repl), ["exec"]);
}

#[test]
fn expiries_go_as_absolute_times_and_getdel_as_del() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut repl = attach(&node);
    q(&mut c, &["SET", "k", "v", "EX", "100"]);
    q(&mut c, &["EXPIRE", "k", "200"]);
    q(&mut c, &["GETEX", "k"]);
    q(&mut c, &["GETEX", "k", "PERSIST"]);
    q(&mut c, &["GETDEL", "k"]);
    q(&mut c, &["SET", "r", "v"]);
    let dump: Vec<u8> = redis::cmd("DUMP").arg("r").query(&mut c).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("r2")
        .arg(100000)
        .arg(dump)
        .query(&mut c)
        .unwrap();
    assert_eq!(next_cmd(&mut repl), ["select", "0"]);
    let set = next_cmd(&mut repl);
    assert_eq!(set[..4], ["set", "k", "v", "PXAT"]);
    assert!(set[4].parse::<u64>().unwrap() > 1_000_000_000_000);
    let exp = next_cmd(&mut repl);
    assert_eq!(exp[..2], ["pexpireat", "k"]);
    assert_eq!(next_cmd(&mut repl), ["persist", "k"]);
    assert_eq!(next_cmd(&mut repl), ["del", "k"]);
    assert_eq!(next_cmd(&mut repl), ["set", "r", "v"]);
    let restore = next_cmd(&mut repl);
    assert_eq!(restore[..2], ["restore", "r2"]);
    assert!(restore[2].parse::<u64>().unwrap() > 1_000_000_000_000);
    assert_eq!(restore[4..], ["ABSTTL"]);
}

#[test]
fn lazy_expiry_and_publish_reach_the_stream_unwrapped() {
    let node = Node::start(&["--enable-debug-command", "local"]);
    let mut c = node.client();
    q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    q(&mut c, &["SET", "foo1", "bar", "PX", "1"]);
    q(&mut c, &["SET", "foo2", "bar", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    let mut repl = attach(&node);
    // SCAN deletes the expired keys it passes, as Redis does.
    q(&mut c, &["SCAN", "0"]);
    q(&mut c, &["MULTI"]);
    q(&mut c, &["PUBLISH", "ch", "hello"]);
    q(&mut c, &["EXEC"]);
    assert_eq!(next_cmd(&mut repl), ["select", "0"]);
    let mut dels = vec![next_cmd(&mut repl), next_cmd(&mut repl)];
    dels.sort();
    assert_eq!(dels, [["del", "foo1"], ["del", "foo2"]]);
    assert_eq!(next_cmd(&mut repl), ["publish", "ch", "hello"]);
}
