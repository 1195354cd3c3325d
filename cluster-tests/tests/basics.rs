//! Smoke tests of one node through stock clients: connection commands, GET/SET, errors.

use cluster_tests::{raw_exchange, Node};

#[test]
fn ping_set_get_through_redis_crate() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let none: Option<String> = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(none, None);
}

#[test]
fn errors_are_worded_as_redis_words_them() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"GET\r\n", 10);
    assert_eq!(got, b"-ERR wrong number of arguments for 'get' command\r\n");
    let got = raw_exchange(&mut s, b"FOO a b\r\n", 10);
    assert_eq!(
        got,
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    );
}

#[test]
fn malformed_protocol_closes_only_that_connection() {
    let node = Node::start(&[]);
    let mut bad = node.raw();
    let got = raw_exchange(&mut bad, b"*1\r\n:5\r\n", 1000);
    assert_eq!(got, b"-ERR Protocol error: expected '$', got ':'\r\n");
    let mut c = node.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut node = Node::start(&[]);
    let status = node.terminate().expect("exit status");
    assert!(status.success(), "exit status {status:?}");
}
