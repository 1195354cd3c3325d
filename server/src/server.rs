//! The network side: listeners, the accept loop (maxclients), and one task per connection
//! that reads, parses, executes a batch under the keyspace lock, and writes the replies of
//! the whole batch with one write.

use crate::clients::{ClientHandle, Conn};
use crate::config::Settings;
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
        let open = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            if open > shared.settings().maxclients {
                Stats::add(&shared.stats.rejected_connections, 1);
                let mut s = stream;
                let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
            } else {
                serve(shared.clone(), stream, addr).await;
            }
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn limits_for(s: &Settings) -> Limits {
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
    let mut settings_version = shared.settings_version();
    let mut settings = shared.settings();
    let authed = settings.requirepass.is_none();
    let mut conn = Conn::new(handle.clone(), authed);
    let mut parser = RequestParser::new();
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
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
        let want = parser.wanted(inbuf.len());
        if inbuf.capacity() - inbuf.len() < 4096.max(want.min(1 << 20)) {
            inbuf.reserve(16 * 1024.max(want.min(1 << 20)));
        }
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
                    r = stream.write_all(&batch) => r.is_ok(),
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
            r = stream.read_buf(&mut inbuf) => match r {
                Ok(0) => break 'conn,
                Ok(n) => {
                    crate::idle_spin::served_client();
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
        };
        Stats::add(&shared.stats.net_input_bytes, n as u64);
        let limits = limits_for(&settings);
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
            let mut start = 0;
            while start < cmds.len() {
                wait_out_failover_pause(&shared, &cmds[start..]).await;
                start += run_batch(&shared, &settings, &mut conn, &mut out, &cmds[start..]);
                if let Some(rx) = conn.push_rx.take() {
                    push_rx = Some(rx);
                }
                if let Some(link) = conn.replica_link.take() {
                    if write_out(&shared, &mut stream, &mut out).await.is_err() {
                        break 'conn;
                    }
                    let rest = std::mem::take(&mut inbuf);
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
                if let Some(req) = conn.block.take() {
                    let args = cmds[start - 1].clone();
                    match park(&shared, &conn, &handle, req, args, &mut stream, &mut inbuf).await {
                        Some(reply) => out.buf.extend_from_slice(&reply),
                        None => break 'conn,
                    }
                    // Input that arrived while parked is parsed before waiting for more.
                    done = false;
                }
                if let Some(w) = conn.wait.take() {
                    let n = wait_for_acks(&shared, &handle, w).await;
                    out.int(n as i64);
                }
                if let Some(job) = conn.migrate.take() {
                    // Earlier replies go out first: the transfer may take a while.
                    if write_out(&shared, &mut stream, &mut out).await.is_err() {
                        crate::migration::abandon(&shared, job);
                        break 'conn;
                    }
                    let reply = crate::migration::run(&shared, job).await;
                    out.buf.extend_from_slice(&reply);
                }
                if conn.retry_cluster {
                    conn.retry_cluster = false;
                    wait_for_cluster_state(&shared).await;
                }
                if conn.wait_in_flight {
                    conn.wait_in_flight = false;
                    wait_for_moves(&shared, &handle, conn.moves_seen).await;
                    if handle.killed.load(Ordering::Relaxed) {
                        break 'conn;
                    }
                }
                if conn.close_after_reply || handle.killed.load(Ordering::Relaxed) {
                    break;
                }
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
        if conn.shutdown_requested {
            // SHUTDOWN does not reply on success: the connection just closes once the node
            // has handed its slots over (cluster mode) and started stopping.
            crate::cluster::handoff::hand_over(&shared).await;
            shared.request_shutdown();
            break 'conn;
        }
        if write_out(&shared, &mut stream, &mut out).await.is_err() {
            break 'conn;
        }
        if conn.close_after_reply || handle.killed.load(Ordering::Relaxed) {
            break 'conn;
        }
    }
    let _ = stream.shutdown().await;
    shared.clients.remove(id);
    if conn.subscriber.is_some() {
        shared.pubsub.remove_client(id);
    }
    if !conn.watched.is_empty() {
        let mut ks = shared.keyspace.lock();
        for w in conn.watched.drain(..) {
            ks.watches.release(w.db, &w.key);
        }
    }
    debug!(client = id, "client disconnected");
}

/// Executes commands under one acquisition of the keyspace lock. Stops after a command that
/// needs the connection's attention (QUIT, SHUTDOWN, WAIT, PSYNC); returns how many ran.
fn run_batch(
    shared: &Shared,
    settings: &Settings,
    conn: &mut Conn,
    out: &mut Out,
    cmds: &[Vec<bytes::Bytes>],
) -> usize {
    let mut ks = shared.keyspace.lock();
    let mut ran: usize = 0;
    for args in cmds {
        out.resp3 = conn.resp3;
        crate::dispatch::execute(shared, &mut ks, conn, out, settings, args);
        if conn.wait_in_flight || conn.retry_cluster {
            // Not run: it writes a key a MIGRATE is moving, or the cluster state was busy.
            break;
        }
        ran += 1;
        if conn.close_after_reply
            || conn.migrate.is_some()
            || conn.shutdown_requested
            || conn.wait.is_some()
            || conn.block.is_some()
            || conn.replica_link.is_some()
        {
            break;
        }
    }
    drop(ks);
    Stats::add(&shared.stats.commands_processed, ran as u64);
    let h = &conn.handle;
    h.last_interaction_ms
        .store(h.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    if let Some(last) = cmds.get(ran.saturating_sub(1)) {
        // Rewritten in place: no allocation per batch.
        let mut name = h.last_cmd.lock();
        name.clear();
        name.extend(
            last[0]
                .iter()
                .take(64)
                .map(|b| b.to_ascii_lowercase() as char),
        );
    }
    ran
}

/// Parks a connection whose blocking command found nothing, until a write serves it (the
/// serving write hands over the reply), its timeout passes (a null reply), or it goes away
/// (`None`: close the connection).
async fn park(
    shared: &Shared,
    conn: &Conn,
    handle: &Arc<ClientHandle>,
    req: crate::clients::BlockRequest,
    args: Vec<bytes::Bytes>,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
) -> Option<Vec<u8>> {
    use crate::keyspace::blocked::{Mailbox, Waiter};
    let mailbox = Arc::new(Mailbox::default());
    let null_bulk = req.null_bulk;
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
                let removed = shared.keyspace.lock().blocked.remove(conn.id).is_some();
                if removed {
                    let mut o = Out::new(conn.resp3);
                    if null_bulk {
                        o.null();
                    } else {
                        o.null_array();
                    }
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
async fn wait_for_acks(shared: &Shared, handle: &ClientHandle, w: crate::clients::Wait) -> usize {
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
    shared
        .memory_startup
        .store(crate::eviction::total_used(), Ordering::Relaxed);
    if shared.settings().cluster_enabled {
        let port = shared.bound_port.load(Ordering::Relaxed) as u16;
        let cluster =
            crate::cluster::startup::start(&shared, port).map_err(std::io::Error::other)?;
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
