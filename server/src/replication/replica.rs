//! The replica's side: connect to the primary, handshake, receive a snapshot or continue
//! from our offset, then apply the stream in order, acknowledging our offset.
//!
//! Replicated writes skip admission (no auth, redirects, OOM or read-only checks): they run
//! straight through the command table's handlers against the keyspace. The raw stream bytes
//! are also recorded in our own backlog, so after a promotion our siblings can continue from
//! us, and so replicas of ours receive the same stream.

use super::failover::{self, State as FailoverState};
use super::feed::Upstream;
use super::rdb_load;
use super::snapshot::{Reader, Record};
use crate::clients::ClientHandle;
use crate::dataset::Keyspace;
use crate::keyspace::Entry;
use crate::protocol::{Limits, RequestParser};
use crate::session::Conn;
use crate::state::Shared;
use crate::tls::Stream;
use bytes::{Bytes, BytesMut};
use slotcache_util::clock::mono_ms;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing::{info, warn};

/// Runs the link until told to stop, reconnecting after failures.
pub async fn run(shared: Arc<Shared>, up: Arc<Upstream>) {
    let mut backoff = Duration::from_millis(100);
    info!("Connecting to MASTER {}:{}", up.host, up.port);
    while !up.stopped.load(Ordering::Relaxed) && !shared.is_shutting_down() {
        let result = tokio::select! {
            r = session(&shared, &up) => r,
            _ = up.stop.notified() => return,
        };
        up.link_up.store(false, Ordering::Relaxed);
        up.sync_in_progress.store(false, Ordering::Relaxed);
        if let Err(e) = result {
            warn!(
                "Replication link with MASTER {}:{} lost: {e}",
                up.host, up.port
            );
        }
        if up.stopped.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = up.stop.notified() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

async fn send(w: &mut (impl AsyncWriteExt + Unpin), parts: &[&[u8]]) -> std::io::Result<()> {
    let args: Vec<Bytes> = parts.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    let mut out = Vec::new();
    super::effects::encode(&args, &mut out);
    w.write_all(&out).await?;
    w.flush().await
}

async fn read_line(r: &mut BufReader<Stream>, timeout: Duration) -> Result<String, String> {
    let mut line = String::new();
    match tokio::time::timeout(timeout, r.read_line(&mut line)).await {
        Ok(Ok(0)) => Err("connection closed".into()),
        Ok(Ok(_)) => Ok(line.trim_end().to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

async fn session(shared: &Arc<Shared>, up: &Arc<Upstream>) -> Result<(), String> {
    let settings = shared.settings();
    let timeout = Duration::from_secs(settings.repl_timeout_secs);
    let addr = format!("{}:{}", up.host, up.port);
    let stream = tokio::time::timeout(
        timeout,
        crate::util::connect_from(&addr, &settings.bind_source_addr),
    )
    .await
    .map_err(|_| "connect timeout".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map_err(|e| e.to_string())?;
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    // `tls-replication yes`: the primary is dialed on its TLS port and its certificate
    // checked against the CA.
    let stream = if settings.tls.replication {
        let tls = shared
            .tls
            .get()
            .ok_or("tls-replication is on but TLS is not configured")?;
        tokio::time::timeout(timeout, tls.connect(stream, &up.host))
            .await
            .map_err(|_| "TLS handshake timeout".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?
    } else {
        Stream::Plain(stream)
    };
    let mut r = BufReader::new(stream);
    info!("MASTER <-> REPLICA sync started");
    send(r.get_mut(), &[b"PING"])
        .await
        .map_err(|e| e.to_string())?;
    let pong = read_line(&mut r, timeout).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") {
        return Err(format!("error reply to PING: {pong}"));
    }
    if !settings.masterauth.is_empty() {
        if settings.masteruser.is_empty() {
            send(r.get_mut(), &[b"AUTH", settings.masterauth.as_bytes()]).await
        } else {
            send(
                r.get_mut(),
                &[
                    b"AUTH",
                    settings.masteruser.as_bytes(),
                    settings.masterauth.as_bytes(),
                ],
            )
            .await
        }
        .map_err(|e| e.to_string())?;
        let reply = read_line(&mut r, timeout).await?;
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    // Where our own replicas would reach us, as Redis announces it: the TLS port when
    // replication runs over TLS.
    let port = if settings.tls.replication && settings.tls.port != 0 {
        settings.tls.port.to_string()
    } else {
        shared.bound_port.load(Ordering::Relaxed).to_string()
    };
    send(
        r.get_mut(),
        &[b"REPLCONF", b"listening-port", port.as_bytes()],
    )
    .await
    .map_err(|e| e.to_string())?;
    let reply = read_line(&mut r, timeout).await?;
    if reply.starts_with('-') {
        return Err(format!("REPLCONF listening-port: {reply}"));
    }
    // `eof`: a Redis primary may send its RDB diskless; `slotcache`: a slotcache primary
    // sends its own snapshot instead of an RDB (Redis ignores capabilities it does not know).
    send(
        r.get_mut(),
        &[
            b"REPLCONF",
            b"capa",
            b"eof",
            b"capa",
            b"psync2",
            b"capa",
            super::SLOTCACHE_CAPA,
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let _ = read_line(&mut r, timeout).await?;
    let (replid, offset, have_history, failing_over) = {
        let ks = shared.keyspace.lock();
        (
            ks.repl.replid.clone(),
            ks.repl.offset,
            ks.repl.active,
            ks.repl.failover.state == FailoverState::InProgress,
        )
    };
    let (id_arg, off_arg) = if have_history {
        (replid.clone(), (offset + 1).to_string())
    } else {
        ("?".to_string(), "-1".to_string())
    };
    // A failing-over primary asks its target to take over (see `failover`).
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", id_arg.as_bytes(), off_arg.as_bytes()];
    if failing_over {
        psync.push(b"FAILOVER");
    }
    if let Err(e) = send(r.get_mut(), &psync).await {
        let mut ks = shared.keyspace.lock();
        failover::abort(shared, &mut ks.repl, "Write error to failover target");
        return Err(e.to_string());
    }
    // While it waits for a background save to start, a Redis primary sends a newline every
    // second before its answer, to keep the link alive.
    let reply = loop {
        let line = read_line(&mut r, timeout).await?;
        if !line.is_empty() {
            break line;
        }
    };
    // The failover's outcome: a continuation (or, in edge cases, a full sync) completes it;
    // anything else makes this node a primary again.
    if failing_over {
        let mut ks = shared.keyspace.lock();
        if ks.repl.failover.state == FailoverState::InProgress {
            if reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC") {
                failover::clear(shared, &mut ks.repl);
            } else {
                failover::abort(
                    shared,
                    &mut ks.repl,
                    "Failover target rejected psync request",
                );
                return Err(format!("failover target rejected PSYNC: {reply}"));
            }
        }
    }
    let handle = Arc::new(ClientHandle::new(shared.clients.next_id(), peer, local));
    *handle.flags.lock() = "M".into();
    let mut conn = Conn::new(handle, true);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(r.buffer());
    let consumed = r.buffer().len();
    r.consume(consumed);
    let mut stream = r.into_inner();
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split_whitespace();
        let new_id = parts.next().unwrap_or_default().to_string();
        let new_offset = parts.next().and_then(|o| o.parse::<u64>().ok());
        info!("Full resync from master: {rest}");
        up.sync_in_progress.store(true, Ordering::Relaxed);
        let started = std::time::Instant::now();
        begin_full_sync(shared);
        // A Redis primary sends an RDB file (after keep-alive newlines while it makes it);
        // a slotcache primary its own snapshot.
        while !buf.iter().any(|&b| b != b'\n') {
            buf.clear();
            read_more(&mut stream, &mut buf, timeout).await?;
            up.last_io_ms.store(mono_ms(), Ordering::Relaxed);
        }
        if rdb_load::starts_rdb(&buf) {
            let offset = new_offset.ok_or_else(|| format!("bad +FULLRESYNC reply: {rest}"))?;
            rdb_sync(
                shared,
                &mut stream,
                &mut buf,
                &mut conn,
                new_id,
                offset,
                timeout,
            )
            .await?;
        } else {
            full_sync(shared, &mut stream, &mut buf, &mut conn, new_id, timeout).await?;
        }
        up.sync_in_progress.store(false, Ordering::Relaxed);
        info!("MASTER <-> REPLICA sync: Finished with success");
        if let Some(c) = shared.cluster.get() {
            let keys: usize = shared.keyspace.lock().dbs.iter().map(|d| d.len()).sum();
            c.record_event(
                crate::cluster::events::Kind::ReplicaResync,
                serde_json::json!({
                    "primary": format!("{}:{}", up.host, up.port),
                    "took_ms": started.elapsed().as_millis() as u64,
                    "keys": keys,
                }),
            );
        }
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let mut ks = shared.keyspace.lock();
        if !new_id.is_empty() && ks.repl.switch_id(new_id.to_string()) {
            info!("Master replication ID changed to {new_id}");
            // Our replicas must learn the new id: they reconnect and continue partially.
            ks.repl
                .disconnect_replicas("its primary's replication id changed");
        }
        conn.select(ks.repl.stream_db());
        info!("Successful partial resynchronization with master.");
    } else {
        return Err(format!("unexpected reply to PSYNC: {reply}"));
    }
    up.link_up.store(true, Ordering::Relaxed);
    up.last_io_ms.store(mono_ms(), Ordering::Relaxed);
    stream_loop(shared, up, &mut stream, &mut buf, &mut conn, timeout).await
}

/// A full sync starts: the dataset and the history we had are dropped.
fn begin_full_sync(shared: &Shared) {
    let mut ks = shared.keyspace.lock();
    // As Redis's replica: AOF stops while the dataset is replaced, and starts again with a
    // rewrite once the sync is done.
    if crate::aof::stop_for_sync(shared, &mut ks) {
        shared
            .aof
            .restart_pending
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    for db in ks.dbs.iter_mut() {
        db.clear();
    }
    // Our replicas followed the history we are replacing: they must sync again.
    ks.repl.drop_replicas();
    // Until the sync completes we hold no history a partial resync could continue: a link
    // lost midway asks for a full sync again (`PSYNC ? -1`), as Redis discards its cached
    // primary.
    ks.repl.active = false;
}

async fn read_more(
    stream: &mut Stream,
    buf: &mut BytesMut,
    timeout: Duration,
) -> Result<(), String> {
    buf.reserve(READ_ROOM);
    match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
        Ok(Ok(0)) => Err("connection closed during sync".into()),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout during sync".into()),
    }
}

/// A full sync in Redis's form: the RDB file (see [`rdb_load`]), at `offset` of `replid`.
async fn rdb_sync(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    conn: &mut Conn,
    replid: String,
    offset: u64,
    timeout: Duration,
) -> Result<(), String> {
    let framing = loop {
        if let Some(f) = rdb_load::take_preamble(buf)? {
            break f;
        }
        read_more(stream, buf, timeout).await?;
    };
    match &framing {
        rdb_load::Framing::Len(n) => info!("MASTER <-> REPLICA sync: receiving {n} bytes of RDB"),
        rdb_load::Framing::Mark(_) => info!("MASTER <-> REPLICA sync: receiving the RDB diskless"),
    }
    let loaded = rdb_load::receive(shared, stream, buf, framing, timeout).await?;
    info!(
        "MASTER <-> REPLICA sync: loaded {} keys from the RDB",
        loaded.keys
    );
    let mut ks = shared.keyspace.lock();
    ks.repl.reset_as_replica(replid, offset, loaded.stream_db);
    conn.select(loaded.stream_db);
    crate::aof::restart_after_sync(shared);
    Ok(())
}

async fn full_sync(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    conn: &mut Conn,
    replid: String,
    timeout: Duration,
) -> Result<(), String> {
    let mut reader = Reader::new();
    loop {
        while let Some(rec) = reader.next(buf).map_err(|e| e.to_string())? {
            let now = crate::util::now_ms();
            let mut ks = shared.keyspace.lock();
            match rec {
                Record::Entry {
                    db,
                    key,
                    expire_at,
                    payload,
                } => {
                    if key.len() > crate::keyspace::entry::MAX_KEY_LEN {
                        return Err("key longer than an entry can hold in snapshot".to_string());
                    }
                    let value = crate::keyspace::serialize::decode(&payload)
                        .map_err(|e| format!("bad value in snapshot: {}", e.message()))?;
                    if let Some(d) = ks.dbs.get_mut(db as usize) {
                        d.insert_entry(Entry::boxed(&key, value, expire_at, 0), now);
                    }
                }
                Record::Delete { db, key } => {
                    if let Some(d) = ks.dbs.get_mut(db as usize) {
                        d.remove(&key, now);
                    }
                }
                Record::Effect { db, command } => {
                    conn.select(db as usize);
                    let mut p = RequestParser::new();
                    let mut cb = BytesMut::from(&command[..]);
                    let applying = crate::dispatch::Applying::new(shared);
                    while let Ok(Some(args)) = p.next(&mut cb, &Limits::default()) {
                        apply(shared, &mut ks, conn, &applying, &args);
                    }
                }
                Record::End { offset, db } => {
                    ks.repl
                        .reset_as_replica(replid.clone(), offset, db as usize);
                    conn.select(db as usize);
                    crate::aof::restart_after_sync(shared);
                    return Ok(());
                }
            }
        }
        match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Ok(Ok(0)) => return Err("connection closed during sync".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timeout during sync".into()),
        }
    }
}

/// Applies one replicated command (SELECT changes the stream's database).
pub fn apply(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    applying: &crate::dispatch::Applying,
    args: &[Bytes],
) {
    if args[0].eq_ignore_ascii_case(b"SELECT") {
        if let Some(db) = args.get(1).and_then(|d| crate::util::parse_i64_strict(d)) {
            if (db as usize) < ks.dbs.len() && db >= 0 {
                conn.select(db as usize);
                // The stream's database at our offset: where a partial resync continues.
                ks.repl.upstream_db(db as usize);
            }
        }
        return;
    }
    // MULTI / EXEC frame a primary's transaction; its commands are applied as they come (a
    // stream is read and applied a batch at a time, under the keyspace lock).
    if args[0].eq_ignore_ascii_case(b"MULTI") || args[0].eq_ignore_ascii_case(b"EXEC") {
        // Our AOF keeps the transaction whole, as Redis's replica propagates it.
        ks.repl.upstream_aof(conn.db, args);
        return;
    }
    if args[0].eq_ignore_ascii_case(b"PING") || args[0].eq_ignore_ascii_case(b"REPLCONF") {
        return;
    }
    crate::dispatch::execute_replicated(shared, ks, conn, applying, args);
    ks.repl
        .upstream_effect(&ks.dbs, conn.db, args, applying.now);
}

/// Spare buffer room the replica keeps for each read of the stream.
const READ_ROOM: usize = 64 * 1024;

async fn stream_loop(
    shared: &Arc<Shared>,
    up: &Arc<Upstream>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    conn: &mut Conn,
    timeout: Duration,
) -> Result<(), String> {
    let mut parser = RequestParser::new();
    let limits = Limits::default();
    // The buffered input as it was before this batch was parsed, and the consumed bytes of
    // a command not complete yet: the offset and the backlog count whole commands only, so
    // a replica never advertises a position inside one.
    let mut seen: Vec<u8> = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        // Apply everything complete in the buffer; what our offset counts and our backlog
        // records is the stream exactly as it arrived, whole commands at a time.
        let mut ack_now = false;
        // (A large argument still arriving is not looked at again until it is complete.)
        if !buf.is_empty() && parser.wanted(buf.len()) == 0 {
            let applying = crate::dispatch::Applying::new(shared);
            seen.clear();
            seen.extend_from_slice(buf);
            let mut ks = shared.keyspace.lock();
            let mut whole = 0;
            let mut failed = None;
            loop {
                match parser.next(buf, &limits) {
                    Ok(Some(args)) => {
                        if args.len() >= 2
                            && args[0].eq_ignore_ascii_case(b"REPLCONF")
                            && args[1].eq_ignore_ascii_case(b"GETACK")
                        {
                            ack_now = true;
                        }
                        apply(shared, &mut ks, conn, &applying, &args);
                        whole = seen.len() - buf.len();
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(format!("protocol error in replication stream: {e:?}"));
                        break;
                    }
                }
            }
            // What was applied is recorded even when the stream then turned bad, so the
            // offset we resume from never repeats an applied write.
            let consumed = if failed.is_some() {
                whole
            } else {
                seen.len() - buf.len()
            };
            if whole > 0 {
                if !carry.is_empty() {
                    ks.repl.append_upstream(&carry);
                    carry.clear();
                }
                ks.repl.append_upstream(&seen[..whole]);
            }
            carry.extend_from_slice(&seen[whole..consumed]);
            if seen.capacity() > 4 << 20 {
                seen = Vec::new();
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if ack_now {
            send_ack(shared, stream).await?;
        }
        // Room for a large read (a full BytesMut grows by just 64 bytes for a read), or for
        // the whole of a large argument still arriving.
        let want = parser.wanted(buf.len()).min(1 << 20);
        if buf.capacity() - buf.len() < READ_ROOM.max(want) {
            buf.reserve(READ_ROOM.max(want));
        }
        tokio::select! {
            r = stream.read_buf(buf) => match r {
                Ok(0) => return Err("connection closed".into()),
                Ok(_) => up.last_io_ms.store(mono_ms(), Ordering::Relaxed),
                Err(e) => return Err(e.to_string()),
            },
            _ = ack_tick.tick() => {
                send_ack(shared, stream).await?;
                if mono_ms().saturating_sub(up.last_io_ms.load(Ordering::Relaxed)) > timeout.as_millis() as u64 {
                    return Err("timeout: no data from MASTER".into());
                }
            }
        }
    }
}

async fn send_ack(shared: &Shared, stream: &mut Stream) -> Result<(), String> {
    let off = shared.keyspace.lock().repl.offset.to_string();
    send(stream, &[b"REPLCONF", b"ACK", off.as_bytes()])
        .await
        .map_err(|e| e.to_string())
}
