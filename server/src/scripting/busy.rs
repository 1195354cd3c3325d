//! A script that runs long: other clients learn it from here without the keyspace lock the
//! script holds (`-BUSY`), and SCRIPT KILL / FUNCTION KILL reach it through here (the Lua
//! hook polls the kill flag).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Default)]
pub struct Busy {
    /// When the running script started (monotonic ms, never 0); 0 when none runs.
    started: AtomicU64,
    kill: AtomicBool,
    /// The running script wrote: it can no longer be killed.
    wrote: AtomicBool,
    /// The running script is a library function (FCALL).
    function: AtomicBool,
    /// busy-reply-threshold when the script started.
    threshold_ms: AtomicU64,
    /// When the running script's thread next checks that its runtime worker is served by
    /// another thread (monotonic ms; see [`Busy::poll`]).
    next_handoff: AtomicU64,
    /// The running function's name and command line (FUNCTION STATS while busy).
    running: parking_lot::Mutex<Option<(String, Vec<bytes::Bytes>)>>,
    /// Libraries and functions loaded (FUNCTION STATS while busy).
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
    /// When a library's code being loaded must have finished (monotonic ms; 0: none loads).
    load_deadline: AtomicU64,
}

/// How long a library's top-level code may run (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT_MS: u64 = 500;
/// The error a library's code that runs too long ends with.
pub const LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";

/// How long one hand-off of [`Busy::poll`] waits for another thread to serve.
const HANDOFF_WAIT_MS: u32 = 200;
/// How often a running script's thread checks that it holds no runtime worker.
const HANDOFF_EVERY_MS: u64 = 100;

/// Why SCRIPT KILL / FUNCTION KILL did nothing.
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
/// The error a killed script ends with.
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";

fn now() -> u64 {
    slotcache_util::clock::mono_ms().max(1)
}

