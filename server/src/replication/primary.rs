//! Serving replicas: PSYNC's decision (continue or full sync), the task that drives a full
//! sync chunk by chunk, and the connection loop of a replica link (stream out, ACKs in).

use super::feed::ReplicaLink;
use crate::protocol::{Limits, RequestParser};
use crate::state::Shared;
use bytes::{Bytes, BytesMut};
use slotcache_util::clock::mono_ms;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

/// Bytes of snapshot produced per lock acquisition.
const CHUNK: usize = 64 * 1024;
/// Stop producing snapshot chunks while this much is waiting to be written.
const HIGH_WATER: usize = 8 * 1024 * 1024;

/// Drives a full sync to completion, a chunk at a time, yielding the lock between chunks.
pub async fn drive(shared: Arc<Shared>, link: Arc<ReplicaLink>) {
    let started = Instant::now();
    loop {
        if link.closed.load(Ordering::Relaxed) || shared.is_shutting_down() {
            return;
        }
        if link.queued.load(Ordering::Relaxed) > HIGH_WATER {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let more = {
            let now = crate::util::now_ms();
            let mut ks = shared.keyspace.lock();
            let ks = &mut *ks;
            ks.repl.sync_step(&ks.dbs, link.client_id, CHUNK, now)
        };
        if !more {
            break;
        }
        tokio::task::yield_now().await;
    }
    info!(
        replica = link.client_id,
        "Synchronization with replica {}:{} succeeded ({} ms)",
        link.ip,
        link.listening_port.load(Ordering::Relaxed),
        started.elapsed().as_millis()
    );
    shared.repl_acks.notify_waiters();
}

/// Stream writes smaller than this wait for client tasks to add to them.
const COALESCE_BELOW: usize = 64 * 1024;
/// Scheduling turns a small stream write waits at most, while each turn adds to it...
const COALESCE_TURNS: usize = 8;
/// ...and for no longer than this (under load a turn runs many client batches, and the
/// wait adds to replication lag).
const COALESCE_FOR: Duration = Duration::from_micros(200);

/// The connection of an attached replica: writes the stream, reads REPLCONF ACKs, until the
/// link closes, its buffer limit is exceeded, it times out, or the server stops.
pub async fn serve_link(
    shared: Arc<Shared>,
    mut stream: crate::tls::Stream,
    mut inbuf: BytesMut,
    link: Arc<ReplicaLink>,
    handle: Arc<crate::clients::ClientHandle>,
) {
    let mut parser = RequestParser::new();
    let mut shutdown = shared.shutdown.subscribe();
    let limits = Limits::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut ping_due = mono_ms();
    loop {
        if link.closed.load(Ordering::Relaxed) {
            break;
        }
        tokio::select! {
            data = link.take() => {
                if data.is_empty() {
                    break;
                }
                let mut data = data;
                // Let the client tasks that are ready run first and write what they all
                // produced at once (Redis writes replica buffers once per event-loop turn).
                // A write per client batch woke the replica every few commands, and on a
                // busy box those wake-ups are the replica's main cost. Turns stop as soon as
                // one adds nothing, so an idle primary still sends a write at once.
                let first = Instant::now();
                for _ in 0..COALESCE_TURNS {
                    if data.len() >= COALESCE_BELOW || first.elapsed() >= COALESCE_FOR {
                        break;
                    }
                    tokio::task::yield_now().await;
                    let more = link.take_now();
                    if more.is_empty() {
                        break;
                    }
                    // Usually the continuation of the same buffer: joined without a copy.
                    data.unsplit(more);
                }
                link.queued.fetch_sub(data.len(), Ordering::Relaxed);
                if stream.write_all(&data).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
            }
            r = stream.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                while let Ok(Some(args)) = parser.next(&mut inbuf, &limits) {
                    handle_replica_command(&shared, &link, &args);
                }
            }
            _ = tick.tick() => {
                let settings = shared.settings();
                let timeout_ms = settings.repl_timeout_secs * 1000;
                let online = link.online.load(Ordering::Relaxed);
                if online && mono_ms().saturating_sub(link.last_ack_ms.load(Ordering::Relaxed)) > timeout_ms {
                    warn!(replica = link.client_id, "Disconnecting timedout replica: {}:{}", link.ip, link.listening_port.load(Ordering::Relaxed));
                    break;
                }
                let period = settings.repl_ping_period_secs * 1000;
                // No pings while writes are paused: the stream stands still, so that a
                // failover's target can acknowledge its end.
                if online && mono_ms() >= ping_due + period && !shared.pause.writes_paused() {
                    ping_due = mono_ms();
                    let now = crate::util::now_ms();
                    let mut ks = shared.keyspace.lock();
                    let ks = &mut *ks;
                    let db = ks.repl.stream_db();
                    ks.repl.emit_link_only(&ks.dbs, db, &[Bytes::from_static(b"PING")], now);
                }
            }
            _ = shutdown.changed() => break,
            _ = handle.kill.notified() => break,
        }
    }
    link.closed.store(true, Ordering::Relaxed);
    shared.keyspace.lock().repl.detach(link.client_id);
    shared.clients.remove(link.client_id);
    info!(
        replica = link.client_id,
        "Connection with replica {}:{} lost.",
        link.ip,
        link.listening_port.load(Ordering::Relaxed)
    );
    shared.repl_acks.notify_waiters();
}

fn handle_replica_command(shared: &Shared, link: &ReplicaLink, args: &[Bytes]) {
    if args.len() >= 3
        && args[0].eq_ignore_ascii_case(b"REPLCONF")
        && args[1].eq_ignore_ascii_case(b"ACK")
    {
        if let Some(off) = crate::util::parse_i64_strict(&args[2]) {
            link.ack_offset.store(off.max(0) as u64, Ordering::Relaxed);
            link.last_ack_ms.store(mono_ms(), Ordering::Relaxed);
            shared.repl_acks.notify_waiters();
        }
    }
}
