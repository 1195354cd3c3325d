//! Blocking pops with several clients: timeouts, wake-ups, FIFO fairness, no stealing by a
//! racing LPOP, BLMOVE, deletion and type changes while blocked, disconnects.

use cluster_tests::Node;
use std::time::{Duration, Instant};

#[test]
fn blpop_times_out_with_a_null_after_about_the_timeout() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let t = Instant::now();
    let r: Option<(String, String)> = redis::cmd("BLPOP").arg("q").arg(0.3).query(&mut c).unwrap();
    assert_eq!(r, None);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let err = redis::cmd("BLPOP")
        .arg("q")
        .arg(-1)
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("timeout is negative"));
    let err = redis::cmd("BLPOP")
        .arg("q")
        .arg("x")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("timeout is not a float or out of range"));
}

#[test]
fn waiters_are_served_in_arrival_order_and_a_racing_pop_cannot_steal() {
    let node = Node::start(&[]);
    let mut handles = Vec::new();
    for i in 0..3 {
        let mut c = node.client();
        handles.push(std::thread::spawn(move || {
            let r: (String, String) = redis::cmd("BLPOP").arg("q").arg(10).query(&mut c).unwrap();
            (i, r.1)
        }));
        node.wait_blocked_clients(i + 1);
    }
    let mut c = node.client();
    // One pipeline: the push serves the first waiter before the LPOP runs.
    let (_, stolen): (i64, Option<String>) = redis::pipe()
        .cmd("RPUSH")
        .arg("q")
        .arg("x")
        .cmd("LPOP")
        .arg("q")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        stolen, None,
        "LPOP took the element a blocked client was owed"
    );
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg("y")
        .arg("z")
        .query(&mut c)
        .unwrap();
    let mut got: Vec<(usize, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![(0, "x".into()), (1, "y".into()), (2, "z".into())]);
    assert_eq!(node.blocked_clients(), 0);
}

#[test]
fn blmove_delivers_to_its_destination_and_wakes_waiters_there() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    let ta = std::thread::spawn(move || {
        let v: String = redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("LEFT")
            .arg("RIGHT")
            .arg(10)
            .query(&mut a)
            .unwrap();
        v
    });
    node.wait_blocked_clients(1);
    let tb = std::thread::spawn(move || {
        let r: (String, String) = redis::cmd("BRPOP")
            .arg("dst")
            .arg(10)
            .query(&mut b)
            .unwrap();
        r
    });
    node.wait_blocked_clients(2);
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("m")
        .query(&mut node.client())
        .unwrap();
    assert_eq!(ta.join().unwrap(), "m");
    assert_eq!(tb.join().unwrap(), ("dst".to_string(), "m".to_string()));
}

#[test]
fn a_disconnected_waiter_loses_nothing() {
    let node = Node::start(&[]);
    {
        let mut s = node.raw();
        use std::io::Write;
        s.write_all(b"BLPOP q 0\r\n").unwrap();
        node.wait_blocked_clients(1);
    }
    node.wait_blocked_clients(0);
    let mut c = node.client();
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg("kept")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["kept"]);
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let t = Instant::now();
    let r: (Option<Vec<String>>,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("none")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(r.0, None);
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn bzpopmin_wakes_on_zadd() {
    let node = Node::start(&[]);
    let mut w = node.client();
    let t = std::thread::spawn(move || {
        let r: (String, String, f64) = redis::cmd("BZPOPMIN")
            .arg("z")
            .arg(10)
            .query(&mut w)
            .unwrap();
        r
    });
    node.wait_blocked_clients(1);
    let _: i64 = redis::cmd("ZADD")
        .arg("z")
        .arg(2)
        .arg("b")
        .arg(1)
        .arg("a")
        .query(&mut node.client())
        .unwrap();
    assert_eq!(t.join().unwrap(), ("z".to_string(), "a".to_string(), 1.0));
}
