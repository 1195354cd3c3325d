//! Whole RDB files, as Redis 7.0 writes them (`rdbSaveRio`) and as Redis 6.2 to 7.2 write
//! them for reading (`rdbLoadRio`): the `REDIS0010` header, the aux fields, the function
//! libraries, per database `SELECTDB` and `RESIZEDB`, each key with its `EXPIRETIME_MS`, and
//! `EOF` with the CRC64 of every byte before it (zero when `rdbchecksum no`).
//!
//! Writing is split in two so a snapshot can encode under the keyspace lock and write to disk
//! outside it: the `write_*` functions append records to a buffer, [`Sink`] checksums and
//! writes buffers to the file. Reading is streamed ([`load`]): the file is never held whole;
//! each value's bytes are gathered (their structure followed, every length checked against
//! what the file still holds) and then decoded by [`super::decode`] as a DUMP payload would
//! be, so a file can neither panic the server nor make it allocate much beyond its own size.

use super::decode::{read_value, Limits, Reader};
use super::encode::{write_len, write_string, write_value_as};
use super::{kind, MAX_READ_VERSION};
use crate::keyspace::Entry;
use bytes::Bytes;
use std::io::{self, Read, Write};

/// Slice-by-16 CRC64 (Redis's Jones polynomial), as DUMP payloads use.
static CRC: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// RDB opcodes (`rdb.h`).
pub mod op {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const SLOT_INFO: u8 = 244;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Module value types: their content belongs to a module this server does not have.
const MODULE_PRE_GA: u8 = 6;
const MODULE_2: u8 = 7;

/// What Redis puts in the aux fields that a reader (or `redis-check-rdb`) looks at.
pub struct Header {
    pub ctime: u64,
    pub used_mem: u64,
    pub repl_id: String,
    pub repl_offset: u64,
    /// The replication stream's selected database at `repl_offset`: where a replica loading
    /// the file goes on applying its primary's stream.
    pub repl_stream_db: usize,
    /// The file is an AOF's BASE (`aof-base` 1): Redis's loaders check it.
    pub aof_base: bool,
}

/// `rdbSaveAuxFieldStrStr` / `rdbSaveAuxFieldStrInt`.
fn aux(out: &mut Vec<u8>, k: &str, v: &[u8]) {
    out.push(op::AUX);
    write_string(out, k.as_bytes());
    write_string(out, v);
}

/// The magic, the version (10, Redis 7.0's) and the aux fields in Redis 7.0's order.
pub fn write_header(out: &mut Vec<u8>, h: &Header) {
    out.extend_from_slice(format!("REDIS{:04}", super::VERSION).as_bytes());
    let mut n = itoa::Buffer::new();
    aux(out, "redis-ver", crate::util::REDIS_VERSION.as_bytes());
    aux(out, "redis-bits", b"64");
    aux(out, "ctime", n.format(h.ctime).as_bytes());
    aux(out, "used-mem", n.format(h.used_mem).as_bytes());
    aux(out, "repl-stream-db", n.format(h.repl_stream_db).as_bytes());
    aux(out, "repl-id", h.repl_id.as_bytes());
    aux(out, "repl-offset", n.format(h.repl_offset).as_bytes());
    aux(out, "aof-base", if h.aof_base { b"1" } else { b"0" });
}

/// One `FUNCTION2` record per library, as its code.
pub fn write_functions(out: &mut Vec<u8>, codes: &[Bytes]) {
    for c in codes {
        out.push(op::FUNCTION2);
        write_string(out, c);
    }
}

/// `SELECTDB` and the `RESIZEDB` hint (keys, keys with a TTL).
pub fn write_select(out: &mut Vec<u8>, db: usize, keys: u64, expires: u64) {
    out.push(op::SELECTDB);
    write_len(out, db as u64);
    out.push(op::RESIZEDB);
    write_len(out, keys);
    write_len(out, expires);
}

/// One key (`rdbSaveKeyValuePair`): its expiry, then type byte, key and value. `scratch` is
/// reused between calls (the value is encoded type byte first, and the key goes between).
pub fn write_entry(out: &mut Vec<u8>, scratch: &mut Vec<u8>, e: &Entry, compress: bool) {
    if e.expire_at() != 0 {
        out.push(op::EXPIRETIME_MS);
        out.extend_from_slice(&(e.expire_at() as i64).to_le_bytes());
    }
    scratch.clear();
    write_value_as(scratch, &e.value, compress);
    let Some((&t, body)) = scratch.split_first() else {
        return;
    };
    out.push(t);
    super::encode::write_string_as(out, e.key(), compress);
    out.extend_from_slice(body);
}

/// Where encoded records go: the file, with the running checksum.
pub struct Sink<W: Write> {
    w: W,
    crc: Option<crc::Digest<'static, u64, crc::Table<16>>>,
    written: u64,
}

impl<W: Write> Sink<W> {
    /// `checksum`: `rdbchecksum` (off, the trailer is eight zero bytes, as Redis writes it).
    pub fn new(w: W, checksum: bool) -> Self {
        Sink {
            w,
            crc: checksum.then(|| CRC.digest()),
            written: 0,
        }
    }

