//! `supervised systemd`: the server tells the socket in `NOTIFY_SOCKET` `READY=1` once it
//! accepts connections and `STOPPING=1` when it begins to shut down (a SIGTERM from
//! `systemctl stop`, or SHUTDOWN), as systemd's `Type=notify` expects.

use cluster_tests::{pick_port, server_bin, wait_for};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process started by hand (for its environment), killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    (0..50)
        .map(|_| pick_port())
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

/// Starts the server with `NOTIFY_SOCKET` pointing at a socket this test bound.
fn start(dir: &std::path::Path, mode: &str) -> (Proc, UnixDatagram, u16) {
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let port = free_port();
    let child = Command::new(server_bin())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--supervised", mode, "--dir"])
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("server.log"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server");
    (Proc(child), sock, port)
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification within 15 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn ping(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok_and(|p| p == "PONG")
}

#[test]
fn systemd_hears_ready_once_the_port_serves_and_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, sock, port) = start(dir.path(), "systemd");
    assert_eq!(recv(&sock), "STATUS=Ready to accept connections\nREADY=1\n");
    // READY=1 promised a serving port: no retry needed.
    assert!(ping(port), "READY=1 came before the port served");
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    assert_eq!(recv(&sock), "STOPPING=1\n");
    let status = wait_for(Duration::from_secs(10), || p.0.try_wait().ok().flatten());
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit after SIGTERM: {status:?}"
    );
}

#[test]
fn auto_detects_systemd_and_shutdown_sends_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, sock, port) = start(dir.path(), "auto");
    assert!(recv(&sock).ends_with("READY=1\n"));
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
    assert_eq!(recv(&sock), "STOPPING=1\n");
    let status = wait_for(Duration::from_secs(10), || p.0.try_wait().ok().flatten());
    assert!(status.is_some(), "the server exits after SHUTDOWN");
}

#[test]
fn without_supervision_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, sock, port) = start(dir.path(), "no");
    assert!(wait_for(Duration::from_secs(10), || ping(port).then_some(())).is_some());
    sock.set_read_timeout(Some(Duration::from_millis(300))).ok();
    let mut buf = [0u8; 64];
    assert!(sock.recv(&mut buf).is_err(), "nothing was asked for");
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    assert!(wait_for(Duration::from_secs(10), || p.0.try_wait().ok().flatten()).is_some());
}
