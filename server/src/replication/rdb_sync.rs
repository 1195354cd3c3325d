//! A full sync for a replica that is not slotcache (redis-server): Redis's disk-based sync.
//!
//! A point-in-time RDB file is written from a thread, as a background save
//! ([`crate::persistence::save::snapshot_for_replica`]); at its point in time, under the
//! keyspace lock, the replica is sent `+FULLRESYNC <replid> <offset>` and attached to the
//! stream, whose bytes from then on are held back. Once written the file goes out as
//! `$<len>\r\n` and its bytes, then the held stream, and the replica is online: it loads
//! the file, and the stream continues it exactly from `offset`. While a background save
//! runs the sync waits for it to end, and until its own file is written it sends a `\n`
//! every second as Redis does, so the replica's link does not time out.

use super::feed::ReplicaLink;
use crate::persistence::save::{snapshot_for_replica, BgsaveError};
use crate::state::Shared;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Bytes of the file read and queued at a time.
const CHUNK: usize = 1 << 20;
/// The file is not queued further while this much waits to be written to the replica.
const HIGH_WATER: usize = 8 * 1024 * 1024;

/// Starts the replica's snapshot as soon as no background save runs, then sends it.
pub async fn drive(shared: Arc<Shared>, link: Arc<ReplicaLink>) {
    let started = Instant::now();
    let mut keepalive = Instant::now();
    loop {
        if link.closed.load(Ordering::Relaxed) || shared.is_shutting_down() {
            return;
        }
        let at_begin = link.clone();
        let sending = (link.clone(), shared.clone());
        let begun = snapshot_for_replica(
            &shared,
            Box::new(move |ks| ks.repl.attach_rdb(at_begin)),
            Box::new(move |file| {
                let (link, shared) = sending;
                match file {
                    Ok(path) => {
                        if let Err(e) = send_file(&shared, &link, &path) {
                            warn!(
                                replica = link.client_id,
                                "Sending the RDB to replica {} failed: {e}", link.ip
                            );
                            link.close();
                        } else {
                            info!(
                                replica = link.client_id,
                                "Synchronization with replica {}:{} succeeded ({} ms)",
                                link.ip,
                                link.listening_port.load(Ordering::Relaxed),
                                started.elapsed().as_millis()
                            );
                        }
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(e) => {
                        warn!(
                            replica = link.client_id,
                            "Writing the RDB for replica {} failed: {e}", link.ip
                        );
                        link.close();
                    }
                }
                shared.repl_acks.notify_waiters();
            }),
        );
        match begun {
            Ok(()) => {
                // Newlines while the file is written, until it starts going out.
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if shared.is_shutting_down() || !link.keepalive() {
                        return;
                    }
                }
            }
            Err(BgsaveError::InProgress) => {}
            Err(BgsaveError::Thread) => {
                warn!(
                    replica = link.client_id,
                    "No thread for replica {}'s snapshot", link.ip
                );
                link.close();
                return;
            }
        }
        if keepalive.elapsed() >= Duration::from_secs(1) {
            keepalive = Instant::now();
            link.keepalive();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Queues `$<len>\r\n` and the file (as fast as the replica takes it), then releases the
/// stream held since the point in time.
fn send_file(shared: &Shared, link: &ReplicaLink, path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    link.start_file(format!("${len}\r\n").as_bytes());
    let mut chunk = vec![0u8; CHUNK];
    let mut left = len;
    let gone = || link.closed.load(Ordering::Relaxed) || shared.is_shutting_down();
    while left > 0 {
        if gone() {
            return Err(std::io::Error::other("the replica is gone"));
        }
        while link.queued.load(Ordering::Relaxed) > HIGH_WATER {
            if gone() {
                return Err(std::io::Error::other("the replica is gone"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let want = (left as usize).min(CHUNK);
        f.read_exact(&mut chunk[..want])?;
        link.push(&chunk[..want], 0);
        left -= want as u64;
    }
    let ks = shared.keyspace.lock();
    link.release_rdb(ks.repl.obuf_limit);
    Ok(())
}
