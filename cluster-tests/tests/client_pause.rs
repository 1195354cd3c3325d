//! CLIENT PAUSE / UNPAUSE through the `redis` crate: WRITE holds writes (and may-replicate
//! commands, and EXEC of a transaction that writes) but serves reads, ALL holds everything,
//! the pause ends by itself, paused clients count as blocked, expired keys are kept while
//! writes are paused, and arguments are checked.

use cluster_tests::{info_field, q, server_error, wait_for, Node};
use redis::Connection;
use std::time::{Duration, Instant};

fn blocked(c: &mut Connection) -> i64 {
    let info: String = q(c, &["INFO", "clients"]);
    info_field(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[test]
fn write_pause_holds_writes_until_unpause_and_serves_reads() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    let _: () = q(&mut admin, &["SET", "k", "before"]);
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    let mut reader = node.client();
    let v: String = q(&mut reader, &["GET", "k"]);
    assert_eq!(v, "before");
    let mut writer = node.client();
    let t = std::thread::spawn(move || {
        let started = Instant::now();
        let _: () = q(&mut writer, &["SET", "k", "after"]);
        started.elapsed()
    });
    assert!(
        wait_for(Duration::from_secs(5), || (blocked(&mut admin) == 1)
            .then_some(()))
        .is_some(),
        "the paused writer is not counted as blocked"
    );
    let v: String = q(&mut reader, &["GET", "k"]);
    assert_eq!(v, "before");
    std::thread::sleep(Duration::from_millis(200));
    let _: () = q(&mut admin, &["CLIENT", "UNPAUSE"]);
    let waited = t.join().unwrap();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    let v: String = q(&mut reader, &["GET", "k"]);
    assert_eq!(v, "after");
    assert_eq!(blocked(&mut admin), 0);
}

#[test]
fn pause_ends_by_itself_and_all_holds_reads() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    let mut reader = node.client();
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "300"]);
    let started = Instant::now();
    let _: Option<String> = q(&mut reader, &["GET", "k"]);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A read-only transaction is served during a write pause; one that writes waits.
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "300", "WRITE"]);
    let started = Instant::now();
    let r: (String, Option<String>) = redis::pipe()
        .atomic()
        .cmd("PING")
        .cmd("GET")
        .arg("k")
        .query(&mut reader)
        .unwrap();
    assert_eq!(r.0, "PONG");
    assert!(started.elapsed() < Duration::from_millis(200));
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .ignore()
        .query(&mut reader)
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn expired_keys_stay_while_writes_are_paused() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "gone", "v", "PX", "50"]);
    let _: () = q(&mut c, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    std::thread::sleep(Duration::from_millis(300));
    let v: Option<String> = q(&mut c, &["GET", "gone"]);
    assert_eq!(v, None);
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert_eq!(info_field(&info, "expired_keys").as_deref(), Some("0"));
    let _: () = q(&mut c, &["CLIENT", "UNPAUSE"]);
    let v: Option<String> = q(&mut c, &["GET", "gone"]);
    assert_eq!(v, None);
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert_eq!(info_field(&info, "expired_keys").as_deref(), Some("1"));
}

#[test]
fn pause_arguments_are_checked_and_syntax_errors_answer_at_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(
        server_error(&mut c, &["CLIENT", "PAUSE", "abc"]),
        "ERR timeout is not an integer or out of range"
    );
    assert_eq!(
        server_error(&mut c, &["CLIENT", "PAUSE", "-1"]),
        "ERR timeout is negative"
    );
    // The mode is checked first, as Redis 7.0.15 does.
    assert_eq!(
        server_error(&mut c, &["CLIENT", "PAUSE", "10", "READ"]),
        "ERR CLIENT PAUSE mode must be WRITE or ALL"
    );
    assert_eq!(
        server_error(&mut c, &["CLIENT", "PAUSE", "abc", "READ"]),
        "ERR CLIENT PAUSE mode must be WRITE or ALL"
    );
    assert_eq!(
        server_error(&mut c, &["CLIENT", "Pause", "10", "ALL", "extra"]),
        "ERR unknown subcommand or wrong number of arguments for 'Pause'. Try CLIENT HELP."
    );
    let _: () = q(&mut c, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    let started = Instant::now();
    assert_eq!(
        server_error(&mut c, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    let _: () = q(&mut c, &["CLIENT", "UNPAUSE"]);
}
