//! The network side: listeners, the accept loop (maxclients), and one task per connection
//! that reads, parses, executes a batch under the keyspace lock, and writes the replies of
//! the whole batch with one write.

use crate::clients::{ClientHandle, Conn};
use crate::protocol::{Limits, Out, ProtocolError, RequestParser};
use crate::state::{Shared, Stats};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// Commands executed per acquisition of the keyspace lock: enough to amortize the lock over
/// a deep pipeline, few enough that other clients are not held up for long.
const BATCH: usize = 512;

/// Binds every configured address. A `-` prefix marks an address that may be unavailable
/// (as in redis.conf's default `bind 127.0.0.1 -::1`).
pub async fn bind(shared: &Shared) -> std::io::Result<Vec<TcpListener>> {
    let s = shared.settings();
    let mut out = Vec::new();
    let mut last_err = None;
    for addr in &s.bind {
        let (optional, host) = match addr.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, addr.as_str()),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let target = if host.contains(':') {
            format!("[{host}]:{}", s.port)
        } else {
            format!("{host}:{}", s.port)
        };
        match TcpListener::bind(&target).await {
            Ok(l) => {
                if let Ok(a) = l.local_addr() {
                    shared.bound_port.store(a.port() as u64, Ordering::Relaxed);
                }
                out.push(l);
            }
            Err(e) if optional => debug!("optional bind {target} skipped: {e}"),
            Err(e) => {
                warn!("could not bind {target}: {e}");
                last_err = Some(e);
            }
        }
    }
    if let Some(e) = last_err {
        return Err(e);
    }
    if out.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "no address could be bound",
        ));
    }
    Ok(out)
}

/// Accepts connections until shutdown, enforcing `maxclients`.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut backoff = Duration::from_millis(1);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(1);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        Stats::add(&shared.stats.connections_received, 1);
        let shared = shared.clone();
        tokio::spawn(async move {
            if shared.clients.len() >= shared.settings().maxclients {
                Stats::add(&shared.stats.rejected_connections, 1);
                let mut s = stream;
                let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
                return;
            }
            serve(shared, stream, addr).await;
        });
    }
}

fn limits_for(shared: &Shared) -> Limits {
    let s = shared.settings();
    Limits {
        max_bulk: s.proto_max_bulk_len.min(i64::MAX as u64) as i64,
        max_multibulk: crate::protocol::parser::MAX_MULTIBULK,
        max_query: s.client_query_buffer_limit as usize,
    }
}

