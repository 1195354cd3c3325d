//! A connection's query buffer as CLIENT LIST shows it (`qbuf`, `qbuf-free`), and its sizing
//! rules: 16 KB of room while in use, the room of a big argument kept for the next one, room
//! given back down to the recent peak while busy and entirely after 2 seconds idle.

use cluster_tests::{wait_for, Node};
use redis::Connection;
use std::time::Duration;

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// (qbuf, qbuf-free) of the client named `name`, seen from `c`.
fn qbuf(c: &mut Connection, name: &str) -> (u64, u64) {
    let list: String = q(c, &["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("{name} not in {list}"));
    let field = |f: &str| -> u64 {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{f}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{f} in {line}"))
    };
    (field("qbuf"), field("qbuf-free"))
}

#[test]
fn an_idle_client_keeps_16k_then_gives_it_back() {
    let node = Node::start(&[]);
    let mut watcher = node.client();
    let mut c = node.client();
    let _: () = q(&mut c, &["CLIENT", "SETNAME", "idle"]);
    let (used, free) = qbuf(&mut watcher, "idle");
    assert_eq!(used, 0);
    assert!((16384..32768).contains(&(used + free)), "{used} {free}");
    let released = wait_for(Duration::from_secs(6), || {
        (qbuf(&mut watcher, "idle") == (0, 0)).then_some(())
    });
    assert!(released.is_some(), "{:?}", qbuf(&mut watcher, "idle"));
    // The client still works, with a fresh buffer.
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}

#[test]
fn a_big_argument_grows_the_buffer_and_small_commands_shrink_it_back() {
    let node = Node::start(&[]);
    let mut watcher = node.client();
    let mut c = node.client();
    let _: () = q(&mut c, &["CLIENT", "SETNAME", "busy"]);
    let big = "A".repeat(400_000);
    let _: () = q(&mut c, &["SET", "x", &big]);
    let (used, free) = qbuf(&mut watcher, "busy");
    let grown = used + free;
    assert!(grown > 32768, "{used} {free}");
    let small = "A".repeat(100);
    let shrunk = wait_for(Duration::from_secs(2), || {
        let _: () = q(&mut c, &["SET", "x", &small]);
        let (u, f) = qbuf(&mut watcher, "busy");
        (u + f < grown).then_some(u + f)
    });
    let shrunk = shrunk.expect("query buffer did not shrink");
    assert!(shrunk > 0, "a busy client keeps room for its recent peak");
    let v: String = q(&mut c, &["GET", "x"]);
    assert_eq!(v, small);
}