impl Busy {
    pub fn begin(&self, function: bool, threshold_ms: u64) {
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        self.next_handoff.store(0, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.function.store(function, Ordering::Relaxed);
        self.started.store(now(), Ordering::Release);
    }

    pub fn end(&self) {
        self.started.store(0, Ordering::Release);
        *self.running.lock() = None;
    }

    /// Names the running function and the command that called it.
    pub fn running(&self, name: String, command: &[bytes::Bytes]) {
        *self.running.lock() = Some((name, command.to_vec()));
    }

    /// FUNCTION STATS's `running_script`: name, command, milliseconds so far.
    pub fn running_script(&self) -> Option<(String, Vec<bytes::Bytes>, u64)> {
        let s = self.started.load(Ordering::Acquire);
        let (name, cmd) = self.running.lock().clone()?;
        (s != 0).then(|| (name, cmd, now().saturating_sub(s)))
    }

    pub fn wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// Whether a script has run for `threshold_ms` or longer: one atomic load when none runs
    /// (every command batch asks).
    #[inline]
    pub fn over(&self, threshold_ms: u64) -> bool {
        let s = self.started.load(Ordering::Acquire);
        s != 0 && now().saturating_sub(s) >= threshold_ms
    }

    /// Whether the running script is a library function.
    pub fn is_function(&self) -> bool {
        self.function.load(Ordering::Relaxed)
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL.
    pub fn kill(&self, function: bool) -> Result<(), &'static str> {
        if self.started.load(Ordering::Acquire) == 0 {
            return Err(NOTBUSY);
        }
        if self.is_function() != function {
            // The other kind runs: say which KILL stops it.
            return Err(if self.is_function() {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            } else {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            });
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(UNKILLABLE);
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// A library's code starts (`true`) or ends loading.
    pub fn loading(&self, on: bool) {
        let deadline = if on { now() + LOAD_TIMEOUT_MS } else { 0 };
        self.load_deadline.store(deadline, Ordering::Relaxed);
    }

    /// Polled by the hook: the library's code being loaded has run too long.
    pub fn load_timed_out(&self) -> bool {
        let d = self.load_deadline.load(Ordering::Relaxed);
        d != 0 && now() > d
    }

    /// Polled by the running script's hook.
    pub fn killed(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    /// Called by the running script's hook: once the script has run past the threshold, the
    /// thread it runs on hands its runtime worker to another thread (tokio's
    /// `block_in_place`), so that the other connections are served (BUSY, SCRIPT KILL)
    /// while it goes on; on a one-worker runtime they would otherwise wait for it.
    ///
    /// A hand-off is seen to work only when a task spawned while this thread holds no worker
    /// has run, and it can be undone: leaving `block_in_place` takes back a worker that is
    /// free at that moment (not yet taken by the thread started for it, or put down by a
    /// serving thread that is handing it on while it waits for the keyspace lock). A single
    /// hand-off after a fixed 50 ms wait (before) lost that race on a loaded machine, and the
    /// node then served nobody until the script ended, SIGTERM included (Redis's
    /// unit/scripting in cluster mode). So the hand-off is checked again every
    /// [`HANDOFF_EVERY_MS`] while the script runs: cheap when this thread holds no worker.
    pub fn poll(&self) {
        if !self.over(self.threshold_ms.load(Ordering::Relaxed)) {
            return;
        }
        let t = now();
        if t < self.next_handoff.load(Ordering::Relaxed) {
            return;
        }
        self.next_handoff
            .store(t + HANDOFF_EVERY_MS, Ordering::Relaxed);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let served = std::sync::Arc::new(AtomicBool::new(false));
        let seen = served.clone();
        tokio::task::block_in_place(|| {
            handle.spawn(async move { seen.store(true, Ordering::Release) });
            for _ in 0..HANDOFF_WAIT_MS {
                if served.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_reaches_a_running_script_that_has_not_written() {
        let b = Busy::default();
        assert!(!b.over(0));
        assert_eq!(b.kill(false), Err(NOTBUSY));
        b.begin(false, 0);
        b.poll();
        assert!(b.over(0));
        assert!(!b.over(60_000));
        assert!(
            b.kill(true).unwrap_err().starts_with("BUSY"),
            "FUNCTION KILL does not stop EVAL"
        );
        assert_eq!(b.kill(false), Ok(()));
        assert!(b.killed());
        b.begin(true, 0);
        assert!(!b.killed());
        b.wrote();
        assert_eq!(b.kill(true), Err(UNKILLABLE));
        b.end();
        assert!(!b.over(0));
    }

    /// A script spinning on a one-worker runtime while other tasks keep putting the worker
    /// down (as lock waiters do in `block_in_place`): the other connections' tasks are still
    /// served, every time, within a second. Waited for from outside the runtime, so a
    /// hogged worker fails the test instead of hanging it.
    #[test]
    fn a_busy_script_leaves_the_worker_to_other_connections() {
        use std::sync::Arc;
        use std::time::Duration;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let b = Arc::new(Busy::default());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        rt.spawn(async move {
            b.begin(false, 0);
            while !s.load(Ordering::Acquire) {
                b.poll();
                std::hint::spin_loop();
            }
            b.end();
        });
        for _ in 0..4 {
            let s = stop.clone();
            rt.spawn(async move {
                while !s.load(Ordering::Acquire) {
                    crate::util::block_in_place(|| std::thread::sleep(Duration::from_millis(1)));
                    tokio::task::yield_now().await;
                }
            });
        }
        let mut missed = None;
        for round in 0..20 {
            let (tx, rx) = std::sync::mpsc::channel();
            rt.spawn(async move {
                let _ = tx.send(round);
            });
            if rx.recv_timeout(Duration::from_secs(1)) != Ok(round) {
                missed = Some(round);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The script stops before any assertion, so a failure cannot leave it spinning.
        stop.store(true, Ordering::Release);
        rt.shutdown_timeout(Duration::from_secs(5));
        assert_eq!(
            missed, None,
            "no worker served another task while the script ran"
        );
    }
}