    pub fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some(c) = self.crc.as_mut() {
            c.update(b);
        }
        self.written += b.len() as u64;
        self.w.write_all(b)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The writer, without an RDB trailer (a sink used for an AOF written as commands).
    pub fn into_inner(self) -> W {
        self.w
    }

    /// `EOF` and the checksum; returns the writer (flushed) for the caller to sync.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[op::EOF])?;
        let crc = self.crc.take().map_or(0, |c| c.finalize());
        self.w.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Why a file did not load.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    /// The content is not an RDB file this server can load; the message says where and why.
    Format(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Format(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            LoadError::Format(
                "Short read or OOM loading DB. Unrecoverable error, aborting now.".into(),
            )
        } else {
            LoadError::Io(e)
        }
    }
}

fn bad(m: impl Into<String>) -> LoadError {
    LoadError::Format(m.into())
}

/// What a file holds, handed to the loader's callback in file order.
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    /// A function library's code.
    Function(Bytes),
    /// A key of database `db` (its expiry may have passed: the caller decides).
    Key {
        db: usize,
        entry: Box<Entry>,
    },
}

/// What the loader saw besides the items.
#[derive(Debug, Default)]
pub struct Loaded {
    pub version: u16,
    pub keys: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// The file, read with a running checksum and byte count.
struct Src<R> {
    r: R,
    crc: crc::Digest<'static, u64, crc::Table<16>>,
    pos: u64,
}

impl<R: Read> Read for Src<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.crc.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Src<R> {
    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }

