//! Blocking list commands with several connections: timeouts, wake-ups, FIFO fairness,
//! no stealing by racing pops, deleted/retyped keys, disconnects. Every wait is bounded.

use cluster_tests::{raw_exchange, Node};
use redis::{Connection, Value};
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

/// Time for a spawned client to reach the server and block (the machine may be busy).
const SETTLE: Duration = Duration::from_millis(400);

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn spawn_query(node: &Node, args: &[&str]) -> thread::JoinHandle<redis::RedisResult<Value>> {
    let mut c = node.client();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a);
        }
        cmd.query::<Value>(&mut c)
    })
}

fn join(h: thread::JoinHandle<redis::RedisResult<Value>>) -> redis::RedisResult<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.is_finished() {
        assert!(Instant::now() < deadline, "blocked client never answered");
        thread::sleep(Duration::from_millis(10));
    }
    h.join().expect("thread")
}

fn pair(v: Value) -> (String, String) {
    redis::from_redis_value(&v).expect("[key, value]")
}

#[test]
fn timeout_returns_null_after_about_the_timeout() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let t = Instant::now();
    let v: Value = q(&mut c, &["BLPOP", "empty", "0.3"]);
    let took = t.elapsed();
    assert_eq!(v, Value::Nil);
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    assert_eq!(
        raw_exchange(&mut s, b"BLPOP empty 0.05\r\n", 100),
        b"*-1\r\n"
    );
    // BLMOVE too: Redis 7.0.15 times every list block out with a null array.
    assert_eq!(
        raw_exchange(&mut s, b"BLMOVE empty d LEFT LEFT 0.05\r\n", 100),
        b"*-1\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"BLMPOP 0.05 1 empty LEFT\r\n", 100),
        b"*-1\r\n"
    );
    // The connection works normally afterwards.
    assert_eq!(raw_exchange(&mut s, b"PING\r\n", 100), b"+PONG\r\n");
}

#[test]
fn timeout_argument_errors() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    assert_eq!(
        raw_exchange(&mut s, b"BLPOP k abc\r\n", 200),
        b"-ERR timeout is not a float or out of range\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"BLPOP k -1\r\n", 200),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"BRPOPLPUSH a b -0.5\r\n", 200),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        raw_exchange(&mut s, b"BLMPOP x 1 k LEFT\r\n", 200),
        b"-ERR timeout is not a float or out of range\r\n"
    );
}

#[test]
fn push_from_another_client_wakes_the_waiter() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BRPOP", "other", "q", "0"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "q", "a", "b"]);
    assert_eq!(pair(join(h).unwrap()), ("q".into(), "b".into()));
    assert_eq!(q::<Vec<String>>(&mut c, &["LRANGE", "q", "0", "-1"]), ["a"]);
}

#[test]
fn non_empty_list_is_served_at_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "b", "x"]);
    let v: (String, String) = q(&mut c, &["BLPOP", "a", "b", "0"]);
    assert_eq!(v, ("b".into(), "x".into()));
    q::<i64>(&mut c, &["RPUSH", "m", "1", "2", "3"]);
    let v: (String, Vec<String>) = q(
        &mut c,
        &["BLMPOP", "0", "2", "a", "m", "RIGHT", "COUNT", "5"],
    );
    assert_eq!(v.1, ["3", "2", "1"]);
}

#[test]
fn waiters_are_served_in_fifo_order() {
    let node = Node::start(&[]);
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(spawn_query(&node, &["BLPOP", "fifo", "5"]));
        thread::sleep(SETTLE);
    }
    let mut c = node.client();
    for v in ["first", "second", "third"] {
        q::<i64>(&mut c, &["RPUSH", "fifo", v]);
    }
    let got: Vec<String> = handles
        .into_iter()
        .map(|h| pair(join(h).unwrap()).1)
        .collect();
    assert_eq!(got, ["first", "second", "third"]);
}

#[test]
fn racing_pop_does_not_steal_from_a_blocked_client() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BLPOP", "race", "5"]);
    thread::sleep(SETTLE);
    // One pipeline: the push serves the waiter before the LPOP runs.
    let mut c = node.client();
    let (n, stolen): (i64, Option<String>) = redis::pipe()
        .cmd("RPUSH")
        .arg("race")
        .arg("prize")
        .cmd("LPOP")
        .arg("race")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(stolen, None);
    assert_eq!(pair(join(h).unwrap()), ("race".into(), "prize".into()));
}

#[test]
fn blmove_delivers_to_destination_and_chains() {
    let node = Node::start(&[]);
    // A waiter on the destination is served by the element BLMOVE pushes there.
    let tail = spawn_query(&node, &["BLPOP", "dst", "5"]);
    thread::sleep(SETTLE);
    let mover = spawn_query(&node, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "5"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "src", "x", "y"]);
    let moved: String = redis::from_redis_value(&join(mover).unwrap()).unwrap();
    assert_eq!(moved, "y");
    assert_eq!(pair(join(tail).unwrap()), ("dst".into(), "y".into()));
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "src", "0", "-1"]),
        ["x"]
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);
}

