//! Random but valid command sequences for the differential check: every data type, expiry,
//! MULTI/EXEC and blocking pops with short timeouts, over a small keyspace so that commands
//! meet each other's keys (and each other's types: WRONGTYPE paths are exercised too).
//!
//! A command carries how its reply is compared: exactly, as an unordered collection, or
//! with the tolerance a clock needs (TTL). Commands whose effect is random (SPOP, RANDOMKEY,
//! SRANDMEMBER...) are left out: the two servers would pick differently and diverge.

/// xorshift64*: small, seedable, the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// How a reply is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    Exact,
    /// An array whose order is unspecified (SMEMBERS, HKEYS).
    Unordered,
    /// A flat array of pairs in unspecified order (HGETALL).
    UnorderedPairs,
    /// A remaining time: equal within one unit.
    Clock,
}

pub struct Cmd {
    pub args: Vec<String>,
    pub norm: Norm,
}

fn cmd(args: &[&str], norm: Norm) -> Cmd {
    Cmd {
        args: args.iter().map(|s| s.to_string()).collect(),
        norm,
    }
}

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5"];
const VALUES: &[&str] = &[
    "a",
    "b",
    "c",
    "1",
    "2",
    "-3",
    "10",
    "3.5",
    "",
    "hello",
    "9223372036854775807",
    "-9223372036854775808",
    "1e3",
    "0",
    "abc",
    "x y",
];
const INTS: &[&str] = &["0", "1", "-1", "2", "3", "5", "-2", "10", "100", "-100"];
const SCORES: &[&str] = &["0", "1", "2", "-1", "1.5", "+inf", "-inf", "3", "10"];
const RANGES: &[&str] = &["0", "1", "-1", "2", "-2", "5", "100", "-100"];
const SCORE_BOUNDS: &[&str] = &["-inf", "+inf", "0", "1", "(1", "2", "(2", "-1", "10"];
const LEX_BOUNDS: &[&str] = &["-", "+", "[a", "(a", "[b", "(c", "[hello"];

/// One command (or a MULTI ... EXEC block) drawn at random.
pub fn next(rng: &mut Rng, out: &mut Vec<Cmd>) {
    if rng.chance(3) {
        out.push(cmd(&["MULTI"], Norm::Exact));
        for _ in 0..1 + rng.below(4) {
            let c = one(rng);
            if c.norm == Norm::Exact && !c.args[0].starts_with('B') {
                out.push(c);
            }
        }
        out.push(cmd(&["EXEC"], Norm::Exact));
        return;
    }
    out.push(one(rng));
}