    /// `n` bytes appended to `out`, grown as they arrive: a length larger than the file
    /// allocates no more than the file holds.
    fn copy(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let got = self.by_ref().take(n).read_to_end(out)?;
        if got as u64 != n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// A length or special-encoding code (`rdbLoadLenByRef`), its raw bytes appended to `out`.
    fn raw_len(&mut self, out: &mut Vec<u8>) -> Result<(u64, bool), LoadError> {
        let b = self.byte()?;
        out.push(b);
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => {
                let c = self.byte()?;
                out.push(c);
                (u64::from(b & 0x3f) << 8 | u64::from(c), false)
            }
            2 => match b {
                0x80 => {
                    let a = self.array::<4>()?;
                    out.extend_from_slice(&a);
                    (u64::from(u32::from_be_bytes(a)), false)
                }
                0x81 => {
                    let a = self.array::<8>()?;
                    out.extend_from_slice(&a);
                    (u64::from_be_bytes(a), false)
                }
                _ => return Err(bad(format!("Unknown length encoding {b} in rdbLoadLen()"))),
            },
            _ => (u64::from(b & 0x3f), true),
        })
    }

    /// A length that is not a special encoding.
    fn plain_len(&mut self, out: &mut Vec<u8>) -> Result<u64, LoadError> {
        match self.raw_len(out)? {
            (n, false) => Ok(n),
            _ => Err(bad(
                "Unexpected string encoding where a length was expected",
            )),
        }
    }

    fn len(&mut self) -> Result<u64, LoadError> {
        let mut scratch = Vec::new();
        self.plain_len(&mut scratch)
    }

    /// A string's raw form (`rdbGenericLoadStringObject`), appended to `out`.
    fn raw_string(&mut self, out: &mut Vec<u8>) -> Result<(), LoadError> {
        match self.raw_len(out)? {
            (n, false) => self.copy(n, out)?,
            (0, true) => self.copy(1, out)?,
            (1, true) => self.copy(2, out)?,
            (2, true) => self.copy(4, out)?,
            (3, true) => {
                let clen = self.plain_len(out)?;
                self.plain_len(out)?;
                self.copy(clen, out)?;
            }
            (e, true) => return Err(bad(format!("Unknown RDB string encoding type {e}"))),
        }
        Ok(())
    }

    /// A string, decoded.
    fn string(&mut self) -> Result<Vec<u8>, LoadError> {
        let mut raw = Vec::new();
        self.raw_string(&mut raw)?;
        Reader::new(&raw)
            .string()
            .map(|s| s.into_owned())
            .map_err(|_| bad("Invalid LZF compressed string"))
    }

    /// The raw bytes of a value of type `t` (its structure followed, nothing decoded), for
    /// [`read_value`] to decode as it decodes DUMP payloads.
    fn raw_value(&mut self, t: u8, out: &mut Vec<u8>) -> Result<(), LoadError> {
        match t {
            kind::STRING
            | kind::HASH_ZIPMAP
            | kind::LIST_ZIPLIST
            | kind::SET_INTSET
            | kind::ZSET_ZIPLIST
            | kind::HASH_ZIPLIST
            | kind::HASH_LISTPACK
            | kind::ZSET_LISTPACK
            | kind::SET_LISTPACK => self.raw_string(out),
            kind::LIST | kind::SET | kind::LIST_QUICKLIST => {
                for _ in 0..self.plain_len(out)? {
                    self.raw_string(out)?;
                }
                Ok(())
            }
            kind::LIST_QUICKLIST_2 => {
                for _ in 0..self.plain_len(out)? {
                    self.plain_len(out)?;
                    self.raw_string(out)?;
                }
                Ok(())
            }
            kind::HASH => {
                for _ in 0..self.plain_len(out)? {
                    self.raw_string(out)?;
                    self.raw_string(out)?;
                }
                Ok(())
            }
            kind::HASH_LISTPACK_EX | kind::HASH_LISTPACK_EX_PRE_GA => {
                if t == kind::HASH_LISTPACK_EX {
                    self.copy(8, out)?;
                }
                self.raw_string(out)
            }
            kind::HASH_METADATA | kind::HASH_METADATA_PRE_GA => {
                if t == kind::HASH_METADATA {
                    self.copy(8, out)?;
                }
                for _ in 0..self.plain_len(out)? {
                    self.plain_len(out)?;
                    self.raw_string(out)?;
                    self.raw_string(out)?;
                }
                Ok(())
            }
            kind::ZSET_2 => {
                for _ in 0..self.plain_len(out)? {
                    self.raw_string(out)?;
                    self.copy(8, out)?;
                }
                Ok(())
            }
            kind::ZSET => {
                for _ in 0..self.plain_len(out)? {
                    self.raw_string(out)?;
                    let n = self.byte()?;
                    out.push(n);
                    if n < 253 {
                        self.copy(u64::from(n), out)?;
                    }
                }
                Ok(())
            }
            kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
                self.raw_stream(t, out)
            }
            MODULE_PRE_GA | MODULE_2 => Err(bad(
                "The RDB file contains module data I can't load: no matching module \
                 (module value types are not supported)",
            )),
            _ => Err(bad(format!("Unknown RDB encoding type {t}"))),
        }
    }

    /// A stream's raw bytes: see [`super::stream`] for the layout.
    fn raw_stream(&mut self, t: u8, out: &mut Vec<u8>) -> Result<(), LoadError> {
        let v2 = t != kind::STREAM_LISTPACKS;
        let v3 = t == kind::STREAM_LISTPACKS_3;
        for _ in 0..self.plain_len(out)? {
            self.raw_string(out)?;
            self.raw_string(out)?;
        }
        // Length, last id; then first id, max deleted id, entries added.
        for _ in 0..if v2 { 8 } else { 3 } {
            self.plain_len(out)?;
        }
        for _ in 0..self.plain_len(out)? {
            self.raw_string(out)?;
            for _ in 0..if v2 { 3 } else { 2 } {
                self.plain_len(out)?;
            }
            for _ in 0..self.plain_len(out)? {
                self.copy(24, out)?;
                self.plain_len(out)?;
            }
            for _ in 0..self.plain_len(out)? {
                self.raw_string(out)?;
                self.copy(if v3 { 16 } else { 8 }, out)?;
                for _ in 0..self.plain_len(out)? {
                    self.copy(16, out)?;
                }
            }
        }
        Ok(())
    }

    /// A module's serialized data (`rdbLoadCheckModuleValue`), skipped: its opcodes say
    /// what follows until `EOF`.
    fn skip_module_value(&mut self) -> Result<(), LoadError> {
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            match self.len()? {
                0 => return Ok(()),
                1 | 2 => {
                    self.plain_len(&mut scratch)?;
                }
                3 => {
                    self.array::<4>()?;
                }
                4 => {
                    self.array::<8>()?;
                }
                5 => self.raw_string(&mut scratch)?,
                o => return Err(bad(format!("Unknown module opcode {o} in module data"))),
            }
        }
    }
}

