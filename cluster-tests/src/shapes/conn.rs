//! Raw connections to the servers under comparison, and the listener for keyspace events.

use slotcache_proto::reply::{self, ReadError, Reply};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connection that sends commands as RESP arrays and reads replies with [`reply::read`].
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// What one command got back: its replies, or how reading them failed.
pub type Outcome = Result<Vec<Reply>, String>;

impl Conn {
    /// Connects with a read timeout: a command that does not reply within it reads as a
    /// timeout, not as a hung test.
    ///
    /// # Errors
    /// The connect error.
    pub fn open(addr: &str, timeout: Duration) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends one command without waiting for its reply.
    pub fn send(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let buf = slotcache_proto::command::to_vec(args);
        self.writer.write_all(&buf).map_err(|e| e.to_string())
    }

    /// Reads the messages a [`Listener`] receives up to (without) the sentinel.
    fn recv_until_sentinel(&mut self) -> Outcome {
        let mut got = Vec::new();
        // Bounded: a server that sends events without end fails the comparison, not the run.
        while got.len() < 10_000 {
            let r = self.recv(1)?.remove(0);
            let channel = r.items().and_then(|v| v.get(1)).cloned();
            if channel == Some(Reply::Bulk(SENTINEL.to_vec())) {
                return Ok(got);
            }
            got.push(r);
        }
        Err("more than 10000 messages".into())
    }

    /// Sends RESET and reads up to its reply, best effort (the connection may be closed).
    pub fn reset(&mut self) {
        if self.send(&[b"RESET".to_vec()]).is_err() {
            return;
        }
        for _ in 0..10_000 {
            match self.recv(1) {
                Ok(r) if r.first() == Some(&Reply::Simple("RESET".into())) => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads `n` replies.
    pub fn recv(&mut self, n: usize) -> Outcome {
        (0..n)
            .map(|_| {
                reply::read(&mut self.reader).map_err(|e| match e {
                    ReadError::Timeout => "no reply (timeout)".to_string(),
                    ReadError::Closed => "connection closed".to_string(),
                    ReadError::Protocol(p) => format!("protocol error: {p}"),
                })
            })
            .collect()
    }
}

/// The channel a step with `p` publishes to after its command: the events before it on the
/// listener are the command's.
const SENTINEL: &[u8] = b"__reply_shapes_sentinel__";

/// A second connection to a server, subscribed to every keyspace and keyevent channel of
/// every database and to [`SENTINEL`]. Keyspace events are compared through it rather than
/// on the connection that caused them: Redis 7.0 writes a client's own pushes into the
/// middle of its aggregate replies (redis/redis#8206).
pub struct Listener(pub(super) Conn);

impl Listener {
    pub(super) fn open(addr: &str, timeout: Duration) -> Result<Listener, String> {
        let mut c = Conn::open(addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
        c.send(&[b"PSUBSCRIBE".to_vec(), b"__key*@*__:*".to_vec()])?;
        c.send(&[b"SUBSCRIBE".to_vec(), SENTINEL.to_vec()])?;
        c.recv(2)?;
        Ok(Listener(c))
    }

    /// Publishes the sentinel through `main` (after a command) and returns the events the
    /// listener got before it.
    pub(super) fn events_after(&mut self, main: &mut Conn) -> Outcome {
        main.send(&[b"PUBLISH".to_vec(), SENTINEL.to_vec(), b"end".to_vec()])?;
        main.recv(1)?;
        self.0.recv_until_sentinel()
    }
}