fn one(rng: &mut Rng) -> Cmd {
    let k = rng.pick(KEYS);
    let k2 = rng.pick(KEYS);
    let v = rng.pick(VALUES);
    let i = rng.pick(INTS);
    let r1 = rng.pick(RANGES);
    let r2 = rng.pick(RANGES);
    use Norm::*;
    match rng.below(113) {
        // strings
        0 => cmd(&["SET", k, v], Exact),
        1 => {
            let opt = rng.pick(&["NX", "XX", "GET", "KEEPTTL"]);
            cmd(&["SET", k, v, opt], Exact)
        }
        2 => cmd(&["SET", k, v, "EX", rng.pick(&["100", "1000"])], Exact),
        3 => cmd(&["GET", k], Exact),
        4 => cmd(&["APPEND", k, v], Exact),
        5 => cmd(&["INCR", k], Exact),
        6 => cmd(&["INCRBY", k, i], Exact),
        7 => cmd(&["DECRBY", k, i], Exact),
        8 => cmd(
            &["INCRBYFLOAT", k, rng.pick(&["0.1", "-1.5", "3", "1e2"])],
            Exact,
        ),
        9 => cmd(&["GETRANGE", k, r1, r2], Exact),
        10 => cmd(&["SETRANGE", k, rng.pick(&["0", "1", "5"]), v], Exact),
        11 => cmd(&["STRLEN", k], Exact),
        12 => cmd(&["MSET", k, v, k2, rng.pick(VALUES)], Exact),
        13 => cmd(&["MGET", k, k2, "nokey"], Exact),
        14 => cmd(&["GETDEL", k], Exact),
        15 => cmd(&["SETNX", k, v], Exact),
        16 => cmd(&["GETEX", k, rng.pick(&["PERSIST", "EX"]), "100"], Exact),
        17 => cmd(&["MSETNX", k, v, k2, v], Exact),
        // keys
        18 => cmd(&["DEL", k, k2], Exact),
        19 => cmd(&["EXISTS", k, k2, k], Exact),
        20 => cmd(&["TYPE", k], Exact),
        21 => cmd(&["EXPIRE", k, rng.pick(&["100", "1000", "-1"])], Exact),
        22 => cmd(&["TTL", k], Clock),
        23 => cmd(&["PERSIST", k], Exact),
        24 => cmd(&["RENAME", k, k2], Exact),
        25 => cmd(&["RENAMENX", k, k2], Exact),
        26 => cmd(&["COPY", k, k2, "REPLACE"], Exact),
        // A fresh large TTL: never equal to one set earlier, so which of two servers' clocks
        // moved on by a millisecond between two EXPIREs cannot decide GT/LT.
        27 => {
            let secs = (2000 + rng.below(1_000_000)).to_string();
            cmd(
                &["EXPIRE", k, &secs, rng.pick(&["NX", "XX", "GT", "LT"])],
                Exact,
            )
        }
        28 => cmd(&["UNLINK", k], Exact),
        // lists
        29 => cmd(&["LPUSH", k, v, rng.pick(VALUES)], Exact),
        30 => cmd(&["RPUSH", k, v], Exact),
        31 => cmd(&["LPOP", k], Exact),
        32 => cmd(&["RPOP", k, rng.pick(&["1", "2", "0"])], Exact),
        33 => cmd(&["LRANGE", k, r1, r2], Exact),
        34 => cmd(&["LINDEX", k, r1], Exact),
        35 => cmd(&["LSET", k, r1, v], Exact),
        36 => cmd(&["LREM", k, rng.pick(&["0", "1", "-1", "2"]), v], Exact),
        37 => cmd(&["LTRIM", k, r1, r2], Exact),
        38 => cmd(
            &[
                "LINSERT",
                k,
                rng.pick(&["BEFORE", "AFTER"]),
                v,
                rng.pick(VALUES),
            ],
            Exact,
        ),
        39 => cmd(&["LLEN", k], Exact),
        40 => cmd(&["LPOS", k, v, "RANK", rng.pick(&["1", "-1", "2"])], Exact),
        41 => cmd(
            &[
                "LMOVE",
                k,
                k2,
                rng.pick(&["LEFT", "RIGHT"]),
                rng.pick(&["LEFT", "RIGHT"]),
            ],
            Exact,
        ),
        42 => cmd(&["BLPOP", k, k2, "0.01"], Exact),
        43 => cmd(&["LPUSHX", k, v], Exact),
        44 => cmd(
            &[
                "LMPOP",
                "2",
                k,
                k2,
                rng.pick(&["LEFT", "RIGHT"]),
                "COUNT",
                "2",
            ],
            Exact,
        ),
        // hashes
        45 => cmd(&["HSET", k, rng.pick(&["f", "g", "h"]), v], Exact),
        46 => cmd(&["HGET", k, rng.pick(&["f", "g"])], Exact),
        47 => cmd(&["HDEL", k, "f", "g"], Exact),
        48 => cmd(&["HGETALL", k], UnorderedPairs),
        49 => cmd(&["HINCRBY", k, rng.pick(&["f", "n"]), i], Exact),
        50 => cmd(
            &["HINCRBYFLOAT", k, "n", rng.pick(&["0.1", "-2", "1e2"])],
            Exact,
        ),
        51 => cmd(&["HLEN", k], Exact),
        52 => cmd(&["HEXISTS", k, "f"], Exact),
        53 => cmd(&["HKEYS", k], Unordered),
        54 => cmd(&["HVALS", k], Unordered),
        55 => cmd(&["HSTRLEN", k, "f"], Exact),
        56 => cmd(&["HSETNX", k, "g", v], Exact),
        57 => cmd(&["HMGET", k, "f", "g", "zz"], Exact),
        // sets
        58 => cmd(&["SADD", k, v, rng.pick(VALUES)], Exact),
        59 => cmd(&["SREM", k, v], Exact),
        60 => cmd(&["SMEMBERS", k], Unordered),
        61 => cmd(&["SISMEMBER", k, v], Exact),
        62 => cmd(&["SCARD", k], Exact),
        63 => cmd(
            &[rng.pick(&["SINTER", "SUNION", "SDIFF"]), k, k2],
            Unordered,
        ),
        64 => cmd(&["SMOVE", k, k2, v], Exact),
        65 => cmd(
            &[
                rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
                k,
                k2,
                k,
            ],
            Exact,
        ),
        66 => cmd(&["SMISMEMBER", k, v, "a"], Exact),
        67 => cmd(&["SINTERCARD", "2", k, k2], Exact),
        // sorted sets
        68 => cmd(&["ZADD", k, rng.pick(SCORES), v], Exact),
        69 => cmd(
            &[
                "ZADD",
                k,
                rng.pick(&["NX", "XX", "GT", "LT", "CH"]),
                rng.pick(SCORES),
                v,
            ],
            Exact,
        ),
        70 => cmd(&["ZREM", k, v], Exact),
        71 => cmd(&["ZSCORE", k, v], Exact),
        72 => cmd(&["ZINCRBY", k, rng.pick(SCORES), v], Exact),
        73 => cmd(&["ZRANGE", k, r1, r2, "WITHSCORES"], Exact),
        74 => cmd(
            &[
                "ZRANGEBYSCORE",
                k,
                rng.pick(SCORE_BOUNDS),
                rng.pick(SCORE_BOUNDS),
            ],
            Exact,
        ),
        75 => cmd(&["ZREVRANGE", k, r1, r2], Exact),
        76 => cmd(&["ZRANK", k, v], Exact),
        77 => cmd(&["ZCARD", k], Exact),
        78 => cmd(
            &["ZCOUNT", k, rng.pick(SCORE_BOUNDS), rng.pick(SCORE_BOUNDS)],
            Exact,
        ),
        79 => cmd(
            &["ZLEXCOUNT", k, rng.pick(LEX_BOUNDS), rng.pick(LEX_BOUNDS)],
            Exact,
        ),
        80 => cmd(
            &[rng.pick(&["ZPOPMIN", "ZPOPMAX"]), k, rng.pick(&["1", "2"])],
            Exact,
        ),
        81 => cmd(
            &[
                rng.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
                k,
                "2",
                k,
                k2,
            ],
            Exact,
        ),
        82 => cmd(
            &[
                "ZRANGE",
                k,
                rng.pick(SCORE_BOUNDS),
                rng.pick(SCORE_BOUNDS),
                "BYSCORE",
                "LIMIT",
                "0",
                "2",
            ],
            Exact,
        ),
        83 => cmd(
            &["ZRANGEBYLEX", k, rng.pick(LEX_BOUNDS), rng.pick(LEX_BOUNDS)],
            Exact,
        ),
        84 => cmd(&["ZMSCORE", k, v, "a"], Exact),
        85 => cmd(&["BZPOPMIN", k, "0.01"], Exact),
        // bitmaps and HyperLogLog
        86 => cmd(
            &[
                "SETBIT",
                k,
                rng.pick(&["0", "7", "100"]),
                rng.pick(&["0", "1"]),
            ],
            Exact,
        ),
        87 => cmd(&["GETBIT", k, rng.pick(&["0", "7", "100"])], Exact),
        88 => cmd(&["BITCOUNT", k, r1, r2], Exact),
        89 => cmd(&["BITPOS", k, rng.pick(&["0", "1"])], Exact),
        90 => cmd(&["BITOP", rng.pick(&["AND", "OR", "XOR"]), k, k, k2], Exact),
        91 => cmd(&["PFADD", k, v, rng.pick(VALUES)], Exact),
        92 => cmd(&["PFCOUNT", k], Exact),
        // generic
        93 => cmd(&["DBSIZE"], Exact),
        94 => cmd(&["TOUCH", k, k2], Exact),
        // streams: explicit ids (a `*` id is the clock's, different on each server)
        96 => cmd(&["XADD", k, rng.pick(STREAM_IDS), "f", v], Exact),
        97 => cmd(
            &[
                "XADD",
                k,
                "MAXLEN",
                rng.pick(&["0", "1", "3"]),
                rng.pick(STREAM_IDS),
                "f",
                v,
            ],
            Exact,
        ),
        98 => cmd(&["XLEN", k], Exact),
        99 => cmd(
            &[
                rng.pick(&["XRANGE", "XREVRANGE"]),
                k,
                rng.pick(&["-", "+", "1-1", "(1-1", "2"]),
                rng.pick(&["+", "-", "5", "(5-0", "10-1"]),
                "COUNT",
                rng.pick(&["1", "2", "10"]),
            ],
            Exact,
        ),
        100 => cmd(&["XDEL", k, rng.pick(STREAM_IDS), "2-0"], Exact),
        101 => cmd(
            &[
                "XTRIM",
                k,
                rng.pick(&["MAXLEN", "MINID"]),
                rng.pick(&["0", "1", "2", "3-0"]),
            ],
            Exact,
        ),
        102 => cmd(
            &[
                "XGROUP",
                "CREATE",
                k,
                rng.pick(&["g", "h"]),
                rng.pick(&["0", "$", "1-1"]),
                "MKSTREAM",
            ],
            Exact,
        ),
        103 => cmd(
            &[
                "XREADGROUP",
                "GROUP",
                rng.pick(&["g", "h"]),
                rng.pick(&["c1", "c2"]),
                "COUNT",
                rng.pick(&["1", "2"]),
                "STREAMS",
                k,
                rng.pick(&[">", "0"]),
            ],
            Exact,
        ),
        104 => cmd(
            &["XACK", k, rng.pick(&["g", "h"]), rng.pick(STREAM_IDS)],
            Exact,
        ),
        105 => cmd(&["XPENDING", k, rng.pick(&["g", "h"])], Exact),
        106 => cmd(
            &[
                "XAUTOCLAIM",
                k,
                rng.pick(&["g", "h"]),
                "c3",
                "0",
                "0-0",
                "COUNT",
                "2",
                "JUSTID",
            ],
            Exact,
        ),
        107 => cmd(
            &["XREAD", "COUNT", "2", "STREAMS", k, rng.pick(&["0", "1-1"])],
            Exact,
        ),
        108 => cmd(
            &[
                "XGROUP",
                rng.pick(&["SETID", "DESTROY"]),
                k,
                rng.pick(&["g", "h"]),
                "0",
            ],
            Exact,
        ),
        // scripts: the same Lua and the same errors, as redis.call and pcall report them
        109 => cmd(&["EVAL", rng.pick(SCRIPTS), "1", k, v], Exact),
        110 => cmd(&["EVAL", rng.pick(SCRIPTS), "2", k, k2, v], Exact),
        111 => cmd(&["EVAL_RO", rng.pick(SCRIPTS), "1", k, v], Exact),
        _ => cmd(&["ECHO", v], Exact),
    }
}

