//! The network side: listeners, the accept loop (maxclients), and one task per connection
//! that reads, parses, executes a batch under the keyspace lock, and writes the replies of
//! the whole batch with one write.

use crate::clients::ClientHandle;
use crate::config::Settings;
use crate::flow::{Hold, Next};
use crate::panics;
use crate::protocol::{Limits, Out, ProtocolError, RequestParser};
use crate::session::Conn;
use crate::state::{Shared, Stats};
use crate::tls::Stream;
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

/// Commands an unauthenticated client runs before its task yields to the others. Its
/// refusals are cheap but one read can carry thousands of them; a flood of such clients must
/// not keep a worker thread from the clients it shares it with (an authenticated client
/// yields after each `BATCH`).
const UNAUTHENTICATED_RUN: usize = 32;

/// Binds every configured address. A `-` prefix marks an address that may be unavailable
/// (as in redis.conf's default `bind 127.0.0.1 -::1`).
pub async fn bind(shared: &Shared) -> std::io::Result<Vec<TcpListener>> {
    let port = shared.settings().port;
    bind_port(shared, port, true).await
}

/// Binds every configured address on `port`; `record` keeps the bound port as the node's
/// (INFO tcp_port, the cluster's client port).
async fn bind_port(shared: &Shared, port: u16, record: bool) -> std::io::Result<Vec<TcpListener>> {
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
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match TcpListener::bind(&target).await {
            Ok(l) => {
                if let (true, Ok(a)) = (record, l.local_addr()) {
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

/// Accepts connections until shutdown, enforcing `maxclients`; on the TLS port (`tls`)
/// each connection first completes a handshake with the TLS contexts current at accept time.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: bool) {
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
        let open = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            // Counted down on drop, so a connection whose task panicked still frees its place
            // under maxclients.
            let _open = OpenConnection(shared.clone());
            let settings = shared.settings();
            if open > settings.maxclients {
                Stats::add(&shared.stats.rejected_connections, 1);
                let mut s = stream;
                let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
            } else if protected_mode_denies(&settings, addr) {
                Stats::add(&shared.stats.rejected_connections, 1);
                warn!(%addr, "refused a non-loopback client: protected mode is on and no password is set");
                let mut s = stream;
                let _ = s.write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
            } else {
                set_keepalive(&stream, settings.tcp_keepalive_secs);
                let _ = stream.set_nodelay(true);
                let laddr = stream.local_addr().unwrap_or(addr);
                let stream = if tls {
                    match handshake(&shared, stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            debug!(%addr, "TLS handshake failed: {e}");
                            return;
                        }
                    }
                } else {
                    Stream::Plain(stream)
                };
                serve(shared.clone(), stream, addr, laddr).await;
            }
        });
    }
}

/// Completes the server side of a TLS handshake on an accepted client connection.
async fn handshake(shared: &Shared, stream: TcpStream) -> std::io::Result<Stream> {
    let ctx = shared
        .tls
        .get()
        .ok_or_else(|| std::io::Error::other("TLS is not configured"))?;
    let s = tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, ctx.clients.accept(stream))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))??;
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(s))))
}

/// One accepted connection, counted in `Shared::connections` for as long as it lives.
struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Redis's reply to a client that protected mode refuses.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode: with no password, a node listening on every address (`bind *`, `0.0.0.0`,
/// `::`) serves only loopback clients, so a node exposed by accident is not open to the
/// network. Naming a specific non-loopback address in `bind` is taken as the operator's
/// decision to serve that network.
pub fn protected_mode_denies(s: &Settings, peer: SocketAddr) -> bool {
    if !s.protected_mode || s.requirepass.is_some() || peer.ip().is_loopback() {
        return false;
    }
    let peer_v4_mapped_loopback = match peer.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        _ => false,
    };
    if peer_v4_mapped_loopback {
        return false;
    }
    let names_a_network = s.bind.iter().any(|b| {
        let b = b.trim_start_matches('-');
        match b.parse::<std::net::IpAddr>() {
            Ok(ip) => !ip.is_loopback() && !ip.is_unspecified(),
            // `*`, `::*` and the like: every address, not a chosen one.
            Err(_) => !b.contains('*'),
        }
    });
    !names_a_network
}

