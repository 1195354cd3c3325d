//! Cluster bus messages and their framing.
//!
//! A frame is a 4-byte big-endian length followed by a MessagePack-encoded [`Message`] with
//! named fields. Named fields make the format self-describing: a node ignores fields it does
//! not know (serde's default) and fills fields an older peer does not send from defaults
//! (`#[serde(default)]`), so nodes one protocol version apart talk to each other during a
//! rolling upgrade. `version` says which protocol the sender speaks; a message from a newer
//! major version than [`MIN_VERSION`]..=[`VERSION`] is still decoded and acted upon where it
//! decodes.

use serde::{Deserialize, Serialize};

/// The bus protocol version this build speaks.
pub const VERSION: u16 = 1;
/// The oldest version this build still accepts.
pub const MIN_VERSION: u16 = 1;
/// Largest frame accepted; anything larger is garbage or an attack and drops the link.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Node flags carried in headers and gossip.
pub mod nflags {
    pub const PRIMARY: u16 = 1;
    pub const REPLICA: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const NOFAILOVER: u16 = 16;
}

/// What a sender says about itself in every message.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub id: String,
    /// The sender's announced IP; empty when it does not know it (the receiver then uses the
    /// connection's peer address).
    #[serde(default)]
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    #[serde(default)]
    pub flags: u16,
    /// The sender's primary when it is a replica.
    #[serde(default)]
    pub primary: Option<String>,
    #[serde(default)]
    pub config_epoch: u64,
    #[serde(default)]
    pub current_epoch: u64,
    /// Claimed slots as inclusive ranges (the sender's own, or its primary's for a replica).
    #[serde(default)]
    pub slots: Vec<(u16, u16)>,
    #[serde(default)]
    pub repl_offset: u64,
}

/// What a sender knows about another node.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Gossip {
    pub id: String,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    #[serde(default)]
    pub flags: u16,
    /// Milliseconds since the sender last heard from that node (0 = just now).
    #[serde(default)]
    pub pong_age_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Kind {
    Ping,
    Pong,
    /// Like PING, but asks the receiver to add the sender to its cluster.
    Meet,
    /// The named node has been declared FAIL by the sender (a majority agreed).
    Fail { node: String },
    /// A slot owner with a newer config than the receiver's claims: adopt it.
    Update {
        node: String,
        config_epoch: u64,
        slots: Vec<(u16, u16)>,
    },
    /// A PUBLISH to be delivered to the receiver's subscribers.
    Publish { channel: Vec<u8>, message: Vec<u8> },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Message {
    pub version: u16,
    pub kind: Kind,
    pub sender: Header,
    #[serde(default)]
    pub gossip: Vec<Gossip>,
}

/// Encodes a message as one frame.
pub fn encode(msg: &Message) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(msg).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Why a frame was rejected.
#[derive(Debug)]
pub enum FrameError {
    TooLarge(usize),
    Garbage(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the limit"),
            FrameError::Garbage(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

/// Tries to take one frame off the front of `buf`. `Ok(None)` means more bytes are needed.
pub fn decode(buf: &mut bytes::BytesMut) -> Result<Option<Message>, FrameError> {
    use bytes::Buf;
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    let body = buf.split_to(len);
    let msg: Message =
        rmp_serde::from_slice(&body).map_err(|e| FrameError::Garbage(e.to_string()))?;
    if msg.version < MIN_VERSION {
        return Err(FrameError::Garbage(format!(
            "protocol version {} is older than {MIN_VERSION}",
            msg.version
        )));
    }
    Ok(Some(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn sample() -> Message {
        Message {
            version: VERSION,
            kind: Kind::Update {
                node: "a".repeat(40),
                config_epoch: 7,
                slots: vec![(0, 100)],
            },
            sender: Header {
                id: "b".repeat(40),
                ip: "127.0.0.1".into(),
                port: 7000,
                cport: 17000,
                flags: nflags::PRIMARY,
                slots: vec![(0, 5460)],
                ..Default::default()
            },
            gossip: vec![Gossip {
                id: "c".repeat(40),
                ip: "127.0.0.1".into(),
                port: 7001,
                cport: 17001,
                flags: nflags::PFAIL,
                pong_age_ms: 3,
            }],
        }
    }

    #[test]
    fn frames_round_trip_and_split_reads_wait() {
        let m = sample();
        let frame = encode(&m);
        let mut buf = BytesMut::from(&frame[..frame.len() - 1]);
        assert!(decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&frame[frame.len() - 1..]);
        assert_eq!(decode(&mut buf).unwrap(), Some(m));
        assert!(buf.is_empty());
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default() {
        // A "newer" peer's header with an extra field, and an "older" one without gossip.
        #[derive(Serialize)]
        struct NewHeader {
            id: String,
            port: u16,
            cport: u16,
            shiny_new_field: u32,
        }
        #[derive(Serialize)]
        struct OldMessage {
            version: u16,
            kind: Kind,
            sender: NewHeader,
        }
        let body = rmp_serde::to_vec_named(&OldMessage {
            version: 2,
            kind: Kind::Ping,
            sender: NewHeader {
                id: "x".into(),
                port: 1,
                cport: 2,
                shiny_new_field: 9,
            },
        })
        .unwrap();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&body);
        let m = decode(&mut buf).unwrap().unwrap();
        assert_eq!(m.sender.id, "x");
        assert!(m.gossip.is_empty());
    }

    #[test]
    fn garbage_and_oversized_frames_are_errors_not_panics() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::TooLarge(_))));
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::Garbage(_))));
        for seed in 0..200u32 {
            let junk: Vec<u8> = (0..64).map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7)) as u8).collect();
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&(junk.len() as u32).to_be_bytes());
            buf.extend_from_slice(&junk);
            let _ = decode(&mut buf);
        }
    }
}
