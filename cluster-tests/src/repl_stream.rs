//! A raw replica's view of a node's replication stream: attach with SYNC, skip the snapshot,
//! then read the commands the node propagates, one at a time, for tests that check what
//! reaches replicas (and in what form).

use crate::Node;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Attaches with SYNC and consumes the snapshot bulk; what follows is the live stream.
pub fn attach(node: &Node) -> BufReader<TcpStream> {
    let mut s = node.raw();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"SYNC\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if !line.trim_end().is_empty() {
            break;
        }
    }
    assert!(
        line.starts_with('$'),
        "SYNC must answer a bulk, got {line:?}"
    );
    let n: usize = line[1..].trim_end().parse().unwrap();
    let mut payload = vec![0u8; n];
    r.read_exact(&mut payload).unwrap();
    r
}

/// The next propagated command, its name lower-cased.
pub fn next_cmd(r: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with('*'), "expected a command, got {line:?}");
    let argc: usize = line[1..].trim_end().parse().unwrap();
    let mut args = Vec::new();
    for i in 0..argc {
        line.clear();
        r.read_line(&mut line).unwrap();
        let n: usize = line[1..].trim_end().parse().unwrap();
        let mut b = vec![0u8; n + 2];
        r.read_exact(&mut b).unwrap();
        let s = String::from_utf8_lossy(&b[..n]).into_owned();
        args.push(if i == 0 { s.to_lowercase() } else { s });
    }
    args
}
