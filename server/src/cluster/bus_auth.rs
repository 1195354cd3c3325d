//! The cluster bus's shared secret (`cluster-secret`): a bus beyond Redis's, on which only
//! nodes holding the secret can speak. Redis trusts its bus network; here one forged MEET
//! would otherwise hand a stranger a node's slots.
//!
//! With a secret set, each connection starts with a hello from both ends:
//! `SCBA` · version (1) · a fresh 16-byte nonce · the ids of the secrets this node accepts
//! (an id is the first 8 bytes of HMAC(secret, "slotcache-bus-key-id"): it names a secret
//! without revealing it). Every frame then travels as the usual length-prefixed frame
//! followed by a 32-byte tag: HMAC-SHA256(secret, label · direction · the receiver's nonce ·
//! the frame's sequence number on the link · the frame). The receiver's fresh nonce makes a
//! frame recorded on another connection worthless; the sequence number rejects a frame
//! replayed, dropped or reordered on the same one; the direction byte rejects a frame
//! reflected back to its sender. A connection whose hello or any tag does not check out is
//! closed before anything it sent reaches the state machine, logged once per peer address
//! and counted.
//!
//! Rotation: a node sends with `cluster-secret` when the peer's hello lists it, else with
//! `cluster-secret-previous` when the peer lists that, and accepts frames made with either.
//! Setting the new secret as `cluster-secret` and the old one as `cluster-secret-previous`
//! on every node in turn keeps every link up throughout; once all nodes have the new secret,
//! clearing `cluster-secret-previous` ends the window (links still using the old secret are
//! closed and reconnect with the new one within a ping interval).

use hmac::{Hmac, KeyInit, Mac};
use parking_lot::{Mutex, RwLock};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: &[u8; 4] = b"SCBA";
pub const VERSION: u8 = 1;
pub const NONCE_LEN: usize = 16;
pub const TAG_LEN: usize = 32;
const KEY_ID_LEN: usize = 8;
/// Longest hello: magic, version, nonce, count, two key ids.
pub const MAX_HELLO: usize = 4 + 1 + NONCE_LEN + 1 + 2 * KEY_ID_LEN;
const FRAME_LABEL: &[u8] = b"slotcache-bus-frame-v1";

/// Which end of the connection sent a frame (part of what the tag covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Dialer = 0,
    Acceptor = 1,
}

#[derive(Clone, PartialEq, Eq)]
struct Key {
    secret: Vec<u8>,
    id: [u8; KEY_ID_LEN],
}

impl Key {
    fn new(secret: &str) -> Option<Key> {
        if secret.is_empty() {
            return None;
        }
        let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
        m.update(b"slotcache-bus-key-id");
        let full = m.finalize().into_bytes();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&full[..KEY_ID_LEN]);
        Some(Key {
            secret: secret.as_bytes().to_vec(),
            id,
        })
    }
}

/// The secrets in force: the one to send with first, then the previous one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keys {
    keys: Vec<Key>,
}