/// Raises the open-files limit towards `wanted` (clients, bus links, files), as Redis does at
/// start: with the common default of 1024, a crowd of connections would make `accept` fail
/// for everyone before `maxclients` could refuse them one by one.
fn raise_fd_limit(wanted: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= wanted {
        return;
    }
    let target = wanted.min(lim.rlim_max);
    let new = libc::rlimit {
        rlim_cur: target,
        rlim_max: lim.rlim_max,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
        info!("open files limit raised from {} to {target}", lim.rlim_cur);
    } else {
        warn!(
            "open files limit is {} (wanted {wanted}): fewer clients can connect",
            lim.rlim_cur
        );
    }
}

/// Turns on TCP keepalive as Redis's `tcp-keepalive` does: first probe after `secs` idle,
/// then every `secs / 3`, three probes before the peer is declared dead.
fn set_keepalive(stream: &TcpStream, secs: u64) {
    if secs == 0 {
        return;
    }
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(secs))
        .with_interval(Duration::from_secs((secs / 3).max(1)))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&ka) {
        debug!("could not set tcp-keepalive: {e}");
    }
}

fn limits_for(s: &Settings, authenticated: bool) -> Limits {
    let l = Limits {
        max_bulk: s.proto_max_bulk_len.min(i64::MAX as u64) as i64,
        max_multibulk: crate::protocol::parser::MAX_MULTIBULK,
        max_query: s.client_query_buffer_limit as usize,
        unauthenticated: false,
    };
    if authenticated {
        l
    } else {
        l.unauthenticated()
    }
}

/// Everything a connection holds in shared state, released when it ends: by return, by
/// error, or by a panic unwinding through its task. Code after an `.await` would be skipped
/// by a panic; a drop guard is not.
struct Registered {
    shared: Arc<Shared>,
    conn: Conn,
    usage: crate::client_memory::Usage,
}

impl std::ops::Deref for Registered {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Registered {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let shared = &self.shared;
        let id = self.conn.id;
        shared.clients.remove(id);
        self.usage.release(&shared.clients);
        if self.conn.subscriber.is_some() {
            shared.pubsub.remove_client(id);
            shared.telemetry.monitors.remove(id);
            *self.conn.handle.push.lock() = None;
        }
        if !self.conn.watched.is_empty() || self.conn.tracking {
            let mut ks = shared.keyspace.lock();
            for w in self.conn.watched.drain(..) {
                ks.watches.release(w.db, &w.key);
            }
            ks.tracking.disable(id);
        }
        debug!(client = id, "client disconnected");
    }
}

