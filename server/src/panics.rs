//! Panics inside one client's command: caught, logged once with the command that caused
//! them, and turned into the end of that one connection instead of a lost task that never
//! released its place (or a dead node).
//!
//! The process-wide hook records the message and location of a panic raised inside
//! [`guard`] for the guard to log with the command; a panic anywhere else is logged by the
//! hook itself, through `tracing`.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook (once per process; later calls do nothing).
pub fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = info.to_string().replace('\n', " ");
            if GUARDED.with(|g| g.get()) {
                LAST.with(|l| *l.borrow_mut() = Some(msg));
            } else {
                tracing::error!("{msg}");
            }
        }));
    });
}

/// Runs `f`; a panic inside it comes back as `Err` with its message and location.
///
/// The caller must leave shared state consistent for others after an `Err` (the keyspace
/// lock does not poison; what the command changed before panicking stays changed, as a
/// crashed Redis command would have left it had Redis not exited).
pub fn guard<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let was = GUARDED.with(|g| g.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.map_err(|_| {
        LAST.with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// A command line for a log: its name and first arguments, each cut to 64 bytes.
pub fn describe(args: &[bytes::Bytes]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().take(4).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&String::from_utf8_lossy(&a[..a.len().min(64)]));
    }
    if args.len() > 4 {
        s.push_str(&format!(" ... ({} arguments)", args.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_panic_comes_back_with_its_message() {
        install_hook();
        let r: Result<(), String> = guard(|| panic!("boom {}", 7));
        let msg = r.err().unwrap_or_default();
        assert!(msg.contains("boom 7"), "{msg}");
        assert_eq!(guard(|| 5), Ok(5));
    }

    #[test]
    fn commands_are_described_briefly() {
        let args: Vec<bytes::Bytes> = ["SET", "k", "v", "EX", "10"]
            .iter()
            .map(|s| bytes::Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(describe(&args), "SET k v EX ... (5 arguments)");
    }
}