/// Reads an RDB file of version 1 to 11 from `r` (buffer it: reads are small), handing every
/// aux field, library and key to `item` in file order; `databases` bounds `SELECTDB`.
/// `item` refusing something (a duplicate key) stops the load with its message.
pub fn load<R: Read>(
    r: R,
    lim: &Limits,
    databases: usize,
    mut item: impl FnMut(Item) -> Result<(), String>,
) -> Result<Loaded, LoadError> {
    let mut s = Src {
        r,
        crc: CRC.digest(),
        pos: 0,
    };
    let magic = s.array::<9>()?;
    if &magic[..5] != b"REDIS" {
        return Err(bad("Wrong signature trying to load DB from file"));
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=MAX_READ_VERSION).contains(v))
        .ok_or_else(|| {
            bad(format!(
                "Can't handle RDB format version {}",
                String::from_utf8_lossy(&magic[5..])
            ))
        })?;
    let mut loaded = Loaded {
        version,
        ..Default::default()
    };
    let mut db = 0usize;
    let mut expire_at = 0u64;
    let mut raw = Vec::new();
    loop {
        let t = s.byte()?;
        match t {
            op::EXPIRETIME => {
                expire_at = u64::from(u32::from_le_bytes(s.array()?)) * 1000;
                continue;
            }
            op::EXPIRETIME_MS => {
                expire_at = i64::from_le_bytes(s.array()?).max(0) as u64;
                continue;
            }
            op::IDLE => {
                s.len()?;
                continue;
            }
            op::FREQ => {
                s.byte()?;
                continue;
            }
            op::EOF => break,
            op::SELECTDB => {
                let n = s.len()?;
                db = usize::try_from(n)
                    .ok()
                    .filter(|&n| n < databases)
                    .ok_or_else(|| {
                        bad(format!(
                            "FATAL: Data file was created with a Redis server configured to \
                             handle more than {databases} databases. Exiting"
                        ))
                    })?;
                continue;
            }
            op::RESIZEDB => {
                s.len()?;
                s.len()?;
                continue;
            }
            op::SLOT_INFO => {
                s.len()?;
                s.len()?;
                s.len()?;
                continue;
            }
            op::AUX => {
                let k = s.string()?;
                let v = s.string()?;
                item(Item::Aux(k, v)).map_err(bad)?;
                continue;
            }
            op::MODULE_AUX => {
                // Module id, when-opcode, when; then the module's data, which nothing here
                // can use: skipped, as redis-check-rdb skips it.
                s.len()?;
                s.len()?;
                s.len()?;
                s.skip_module_value()?;
                continue;
            }
            op::FUNCTION2 => {
                let code = s.string()?;
                item(Item::Function(Bytes::from(code))).map_err(bad)?;
                continue;
            }
            op::FUNCTION_PRE_GA => {
                return Err(bad(
                    "Pre-release function format not supported (written by a Redis 7.0 release candidate)",
                ))
            }
            _ => {}
        }
        let key = s.string()?;
        if key.len() > crate::keyspace::entry::MAX_KEY_LEN {
            return Err(bad("Key longer than an entry can hold (2 GiB)"));
        }
        raw.clear();
        s.raw_value(t, &mut raw)?;
        let value = read_value(&mut Reader::new(&raw), t, lim).map_err(|_| {
            bad(format!(
                "Bad data format loading key '{}' (type {t})",
                String::from_utf8_lossy(&key)
            ))
        })?;
        let entry = Entry::boxed(&key, value, std::mem::take(&mut expire_at), 0);
        loaded.keys += 1;
        item(Item::Key { db, entry }).map_err(bad)?;
    }
    if version >= 5 {
        let computed = s.crc.clone().finalize();
        let stored = u64::from_le_bytes(s.array()?);
        if stored != 0 && stored != computed {
            return Err(bad(
                "Wrong RDB checksum. Aborting now. (the file is corrupt)",
            ));
        }
    }
    loaded.bytes = s.pos;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{SmallBytes, Value};

    fn entry(k: &str, v: &str, exp: u64) -> Box<Entry> {
        Entry::boxed(
            k.as_bytes(),
            Value::Str(SmallBytes::new(v.as_bytes())),
            exp,
            0,
        )
    }

    fn file(checksum: bool, compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(
            &mut out,
            &Header {
                ctime: 1,
                used_mem: 2,
                repl_id: "a".repeat(40),
                repl_offset: 77,
                repl_stream_db: 0,
                aof_base: false,
            },
        );
        write_functions(&mut out, &[Bytes::from_static(b"#!lua name=l\n")]);
        write_select(&mut out, 3, 2, 1);
        let mut scratch = Vec::new();
        write_entry(&mut out, &mut scratch, &entry("k", "12345", 0), compress);
        let long = "x".repeat(200);
        write_entry(&mut out, &mut scratch, &entry("long", &long, 99), compress);
        let mut sink = Sink::new(Vec::new(), checksum);
        sink.put(&out).unwrap();
        sink.finish().unwrap()
    }

    fn read(f: &[u8]) -> Result<Vec<String>, LoadError> {
        let mut seen = Vec::new();
        load(f, &Limits::default(), 16, |i| {
            seen.push(match i {
                Item::Aux(k, v) => format!(
                    "aux {}={}",
                    String::from_utf8_lossy(&k),
                    String::from_utf8_lossy(&v)
                ),
                Item::Function(c) => format!("fn {}", String::from_utf8_lossy(&c)),
                Item::Key { db, entry } => format!(
                    "key {db} {} {:?} {}",
                    String::from_utf8_lossy(entry.key()),
                    entry.value.encoding(),
                    entry.expire_at()
                ),
            });
            Ok(())
        })
        .map(|_| seen)
    }

    #[test]
    fn a_file_round_trips_with_and_without_checksum_and_compression() {
        for (checksum, compress) in [(true, true), (false, false)] {
            let f = file(checksum, compress);
            assert!(f.starts_with(b"REDIS0010"));
            let seen = read(&f).unwrap();
            assert!(seen.contains(&"aux repl-offset=77".to_string()));
            let ver = format!("aux redis-ver={}", crate::util::REDIS_VERSION);
            assert!(seen.contains(&ver));
            assert!(seen.contains(&"fn #!lua name=l\n".to_string()));
            assert!(seen.contains(&"key 3 k \"int\" 0".to_string()));
            assert!(seen.contains(&"key 3 long \"raw\" 99".to_string()));
            if !checksum {
                assert_eq!(&f[f.len() - 8..], &[0; 8]);
            }
        }
        // Compression makes the long string smaller.
        assert!(file(true, true).len() < file(true, false).len());
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_an_error_not_a_panic() {
        let f = file(true, true);
        for n in 0..f.len() {
            assert!(read(&f[..n]).is_err(), "truncated at {n}");
        }
        for i in 9..f.len() - 8 {
            let mut g = f.clone();
            g[i] ^= 0x5a;
            // Either refused, or (a byte the structure does not depend on) caught by CRC.
            assert!(read(&g).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn hostile_lengths_and_unknown_content_are_refused() {
        let mut f = b"REDIS0010".to_vec();
        // A string claiming 2^60 bytes.
        f.extend_from_slice(&[kind::STRING, 0x81]);
        f.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(read(&f).is_err());
        let mut m = b"REDIS0010".to_vec();
        m.extend_from_slice(&[MODULE_2, 1, b'k']);
        match read(&m) {
            Err(LoadError::Format(msg)) => assert!(msg.contains("module"), "{msg}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // Module aux data (a module's global state) is skipped, whatever it holds.
        let mut aux = b"REDIS0010".to_vec();
        aux.push(op::MODULE_AUX);
        aux.push(0x81);
        aux.extend_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
        aux.extend_from_slice(&[2, 2]); // when-opcode UINT, when
        aux.extend_from_slice(&[2, 5, 5, 2, b'a', b'b', 3, 0, 0, 0, 0, 0]); // UINT, STRING, FLOAT, EOF
        aux.extend_from_slice(&[op::AUX, 1, b'x', 1, b'y', op::EOF]);
        aux.extend_from_slice(&[0; 8]);
        assert_eq!(read(&aux).unwrap(), vec!["aux x=y".to_string()]);
        assert!(read(b"REDIS0012").is_err(), "newer than 7.2");
        assert!(read(b"RUBIS0010").is_err());
        let mut db = b"REDIS0010".to_vec();
        db.extend_from_slice(&[op::SELECTDB, 20]);
        assert!(read(&db).is_err(), "database out of range");
    }
}