#[test]
fn brpoplpush_with_wrong_type_destination_errors_and_keeps_the_element() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BRPOPLPUSH", "s", "d", "5"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "d", "string"]);
    q::<i64>(&mut c, &["RPUSH", "s", "e"]);
    let e = join(h).unwrap_err();
    assert!(e.to_string().starts_with("WRONGTYPE"), "{e}");
    assert_eq!(q::<Vec<String>>(&mut c, &["LRANGE", "s", "0", "-1"]), ["e"]);
}

#[test]
fn key_deleted_or_retyped_while_blocked_keeps_waiting() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BLPOP", "k", "5"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    // Push and delete in one transaction-like pipeline: the push serves the waiter, so
    // instead retype the key first, then delete it, then push.
    let _: () = q(&mut c, &["SET", "k", "str"]);
    thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished(), "a string key must not wake a list waiter");
    q::<i64>(&mut c, &["DEL", "k"]);
    thread::sleep(Duration::from_millis(100));
    assert!(
        !h.is_finished(),
        "deleting the key must not wake the waiter"
    );
    q::<i64>(&mut c, &["LPUSH", "k", "v"]);
    assert_eq!(pair(join(h).unwrap()), ("k".into(), "v".into()));
}

#[test]
fn waiter_on_two_keys_meets_wrongtype_when_served() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BLPOP", "a", "b", "5"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "str"]);
    q::<i64>(&mut c, &["RPUSH", "b", "v"]);
    let e = join(h).unwrap_err();
    assert!(e.to_string().starts_with("WRONGTYPE"), "{e}");
    assert_eq!(q::<i64>(&mut c, &["LLEN", "b"]), 1);
}

#[test]
fn disconnected_waiter_does_not_lose_a_push() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    s.write_all(b"BLPOP gone 0\r\n").unwrap();
    thread::sleep(SETTLE);
    drop(s);
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "gone", "kept"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "gone", "0", "-1"]),
        ["kept"]
    );
}

#[test]
fn pipelined_commands_after_a_blocking_one_wait_for_it() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    s.write_all(b"BLPOP p 5\r\nPING\r\n").unwrap();
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "p", "v"]);
    let mut got = Vec::new();
    let want = b"*2\r\n$1\r\np\r\n$1\r\nv\r\n+PONG\r\n";
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 256];
    while got.len() < want.len() && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(got, want.to_vec());
}

#[test]
fn resp3_timeout_is_null() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    raw_exchange(&mut s, b"HELLO 3\r\n", 4096);
    assert_eq!(raw_exchange(&mut s, b"BRPOP none 0.05\r\n", 100), b"_\r\n");
    assert_eq!(
        raw_exchange(&mut s, b"BRPOPLPUSH none x 0.05\r\n", 100),
        b"_\r\n"
    );
}

#[test]
fn tiny_timeout_does_not_block_forever() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let t = Instant::now();
    let v: Value = q(&mut c, &["BLPOP", "none", "0.001"]);
    assert_eq!(v, Value::Nil);
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn blmpop_and_brpoplpush_wake_up() {
    let node = Node::start(&[]);
    let m = spawn_query(&node, &["BLMPOP", "5", "2", "x", "y", "LEFT", "COUNT", "2"]);
    let r = spawn_query(&node, &["BRPOPLPUSH", "z", "out", "5"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "y", "1", "2", "3"]);
    q::<i64>(&mut c, &["RPUSH", "z", "a"]);
    let (k, items): (String, Vec<String>) = redis::from_redis_value(&join(m).unwrap()).unwrap();
    assert_eq!(
        (k.as_str(), items),
        ("y", vec!["1".to_string(), "2".to_string()])
    );
    let moved: String = redis::from_redis_value(&join(r).unwrap()).unwrap();
    assert_eq!(moved, "a");
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "out", "0", "-1"]),
        ["a"]
    );
}

#[test]
fn waiters_only_wake_for_their_own_database() {
    let node = Node::start(&[]);
    let mut w = node.client();
    let _: () = q(&mut w, &["SELECT", "1"]);
    let h = thread::spawn(move || redis::cmd("BLPOP").arg("k").arg("5").query::<Value>(&mut w));
    thread::sleep(SETTLE);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "k", "db0"]);
    thread::sleep(Duration::from_millis(100));
    assert!(
        !h.is_finished(),
        "a push in db 0 must not wake a db 1 waiter"
    );
    let _: () = q(&mut c, &["SELECT", "1"]);
    q::<i64>(&mut c, &["RPUSH", "k", "db1"]);
    assert_eq!(pair(join(h).unwrap()), ("k".into(), "db1".into()));
    let _: () = q(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "k"]), 1);
}

