//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz), kept in the library so that
//! `cargo test` replays every committed corpus through exactly the same code
//! (`server/tests/fuzz_corpora.rs`) and a regression found once stays caught.
//!
//! Each function takes arbitrary bytes and must neither panic nor allocate in proportion to
//! a number the bytes merely claim; where a round trip is defined (DUMP payloads, config
//! rewrites) it is checked too.

use crate::clients::ClientHandle;
use crate::cluster::message;
use crate::cluster::state::{ClusterState, Source};
use crate::config::Config;
use crate::protocol::{Limits, Out, RequestParser};
use crate::session::Conn;
use crate::state::Shared;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;

/// The RESP/inline request parser over `data` delivered in pieces (sizes taken from the
/// first bytes), authenticated and not, with small limits.
pub fn resp_parser(data: &[u8]) {
    for unauthenticated in [false, true] {
        let limits = Limits {
            max_bulk: 1 << 16,
            max_multibulk: 1 << 12,
            max_query: 1 << 20,
            unauthenticated: false,
        };
        let limits = if unauthenticated {
            limits.unauthenticated()
        } else {
            limits
        };
        let step = data.first().map_or(1, |&b| (b as usize % 64) + 1);
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        'feed: for chunk in data.chunks(step) {
            buf.extend_from_slice(chunk);
            loop {
                match parser.next(&mut buf, &limits) {
                    Ok(Some(args)) => {
                        let max_bulk = limits.max_bulk as usize;
                        assert!(
                            args.len() as i64 <= limits.max_multibulk.max(1) || is_inline(&args)
                        );
                        assert!(args.iter().all(|a| a.len() <= max_bulk.max(64 * 1024)));
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            assert!(buf.len() <= data.len());
        }
    }
}

/// Inline commands are bounded by the line length, not by the multibulk limit.
fn is_inline(args: &[Bytes]) -> bool {
    args.iter().map(|a| a.len() + 1).sum::<usize>() <= crate::protocol::parser::INLINE_MAX + 1
}

/// Bus frames: decoded (and validated) from `data`, and every frame that passes is handed
/// to a fresh cluster state machine as if it came from an inbound link, then time moves on.
pub fn bus_frames(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let id = "a".repeat(40);
    let mut state = ClusterState::new(id, "127.0.0.1".into(), 7000, 17000, 1000, 1);
    let src = Source::Inbound {
        peer: std::net::IpAddr::from([127, 0, 0, 2]),
        local: std::net::IpAddr::from([127, 0, 0, 1]),
    };
    let mut now = 1;
    for _ in 0..64 {
        match message::decode(&mut buf) {
            Ok(Some(msg)) => {
                now += 50;
                let _ = state.handle(msg, src.clone(), now);
                let _ = state.tick(now);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = state.tick(now + 100_000);
}

/// DUMP payloads, as given and with a valid checksum in place of their last 8 bytes (so
/// mutations reach the decoders instead of stopping at the CRC), through both the internal
/// format and Redis's RDB format: whatever decodes re-encodes to a payload that decodes to
/// the same bytes.
pub fn dump_payload(data: &[u8]) {
    use crate::keyspace::serialize::{decode, encode, with_checksum};
    let sealed = with_checksum(&data[..data.len().saturating_sub(8)]);
    for payload in [data, &sealed[..]] {
        if let Ok(v) = decode(payload) {
            let once = encode(&v);
            let again = decode(&once).map(|v| encode(&v));
            assert_eq!(
                again.as_ref(),
                Ok(&once),
                "a decoded payload does not round-trip"
            );
        }
    }
    rdb_payload(data);
}

/// The RDB codec's half of [`dump_payload`]: the body (all but a 10-byte footer) resealed
/// with RDB version 10 and a valid CRC64.
fn rdb_payload(data: &[u8]) {
    use crate::rdb::decode::Limits;
    use crate::rdb::payload::{dump, restore, seal};
    let lim = Limits::default();
    let sealed = seal(data[..data.len().saturating_sub(10)].to_vec(), 10);
    for payload in [data, &sealed[..]] {
        if let Ok(v) = restore(payload, &lim) {
            let once = dump(&v);
            let again = restore(&once, &lim).map(|v| dump(&v));
            assert_eq!(
                again.as_ref(),
                Ok(&once),
                "a decoded RDB payload does not round-trip"
            );
        }
    }
}

/// Whole RDB files: what a node reads at start, on DEBUG RELOAD, and what a primary sends in
/// a full sync. Any bytes load or are refused with a message (a zero checksum is not
/// checked, as in Redis, so mutations reach the decoders); what loads is written back and
/// loads again to the same records.
pub fn rdb_file(data: &[u8]) {
    if let Some(once) = rdb_reencoded(data) {
        let again = rdb_reencoded(&once);
        assert_eq!(
            again.as_ref(),
            Some(&once),
            "a loaded RDB file does not round-trip"
        );
    }
}

/// The file's libraries and keys, written back as a file (`None` when it does not load).
fn rdb_reencoded(data: &[u8]) -> Option<Vec<u8>> {
    use crate::rdb::decode::Limits;
    use crate::rdb::file::{self, Item};
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    let mut libraries = Vec::new();
    let mut db_now = None;
    let loaded = file::load(data, &Limits::default(), 16, |item| {
        match item {
            Item::Aux(..) => {}
            Item::Function(code) => libraries.push(code),
            Item::Key { db, entry } => {
                if db_now != Some(db) {
                    file::write_select(&mut body, db, 0, 0);
                    db_now = Some(db);
                }
                file::write_entry(&mut body, &mut scratch, &entry, false);
            }
        }
        Ok(())
    });
    loaded.ok()?;
    let mut out = Vec::new();
    file::write_header(
        &mut out,
        &file::Header {
            ctime: 0,
            used_mem: 0,
            repl_id: "0".repeat(40),
            repl_offset: 0,
            repl_stream_db: 0,
            aof_base: false,
        },
    );
    file::write_functions(&mut out, &libraries);
    out.extend_from_slice(&body);
    let mut sink = file::Sink::new(Vec::new(), true);
    sink.put(&out).ok()?;
    sink.finish().ok()
}

thread_local! {
    /// One Lua state with the script libraries that decode what a script hands them.
    static LUA: Option<(mlua::Lua, [mlua::Function; 3])> = {
        let lua = mlua::Lua::new();
        let f = |lib: mlua::Result<mlua::Table>, name: &str| lib.and_then(|t| t.get::<mlua::Function>(name));
        let cjson = f(crate::scripting::cjson::open(&lua), "decode");
        let msgpack = f(crate::scripting::cmsgpack::open(&lua), "unpack");
        let strukt = f(crate::scripting::lua_struct::open(&lua), "unpack");
        match (cjson, msgpack, strukt) {
            (Ok(a), Ok(b), Ok(c)) => Some((lua, [a, b, c])),
            _ => None,
        }
    };
}

/// What scripts decode from client-supplied strings: `cjson.decode`, `cmsgpack.unpack` and
/// `struct.unpack` (its format from the first byte's length, the data after): each returns
/// values or raises a Lua error, and never panics, hangs or allocates what the bytes only
/// claim.
pub fn script_codecs(data: &[u8]) {
    LUA.with(|l| {
        let Some((lua, [cjson, msgpack, strukt])) = l else {
            panic!("the script libraries did not open");
        };
        let Ok(whole) = lua.create_string(data) else {
            return;
        };
        let _ = cjson.call::<mlua::MultiValue>(whole.clone());
        let _ = msgpack.call::<mlua::MultiValue>(whole);
        let split = data
            .first()
            .map_or(0, |&n| usize::from(n % 16) + 1)
            .min(data.len());
        let (format, rest) = data.split_at(split);
        if let (Ok(f), Ok(r)) = (lua.create_string(format), lua.create_string(rest)) {
            let _ = strukt.call::<mlua::MultiValue>((f, r));
        }
        // Whatever the calls left for the collector goes now, so a run's memory stays flat.
        let _ = lua.gc_collect();
    });
}

/// Config files: any text loads or is refused; what loads survives CONFIG REWRITE (the
/// rewritten text loads back to the same values, with no extra directive).
pub fn config_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut cfg = Config::default();
    if cfg.load_text(&text, "fuzz").is_err() {
        return;
    }
    let rewritten = cfg.rewritten(&text);
    let mut again = Config::default();
    if let Err(e) = again.load_text(&rewritten, "rewrite") {
        panic!("a rewritten config does not load: {e}\n{rewritten}");
    }
    assert_eq!(cfg.values(), again.values(), "rewrite changed values");
}

/// Commands never run by the command target: they stop the process, reach the network or
/// other threads, or change the server's own settings.
const NOT_FUZZED: &[&str] = &[
    "debug",
    "shutdown",
    "migrate",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "replconf",
    "monitor",
    "cluster",
    "config",
    "failover",
    "wait",
    "save",
    "bgsave",
    "bgrewriteaof",
    "client",
    "readonly",
];

/// Arguments the command target draws from: boundaries of every kind of number, option
/// words, patterns, and long strings.
const VOCAB: &[&str] = &[
    "k",
    "k2",
    "{k}3",
    "",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-10",
    "100",
    "1000000",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "536870911",
    "536870912",
    "0.5",
    "-0.5",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "-1e308",
    "1e309",
    "1e-320",
    "1e4932",
    "WITHSCORES",
    "WITHVALUES",
    "LIMIT",
    "COUNT",
    "MATCH",
    "TYPE",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "BYSCORE",
    "BYLEX",
    "REV",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "IDLETIME",
    "FREQ",
    "REPLACE",
    "ABSTTL",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "WEIGHTS",
    "STORE",
    "ALPHA",
    "DESC",
    "BY",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "u8",
    "i64",
    "u63",
    "i1",
    "#1",
    "(1",
    "[a",
    "-",
    "+",
    "(",
    "[",
    "*",
    "*a*a*a*a*b",
    "[^a-z]",
    "\\",
    "a",
    "b",
    "hello",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "SET",
    "INCRBY",
    "BIT",
    "BYTE",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "NOVALUES",
    "ASYNC",
    "SYNC",
    "DB",
];

thread_local! {
    static WORLD: (Arc<Shared>, Vec<String>) = {
        let mut cfg = Config::default();
        // Small strings and few databases: a 512 MB SETRANGE per input would make the
        // target about memory, not about bugs.
        let _ = cfg.load_text("proto-max-bulk-len 1mb\ndatabases 2\n", "fuzz");
        let shared = Shared::new(cfg);
        let mut names = Vec::new();
        for c in crate::commands::table::all() {
            if NOT_FUZZED.contains(&c.name) {
                continue;
            }
            if c.subcommands.is_empty() {
                names.push(c.name.to_string());
            } else {
                names.extend(c.subcommands.iter().map(|s| format!("{} {}", c.name, s.name)));
            }
        }
        names.sort();
        (shared, names)
    };
}

/// Random commands with boundary arguments against one in-process keyspace (emptied first),
/// through the same admission and execution as a client's commands.
pub fn commands(data: &[u8]) {
    WORLD.with(|(shared, names)| {
        let settings = shared.settings();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let handle = Arc::new(ClientHandle::new(1, addr, addr));
        let mut conn = Conn::new(handle, true);
        let mut out = Out::new(false);
        let run = |conn: &mut Conn, out: &mut Out, args: &[Bytes]| {
            let mut ks = shared.keyspace.lock();
            // What the connection task would do next (park, wait, migrate) is not done here.
            let _next = crate::dispatch::execute(shared, &mut ks, conn, out, &settings, args);
            out.buf.clear();
        };
        run(&mut conn, &mut out, &[Bytes::from_static(b"FLUSHALL")]);
        let mut bytes = data.iter().copied();
        let long = Bytes::from(vec![b'x'; 64 * 1024]);
        for _ in 0..32 {
            let Some(hi) = bytes.next() else { break };
            let lo = bytes.next().unwrap_or(0);
            let name = &names[(hi as usize * 256 + lo as usize) % names.len()];
            let mut args: Vec<Bytes> = name
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let n = bytes.next().unwrap_or(0) % 8;
            for _ in 0..n {
                let sel = bytes.next().unwrap_or(0) as usize;
                let arg = match sel {
                    s if s < VOCAB.len() => Bytes::from_static(VOCAB[s].as_bytes()),
                    250 => long.clone(),
                    _ => {
                        let len = (bytes.next().unwrap_or(0) % 16) as usize;
                        let raw: Vec<u8> = bytes.by_ref().take(len).collect();
                        Bytes::from(raw)
                    }
                };
                args.push(arg);
            }
            run(&mut conn, &mut out, &args);
        }
        shared.pubsub.remove_client(1);
        let mut ks = shared.keyspace.lock();
        for w in conn.watched.drain(..) {
            ks.watches.release(w.db, &w.key);
        }
    });
}

/// AOF files: the first two bytes give the length of a manifest text, the rest is an INCR
/// file's command stream. A manifest parses or is refused (and what parses renders back to
/// itself); the stream yields commands until a clean end, a truncation or a format error,
/// never reading past its end nor allocating what a length merely claims.
pub fn aof_files(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = (u16::from_le_bytes(*head) as usize).min(rest.len());
    let (manifest, stream) = rest.split_at(split);
    if let Ok(m) = crate::aof::manifest::Manifest::parse(manifest) {
        let text = m.render();
        if !text.is_empty() {
            let again = crate::aof::manifest::Manifest::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("a rendered manifest does not parse: {e}\n{text}"));
            assert_eq!(again.render(), text, "manifest round trip");
        }
    }
    let mut r = crate::aof::stream::Reader::new(stream, 0);
    let mut total = 0usize;
    loop {
        match r.next_command() {
            Ok(Some(args)) => {
                assert!(!args.is_empty());
                total += args.iter().map(|a| a.len()).sum::<usize>();
                assert!(total <= stream.len(), "more argument bytes than input");
            }
            Ok(None) | Err(_) => break,
        }
        assert!(r.pos() as usize <= stream.len(), "read past the end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_simple_inputs() {
        resp_parser(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n");
        bus_frames(b"\0\0\0\x01\x90");
        dump_payload(b"\x01\x00\x01a\0\0\0\0\0\0\0\0");
        config_text(b"port 7000\nmasterauth \"a\\nb\"\n");
        commands(b"\x10\x02\x00\x05\x20\x01\x00");
        rdb_file(b"REDIS0010\xff\0\0\0\0\0\0\0\0");
        script_codecs(b"[1,{\"a\":2.5}]");
    }

    #[test]
    fn the_rdb_seeds_load_so_fuzzing_starts_past_the_header() {
        for seed in [
            &include_bytes!("../../fuzz/corpus/rdb_file/seed-redis-7.0-all-types")[..],
            &include_bytes!("../../fuzz/corpus/rdb_file/seed-slotcache-all-types")[..],
        ] {
            let once = rdb_reencoded(seed).expect("the seed loads");
            assert!(once.len() > 500, "the seed's keys were written back");
        }
    }
}
