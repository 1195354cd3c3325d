//! Cluster bus messages and their framing.
//!
//! A frame is a 4-byte big-endian length followed by a MessagePack-encoded [`Message`] with
//! named fields. Named fields make the format self-describing: a node ignores fields it does
//! not know (serde's default) and fills fields an older peer does not send from defaults
//! (`#[serde(default)]`), so nodes one protocol version apart talk to each other during a
//! rolling upgrade. `version` says which protocol the sender speaks; a message from a newer
//! major version than [`MIN_VERSION`]..=[`VERSION`] is still decoded and acted upon where it
//! decodes.
//!
//! Nothing on the bus is authenticated, so every decoded message is checked before the state
//! machine sees it ([`validate`]): node ids are 40 lowercase hex digits, addresses are short
//! and free of the spaces, newlines and separators that CLUSTER NODES and nodes.conf use, and
//! every count is bounded by what a real cluster can send. A frame that fails is refused as a
//! whole, and the bus drops the link it came on.

use serde::{Deserialize, Serialize};
use slotcache_proto::slot::SLOTS;

/// The bus protocol version this build speaks.
pub const VERSION: u16 = 1;
/// The oldest version this build still accepts.
pub const MIN_VERSION: u16 = 1;
/// Largest frame accepted; anything larger is garbage or an attack and drops the link.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
/// Most gossip entries one frame may carry. Redis Cluster is specified up to 1000 nodes and
/// a sender gossips about a tenth of the nodes it knows (at least 3), so a frame naming more
/// than 1000 others cannot come from a real cluster. Frames under this limit can still
/// name many unknown nodes: how many handshakes they may start is bounded separately, in the
/// state machine.
pub const MAX_GOSSIP: usize = 1000;
/// Longest address text accepted: an IPv6 address in text form with a scope id fits
/// (Redis's `NET_IP_STR_LEN` is 46 with its terminator).
pub const MAX_ADDR_LEN: usize = 46;
/// Nesting the decoder follows: our messages nest about six deep; unknown fields from a newer
/// version may add a little, but a thousand levels of arrays only exhaust the bus thread's
/// stack.
const MAX_DEPTH: usize = 32;

/// Node flags carried in headers and gossip.
pub mod nflags {
    pub const PRIMARY: u16 = 1;
    pub const REPLICA: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const NOFAILOVER: u16 = 16;
    /// The sender (a primary) has paused writes for a manual failover.
    pub const PAUSED: u16 = 32;
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
    /// The sender's `cluster-announce-hostname` (empty: none, and a receiver forgets the
    /// one it knew, as Redis 7.0 does when a ping lacks the hostname extension).
    #[serde(default)]
    pub hostname: String,
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
    /// The sender's incarnation, random per process start (0: a peer that does not send
    /// it; its frames are never judged stale). With `seq` it orders one sender's frames
    /// across all its connections: frames queued on a link that stopped delivering arrive
    /// after newer ones sent on other links, and their view of the cluster is old.
    #[serde(default)]
    pub boot: u64,
    /// Frames the sender built in this incarnation before this one.
    #[serde(default)]
    pub seq: u64,
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
    Fail {
        node: String,
    },
    /// A slot owner with a newer config than the receiver's claims: adopt it.
    Update {
        node: String,
        config_epoch: u64,
        slots: Vec<(u16, u16)>,
    },
    /// A PUBLISH to be delivered to the receiver's subscribers; with `shard`, an SPUBLISH
    /// sent to the other nodes of the sender's shard (Redis's PUBLISHSHARD), delivered to
    /// sharded subscribers. A field rather than a variant so that a node one version older
    /// still decodes the frame instead of dropping the link.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        #[serde(default)]
        shard: bool,
    },
    /// A replica asks the primaries for their vote in election `epoch`. `force`: a manual
    /// failover, voters do not require the primary to be FAIL.
    AuthRequest {
        epoch: u64,
        force: bool,
    },
    /// A primary's vote for the sender of an AuthRequest in `epoch`.
    AuthAck {
        epoch: u64,
    },
    /// A replica asks its primary to start a coordinated manual failover.
    MfStart,
    /// A primary asks one of its replicas to take its slots over now (graceful shutdown, or
    /// a restart that lost the data its replicas still have).
    TakeOver,
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
    /// Decoded, but breaks a rule of [`validate`]: never acted upon.
    Invalid(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the limit"),
            FrameError::Garbage(e) => write!(f, "undecodable message: {e}"),
            FrameError::Invalid(e) => write!(f, "invalid message: {e}"),
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
    let mut de = rmp_serde::Deserializer::from_read_ref(&body[..]);
    de.set_max_depth(MAX_DEPTH);
    let msg = Message::deserialize(&mut de).map_err(|e| FrameError::Garbage(e.to_string()))?;
    if msg.version < MIN_VERSION {
        return Err(FrameError::Garbage(format!(
            "protocol version {} is older than {MIN_VERSION}",
            msg.version
        )));
    }
    validate(&msg).map_err(FrameError::Invalid)?;
    Ok(Some(msg))
}