#[test]
fn many_waiters_and_pushers_lose_and_duplicate_nothing() {
    let node = Node::start(&[]);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = node.client();
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let v: Option<(String, String)> = redis::cmd("BLPOP")
                        .arg("work")
                        .arg("1")
                        .query(&mut c)
                        .unwrap();
                    match v {
                        Some((_, item)) => got.push(item),
                        None => return got,
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let mut c = node.client();
            thread::spawn(move || {
                for i in 0..100 {
                    let _: i64 = redis::cmd("RPUSH")
                        .arg("work")
                        .arg(format!("{p}-{i}"))
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let mut c = node.client();
    let left: Vec<String> = q(&mut c, &["LRANGE", "work", "0", "-1"]);
    all.extend(left);
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "an element was delivered twice");
    assert_eq!(all.len(), 200, "an element was lost");
}

/// Waiters are served once a transaction is over: a key pushed and deleted again inside
/// MULTI wakes nobody, and one pushed three times hands over what is at its head then.
#[test]
fn transactions_serve_waiters_only_at_exec_end() {
    let node = Node::start(&[]);
    let h = spawn_query(&node, &["BLPOP", "list", "0"]);
    thread::sleep(SETTLE);
    let mut c = node.client();
    let _: () = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("list")
        .arg("a")
        .cmd("DEL")
        .arg("list")
        .cmd("SET")
        .arg("list")
        .arg("foo")
        .query(&mut c)
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(
        !h.is_finished(),
        "a pushed-then-deleted key woke the waiter"
    );
    q::<i64>(&mut c, &["DEL", "list"]);
    q::<i64>(&mut c, &["LPUSH", "list", "b"]);
    assert_eq!(pair(join(h).unwrap()), ("list".into(), "b".into()));

    let h = spawn_query(&node, &["BLMPOP", "0", "1", "list", "LEFT"]);
    thread::sleep(SETTLE);
    let _: () = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("list")
        .arg("a")
        .cmd("LPUSH")
        .arg("list")
        .arg("b")
        .cmd("LPUSH")
        .arg("list")
        .arg("c")
        .query(&mut c)
        .unwrap();
    let got: (String, Vec<String>) = redis::from_redis_value(&join(h).unwrap()).unwrap();
    assert_eq!(got, ("list".into(), vec!["c".to_string()]));
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "list", "0", "-1"]),
        ["b", "a"]
    );
}

#[test]
fn client_unblock_answers_a_timeout_or_an_error() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut waiter = node.client();
    let id: i64 = q(&mut waiter, &["CLIENT", "ID"]);
    let ids = id.to_string();
    for (how, err) in [
        (None, false),
        (Some("TIMEOUT"), false),
        (Some("ERROR"), true),
    ] {
        let mut w = node.client();
        let wid: i64 = q(&mut w, &["CLIENT", "ID"]);
        let h = thread::spawn(move || {
            redis::cmd("BLMOVE")
                .arg("src")
                .arg("dst")
                .arg("LEFT")
                .arg("RIGHT")
                .arg(0)
                .query::<Value>(&mut w)
        });
        thread::sleep(SETTLE);
        let list: String = q(&mut c, &["CLIENT", "LIST", "ID", &wid.to_string()]);
        assert!(list.contains("flags=b"), "{list}");
        let mut args = vec!["CLIENT", "UNBLOCK"];
        let wids = wid.to_string();
        args.push(&wids);
        args.extend(how);
        assert_eq!(q::<i64>(&mut c, &args), 1);
        match join(h) {
            Err(e) if err => assert_eq!(
                e.to_string(),
                "UNBLOCKED: client unblocked via CLIENT UNBLOCK"
            ),
            Ok(v) if !err => assert_eq!(v, Value::Nil),
            other => panic!("{how:?}: {other:?}"),
        }
    }
    // Not blocked, unknown, or not a number.
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "UNBLOCK", &ids]), 0);
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "UNBLOCK", "999999"]), 0);
    let e = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg("asd")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("value is not an integer"), "{e}");
    let e = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&ids)
        .arg("LATER")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string().contains("reason should be TIMEOUT or ERROR"),
        "{e}"
    );
    // The unblocked connections still work.
    assert_eq!(q::<i64>(&mut waiter, &["RPUSH", "src", "x"]), 1);
}

#[test]
fn swapdb_wakes_a_client_blocked_on_a_key_it_brings() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["SELECT", "1"]);
    q::<i64>(&mut c, &["RPUSH", "k", "hello"]);
    let mut w = node.client();
    q::<()>(&mut w, &["SELECT", "9"]);
    let h = thread::spawn(move || redis::cmd("BRPOP").arg("k").arg(5).query::<Value>(&mut w));
    thread::sleep(SETTLE);
    q::<()>(&mut c, &["SWAPDB", "1", "9"]);
    assert_eq!(pair(join(h).unwrap()), ("k".into(), "hello".into()));
}
