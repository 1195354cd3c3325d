//! The TLS session cache behind `tls-session-caching`, `tls-session-cache-size` and
//! `tls-session-cache-timeout`: a client reconnecting within the timeout resumes its session
//! (no full handshake), as with Redis's OpenSSL session cache. rustls's own memory cache
//! bounds only the count, so entries carry the time they were stored.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio_rustls::rustls::server::StoresServerSessions;

#[derive(Debug)]
pub struct SessionCache {
    inner: Mutex<Inner>,
    size: usize,
    timeout: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    /// Insertion order, for evicting the oldest past `size`.
    order: VecDeque<Vec<u8>>,
}

impl SessionCache {
    pub fn new(size: usize, timeout: Duration) -> Self {
        SessionCache {
            inner: Mutex::new(Inner::default()),
            size: size.max(1),
            timeout,
        }
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut g = self.inner.lock();
        if g.map.insert(key.clone(), (value, Instant::now())).is_none() {
            g.order.push_back(key);
        }
        while g.map.len() > self.size {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            g.map.remove(&old);
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let g = self.inner.lock();
        let (v, at) = g.map.get(key)?;
        (at.elapsed() < self.timeout).then(|| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut g = self.inner.lock();
        let (v, at) = g.map.remove(key)?;
        g.order.retain(|k| k != key);
        (at.elapsed() < self.timeout).then_some(v)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_age() {
        let c = SessionCache::new(2, Duration::from_secs(60));
        c.put(b"a".to_vec(), b"1".to_vec());
        c.put(b"b".to_vec(), b"2".to_vec());
        c.put(b"c".to_vec(), b"3".to_vec());
        assert_eq!(c.get(b"a"), None);
        assert_eq!(c.get(b"c"), Some(b"3".to_vec()));
        assert_eq!(c.take(b"b"), Some(b"2".to_vec()));
        assert_eq!(c.get(b"b"), None);
        let c = SessionCache::new(2, Duration::ZERO);
        c.put(b"a".to_vec(), b"1".to_vec());
        assert_eq!(c.get(b"a"), None);
    }
}