/// Serves one connection until it closes, is killed, or the server shuts down.
async fn serve(shared: Arc<Shared>, mut stream: Stream, addr: SocketAddr, laddr: SocketAddr) {
    crate::idle_spin::watch(std::os::fd::AsRawFd::as_raw_fd(stream.tcp()));
    let id = shared.clients.next_id();
    let handle = Arc::new(ClientHandle::new(id, addr, laddr));
    shared.clients.add(handle.clone());
    let mut settings_version = shared.settings_version();
    let mut settings = shared.settings();
    let default_user = shared.acl.default_user();
    let authed = !default_user.requires_auth();
    let mut conn = Registered {
        shared: shared.clone(),
        conn: Conn::new(handle.clone(), authed),
        usage: crate::client_memory::Usage::new(handle.clone()),
    };
    conn.user = default_user;
    let mut parser = RequestParser::new();
    let mut qb = crate::query_buffer::QueryBuffer::new();
    let qbuf_timer = tokio::time::sleep_until(qb.idle_check_at().into());
    tokio::pin!(qbuf_timer);
    let mut out = Out::new(false);
    let mut shutdown = shared.shutdown.subscribe();
    let mut cmds = Vec::with_capacity(64);
    let mut push_rx: Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>> = None;
    debug!(client = id, %addr, "client connected");
    'conn: loop {
        if shared.settings_version() != settings_version {
            settings_version = shared.settings_version();
            settings = shared.settings();
        }
        let timeout_secs = settings.timeout_secs;
        let idle = async {
            if timeout_secs == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout_secs)).await
            }
        };
        // Room for the next read: at most 1 MB beyond what has arrived, whatever length a
        // bulk header announced (a length costs nothing to send; memory follows bytes).
        let want = parser.wanted(qb.len()).min(1 << 20);
        qb.make_room(want);
        let has_spare_room = qb.has_spare_room();
        let released = qb.is_released();
        let pushes = async {
            match push_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            frame = pushes => {
                // Pub/sub messages: write what is queued (a burst at once) and go on.
                let Some(first) = frame else { continue 'conn };
                let mut batch = first.to_vec();
                if let Some(rx) = push_rx.as_mut() {
                    while batch.len() < 256 * 1024 {
                        match rx.try_recv() {
                            Ok(f) => batch.extend_from_slice(&f),
                            Err(_) => break,
                        }
                    }
                }
                // A subscriber over its output limit is killed while this write may be stuck
                // on a full socket: the kill must win.
                let written = tokio::select! {
                    r = async {
                        stream.write_all(&batch).await?;
                        stream.flush().await
                    } => r.is_ok(),
                    _ = handle.kill.notified() => false,
                };
                if !written || handle.killed.load(Ordering::Relaxed) {
                    break 'conn;
                }
                Stats::add(&shared.stats.net_output_bytes, batch.len() as u64);
                if let Some(s) = &conn.subscriber {
                    s.written(batch.len());
                }
                continue 'conn;
            }
            r = read_or_wait(&mut stream, &mut qb.buf, released) => match r {
                // After an idle release: input is ready, make room and read it.
                Ok(None) => {
                    qb.wake();
                    continue 'conn;
                }
                Ok(Some(0)) => break 'conn,
                Ok(Some(n)) => {
                    crate::idle_spin::served_client();
                    qb.on_read();
                    n
                }
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
            // An idle client gives its query buffer's free room back. The timer is re-armed
            // only when it fires (reads just move the instant it checks against), so a busy
            // connection does not touch the timer wheel per read.
            _ = &mut qbuf_timer, if has_spare_room => {
                if qb.shrink_idle() {
                    report_buffers(&shared, &mut conn, &qb, out.buf.len());
                }
                qbuf_timer.as_mut().reset(qb.idle_check_at().into());
                continue 'conn;
            }
        };
        Stats::add(&shared.stats.net_input_bytes, n as u64);
        let mut proto_err = None;
        let mut done = false;
        let mut closing = false;
        let mut shutting_down = false;
        let mut since_yield = 0;
        while !done {
            cmds.clear();
            // Before AUTH, one command at a time: the small limits apply until the command
            // that authenticates, and no further.
            let limits = limits_for(&settings, conn.authenticated);
            let batch = if conn.authenticated { BATCH } else { 1 };
            while cmds.len() < batch {
                match parser.next(&mut qb.buf, &limits) {
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
            handle.qbuf_pending.store(qb.buf.len(), Ordering::Relaxed);
            let mut start = 0;
            while start < cmds.len() {
                wait_out_failover_pause(&shared, &cmds[start..]).await;
                // Another client may have changed the configuration while this one waited
                // for input (CONFIG SET maxmemory, ...): commands run under the current one.
                if shared.settings_version() != settings_version {
                    settings_version = shared.settings_version();
                    settings = shared.settings();
                }
                let (ran, next) = run_batch(
                    &shared,
                    &settings,
                    &mut conn,
                    &mut out,
                    &cmds[start..],
                    &mut push_rx,
                );
                start += ran;
                since_yield += ran;
                let run_limit = if conn.authenticated {
                    BATCH
                } else {
                    UNAUTHENTICATED_RUN
                };
                if since_yield >= run_limit {
                    // Input that keeps coming is served in turns with every other client on
                    // this worker thread, not in one stretch.
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                if out.buf.len() >= crate::client_memory::FLUSH_AT {
                    // Replies are written as they are produced: a pipeline of large replies
                    // never sits in memory whole, and the output limits see what is unread.
                    if flush(&shared, &settings, &mut stream, &mut out, &mut conn, &qb)
                        .await
                        .is_err()
                    {
                        break 'conn;
                    }
                }
                match next {
                    Next::Continue => {}
                    Next::Pushes(rx) => push_rx = Some(rx),
                    Next::ReplicaLink(link) => {
                        if write_out(&shared, &mut stream, &mut out).await.is_err() {
                            break 'conn;
                        }
                        let rest = std::mem::take(&mut qb.buf);
                        crate::replication::primary::serve_link(
                            shared.clone(),
                            stream,
                            rest,
                            link,
                            handle.clone(),
                        )
                        .await;
                        return;
                    }
                    Next::Block(mut req) => {
                        let args = req.rerun.take().unwrap_or_else(|| cmds[start - 1].clone());
                        match park(&shared, &conn, &handle, req, args, &mut stream, &mut qb.buf)
                            .await
                        {
                            Some(reply) => out.buf.extend_from_slice(&reply),
                            None => break 'conn,
                        }
                        // Input that arrived while parked is parsed before waiting for more.
                        done = false;
                    }
                    Next::WaitAcks(w) => {
                        let n = wait_for_acks(&shared, &handle, w).await;
                        out.int(n as i64);
                    }
                    Next::Migrate(job) => {
                        // Earlier replies go out first: the transfer may take a while.
                        if write_out(&shared, &mut stream, &mut out).await.is_err() {
                            crate::migration::abandon(&shared, job);
                            break 'conn;
                        }
                        let reply = crate::migration::run(&shared, job).await;
                        out.buf.extend_from_slice(&reply);
                    }
                    Next::Again(Hold::ClusterState) => wait_for_cluster_state(&shared).await,
                    Next::Again(Hold::Paused) => {
                        wait_for_unpause(&shared, &handle).await;
                        if handle.killed.load(Ordering::Relaxed) || shared.is_shutting_down() {
                            break 'conn;
                        }
                    }
                    Next::Again(Hold::KeysMoving { seen }) => {
                        wait_for_moves(&shared, &handle, seen).await;
                        if handle.killed.load(Ordering::Relaxed) {
                            break 'conn;
                        }
                    }
                    Next::Close => closing = true,
                    Next::Shutdown => {
                        closing = true;
                        shutting_down = true;
                    }
                }
                if closing || handle.killed.load(Ordering::Relaxed) {
                    break;
                }
            }
            if closing || handle.killed.load(Ordering::Relaxed) {
                break;
            }
        }
        // The parsed arguments share the query buffer's memory: drop them so the buffer
        // can take its room back.
        cmds.clear();
        qb.reclaim();
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
        if qb.len() as u64 > settings.client_query_buffer_limit {
            warn!(client = id, %addr, "closing client that reached max query buffer length");
            break 'conn;
        }
        if shutting_down {
            // SHUTDOWN does not reply on success: the connection just closes once the node
            // has handed its slots over (cluster mode) and started stopping.
            crate::cluster::handoff::hand_over(&shared).await;
            shared.request_shutdown();
            break 'conn;
        }
        if flush(&shared, &settings, &mut stream, &mut out, &mut conn, &qb)
            .await
            .is_err()
        {
            break 'conn;
        }
        if closing || handle.killed.load(Ordering::Relaxed) {
            break 'conn;
        }
        if qb.check_busy(parser.wanted(0)) {
            report_buffers(&shared, &mut conn, &qb, 0);
        }
    }
    let _ = stream.shutdown().await;
    // `conn` (a `Registered`) releases the client's subscriptions, watches and memory.
}

/// Writes the replies gathered so far, under the client's output limits and
/// `maxmemory-clients`: the client is closed (`Err`) when its unread replies pass the hard
/// limit, stay over the soft limit too long, or it is evicted or killed while a write is stuck.
async fn flush(
    shared: &Shared,
    settings: &Settings,
    stream: &mut Stream,
    out: &mut Out,
    conn: &mut Registered,
    qb: &crate::query_buffer::QueryBuffer,
) -> std::io::Result<()> {
    use crate::client_memory::{enforce_maxmemory_clients, Verdict};
    let closed = || std::io::Error::other("client closed by its limits");
    let limits = settings.normal_obuf;
    let handle = conn.conn.handle.clone();
    // Replies follow their writes into the AOF (and onto disk with `appendfsync always`).
    crate::aof::durable(shared).await;
    report_buffers(shared, conn, qb, out.buf.len());
    if conn.usage.check_output(&limits, out.buf.len()) == Verdict::Close {
        return Err(closed());
    }
    enforce_maxmemory_clients(&shared.clients, settings.maxmemory_clients);
    if handle.killed.load(Ordering::Relaxed) {
        return Err(closed());
    }
    let total = out.buf.len();
    let mut written = 0;
    while written < total {
        let soft_deadline = conn.usage.soft_deadline(&limits);
        let soft = async {
            match soft_deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = stream.write(&out.buf[written..]) => match r {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) => return Err(e),
            },
            _ = handle.kill.notified() => return Err(closed()),
            _ = soft => {}
        }
        let pending = total - written;
        if conn.usage.check_output(&limits, pending) == Verdict::Close
            || handle.killed.load(Ordering::Relaxed)
        {
            return Err(closed());
        }
        report_buffers(shared, conn, qb, pending);
    }
    // Over TLS the last records may still sit in the session: push them out (a plain
    // socket has nothing to flush).
    if stream.is_tls() {
        tokio::select! {
            r = stream.flush() => r?,
            _ = handle.kill.notified() => return Err(closed()),
        }
    }
    Stats::add(&shared.stats.net_output_bytes, total as u64);
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf = BytesMut::with_capacity(16 * 1024);
    }
    report_buffers(shared, conn, qb, 0);
    Ok(())
}

/// Reads into `buf`; after the idle rule released the query buffer (no room), only waits
/// until input is readable (`Ok(None)`), so an idle connection holds no buffer.
async fn read_or_wait(
    stream: &mut Stream,
    buf: &mut BytesMut,
    released: bool,
) -> std::io::Result<Option<usize>> {
    if released {
        stream.readable().await.map(|()| None)
    } else {
        stream.read_buf(buf).await.map(Some)
    }
}

/// Publishes the connection's buffer sizes: the query buffer's content and room (CLIENT
/// LIST `qbuf` / `qbuf-free`) and, for the client memory limits, its room plus `pending`
/// unwritten reply bytes.
fn report_buffers(
    shared: &Shared,
    conn: &mut Registered,
    qb: &crate::query_buffer::QueryBuffer,
    pending: usize,
) {
    conn.conn
        .handle
        .query_len
        .store(qb.len(), Ordering::Relaxed);
    conn.usage.report(&shared.clients, qb.capacity(), pending);
}

/// Executes commands under one acquisition of the keyspace lock, until one needs the
/// connection's attention. Returns how many ran and what the last one asks for; the first
/// SUBSCRIBE's push queue is handed over in `pushes` without ending the batch.
fn run_batch(
    shared: &Shared,
    settings: &Settings,
    conn: &mut Conn,
    out: &mut Out,
    cmds: &[Vec<bytes::Bytes>],
    pushes: &mut Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>>,
) -> (usize, Next) {
    // What needs no data is refused without the keyspace lock (an unauthenticated client runs
    // one command per batch, so its flood of refusals never contends for the lock).
    let mut refused = 0;
    while refused < cmds.len() && {
        out.resp3 = conn.resp3;
        crate::dispatch::refuse_unlocked(shared, conn, out, &cmds[refused])
    } {
        refused += 1;
    }
    if refused > 0 {
        Stats::add(&shared.stats.commands_processed, refused as u64);
        let h = &conn.handle;
        h.last_interaction_ms
            .store(h.created.elapsed().as_millis() as u64, Ordering::Relaxed);
        return (refused, Next::Continue);
    }
    // A script past busy-reply-threshold holds the keyspace lock: answer without it.
    if shared.script_busy.over(settings.busy_reply_threshold_ms) {
        if let Some(ran) = while_busy(shared, conn, out, cmds) {
            return (ran, Next::Continue);
        }
    }
    let mut ks = shared.keyspace.lock();
    if conn.tracking {
        // Invalidations queued by writes that ran before this batch go out before its
        // replies, so no reply computed after a write reaches a caching client ahead of the
        // write's invalidation (Redis writes them into the same output buffer at once).
        if let Some(rx) = pushes.as_mut() {
            while let Ok(m) = rx.try_recv() {
                out.buf.extend_from_slice(&m);
                if let Some(s) = &conn.subscriber {
                    s.written(m.len());
                }
            }
        }
    }
    crate::dispatch::prefetch_batch(&ks, conn.db, cmds);
    let mut ran: usize = 0;
    let mut next = Next::Continue;
    crate::dispatch::batch_clock::open();
    for args in cmds {
        out.resp3 = conn.resp3;
        let mark = out.buf.len();
        let run =
            panics::guard(|| crate::dispatch::execute(shared, &mut ks, conn, out, settings, args));
        next = match run {
            Ok(n) => n,
            Err(what) => {
                tracing::error!(
                    client = conn.id,
                    addr = %conn.handle.addr,
                    command = %panics::describe(args),
                    "a command panicked: {what}; closing this client's connection"
                );
                // A transaction cut short still sends the effects it made.
                let ksr = &mut *ks;
                ksr.repl.end_tx(&ksr.dbs, crate::util::now_ms());
                // The half-written reply goes; the client learns why its connection ends.
                out.buf.truncate(mark);
                out.error("ERR internal error while running this command; closing the connection");
                ran += 1;
                next = Next::Close;
                break;
            }
        };
        if let Next::Again(_) = next {
            // Not run: held back until what holds it clears.
            break;
        }
        ran += 1;
        if next.ends_batch() {
            break;
        }
        if let Next::Pushes(rx) = std::mem::take(&mut next) {
            *pushes = Some(rx);
        }
        let hard = settings.normal_obuf.hard;
        if out.buf.len() >= crate::client_memory::FLUSH_AT || (hard > 0 && out.buf.len() > hard) {
            // Write (or judge against the output limits) before producing more.
            break;
        }
    }
    crate::dispatch::batch_clock::close();
    drop(ks);
    Stats::add(&shared.stats.commands_processed, ran as u64);
    let h = &conn.handle;
    h.last_interaction_ms
        .store(h.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    (ran, next)
}

/// Commands while a script is busy (see `admission::while_busy`): refusals and kills are
/// answered at once; the first command that may wait for the script ends the run. `None`
/// when the first command waits (the batch takes the keyspace lock as usual).
fn while_busy(
    shared: &Shared,
    conn: &mut Conn,
    out: &mut Out,
    cmds: &[Vec<bytes::Bytes>],
) -> Option<usize> {
    use crate::admission::WhileBusy;
    let mut ran = 0;
    for args in cmds {
        out.resp3 = conn.resp3;
        match crate::admission::while_busy(args, shared.script_busy.is_function()) {
            WhileBusy::Wait => break,
            WhileBusy::Refuse(r) => {
                if let Some(m) = conn.multi.as_mut() {
                    m.failed = true;
                }
                let msg = r.message();
                shared.telemetry.error_reply(msg.as_bytes());
                out.error(&msg);
            }
            WhileBusy::Kill { function } => match shared.script_busy.kill(function) {
                Ok(()) => out.ok(),
                Err(e) => out.error(e),
            },
            WhileBusy::Stats => crate::commands::functions::write_stats(out, &shared.script_busy),
            WhileBusy::ShutdownNow => {
                // The script holds the keyspace lock for as long as it runs, so nothing that
                // needs it can happen on the way out: as Redis, the process exits now.
                warn!("User requested shutdown (NOSAVE) while a script was busy; exiting now");
                shared.request_shutdown();
                std::process::exit(0);
            }
        }
        ran += 1;
    }
    (ran > 0).then_some(ran)
}

/// Parks a connection whose blocking command found nothing, until a write serves it (the
/// serving write hands over the reply), its timeout passes (a null reply), or it goes away
/// (`None`: close the connection).
async fn park(
    shared: &Shared,
    conn: &Conn,
    handle: &Arc<ClientHandle>,
    req: crate::flow::BlockRequest,
    args: Vec<bytes::Bytes>,
    stream: &mut Stream,
    inbuf: &mut BytesMut,
) -> Option<Vec<u8>> {
    use crate::dataset::blocked::{Mailbox, Waiter};
    let mailbox = Arc::new(Mailbox::default());
    // A blocking command is accounted for when it is served (by the serving write) or
    // here when it times out, as Redis counts a blocked call once.
    let spec = crate::commands::table::lookup(&args[0]);
    shared.keyspace.lock().blocked.add(Waiter {
        id: conn.id,
        db: conn.db,
        keys: req.keys,
        args,
        resp3: conn.resp3,
        handle: handle.clone(),
        mailbox: mailbox.clone(),
    });
    shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
    handle.blocked.store(true, Ordering::Relaxed);
    let mut shutdown = shared.shutdown.subscribe();
    let outcome = loop {
        let notified = mailbox.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(reply) = mailbox.reply.lock().take() {
            break Some(reply.to_vec());
        }
        let sleep = async {
            match req.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notified => continue,
            _ = sleep => {
                // Timed out, unless a write served us at the same moment.
                let removed = {
                    let mut ks = shared.keyspace.lock();
                    let removed = ks.blocked.remove(conn.id).is_some();
                    // Under the keyspace lock, as every command's accounting.
                    if let (true, Some(spec)) = (removed, spec) {
                        shared.telemetry.commands.record_call(spec, 0, false, false);
                    }
                    removed
                };
                if removed {
                    let mut o = Out::new(conn.resp3);
                    // Every list and zset block times out with a null array, BLMOVE's
                    // too (Redis's replyToBlockedClientTimedOut).
                    o.null_array();
                    break Some(o.buf.to_vec());
                }
                continue;
            }
            // A blocked client that disconnects leaves the queues (more input is kept for
            // after the reply).
            r = stream.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => break None,
                Ok(_) => continue,
            },
            _ = handle.kill.notified() => break None,
            _ = shutdown.changed() => break None,
        }
    };
    if outcome.is_none() {
        shared.keyspace.lock().blocked.remove(conn.id);
    }
    shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    handle.blocked.store(false, Ordering::Relaxed);
    outcome
}

/// During a manual failover the primary holds writes (not reads) until the replica has
/// caught up and taken over — then they are answered with a redirect to the new primary.
async fn wait_out_failover_pause(shared: &Shared, cmds: &[Vec<bytes::Bytes>]) {
    let Some(c) = shared.cluster.get() else {
        return;
    };
    if !c.writes_paused() {
        return;
    }
    let writes = cmds.iter().any(|a| {
        crate::commands::table::lookup(&a[0]).is_some_and(|s| s.has(crate::commands::flags::WRITE))
    });
    for _ in 0..10_000 {
        if !writes || !c.writes_paused() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits while CLIENT PAUSE holds this client's next command back: until CLIENT UNPAUSE,
/// the pause's end, or the client being killed. Counted in INFO blocked_clients meanwhile,
/// as Redis counts paused clients.
async fn wait_for_unpause(shared: &Shared, handle: &ClientHandle) {
    shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let lifted = shared.pause.lifted.notified();
        tokio::pin!(lifted);
        lifted.as_mut().enable();
        let Some((end, _)) = shared.pause.current() else {
            break;
        };
        tokio::select! {
            _ = lifted => {}
            _ = tokio::time::sleep_until(end.into()) => {}
            _ = handle.kill.notified() => break,
            _ = shutdown.changed() => break,
        }
    }
    shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
}

/// Waits (not holding the keyspace lock) until the cluster state lock is free; bounded.
async fn wait_for_cluster_state(shared: &Shared) {
    let Some(c) = shared.cluster.get() else {
        return;
    };
    for i in 0..12_000 {
        if c.state.try_lock().is_some() {
            return;
        }
        // Let other tasks run; after a while, stop spinning (the timer's 1 ms resolution).
        if i < 2_000 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Waits until some MIGRATE finishes after `seen` (the caller then retries its command);
/// bounded by a short sleep all the same.
async fn wait_for_moves(shared: &Shared, handle: &ClientHandle, seen: u64) {
    let notified = shared.keys_moved.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if shared.moves_done.load(Ordering::SeqCst) != seen {
        return;
    }
    tokio::select! {
        _ = notified => {}
        _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        _ = handle.kill.notified() => {}
    }
}

/// Parks a WAIT until enough replicas acknowledged its offset, its timeout passes, or the
/// client goes away. Returns the number of replicas that acknowledged.
async fn wait_for_acks(shared: &Shared, handle: &ClientHandle, w: crate::flow::Wait) -> usize {
    loop {
        let notified = shared.repl_acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let acked = shared.keyspace.lock().repl.acked(w.offset);
        if acked >= w.replicas {
            return acked;
        }
        let expired = w.deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if expired || handle.killed.load(Ordering::Relaxed) || shared.is_shutting_down() {
            return acked;
        }
        let sleep = async {
            match w.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notified => {}
            _ = sleep => {}
            _ = handle.kill.notified() => return acked,
        }
    }
}

async fn write_out(shared: &Shared, stream: &mut Stream, out: &mut Out) -> std::io::Result<()> {
    if out.buf.is_empty() {
        return Ok(());
    }
    Stats::add(&shared.stats.net_output_bytes, out.buf.len() as u64);
    let mut r = stream.write_all(&out.buf).await;
    if r.is_ok() {
        r = stream.flush().await;
    }
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf = BytesMut::with_capacity(16 * 1024);
    }
    r
}

/// Runs the server until shutdown: binds, starts background tasks, serves, then drains.
pub async fn run(shared: Arc<Shared>) -> std::io::Result<()> {
    panics::install_hook();
    raise_fd_limit(shared.settings().maxclients as u64 + 1024 + 64);
    let tls_cfg = shared.settings().tls.clone();
    shared.tls.install(
        crate::tls::load(&tls_cfg)
            .map_err(|e| std::io::Error::other(format!("Failed to configure TLS: {e}")))?,
    );
    if !shared
        .config
        .read()
        .get("tls-dh-params-file")
        .unwrap_or("")
        .is_empty()
    {
        warn!("tls-dh-params-file is ignored: rustls negotiates ECDHE only");
    }
    // `port 0` with a TLS port: TLS only (Redis's way to close the plain port).
    let plain_off = shared.settings().port == 0 && tls_cfg.port != 0;
    let listeners = if plain_off {
        Vec::new()
    } else {
        bind(&shared).await?
    };
    let tls_listeners = if tls_cfg.port != 0 {
        bind_port(&shared, tls_cfg.port, plain_off).await?
    } else {
        Vec::new()
    };
    crate::metrics::start(&shared).await?;
    shared
        .memory_startup
        .store(crate::eviction::total_used(), Ordering::Relaxed);
    // The snapshot is loaded before anything serves (clients, replicas, the cluster bus,
    // whose restart rules look at whether the node came back with data).
    // With `appendonly yes` the AOF is the dataset (the RDB file is not read), as in Redis.
    if shared.settings().appendonly {
        crate::aof::load_at_start(&shared).map_err(std::io::Error::other)?;
        crate::aof::open_at_start(&shared).map_err(std::io::Error::other)?;
    } else {
        crate::persistence::load_at_start(&shared).map_err(std::io::Error::other)?;
    }
    if shared.settings().cluster_enabled {
        let plain = shared.bound_port.load(Ordering::Relaxed) as u16;
        // With `tls-cluster yes` the node announces its TLS port to clients and replicas (as
        // Redis does); the bus port is counted from the plain port when there is one.
        let port = if tls_cfg.cluster && tls_cfg.port != 0 {
            tls_cfg.port
        } else {
            plain
        };
        let bus_base = if plain_off { tls_cfg.port } else { plain };
        let cluster = crate::cluster::startup::start(&shared, port, bus_base)
            .map_err(std::io::Error::other)?;
        let _ = shared.cluster.set(cluster);
    } else if let Some(target) = shared.settings().replicaof.clone() {
        let mut ks = shared.keyspace.lock();
        crate::replication::follow(
            &shared,
            &mut ks.repl,
            Some(target),
            "replicaof in the configuration",
        );
    }
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            info!("Ready to accept connections tcp on {a}");
        }
    }
    for l in &tls_listeners {
        if let Ok(a) = l.local_addr() {
            info!("Ready to accept connections tls on {a}");
        }
    }
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), l, false)));
    }
    for l in tls_listeners {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), l, true)));
    }
    tokio::spawn(crate::dataset::expire_cycle::run(shared.clone()));
    tokio::spawn(crate::persistence::cron(shared.clone()));
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
    crate::aof::shutdown(&shared);
    info!("slotcache is now ready to exit, bye bye...");
    Ok(())
}