/// Whether `s` is a node id as Redis writes them: exactly 40 lowercase hex digits. Ids end
/// up in CLUSTER NODES, nodes.conf and log lines, so nothing else may pass for one.
pub fn valid_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` may stand as a node's address: empty (unknown), or at most [`MAX_ADDR_LEN`]
/// characters of the ones IPv4/IPv6 text (with a scope id) and plain hostnames use. Spaces,
/// newlines, `@`, `,` and other separators would forge fields or lines in CLUSTER NODES and
/// nodes.conf, which a restart then refuses to load.
pub fn valid_addr(s: &str) -> bool {
    s.len() <= MAX_ADDR_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%'))
}

/// Checks claimed slot ranges: each within 0..=16383 with start <= end, in ascending order
/// and disjoint, as [`super::slots::SlotSet::ranges`] writes them. That bounds the ranges
/// to 16384 and the slots they cover to 16384 in all, so applying a claim costs at most
/// one pass over the slot space whatever the frame says.
pub fn valid_ranges(ranges: &[(u16, u16)]) -> Result<(), String> {
    if ranges.len() > SLOTS {
        return Err(format!("{} slot ranges (at most {SLOTS})", ranges.len()));
    }
    let mut next_free = 0usize;
    for &(a, b) in ranges {
        let (a, b) = (a as usize, b as usize);
        if a > b || b >= SLOTS {
            return Err(format!("bad slot range {a}-{b}"));
        }
        if a < next_free {
            return Err(format!("slot range {a}-{b} overlaps or is out of order"));
        }
        next_free = b + 1;
    }
    Ok(())
}

/// The rules every decoded message must meet before it is acted upon (see the module doc).
/// Linear in the message's size.
///
/// # Errors
/// What is wrong, for the log line of the dropped link.
pub fn validate(msg: &Message) -> Result<(), String> {
    let h = &msg.sender;
    if !valid_id(&h.id) {
        return Err("sender id is not 40 lowercase hex digits".into());
    }
    if !valid_addr(&h.ip) {
        return Err("sender ip is not a valid address".into());
    }
    if super::announce::check_hostname(&h.hostname).is_err() {
        return Err("sender hostname is not a valid hostname".into());
    }
    if let Some(p) = &h.primary {
        if !valid_id(p) {
            return Err("sender's primary id is not 40 lowercase hex digits".into());
        }
        if *p == h.id {
            return Err("sender claims to replicate itself".into());
        }
    }
    valid_ranges(&h.slots).map_err(|e| format!("sender slots: {e}"))?;
    if msg.gossip.len() > MAX_GOSSIP {
        return Err(format!(
            "{} gossip entries (at most {MAX_GOSSIP})",
            msg.gossip.len()
        ));
    }
    for g in &msg.gossip {
        if !valid_id(&g.id) || !valid_addr(&g.ip) {
            return Err("gossip entry with a bad node id or address".into());
        }
    }
    match &msg.kind {
        Kind::Fail { node } if !valid_id(node) => Err("FAIL names a bad node id".into()),
        Kind::Update { node, slots, .. } => {
            if !valid_id(node) {
                return Err("UPDATE names a bad node id".into());
            }
            valid_ranges(slots).map_err(|e| format!("UPDATE slots: {e}"))
        }
        _ => Ok(()),
    }
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
    fn a_publish_from_a_node_without_sharded_publish_decodes_as_a_plain_one() {
        #[derive(Serialize)]
        enum OldKind {
            Publish { channel: Vec<u8>, message: Vec<u8> },
        }
        #[derive(Serialize)]
        struct OldMessage {
            version: u16,
            kind: OldKind,
            sender: Header,
        }
        let old = OldMessage {
            version: VERSION,
            kind: OldKind::Publish {
                channel: b"ch".to_vec(),
                message: b"hi".to_vec(),
            },
            sender: sample().sender,
        };
        let body = rmp_serde::to_vec_named(&old).unwrap();
        let mut buf = BytesMut::from(&(body.len() as u32).to_be_bytes()[..]);
        buf.extend_from_slice(&body);
        let m = decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            m.kind,
            Kind::Publish {
                channel: b"ch".to_vec(),
                message: b"hi".to_vec(),
                shard: false
            }
        );
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
                id: "0123456789abcdef0123456789abcdef01234567".into(),
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
        assert_eq!(m.sender.id, "0123456789abcdef0123456789abcdef01234567");
        assert!(m.gossip.is_empty());
    }

    fn framed(m: &Message) -> BytesMut {
        BytesMut::from(&encode(m)[..])
    }

    fn invalid(m: &Message) -> String {
        match decode(&mut framed(m)) {
            Err(FrameError::Invalid(why)) => why,
            other => panic!("expected an invalid frame, got {other:?}"),
        }
    }

    #[test]
    fn node_ids_must_be_40_lowercase_hex_digits() {
        assert!(valid_id(&"0a".repeat(20)));
        for bad in [
            "a".repeat(39),
            "a".repeat(41),
            "A".repeat(40),
            "g".repeat(40),
            format!("{}\n{}", "a".repeat(20), "b".repeat(19)),
            format!("{} {}", "a".repeat(20), "b".repeat(19)),
            "é".repeat(20),
        ] {
            assert!(!valid_id(&bad), "{bad:?}");
            let mut m = sample();
            m.sender.id = bad.clone();
            invalid(&m);
            let mut m = sample();
            m.gossip[0].id = bad.clone();
            invalid(&m);
            let mut m = sample();
            m.kind = Kind::Fail { node: bad.clone() };
            invalid(&m);
        }
    }

    #[test]
    fn a_primary_field_with_a_newline_or_space_is_refused() {
        let injected = format!("{} - 0 0 9 connected\n{}", "c".repeat(40), "d".repeat(40));
        let mut m = sample();
        m.sender.primary = Some(injected);
        assert!(invalid(&m).contains("primary"));
        let mut m = sample();
        m.sender.primary = Some(format!("{} ", "c".repeat(39)));
        invalid(&m);
        let mut m = sample();
        m.sender.primary = Some(m.sender.id.clone());
        invalid(&m);
        let mut m = sample();
        m.sender.primary = Some("c".repeat(40));
        assert!(decode(&mut framed(&m)).unwrap().is_some());
    }

    #[test]
    fn addresses_must_be_short_and_free_of_separators() {
        for ok in ["", "127.0.0.1", "::1", "fe80::1%eth0", "node-1.example"] {
            assert!(valid_addr(ok), "{ok:?}");
        }
        for bad in [
            "127.0.0.1 ",
            "127.0.0.1\n",
            "1.2.3.4:5@6",
            "a,b",
            "\u{0}",
            &"1".repeat(MAX_ADDR_LEN + 1),
        ] {
            assert!(!valid_addr(bad), "{bad:?}");
            let mut m = sample();
            m.sender.ip = bad.to_string();
            invalid(&m);
            let mut m = sample();
            m.gossip[0].ip = bad.to_string();
            invalid(&m);
        }
    }

    #[test]
    fn hostnames_must_be_letters_digits_hyphens_and_dots() {
        let mut m = sample();
        m.sender.hostname = "node-1.svc.cluster.local".into();
        assert!(decode(&mut framed(&m)).unwrap().is_some());
        for bad in ["a b", "a,b", "a\nb", "a_b", &"a".repeat(256)] {
            m.sender.hostname = bad.to_string();
            assert!(invalid(&m).contains("hostname"), "{bad:?}");
        }
    }

    #[test]
    fn slot_ranges_must_be_in_range_ascending_and_disjoint() {
        assert!(valid_ranges(&[]).is_ok());
        assert!(valid_ranges(&[(0, 0), (1, 5), (7, 16383)]).is_ok());
        for bad in [
            vec![(5u16, 4u16)],
            vec![(0, 16384)],
            vec![(16384, 16384)],
            vec![(0, 10), (10, 20)],
            vec![(20, 30), (0, 10)],
            vec![(0, 16383), (0, 16383)],
        ] {
            assert!(valid_ranges(&bad).is_err(), "{bad:?}");
            let mut m = sample();
            m.sender.slots = bad.clone();
            invalid(&m);
            let mut m = sample();
            m.kind = Kind::Update {
                node: "a".repeat(40),
                config_epoch: 1,
                slots: bad,
            };
            invalid(&m);
        }
        let every_other: Vec<(u16, u16)> = (0..8192u16).map(|i| (2 * i, 2 * i)).collect();
        assert!(valid_ranges(&every_other).is_ok());
    }

    /// The reported stall: ~500 KB of 100k full ranges is refused in well under a second
    /// (it took seconds to apply slot by slot).
    #[test]
    fn a_frame_with_100k_slot_ranges_is_refused_quickly() {
        let mut m = sample();
        m.sender.slots = vec![(0, 16383); 100_000];
        let mut buf = framed(&m);
        assert!(buf.len() > 400_000, "{}", buf.len());
        let t = std::time::Instant::now();
        assert!(matches!(decode(&mut buf), Err(FrameError::Invalid(_))));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn gossip_count_is_bounded() {
        let mut m = sample();
        m.gossip = vec![m.gossip[0].clone(); MAX_GOSSIP];
        assert!(decode(&mut framed(&m)).unwrap().is_some());
        m.gossip.push(m.gossip[0].clone());
        assert!(invalid(&m).contains("gossip"));
    }

    /// Deeply nested unknown fields are refused by the depth limit, not by a stack overflow.
    #[test]
    fn deep_nesting_is_refused() {
        let mut body = vec![0x82]; // map of 2: version, and an unknown field
        body.extend_from_slice(&[0xa7]);
        body.extend_from_slice(b"version");
        body.push(1);
        body.extend_from_slice(&[0xa1, b'z']);
        body.extend(std::iter::repeat_n(0x91, 100_000)); // [[[[...
        body.push(0xc0);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&body);
        assert!(matches!(decode(&mut buf), Err(FrameError::Garbage(_))));
    }

    #[test]
    fn garbage_and_oversized_frames_are_errors_not_panics() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::TooLarge(_))));
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::Garbage(_))));
        for seed in 0..200u32 {
            let junk: Vec<u8> = (0..64)
                .map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7)) as u8)
                .collect();
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&(junk.len() as u32).to_be_bytes());
            buf.extend_from_slice(&junk);
            let _ = decode(&mut buf);
        }
    }
}
