//! BGREWRITEAOF (`rewriteAppendOnlyFileBackground`): a new BASE from a point-in-time
//! snapshot, written by a thread while clients go on writing.
//!
//! At the snapshot's point in time (under the keyspace lock) the writer switches to a new
//! INCR file, so everything after that point is in it and everything before is in the
//! snapshot; the manifest lists the new INCR at once. When the BASE is written the manifest
//! names it and only the new INCR, and the files it replaced are removed.

use super::{write_manifest, RewriteError, Tap};
use crate::persistence::save::{write_background, Format};
use crate::state::Shared;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// Starts a rewrite.
///
/// # Errors
/// One runs already, another background job runs (the caller schedules), or no thread.
pub fn start(shared: &Arc<Shared>) -> Result<(), RewriteError> {
    let aof = &shared.aof;
    if aof.rewriting.swap(true, Ordering::AcqRel) {
        return Err(RewriteError::InProgress);
    }
    if shared.persistence.running.swap(true, Ordering::AcqRel) {
        aof.rewriting.store(false, Ordering::Release);
        return Err(RewriteError::Busy);
    }
    {
        let mut s = aof.inner.lock();
        s.started = Some(Instant::now());
        s.scheduled = false;
    }
    let sh = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || run(&sh));
    if spawned.is_err() {
        let mut s = aof.inner.lock();
        s.started = None;
        s.last_failed = true;
        s.consecutive_failures += 1;
        drop(s);
        shared.persistence.running.store(false, Ordering::Release);
        aof.rewriting.store(false, Ordering::Release);
        return Err(RewriteError::Failed);
    }
    info!("Background append only file rewriting started");
    Ok(())
}

fn run(shared: &Arc<Shared>) {
    let (dir, prefix) = super::paths(shared);
    let settings = shared.settings();
    let rdb = settings.aof_use_rdb_preamble;
    let generation = shared.aof.generation.load(Ordering::Acquire);
    // Whether this rewrite switches (or starts) the INCR file: AOF is on, or waits for it.
    let appending = shared.aof.enabled();
    let result = (|| -> std::io::Result<u64> {
        std::fs::create_dir_all(&dir)?;
        let base_name = {
            let mut m = shared.aof.inner.lock().manifest.clone();
            m.new_base(&prefix, rdb)
        };
        let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
        // The new INCR file is opened before the point in time (file creation stays off the
        // keyspace lock); at the point in time the writer switches to it.
        let (incr_file, incr_manifest) = if appending {
            let mut m = shared.aof.inner.lock().manifest.clone();
            let name = m.new_incr(&prefix);
            (Some(super::writer::open_append(&dir.join(&name))?), Some(m))
        } else {
            (None, None)
        };
        let sh = shared.clone();
        let switched = Arc::new(parking_lot::Mutex::new(None::<std::io::Error>));
        let switched_in = switched.clone();
        let (dir_in, prefix_in) = (dir.clone(), prefix.clone());
        let begin: crate::persistence::save::AtBegin = Box::new(move |ks| {
            let (Some(file), Some(m)) = (incr_file, incr_manifest) else {
                return;
            };
            if sh.aof.generation.load(Ordering::Acquire) != generation {
                // AOF was turned off meanwhile.
                return;
            }
            ks.repl.flush();
            let app = sh.aof.appender.lock().clone();
            match app {
                Some(app) => {
                    app.switch_to(file);
                    if let Some(t) = ks.repl.aof.as_mut() {
                        // The new file starts with its own SELECT.
                        t.last_db = None;
                    }
                }
                None => {
                    // AOF turned on at runtime: appending starts at this point in time.
                    let policy = super::Fsync::parse(&sh.settings().appendfsync);
                    match super::writer::Appender::start(file, policy, 0) {
                        Ok(app) => {
                            ks.repl.aof = Some(Tap::new(app.clone()));
                            *sh.aof.appender.lock() = Some(app);
                            sh.aof.appending.store(true, Ordering::Release);
                        }
                        Err(e) => {
                            *switched_in.lock() = Some(e);
                            return;
                        }
                    }
                }
            }
            let on = sh.aof.inner.lock().on;
            if on {
                // Listed at once (synced by the rewrite thread right after the lock is
                // released): a crash from here on finds the writes made since.
                if let Err(e) = write_manifest(&dir_in, &prefix_in, &m, false) {
                    *switched_in.lock() = Some(e);
                    return;
                }
            }
            sh.aof.inner.lock().manifest.incr = m.incr.clone();
            sh.aof.inner.lock().manifest.incr_seq = m.incr_seq;
        });
        let (r, copied, _, _) = write_background(
            shared,
            &tmp,
            Some(&dir.join(&base_name)),
            Some(begin),
            Format::AofBase { rdb },
        );
        super::sync_dir(&dir);
        if let Some(e) = switched.lock().take() {
            let _ = std::fs::remove_file(dir.join(&base_name));
            return Err(e);
        }
        let bytes = r?;
        shared.aof.inner.lock().last_cow = copied;
        Ok(bytes)
    })();
    finish(shared, result, generation, appending);
    shared.persistence.running.store(false, Ordering::Release);
    shared.aof.rewriting.store(false, Ordering::Release);
}

/// `backgroundRewriteDoneHandler`: the manifest names the new BASE and only the current
/// INCR file; the files they replace are removed.
fn finish(shared: &Shared, result: std::io::Result<u64>, generation: u64, appending: bool) {
    let (dir, prefix) = super::paths(shared);
    let rdb = shared.settings().aof_use_rdb_preamble;
    let mut s = shared.aof.inner.lock();
    s.last_rewrite_secs = s.started.take().map(|t| t.elapsed().as_secs());
    let failed = |s: &mut super::State, why: String| {
        warn!("Background AOF rewrite failed: {why}");
        s.last_failed = true;
        s.consecutive_failures += 1;
        s.last_fail_unix = crate::persistence::unix_now();
        if s.wait_rewrite {
            // AOF is still to be turned on: the cron tries again.
            s.scheduled = true;
        }
    };
    let bytes = match result {
        Ok(b) => b,
        Err(e) => return failed(&mut s, crate::util::io_error_text(&e)),
    };
    if shared.aof.generation.load(Ordering::Acquire) != generation {
        info!("Background AOF rewrite finished after AOF was turned off: discarded");
        return;
    }
    let mut m = s.manifest.clone();
    m.new_base(&prefix, rdb);
    m.mark_rewritten_incr_as_history(appending);
    if let Err(e) = write_manifest(&dir, &prefix, &m, true) {
        return failed(
            &mut s,
            format!(
                "can't persist the AOF manifest: {}",
                crate::util::io_error_text(&e)
            ),
        );
    }
    if s.wait_rewrite && appending {
        s.wait_rewrite = false;
        s.on = true;
        info!("Background AOF rewrite finished successfully: AOF is on");
    }
    super::delete_history(shared, &dir, &prefix, &mut m);
    let size = super::total_size(&dir, &m);
    if let Some(app) = shared.aof.appender.lock().as_ref() {
        app.size.store(size, Ordering::Relaxed);
    }
    s.base_size = size;
    s.manifest = m;
    s.rewrites += 1;
    s.last_failed = false;
    s.consecutive_failures = 0;
    info!(bytes, "Background AOF rewrite terminated with success");
    info!("Background AOF rewrite finished successfully");
}
