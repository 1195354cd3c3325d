//! The slow log: commands that ran longer than `slowlog-log-slower-than` µs, newest first,
//! at most `slowlog-max-len` of them, with arguments trimmed as Redis trims them so a huge
//! command does not keep its whole payload alive here.

use bytes::Bytes;
use std::collections::VecDeque;

/// At most this many arguments are kept (the last one kept says how many more there were).
pub const MAX_ARGC: usize = 32;
/// Longer arguments keep this many bytes and say how many more there were.
pub const MAX_STRING: usize = 128;

pub struct Entry {
    pub id: u64,
    pub unix_secs: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

#[derive(Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The arguments as an entry keeps them.
pub fn trim_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, a) in args.iter().take(kept).enumerate() {
        if kept != args.len() && j == kept - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - kept + 1
            )));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(s));
        } else {
            out.push(a.clone());
        }
    }
    out
}

impl SlowLog {
    /// Adds an entry (arguments already trimmed and redacted), dropping the oldest past
    /// `max_len`.
    pub fn push(&mut self, mut e: Entry, max_len: usize) {
        e.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }

    /// Drops entries past a lowered `slowlog-max-len`.
    pub fn trim_to(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_as_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let t = trim_args(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(&t[31][..], b"... (9 more arguments)");
        let t = trim_args(&[Bytes::from(vec![b'A'; 129])]);
        assert!(t[0].ends_with(b"A... (1 more bytes)"));
        let mut log = SlowLog::default();
        for _ in 0..5 {
            log.push(
                Entry {
                    id: 0,
                    unix_secs: 0,
                    duration_us: 0,
                    args: vec![],
                    addr: String::new(),
                    name: String::new(),
                },
                3,
            );
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.newest(1).next().map(|e| e.id), Some(4));
    }
}
