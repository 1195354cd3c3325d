//! A full sync from a Redis primary: after `+FULLRESYNC <replid> <offset>` it sends its
//! dataset as an RDB file, either with its length up front (`$<len>\r\n` and the bytes:
//! disk-based sync) or, to a replica that announced `capa eof`, as `$EOF:<40-byte mark>\r\n`,
//! the bytes and the mark again (diskless sync). Before that, while its snapshot is being
//! made, it sends a `\n` now and then so the link does not time out.
//!
//! The file is parsed as it arrives, by [`crate::rdb::file::load`] on a blocking thread that
//! the connection task feeds chunk by chunk: nothing is written to disk and the file is
//! never held whole. Keys are inserted a batch at a time under the keyspace lock, so clients
//! and the lock's other users keep being served during a long load. As a Redis replica does,
//! keys whose TTL has passed are loaded too: the primary's DELs remove them.

use crate::keyspace::Entry;
use crate::rdb::decode::Limits;
use crate::rdb::file::{self, Item};
use crate::state::Shared;
use crate::tls::Stream;
use bytes::{Buf, Bytes, BytesMut};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Length of the diskless transfer's end mark (`RDB_EOF_MARK_SIZE`).
const MARK: usize = 40;
/// The longest `$...` line accepted before the transfer.
const MAX_PREAMBLE: usize = 128;
/// Keys inserted per hold of the keyspace lock.
const BATCH: usize = 2048;
/// Chunks in flight between the connection and the loader.
const IN_FLIGHT: usize = 32;

/// How the primary delimits the RDB file.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing {
    /// `$<len>`: exactly this many bytes.
    Len(u64),
    /// `$EOF:<mark>`: the bytes up to this 40-byte mark.
    Mark(Vec<u8>),
}

/// Whether `buf` (what followed `+FULLRESYNC`) starts an RDB transfer rather than
/// slotcache's own snapshot: its first byte, after keep-alive newlines, is `$`.
pub fn starts_rdb(buf: &[u8]) -> bool {
    buf.iter().find(|&&b| b != b'\n') == Some(&b'$')
}

/// Consumes the keep-alive newlines and the `$...\r\n` line from `buf`. `Ok(None)`: more
/// bytes are needed.
///
/// # Errors
/// A line that is not `$<len>` or `$EOF:<40 bytes>`, or longer than any such line.
pub fn take_preamble(buf: &mut BytesMut) -> Result<Option<Framing>, String> {
    let blank = buf.iter().take_while(|&&b| b == b'\n').count();
    buf.advance(blank);
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > MAX_PREAMBLE {
            return Err("bad RDB transfer preamble: line too long".into());
        }
        return Ok(None);
    };
    let line = buf.split_to(end + 2);
    let line = &line[..end];
    let Some(spec) = line.strip_prefix(b"$") else {
        return Err(format!(
            "bad RDB transfer preamble: {}",
            String::from_utf8_lossy(line)
        ));
    };
    if let Some(mark) = spec.strip_prefix(b"EOF:") {
        if mark.len() != MARK {
            return Err("bad RDB transfer preamble: the EOF mark is not 40 bytes".into());
        }
        return Ok(Some(Framing::Mark(mark.to_vec())));
    }
    std::str::from_utf8(spec)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|n| Some(Framing::Len(n)))
        .ok_or_else(|| {
            format!(
                "bad RDB transfer preamble: {}",
                String::from_utf8_lossy(line)
            )
        })
}

/// What a completed load leaves behind.
pub struct Loaded {
    pub keys: u64,
    /// The stream's selected database at the snapshot's offset (`repl-stream-db`).
    pub stream_db: usize,
}

/// Receives and loads the RDB file framed as `framing` into the (emptied) keyspace: `buf`
/// holds what was read already and, on return, what followed the file (the stream).
///
/// # Errors
/// The link failing or timing out, or a file that does not load (the loader's message).
pub async fn receive(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    framing: Framing,
    timeout: Duration,
) -> Result<Loaded, String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let sh = shared.clone();
    let loader = tokio::task::spawn_blocking(move || {
        load(
            &sh,
            Chunks {
                rx,
                cur: Bytes::new(),
            },
        )
    });
    let forwarded = forward(stream, buf, framing, timeout, &tx).await;
    drop(tx);
    let loaded = loader
        .await
        .map_err(|e| format!("RDB loader stopped: {e}"))?;
    // The link's failure explains the loader's short read; a loader that stopped taking
    // chunks explains itself.
    match forwarded {
        Err(e) if e != LOADER_STOPPED => Err(e),
        _ => loaded,
    }
}

const LOADER_STOPPED: &str = "the RDB loader stopped";

