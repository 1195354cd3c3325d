//! A connection's query buffer as CLIENT LIST shows it (`qbuf`, `qbuf-free`), and its sizing
//! rules: 16 KB of room while in use, the room of a big argument kept for the next one, room
//! given back down to the recent peak while busy and entirely after 2 seconds idle.

use cluster_tests::{q, wait_for, Node};
use redis::Connection;
use std::time::Duration;

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

/// CPU seconds the process has used (user + system), from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn idle_clients_with_released_buffers_cost_no_cpu_and_still_work() {
    let node = Node::start(&[]);
    let pid = node.pid().expect("pid");
    let mut watcher = node.client();
    let mut idle: Vec<Connection> = (0..5).map(|_| node.client()).collect();
    for (i, c) in idle.iter_mut().enumerate() {
        let _: () = q(c, &["CLIENT", "SETNAME", &format!("idle{i}")]);
    }
    // One client stops in the middle of a command.
    let mut partial = node.raw();
    std::io::Write::write_all(&mut partial, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nab").unwrap();
    let released = wait_for(Duration::from_secs(6), || {
        (qbuf(&mut watcher, "idle4") == (0, 0)).then_some(())
    });
    assert!(released.is_some());
    // Released buffers must not be taken back and released again in a loop.
    let before = cpu_secs(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_secs(pid) - before;
    assert!(used < 0.5, "an idle server used {used} s of CPU in 3 s");
    for c in idle.iter_mut() {
        let pong: String = q(c, &["PING"]);
        assert_eq!(pong, "PONG");
    }
    let got = cluster_tests::raw_exchange(&mut partial, b"c\r\n", 5);
    assert_eq!(got, b"+OK\r\n");
    let v: String = q(&mut watcher, &["GET", "k"]);
    assert_eq!(v, "abc");
}