/// Stream ids the stream commands draw from, some of them partial (`ms-*`).
const STREAM_IDS: &[&str] = &["1-1", "1-2", "2-0", "2-*", "3-5", "5-*", "10-1", "0-1"];

/// Scripts whose replies do not depend on table iteration order or the clock.
const SCRIPTS: &[&str] = &[
    "return redis.call('incr', KEYS[1])",
    "return redis.call('get', KEYS[1])",
    "return redis.pcall('lpush', KEYS[1], ARGV[1] or 'x')",
    "return redis.call('lpush', KEYS[1], 'a')",
    "redis.call('set', KEYS[1], ARGV[1] or 'y'); return redis.call('strlen', KEYS[1])",
    "return {KEYS[1], tonumber(ARGV[1] or '') or false, 1.5, true}",
    "return redis.sha1hex(ARGV[1] or '')",
    "return cjson.encode(cjson.decode('[1,2,\"a\",[3]]'))",
    "return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))",
    "return redis.status_reply('FINE')",
    "return redis.error_reply('MYERR ' .. (ARGV[1] or ''))",
    "return struct.unpack('>i2', struct.pack('>i2', 513))",
    "local t = redis.call('zrange', KEYS[1], 0, -1) return #t",
    "return redis.call('xadd', KEYS[1], '7-*', 'f', 'v')",
    "return bit.band(tonumber(ARGV[1] or '') or 7, 3)",
];