/// Serves one connection until it closes, is killed, or the server shuts down.
async fn serve(shared: Arc<Shared>, mut stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let laddr = stream.local_addr().unwrap_or(addr);
    let id = shared.clients.next_id();
    let handle = Arc::new(ClientHandle::new(id, addr, laddr));
    shared.clients.add(handle.clone());
    let authed = shared.settings().requirepass.is_none();
    let mut conn = Conn::new(handle.clone(), authed);
    let mut parser = RequestParser::new();
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = Out::new(false);
    let mut shutdown = shared.shutdown.subscribe();
    let mut cmds = Vec::with_capacity(64);
    debug!(client = id, %addr, "client connected");
    'conn: loop {
        let timeout_secs = shared.settings().timeout_secs;
        let idle = async {
            if timeout_secs == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout_secs)).await
            }
        };
        let want = parser.wanted(inbuf.len());
        if inbuf.capacity() - inbuf.len() < 4096.max(want.min(1 << 20)) {
            inbuf.reserve(16 * 1024.max(want.min(1 << 20)));
        }
        let n = tokio::select! {
            r = stream.read_buf(&mut inbuf) => match r {
                Ok(0) => break 'conn,
                Ok(n) => n,
                Err(e) => {
                    debug!(client = id, "read error: {e}");
                    break 'conn;
                }
            },
            _ = handle.kill.notified() => break 'conn,
            _ = shutdown.changed() => break 'conn,
            _ = idle => {
                debug!(client = id, "closing idle client");
                break 'conn;
            }
        };
        Stats::add(&shared.stats.net_input_bytes, n as u64);
        let limits = limits_for(&shared);
        let mut proto_err = None;
        let mut done = false;
        while !done {
            cmds.clear();
            while cmds.len() < BATCH {
                match parser.next(&mut inbuf, &limits) {
                    Ok(Some(args)) => cmds.push(args),
                    Ok(None) => {
                        done = true;
                        break;
                    }
                    Err(e) => {
                        proto_err = Some(e);
                        done = true;
                        break;
                    }
                }
            }
            if !cmds.is_empty() {
                run_batch(&shared, &mut conn, &mut out, &cmds);
            }
            if conn.close_after_reply || handle.killed.load(Ordering::Relaxed) {
                break;
            }
        }
        match proto_err {
            Some(ProtocolError::Protocol(msg)) => {
                warn!(client = id, %addr, "protocol error: {msg}; closing connection");
                out.error(&format!("ERR Protocol error: {msg}"));
                let _ = write_out(&shared, &mut stream, &mut out).await;
                break 'conn;
            }
            Some(ProtocolError::QueryBufferLimit) => {
                warn!(client = id, %addr, "closing client that reached max query buffer length");
                let _ = write_out(&shared, &mut stream, &mut out).await;
                break 'conn;
            }
            None => {}
        }
        if inbuf.len() as u64 > limits.max_query as u64 {
            warn!(client = id, %addr, "closing client that reached max query buffer length");
            break 'conn;
        }
        handle.query_buf.store(inbuf.len(), Ordering::Relaxed);
        if write_out(&shared, &mut stream, &mut out).await.is_err() {
            break 'conn;
        }
        if conn.close_after_reply || handle.killed.load(Ordering::Relaxed) {
            break 'conn;
        }
        if conn.shutdown_requested {
            shared.request_shutdown();
        }
    }
    let _ = stream.shutdown().await;
    shared.clients.remove(id);
    debug!(client = id, "client disconnected");
}

fn run_batch(shared: &Shared, conn: &mut Conn, out: &mut Out, cmds: &[Vec<bytes::Bytes>]) {
    let settings = shared.settings();
    let mut ks = shared.keyspace.lock();
    for args in cmds {
        out.resp3 = conn.resp3;
        crate::dispatch::execute(shared, &mut ks, conn, out, &settings, args);
        if conn.close_after_reply || conn.shutdown_requested {
            break;
        }
    }
    drop(ks);
    Stats::add(&shared.stats.commands_processed, cmds.len() as u64);
    let h = &conn.handle;
    h.last_interaction_ms
        .store(h.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    if let Some(last) = cmds.last() {
        let name = crate::util::lower(&last[0]);
        *h.last_cmd.lock() = name;
    }
}

async fn write_out(shared: &Shared, stream: &mut TcpStream, out: &mut Out) -> std::io::Result<()> {
    if out.buf.is_empty() {
        return Ok(());
    }
    Stats::add(&shared.stats.net_output_bytes, out.buf.len() as u64);
    let r = stream.write_all(&out.buf).await;
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf = BytesMut::with_capacity(16 * 1024);
    }
    r
}

/// Runs the server until shutdown: binds, starts background tasks, serves, then drains.
pub async fn run(shared: Arc<Shared>) -> std::io::Result<()> {
    let listeners = bind(&shared).await?;
    if shared.settings().cluster_enabled {
        let port = shared.bound_port.load(Ordering::Relaxed) as u16;
        let cluster = crate::cluster::startup::start(&shared, port)
            .map_err(|e| std::io::Error::other(e))?;
        let _ = shared.cluster.set(cluster);
    }
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            info!("Ready to accept connections tcp on {a}");
        }
    }
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), l)));
    }
    tokio::spawn(crate::keyspace::expire::run(shared.clone()));
    tokio::spawn(crate::shutdown::watch_signals(shared.clone()));
    let mut rx = shared.shutdown.subscribe();
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            break;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    // Give connections a moment to finish the replies they are writing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !shared.clients.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    info!("slotcache is now ready to exit, bye bye...");
    Ok(())
}