/// Hands the file's bytes to the loader as they arrive.
async fn forward(
    stream: &mut Stream,
    buf: &mut BytesMut,
    framing: Framing,
    timeout: Duration,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(), String> {
    let mut left = match &framing {
        Framing::Len(n) => *n,
        Framing::Mark(_) => u64::MAX,
    };
    loop {
        match &framing {
            Framing::Len(_) => {
                let take = (buf.len() as u64).min(left) as usize;
                if take > 0 {
                    left -= take as u64;
                    send(tx, buf.split_to(take).freeze()).await?;
                }
                if left == 0 {
                    return Ok(());
                }
            }
            Framing::Mark(mark) => {
                // Nothing follows the mark until this replica acknowledges the load (the
                // primary puts a diskless replica online on its first ACK): the file ends
                // where the buffered bytes end with the mark.
                if buf.len() >= MARK && buf.ends_with(mark) {
                    let body = buf.split_to(buf.len() - MARK).freeze();
                    buf.clear();
                    if !body.is_empty() {
                        send(tx, body).await?;
                    }
                    return Ok(());
                }
                if buf.len() > MARK {
                    send(tx, buf.split_to(buf.len() - MARK).freeze()).await?;
                }
            }
        }
        buf.reserve(64 * 1024);
        match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Ok(Ok(0)) => return Err("connection closed during the RDB transfer".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timeout during the RDB transfer".into()),
        }
    }
}

async fn send(tx: &tokio::sync::mpsc::Sender<Bytes>, chunk: Bytes) -> Result<(), String> {
    tx.send(chunk).await.map_err(|_| LOADER_STOPPED.to_string())
}

/// The loader's input: the chunks the connection task forwards, ending when it hangs up.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

/// Parses the file (on a blocking thread), inserting its keys a batch at a time and
/// replacing the function libraries with its own.
fn load(shared: &Shared, src: Chunks) -> Result<Loaded, String> {
    let lim = Limits::from_settings(&shared.settings());
    let databases = shared.keyspace.lock().dbs.len();
    let mut batch: Vec<(usize, Box<Entry>)> = Vec::with_capacity(BATCH);
    let mut libraries = Vec::new();
    let mut stream_db = 0usize;
    let mut keys = 0u64;
    let src = std::io::BufReader::with_capacity(256 * 1024, src);
    file::load(src, &lim, databases, |item| {
        match item {
            Item::Aux(k, v) if k == b"repl-stream-db" => {
                stream_db = std::str::from_utf8(&v)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|&d| d < databases)
                    .unwrap_or(0);
            }
            Item::Aux(..) => {}
            Item::Function(code) => libraries.push(code),
            Item::Key { db, entry } => {
                keys += 1;
                batch.push((db, entry));
                if batch.len() >= BATCH {
                    insert(shared, &mut batch);
                }
            }
        }
        Ok(())
    })
    .map_err(|e| format!("loading the primary's RDB: {e}"))?;
    insert(shared, &mut batch);
    let mut scripts = shared.scripts.lock();
    scripts.functions.flush();
    if !libraries.is_empty() {
        scripts
            .functions
            .restore(&libraries, "append")
            .map_err(|e| format!("loading the primary's functions: {e}"))?;
    }
    Ok(Loaded { keys, stream_db })
}

fn insert(shared: &Shared, batch: &mut Vec<(usize, Box<Entry>)>) {
    if batch.is_empty() {
        return;
    }
    let now = crate::util::now_ms();
    let mut ks = shared.keyspace.lock();
    for (db, entry) in batch.drain(..) {
        if let Some(d) = ks.dbs.get_mut(db) {
            d.insert_entry(entry, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_skips_keepalives_and_reads_both_framings() {
        let mut b = BytesMut::from(&b"\n\n$12"[..]);
        assert_eq!(take_preamble(&mut b), Ok(None));
        b.extend_from_slice(b"3\r\nREDIS");
        assert_eq!(take_preamble(&mut b), Ok(Some(Framing::Len(123))));
        assert_eq!(&b[..], b"REDIS");
        let mark = "m".repeat(40);
        let mut b = BytesMut::from(format!("$EOF:{mark}\r\nREDIS").as_bytes());
        assert_eq!(
            take_preamble(&mut b),
            Ok(Some(Framing::Mark(mark.into_bytes())))
        );
        assert!(take_preamble(&mut BytesMut::from(&b"$EOF:short\r\n"[..])).is_err());
        assert!(take_preamble(&mut BytesMut::from(&b"+OK\r\n"[..])).is_err());
        assert!(take_preamble(&mut BytesMut::from(&b"$-5\r\n"[..])).is_err());
        assert!(take_preamble(&mut BytesMut::from(&[b'$'; 200][..])).is_err());
        assert!(starts_rdb(b"\n\n$"));
        assert!(!starts_rdb(b"SCSNAP"));
    }
}
