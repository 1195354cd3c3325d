//! The ACL log: denied commands, keys, channels and failed logins, newest first, similar
//! events within a minute folded into one entry with a count (Redis's `addACLLogEntry`).

use super::selector::Reason;
use std::collections::VecDeque;

/// Where the denied command was: at top level, queued in MULTI, or called by a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix milliseconds of the last event.
    pub ctime_ms: u64,
    /// CLIENT LIST line of the last client.
    pub client_info: String,
}

/// Events this close (ms) to a logged one fold into it.
const GROUPING_MS: u64 = 60_000;
/// How many recent entries are looked at for folding.
const SCAN: usize = 10;

#[derive(Default)]
pub struct Log {
    entries: VecDeque<Entry>,
}

impl Log {
    /// Adds an event, folding it into a similar recent one, and trims to `max_len`.
    pub fn add(&mut self, e: Entry, max_len: usize) {
        let found = self.entries.iter().take(SCAN).position(|old| {
            old.reason == e.reason
                && old.context == e.context
                && old.ctime_ms.abs_diff(e.ctime_ms) <= GROUPING_MS
                && old.object == e.object
                && old.username == e.username
        });
        match found.and_then(|i| self.entries.remove(i)) {
            Some(mut old) => {
                old.count += 1;
                old.ctime_ms = e.ctime_ms;
                old.client_info = e.client_info;
                self.entries.push_front(old);
            }
            None => {
                self.entries.push_front(e);
                self.entries.truncate(max_len);
            }
        }
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `n` entries.
    pub fn newest(&self, n: usize) -> Vec<Entry> {
        self.entries.iter().take(n).cloned().collect()
    }
}

/// The log entry of a denial of `conn`'s command (client info as CLIENT LIST shows it).
pub fn entry(p: &crate::admission::NoPerm, context: Context, conn: &crate::session::Conn) -> Entry {
    Entry {
        count: 1,
        reason: p.reason,
        context,
        object: p.object.clone(),
        username: p.user.clone(),
        ctime_ms: crate::util::now_ms(),
        client_info: conn
            .handle
            .info_line(None, crate::commands::table::full_name_of),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(object: &str, ctime_ms: u64) -> Entry {
        Entry {
            count: 1,
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.as_bytes().to_vec(),
            username: b"u".to_vec(),
            ctime_ms,
            client_info: String::new(),
        }
    }

    #[test]
    fn similar_events_fold_and_the_log_is_trimmed() {
        let mut log = Log::default();
        log.add(e("a", 1000), 3);
        log.add(e("b", 1000), 3);
        log.add(e("a", 2000), 3);
        let all = log.newest(10);
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].object.as_slice(), all[0].count), (&b"a"[..], 2));
        // More than a minute later is a new entry.
        log.add(e("a", 2000 + GROUPING_MS + 1), 3);
        log.add(e("c", 2000), 3);
        log.add(e("d", 2000), 3);
        assert_eq!(log.newest(10).len(), 3);
        assert_eq!(log.newest(10)[0].object, b"d");
    }
}