impl Keys {
    pub fn new(current: &str, previous: &str) -> Keys {
        let mut keys: Vec<Key> = Key::new(current).into_iter().collect();
        if let Some(p) = Key::new(previous) {
            if keys.iter().all(|k| k.secret != p.secret) {
                keys.push(p);
            }
        }
        // A previous secret alone still authenticates the bus.
        Keys { keys }
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Our hello, with a fresh nonce (returned too: the tags we check are made with it).
    pub fn hello(&self) -> (Vec<u8>, [u8; NONCE_LEN]) {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(MAX_HELLO);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.push(self.keys.len() as u8);
        for k in &self.keys {
            out.extend_from_slice(&k.id);
        }
        (out, nonce)
    }

    /// Whether the peer accepts any secret we have (else nothing can be said on the link).
    pub fn shares(&self, peer: &Hello) -> bool {
        self.for_peer(peer).is_some()
    }

    /// The secret to send with to a peer that accepts `peer_ids`.
    fn for_peer(&self, peer: &Hello) -> Option<&Key> {
        self.keys.iter().find(|k| peer.key_ids.contains(&k.id))
    }

    /// The tag for frame number `seq` sent by `side` to a peer whose hello was `peer`;
    /// `None` when we share no secret with it.
    pub fn sign(&self, peer: &Hello, side: Side, seq: u64, frame: &[u8]) -> Option<[u8; TAG_LEN]> {
        let k = self.for_peer(peer)?;
        Some(tag(k, side, &peer.nonce, seq, frame))
    }

    /// Whether `got` is the tag of frame `seq` sent to us (our nonce `mine`) by `side`,
    /// made with any secret we accept.
    pub fn verify(
        &self,
        mine: &[u8; NONCE_LEN],
        side: Side,
        seq: u64,
        frame: &[u8],
        got: &[u8],
    ) -> bool {
        self.keys
            .iter()
            .any(|k| mac(k, side, mine, seq, frame).verify_slice(got).is_ok())
    }
}

fn mac(k: &Key, side: Side, nonce: &[u8; NONCE_LEN], seq: u64, frame: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: this cannot fail.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(&k.secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(FRAME_LABEL);
    m.update(&[side as u8]);
    m.update(nonce);
    m.update(&seq.to_be_bytes());
    m.update(frame);
    m
}

fn tag(k: &Key, side: Side, nonce: &[u8; NONCE_LEN], seq: u64, frame: &[u8]) -> [u8; TAG_LEN] {
    let out = mac(k, side, nonce, seq, frame).finalize().into_bytes();
    let mut t = [0; TAG_LEN];
    t.copy_from_slice(&out);
    t
}

/// A peer's hello.
#[derive(Clone, Debug)]
pub struct Hello {
    pub nonce: [u8; NONCE_LEN],
    key_ids: Vec<[u8; KEY_ID_LEN]>,
}

/// Parses a hello at the start of `buf`: `Ok(None)` until it has all arrived, `Err` when it
/// is not one (a node without the secret speaks frames straight away).
pub fn parse_hello(buf: &[u8]) -> Result<Option<(Hello, usize)>, String> {
    let head = 4 + 1 + NONCE_LEN + 1;
    let have = buf.len().min(4);
    if buf[..have] != MAGIC[..have] {
        return Err("no cluster-secret hello (the peer does not use a cluster secret)".into());
    }
    if buf.len() < head {
        return Ok(None);
    }
    if buf[4] != VERSION {
        return Err(format!(
            "cluster-secret hello version {} (we speak {VERSION})",
            buf[4]
        ));
    }
    let n = buf[head - 1] as usize;
    if n == 0 || n > 2 {
        return Err(format!("cluster-secret hello lists {n} secrets"));
    }
    let len = head + n * KEY_ID_LEN;
    if buf.len() < len {
        return Ok(None);
    }
    let mut nonce = [0; NONCE_LEN];
    nonce.copy_from_slice(&buf[5..5 + NONCE_LEN]);
    let key_ids = buf[head..len]
        .chunks(KEY_ID_LEN)
        .map(|c| {
            let mut id = [0; KEY_ID_LEN];
            id.copy_from_slice(c);
            id
        })
        .collect();
    Ok(Some((Hello { nonce, key_ids }, len)))
}

/// The secrets in force, and what was refused (INFO, metrics, the log).
#[derive(Default)]
pub struct BusAuth {
    keys: RwLock<Arc<Keys>>,
    /// Bumped when the secrets change: every link opened before closes and is redialed
    /// with a fresh hello, so links never keep using a secret a node stopped accepting.
    generation: AtomicU64,
    /// Connections closed because their hello or a frame's tag did not check out.
    pub rejected: AtomicU64,
    /// Peers already logged (one line per address, not per connection).
    logged: Mutex<HashSet<IpAddr>>,
}

impl BusAuth {
    pub fn set(&self, current: &str, previous: &str) {
        let new = Keys::new(current, previous);
        let mut keys = self.keys.write();
        if **keys != new {
            *keys = Arc::new(new);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn keys(&self) -> Arc<Keys> {
        self.keys.read().clone()
    }

    /// Counts a refused connection; true the first time this peer address is refused (the
    /// caller logs it then).
    pub fn refuse(&self, peer: Option<IpAddr>) -> bool {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let mut logged = self.logged.lock();
        match peer {
            Some(ip) if logged.len() < 10_000 => logged.insert(ip),
            Some(_) => false,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_bind_secret_nonce_sequence_and_direction() {
        let a = Keys::new("s3cret", "");
        let (hello, nonce) = a.hello();
        let (peer, n) = parse_hello(&hello).unwrap().unwrap();
        assert_eq!(n, hello.len());
        let t = a.sign(&peer, Side::Dialer, 0, b"frame").unwrap();
        assert!(a.verify(&nonce, Side::Dialer, 0, b"frame", &t));
        assert!(!a.verify(&nonce, Side::Dialer, 1, b"frame", &t));
        assert!(!a.verify(&nonce, Side::Acceptor, 0, b"frame", &t));
        assert!(!a.verify(&nonce, Side::Dialer, 0, b"frbme", &t));
        let (_, other_nonce) = a.hello();
        assert!(!a.verify(&other_nonce, Side::Dialer, 0, b"frame", &t));
        let stranger = Keys::new("guess", "");
        assert!(stranger.sign(&peer, Side::Dialer, 0, b"frame").is_none());
        assert!(parse_hello(&[0, 0, 0, 40, 1, 2]).is_err());
        assert!(parse_hello(b"SC").unwrap().is_none());
    }

    #[test]
    fn rotation_sends_with_what_the_peer_accepts() {
        let old = Keys::new("old", "");
        let rotated = Keys::new("new", "old");
        let (old_hello, old_nonce) = old.hello();
        let (old_peer, _) = parse_hello(&old_hello).unwrap().unwrap();
        // The rotated node talks to one still on the old secret with the old secret...
        let t = rotated.sign(&old_peer, Side::Acceptor, 3, b"x").unwrap();
        assert!(old.verify(&old_nonce, Side::Acceptor, 3, b"x", &t));
        // ...and accepts the old node's frames.
        let (r_hello, r_nonce) = rotated.hello();
        let (r_peer, _) = parse_hello(&r_hello).unwrap().unwrap();
        let t = old.sign(&r_peer, Side::Dialer, 0, b"y").unwrap();
        assert!(rotated.verify(&r_nonce, Side::Dialer, 0, b"y", &t));
        // Two rotated nodes use the new secret.
        let done = Keys::new("new", "");
        let t = rotated.sign(&r_peer, Side::Dialer, 0, b"z").unwrap();
        assert!(done.verify(&r_nonce, Side::Dialer, 0, b"z", &t));
    }
}
