//! Configuration: redis.conf-style files, `--option value` arguments, and the registry behind
//! CONFIG GET/SET/REWRITE.
//!
//! Every parameter is declared once in [`PARAMS`] with its default, its kind (which validates
//! and normalizes values) and whether it can change at runtime. Values are stored normalized
//! as strings (what CONFIG GET shows); [`Settings`] is the typed snapshot the server reads on
//! its hot paths, rebuilt whenever a value changes.

use crate::util::parse_memory;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Bool,
    Int(i64, i64),
    Memory,
    Enum(&'static [&'static str]),
    Str,
    /// A memory size or a percentage (`maxmemory-clients 10%`, of maxmemory).
    MemoryOrPercent,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups; a CONFIG SET
    /// naming some classes keeps the others, as in Redis.
    OutputLimits,
    /// A space-separated list of percentiles, each 0 to 100 (`latency-tracking-info-percentiles`).
    Percentiles,
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub default: &'static str,
    pub kind: Kind,
    pub mutable: bool,
}

/// Parameters Redis hides from `CONFIG GET` patterns (and so from `CONFIG REWRITE`'s full
/// listing): knobs for its own tests, readable only by their exact name.
const HIDDEN: &[&str] = &["rdb-key-save-delay", "key-load-delay"];

const fn p(name: &'static str, default: &'static str, kind: Kind, mutable: bool) -> Param {
    Param {
        name,
        alias: None,
        default,
        kind,
        mutable,
    }
}

const fn pa(
    name: &'static str,
    alias: &'static str,
    default: &'static str,
    kind: Kind,
    mutable: bool,
) -> Param {
    Param {
        name,
        alias: Some(alias),
        default,
        kind,
        mutable,
    }
}

const I64MAX: i64 = i64::MAX;
const YESNO: Kind = Kind::Bool;
/// In Redis's order, which its CONFIG SET error lists them in.
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every parameter the server knows. Parameters that exist for compatibility (Redis users
/// pass them routinely) but change nothing yet are marked in their comment.
pub static PARAMS: &[Param] = &[
    p("port", "6379", Kind::Int(0, 65535), false),
    p("bind", "127.0.0.1 -::1", Kind::Str, false),
    p("protected-mode", "yes", YESNO, true),
    p("bind-source-addr", "", Kind::Str, true),
    p("dir", ".", Kind::Str, true),
    p("databases", "16", Kind::Int(1, 1 << 20), false),
    p("requirepass", "", Kind::Str, true),
    // ACL: the users file (ACL LOAD / SAVE), the log's length, new users' channels.
    p("aclfile", "", Kind::Str, false),
    p("acllog-max-len", "128", Kind::Int(0, I64MAX), true),
    p(
        "acl-pubsub-default",
        "resetchannels",
        Kind::Enum(&["allchannels", "resetchannels"]),
        true,
    ),
    p("maxclients", "10000", Kind::Int(1, 1 << 20), true),
    p("proto-max-bulk-len", "536870912", Kind::Memory, true),
    p(
        "client-query-buffer-limit",
        "1073741824",
        Kind::Memory,
        true,
    ),
    p("timeout", "0", Kind::Int(0, I64MAX), true),
    p("tcp-keepalive", "300", Kind::Int(0, I64MAX), true),
    p("tcp-backlog", "511", Kind::Int(0, I64MAX), false),
    p(
        "loglevel",
        "notice",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        true,
    ),
    p("logfile", "", Kind::Str, false),
    p("hz", "10", Kind::Int(1, 500), true),
    p(
        "enable-debug-command",
        "no",
        Kind::Enum(&["no", "yes", "local"]),
        false,
    ),
    p("maxmemory", "0", Kind::Memory, true),
    p("maxmemory-clients", "0", Kind::MemoryOrPercent, true),
    p(
        "tracking-table-max-keys",
        "1000000",
        Kind::Int(0, i64::MAX),
        true,
    ),
    p("maxmemory-policy", "noeviction", Kind::Enum(POLICIES), true),
    p("maxmemory-samples", "5", Kind::Int(1, 64), true),
    p("maxmemory-eviction-tenacity", "10", Kind::Int(0, 100), true),
    p("lfu-log-factor", "10", Kind::Int(0, I64MAX), true),
    p("lfu-decay-time", "1", Kind::Int(0, I64MAX), true),
    p("active-expire-effort", "1", Kind::Int(1, 10), true),
    p("notify-keyspace-events", "", Kind::Str, true),
    p("cluster-enabled", "no", YESNO, false),
    // Valkey 9's option: how many databases SELECT reaches in cluster mode (1 = only
    // database 0, with Redis Cluster's errors for SELECT, MOVE and COPY ... DB).
    p("cluster-databases", "1", Kind::Int(1, 1 << 20), false),
    p("cluster-config-file", "nodes.conf", Kind::Str, false),
    p("cluster-node-timeout", "700", Kind::Int(10, I64MAX), true),
    p("cluster-port", "0", Kind::Int(0, 65535), false),
    p("cluster-announce-ip", "", Kind::Str, true),
    p("cluster-announce-port", "0", Kind::Int(0, 65535), true),
    p("cluster-announce-bus-port", "0", Kind::Int(0, 65535), true),
    // Accepted so redis.conf files that set it load: with `tls-cluster yes` the node
    // announces its TLS port as its client port (as Redis does), so this changes nothing.
    p("cluster-announce-tls-port", "0", Kind::Int(0, 65535), true),
    // The bus's shared secret (see cluster/bus_auth.rs): every frame carries an HMAC made
    // with it; `cluster-secret-previous` is also accepted, for rotating without downtime.
    p("cluster-secret", "", Kind::Str, true),
    p("cluster-secret-previous", "", Kind::Str, true),
    p("cluster-announce-hostname", "", Kind::Str, true),
    p(
        "cluster-preferred-endpoint-type",
        "ip",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        true,
    ),
    p("cluster-require-full-coverage", "yes", YESNO, true),
    p("cluster-allow-reads-when-down", "no", YESNO, true),
    p("cluster-allow-pubsubshard-when-down", "yes", YESNO, true),
    pa(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        "10",
        Kind::Int(0, I64MAX),
        true,
    ),
    pa(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        "no",
        YESNO,
        true,
    ),
    p("cluster-migration-barrier", "1", Kind::Int(0, I64MAX), true),
    p(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::OutputLimits,
        true,
    ),
    p("repl-backlog-size", "1048576", Kind::Memory, true),
    p("repl-backlog-ttl", "3600", Kind::Int(0, I64MAX), true),
    p("repl-timeout", "60", Kind::Int(1, I64MAX), true),
    pa(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        "10",
        Kind::Int(1, I64MAX),
        true,
    ),
    pa("replica-read-only", "slave-read-only", "yes", YESNO, true),
    pa(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        "yes",
        YESNO,
        true,
    ),
    pa("replicaof", "slaveof", "", Kind::Str, false),
    p("masterauth", "", Kind::Str, true),
    p("masteruser", "", Kind::Str, true),
    pa(
        "min-replicas-to-write",
        "min-slaves-to-write",
        "0",
        Kind::Int(0, I64MAX),
        true,
    ),
    pa(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        "10",
        Kind::Int(0, I64MAX),
        true,
    ),
    // Redis's built-in default is 512 (its example redis.conf says 128).
    pa(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "512",
        Kind::Int(0, I64MAX),
        true,
    ),
    pa(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        "64",
        Kind::Int(0, I64MAX),
        true,
    ),
    pa(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        "-2",
        Kind::Int(-5, I64MAX),
        true,
    ),
    // How many nodes at each end of a quicklist Redis leaves uncompressed (0 = none
    // compressed). List nodes here are packed but never compressed, so this is kept for
    // CONFIG GET/SET compatibility and changes no reply.
    p(
        "list-compress-depth",
        "0",
        Kind::Int(0, i32::MAX as i64),
        true,
    ),
    p("set-max-intset-entries", "512", Kind::Int(0, I64MAX), true),
    // Redis 7.0, the reference, has no listpack sets (non-integer sets are hashtables): 0
    // keeps that. Redis 7.2's default of 128 brings its compact small sets back.
    p("set-max-listpack-entries", "0", Kind::Int(0, I64MAX), true),
    pa(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        "128",
        Kind::Int(0, I64MAX),
        true,
    ),
    pa(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        "64",
        Kind::Int(0, I64MAX),
        true,
    ),
    // A stream's entries are packed in blocks of at most this many bytes / entries (0: no
    // limit), as Redis's listpacks under its radix tree.
    p("stream-node-max-bytes", "4096", Kind::Memory, true),
    p("stream-node-max-entries", "100", Kind::Int(0, I64MAX), true),
    // Past this size a sparse HyperLogLog is converted to the dense encoding.
    p("hll-sparse-max-bytes", "3000", Kind::Memory, true),
    p("shutdown-timeout", "10", Kind::Int(0, I64MAX), true),
    // slotcache's own: the bytes each Lua VM (EVAL's, FUNCTION's) may hold (0: no limit).
    // Redis has no such limit; a script that reaches it fails with "not enough memory".
    p("lua-memory-limit", "0", Kind::Memory, true),
    pa(
        "busy-reply-threshold",
        "lua-time-limit",
        "5000",
        Kind::Int(0, I64MAX),
        true,
    ),
    p(
        "slowlog-log-slower-than",
        "10000",
        Kind::Int(-1, I64MAX),
        true,
    ),
    p("slowlog-max-len", "128", Kind::Int(0, I64MAX), true),
    // Snapshots (see `crate::persistence`). No save points by default: a cache that was
    // never asked to persist does not start writing dump.rdb (Redis's default would).
    p("save", "", Kind::Str, true),
    // The append-only file (see `crate::aof`), with Redis 7.0's names and defaults.
    p("appendonly", "no", YESNO, true),
    p(
        "appendfsync",
        "everysec",
        Kind::Enum(&["always", "everysec", "no"]),
        true,
    ),
    p("appendfilename", "appendonly.aof", Kind::Str, false),
    p("appenddirname", "appendonlydir", Kind::Str, false),
    p("aof-use-rdb-preamble", "yes", YESNO, true),
    p("aof-load-truncated", "yes", YESNO, true),
    p(
        "auto-aof-rewrite-percentage",
        "100",
        Kind::Int(0, I64MAX),
        true,
    ),
    p("auto-aof-rewrite-min-size", "67108864", Kind::Memory, true),
    // Keeps HISTORY files after a rewrite (a Redis test knob).
    p("aof-disable-auto-gc", "no", YESNO, true),
    // Microseconds a background save or AOF rewrite waits after each key (a Redis test
    // knob that makes the background jobs slow enough to observe).
    p("rdb-key-save-delay", "0", Kind::Int(i64::MIN, I64MAX), true),
    // Microseconds loading an RDB waits after each key (a Redis test knob, for observing a
    // load in progress); a negative -N waits 1 microsecond once every N keys.
    p("key-load-delay", "0", Kind::Int(i64::MIN, I64MAX), true),
    // Accepted for redis.conf compatibility: the rewrite writes through a buffered file
    // synced once at its end, and no timestamp annotations are written.
    p("aof-rewrite-incremental-fsync", "yes", YESNO, true),
    p("aof-timestamp-enabled", "no", YESNO, true),
    p("dbfilename", "dump.rdb", Kind::Str, true),
    p("daemonize", "no", YESNO, false),
    p(
        "supervised",
        "no",
        Kind::Enum(&["no", "upstart", "systemd", "auto"]),
        false,
    ),
    p("pidfile", "", Kind::Str, false),
    p("always-show-logo", "no", YESNO, false),
    // Accepted so the Redis test suite's own config files (tests/assets/default.conf) load;
    // they change nothing here: there is no incremental rehashing
    // to switch off, no module command, no unix socket is opened, and replication sends
    // its snapshot at once.
    p("repl-diskless-sync-delay", "5", Kind::Int(0, I64MAX), true),
    p("no-appendfsync-on-rewrite", "no", YESNO, true),
    p("activerehashing", "yes", YESNO, true),
    p(
        "enable-protected-configs",
        "no",
        Kind::Enum(&["no", "yes", "local"]),
        false,
    ),
    p(
        "enable-module-command",
        "no",
        Kind::Enum(&["no", "yes", "local"]),
        false,
    ),
    p(
        "propagation-error-behavior",
        "ignore",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        true,
    ),
    p("unixsocket", "", Kind::Str, false),
    p("stop-writes-on-bgsave-error", "yes", YESNO, true),
    p("rdbcompression", "yes", YESNO, true),
    p("rdbchecksum", "yes", YESNO, true),
    p("lazyfree-lazy-user-flush", "no", YESNO, true),
    p("lazyfree-lazy-user-del", "no", YESNO, true),
    p("lazyfree-lazy-eviction", "no", YESNO, true),
    p("lazyfree-lazy-expire", "no", YESNO, true),
    p("io-threads", "0", Kind::Int(0, 128), false),
    p("idle-spin-us", "10", Kind::Int(0, 100), true),
    // slotcache's own: the Prometheus scrape endpoint (0 = none), and where it listens.
    p("metrics-port", "0", Kind::Int(0, 65535), false),
    p("metrics-bind", "127.0.0.1", Kind::Str, false),
    p("latency-tracking", "yes", YESNO, true),
    p(
        "latency-tracking-info-percentiles",
        "50 99 99.9",
        Kind::Percentiles,
        true,
    ),
    p("latency-monitor-threshold", "0", Kind::Int(0, I64MAX), true),
    p("activedefrag", "no", YESNO, true),
    // TLS (see tls/mod.rs and the README's TLS section). Certificates, CAs and the
    // protocol/cipher choices can be changed at runtime: CONFIG SET loads them first and
    // keeps the old ones if they fail.
    p("tls-port", "0", Kind::Int(0, 65535), false),
    p("tls-cert-file", "", Kind::Str, true),
    p("tls-key-file", "", Kind::Str, true),
    p("tls-key-file-pass", "", Kind::Str, true),
    p("tls-client-cert-file", "", Kind::Str, true),
    p("tls-client-key-file", "", Kind::Str, true),
    p("tls-client-key-file-pass", "", Kind::Str, true),
    p("tls-ca-cert-file", "", Kind::Str, true),
    p("tls-ca-cert-dir", "", Kind::Str, true),
    p(
        "tls-auth-clients",
        "yes",
        Kind::Enum(&["no", "yes", "optional"]),
        true,
    ),
    p("tls-protocols", "", Kind::Str, true),
    p("tls-ciphersuites", "", Kind::Str, true),
    p("tls-ciphers", "", Kind::Str, true),
    p("tls-prefer-server-ciphers", "no", YESNO, true),
    p("tls-session-caching", "yes", YESNO, true),
    p(
        "tls-session-cache-size",
        "20480",
        Kind::Int(1, 1 << 30),
        true,
    ),
    p(
        "tls-session-cache-timeout",
        "300",
        Kind::Int(0, I64MAX),
        true,
    ),
    p("tls-replication", "no", YESNO, true),
    p("tls-cluster", "no", YESNO, false),
    // Finite-field DH parameters: rustls negotiates ECDHE (and TLS 1.3 groups) only, so
    // there is nothing to use them for; accepted so Redis 6 configurations load, and a
    // warning is logged when set (README, TLS).
    p("tls-dh-params-file", "", Kind::Str, true),
];

/// Finds a parameter by its name or alias (case-insensitive).
pub fn param(name: &str) -> Option<&'static Param> {
    let name = name.to_ascii_lowercase();
    PARAMS
        .iter()
        .find(|p| p.name == name || p.alias == Some(name.as_str()))
}

/// Checks and normalizes a value for a parameter; the error says why, in Redis's words.
pub fn normalize(p: &Param, value: &str) -> Result<String, String> {
    match p.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(min, max) => {
            let v: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
        Kind::Memory => parse_memory(value)
            .map(|v| v.to_string())
            .ok_or_else(|| "argument must be a memory value".to_string()),
        Kind::Percentiles => parse_percentiles(value)
            .map(|v| {
                v.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .ok_or_else(|| {
                "latency-tracking-info-percentiles must be a list of numbers between 0 and 100"
                    .to_string()
            }),
        Kind::Enum(opts) => {
            let v = value.to_ascii_lowercase();
            if opts.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &opts.join(", "))
            }
        }
        Kind::Str if p.name == "save" => parse_save(value)
            .map(|rules| {
                rules
                    .iter()
                    .map(|(s, c)| format!("{s} {c}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .ok_or_else(|| "Invalid save parameters".to_string()),
        Kind::Str if p.name == "dbfilename" && value.contains('/') => {
            Err("dbfilename can't be a path, just a filename".into())
        }
        Kind::Str if p.name == "appendfilename" && (value.contains('/') || value.is_empty()) => {
            Err("appendfilename can't be a path, just a filename".into())
        }
        Kind::Str if p.name == "appenddirname" && (value.contains('/') || value.is_empty()) => {
            Err("appenddirname can't be a path, just a dirname".into())
        }
        Kind::Str if p.name == "notify-keyspace-events" => {
            crate::keyspace_events::Flags::canonical(value)
        }
        Kind::Str if p.name == "cluster-announce-hostname" => {
            slotcache_cluster_state::announce::check_hostname(value)?;
            Ok(value.to_string())
        }
        // It goes into every bus header and nodes.conf line: separators would forge fields.
        Kind::Str if p.name == "cluster-announce-ip" => {
            if slotcache_cluster_state::message::valid_addr(value) {
                Ok(value.to_string())
            } else {
                Err("Invalid IP address".to_string())
            }
        }
        Kind::Str => Ok(value.to_string()),
        // Redis parses the number first and checks its bound after, each with its own message.
        Kind::MemoryOrPercent => match value.trim().strip_suffix('%') {
            Some(pct) => match pct.parse::<u64>() {
                Ok(v) if v <= 100 => Ok(format!("{v}%")),
                Ok(_) => Err("percentage argument must be less or equal to 100".to_string()),
                Err(_) => Err("argument must be a memory or percent value".to_string()),
            },
            None => parse_memory(value)
                .map(|v| v.to_string())
                .ok_or_else(|| "argument must be a memory or percent value".to_string()),
        },
        Kind::OutputLimits => merge_output_limits(p.default, value),
    }
}

/// `save <seconds> <changes> [<seconds> <changes> ...]` (empty: no save points), as Redis
/// reads it.
pub fn parse_save(value: &str) -> Option<Vec<(u64, u64)>> {
    let w: Vec<&str> = value.split_whitespace().collect();
    if w.len() == 1 && w[0] == "\"\"" {
        return Some(Vec::new());
    }
    if !w.len().is_multiple_of(2) {
        return None;
    }
    w.chunks(2)
        .map(|c| Some((c[0].parse::<u64>().ok()?, c[1].parse::<u64>().ok()?)))
        .collect()
}

/// Checks `<class> <hard> <soft> <seconds> ...` and merges it over `base` (classes not named
/// keep their limits). Classes: normal, replica (alias slave), pubsub.
pub fn merge_output_limits(base: &str, value: &str) -> Result<String, String> {
    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
    let mut cur: Vec<[String; 3]> = CLASSES
        .iter()
        .map(|c| {
            let w: Vec<&str> = base.split_whitespace().collect();
            let g = w
                .chunks(4)
                .find(|g| g.len() == 4 && (g[0] == *c || (*c == "slave" && g[0] == "replica")));
            match g {
                Some(g) => [g[1].to_string(), g[2].to_string(), g[3].to_string()],
                None => ["0".into(), "0".into(), "0".into()],
            }
        })
        .collect();
    let w: Vec<&str> = value.split_whitespace().collect();
    if !w.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    for g in w.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(g[1]);
        let soft = parse_memory(g[2]);
        let secs = g[3].parse::<u64>().ok();
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        cur[class] = [hard.to_string(), soft.to_string(), secs.to_string()];
    }
    Ok(CLASSES
        .iter()
        .zip(cur)
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// How `enable-debug-command` gates DEBUG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugGate {
    No,
    Yes,
    Local,
}

/// The typed view of the configuration that the server reads on hot paths.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub protected_mode: bool,
    pub dir: PathBuf,
    pub databases: usize,
    pub requirepass: Option<String>,
    /// `aclfile`: where ACL LOAD / SAVE read and write users.
    pub aclfile: Option<PathBuf>,
    pub acllog_max_len: usize,
    /// `acl-pubsub-default allchannels`: new users may use every channel.
    pub acl_pubsub_all: bool,
    pub maxclients: usize,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub timeout_secs: u64,
    pub hz: u64,
    pub debug: DebugGate,
    pub cluster_enabled: bool,
    /// `cluster-databases`: the databases a client may select in cluster mode.
    pub cluster_databases: usize,
    pub loglevel: String,
    pub logfile: String,
    pub maxmemory: u64,
    /// `maxmemory-clients` resolved to bytes (a percentage applies to maxmemory); 0 = off.
    pub maxmemory_clients: u64,
    /// `client-output-buffer-limit normal ...`: replies a client leaves unread.
    pub normal_obuf: crate::pubsub::Limits,
    /// `client-output-buffer-limit pubsub ...`: pushed messages a client leaves unread.
    pub pubsub_obuf: crate::pubsub::Limits,
    /// `tracking-table-max-keys` (0: no limit).
    pub tracking_table_max_keys: usize,
    /// `lua-memory-limit`: bytes each Lua VM may hold (0: no limit).
    pub lua_memory_limit: usize,
    /// `tcp-keepalive` seconds (0 = off): probes that find dead peers and keep NATs open.
    pub tcp_keepalive_secs: u64,
    pub maxmemory_policy: String,
    /// `maxmemory_policy` parsed once here: every command reads it (LRU or LFU touch).
    pub eviction_policy: EvictionPolicy,
    pub maxmemory_samples: usize,
    pub maxmemory_eviction_tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
    pub cluster_config_file: String,
    pub cluster_node_timeout: u64,
    pub cluster_port: u16,
    pub cluster_announce_ip: String,
    pub cluster_announce_port: u16,
    pub cluster_announce_bus_port: u16,
    pub cluster_announce_hostname: String,
    /// `cluster-preferred-endpoint-type`.
    pub cluster_preferred_endpoint: slotcache_cluster_state::announce::Endpoint,
    pub cluster_require_full_coverage: bool,
    pub cluster_allow_reads_when_down: bool,
    /// Sharded pub/sub keeps working while the cluster is down (Redis 7.0's default).
    pub cluster_allow_pubsubshard_when_down: bool,
    pub cluster_replica_no_failover: bool,
    pub cluster_replica_validity_factor: u64,
    pub cluster_migration_barrier: usize,
    /// Compact-encoding thresholds (Redis's names and meanings).
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `stream-node-max-bytes` / `stream-node-max-entries`: when a stream starts a new block.
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    /// `hll-sparse-max-bytes`: the largest sparse HyperLogLog before it turns dense.
    pub hll_sparse_max_bytes: usize,
    pub notify_keyspace_events: String,
    /// `notify_keyspace_events` parsed once here, for the commands that notify.
    pub notify_flags: crate::keyspace_events::Flags,
    pub repl_timeout_secs: u64,
    pub repl_ping_period_secs: u64,
    pub repl_backlog_size: usize,
    /// `replicaof <host> <port>` in the config file or on the command line: start as a
    /// replica (standalone mode).
    pub replicaof: Option<(String, u16)>,
    pub masterauth: String,
    pub masteruser: String,
    /// `io-threads`: threads serving clients; 0 means one per core but one (at least one).
    pub io_threads: usize,
    /// `idle-spin-us`: how long a serving thread spins before sleeping while busy (see
    /// [`crate::idle_spin`]); 0 turns it off.
    pub idle_spin_us: u32,
    /// `metrics-port`: the HTTP port Prometheus scrapes (`GET /metrics`); 0 serves none, so
    /// nothing listens beyond what redis-server would unless asked.
    pub metrics_port: u16,
    /// `metrics-bind`: the address the metrics port binds (loopback unless told).
    pub metrics_bind: String,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub min_replicas_to_write: usize,
    pub min_replicas_max_lag: u64,
    /// Hard output-buffer limit of replica links (`client-output-buffer-limit replica ...`).
    pub replica_obuf_hard: usize,
    pub shutdown_timeout_secs: u64,
    /// Source address for outgoing bus and replication connections (empty: the kernel's
    /// choice), so per-node addresses and partitions behave as on separate hosts.
    pub bind_source_addr: String,
    /// `slowlog-log-slower-than` µs (negative: the slow log is off).
    /// `busy-reply-threshold` (`lua-time-limit`): after this long a running script makes
    /// other clients' commands answer BUSY.
    pub busy_reply_threshold_ms: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold` ms (0: the latency monitor is off).
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency histograms (INFO latencystats).
    pub latency_tracking: bool,
    pub latency_tracking_percentiles: Vec<f64>,
    /// Append-only file settings (`crate::aof`).
    pub appendonly: bool,
    pub appendfsync: String,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_use_rdb_preamble: bool,
    pub aof_load_truncated: bool,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    pub aof_disable_auto_gc: bool,
    pub rdb_key_save_delay_us: u64,
    /// `key-load-delay` as set (see its parameter).
    pub key_load_delay: i64,
    /// Snapshot settings (`crate::persistence`).
    pub dbfilename: String,
    pub save_rules: Vec<(u64, u64)>,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub stop_writes_on_bgsave_error: bool,
    /// The `tls-*` parameters.
    pub tls: crate::tls::TlsConfig,
    /// `cluster-secret` and `cluster-secret-previous` (empty: none).
    pub cluster_secret: String,
    pub cluster_secret_previous: String,
}

impl Settings {
    /// The databases a client may SELECT (or name in MOVE, COPY ... DB, MIGRATE's target):
    /// `cluster-databases` in cluster mode, where every database spans the same 16384 slots.
    pub fn selectable_dbs(&self) -> usize {
        if self.cluster_enabled {
            self.cluster_databases
        } else {
            self.databases
        }
    }

    /// How many databases the keyspace holds: at least `databases` in cluster mode too, so a
    /// snapshot that names a database beyond `cluster-databases` loads as it always did.
    pub fn keyspace_dbs(&self) -> usize {
        self.databases.max(self.selectable_dbs())
    }

    /// Cluster mode with database 0 only: SELECT, MOVE and COPY ... DB keep Redis Cluster's
    /// refusals.
    pub fn single_cluster_db(&self) -> bool {
        self.cluster_enabled && self.cluster_databases == 1
    }
}

/// The whole configuration: normalized values and where they came from.
#[derive(Clone, Debug)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    /// The config file's `user` lines (name, then rules), loaded into the ACL at startup.
    pub users: Vec<Vec<String>>,
    /// The file the server was started with (CONFIG REWRITE writes it back).
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: PARAMS
                .iter()
                .map(|p| (p.name, p.default.to_string()))
                .collect(),
            users: Vec::new(),
            file: None,
        }
    }
}

impl Config {
    /// Reads `slotcache-server [config-file] [--name value ...]` the way redis-server does:
    /// the file first, then the command-line options override it.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let path = PathBuf::from(first);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("Can't open config file '{}': {e}", path.display()))?;
                cfg.load_text(&text, &path.display().to_string())?;
                cfg.file = Some(std::fs::canonicalize(&path).unwrap_or(path));
                rest = &rest[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let name = rest[i]
                .strip_prefix("--")
                .ok_or_else(|| format!("Invalid argument '{}': options start with --", rest[i]))?;
            let mut vals = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                vals.push(rest[i].clone());
                i += 1;
            }
            cfg.set_directive(name, &vals)
                .map_err(|e| format!("{e} (command line option '--{name}')"))?;
        }
        Ok(cfg)
    }

    /// Loads redis.conf-style text: `name value...` per line, `#` comments, quoted values.
    pub fn load_text(&mut self, text: &str, origin: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = crate::protocol::parser::split_inline(line.as_bytes())
                .ok_or_else(|| format!("Unbalanced quotes at line {} of {origin}", n + 1))?;
            let words: Vec<String> = words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let Some((name, vals)) = words.split_first() else {
                continue;
            };
            self.set_directive(name, vals)
                .map_err(|e| format!("{e} (line {} of {origin}: '{line}')", n + 1))?;
        }
        Ok(())
    }

    fn set_directive(&mut self, name: &str, vals: &[String]) -> Result<(), String> {
        if name.eq_ignore_ascii_case("user") {
            if vals.is_empty() {
                return Err("Option 'user' needs a username".into());
            }
            self.users.push(vals.to_vec());
            return Ok(());
        }
        let p = param(name).ok_or_else(|| format!("Unknown option '{name}'"))?;
        let joined = vals.join(" ");
        if vals.is_empty() && !matches!(p.kind, Kind::Str) {
            return Err(format!("Option '{name}' needs a value"));
        }
        let v = match p.kind {
            Kind::OutputLimits => {
                merge_output_limits(self.get(p.name).unwrap_or(p.default), &joined)
            }
            _ => normalize(p, &joined),
        }
        .map_err(|e| format!("Bad value for '{name}': {e}"))?;
        self.values.insert(p.name, v);
        Ok(())
    }

    /// The current value of a parameter (normalized).
    pub fn get(&self, name: &str) -> Option<&str> {
        let p = param(name)?;
        self.values.get(p.name).map(|s| s.as_str())
    }

    /// Sets a parameter at runtime (CONFIG SET); refuses immutable ones.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let p = param(name).ok_or_else(|| {
            format!("Unknown option or number of arguments for CONFIG SET - '{name}'")
        })?;
        if !p.mutable {
            return Err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
        }
        let v = match p.kind {
            Kind::OutputLimits => merge_output_limits(self.get(p.name).unwrap_or(p.default), value),
            _ => normalize(p, value),
        }
        .map_err(|e| format!("CONFIG SET failed (possibly related to argument '{name}') - {e}"))?;
        self.values.insert(p.name, v);
        Ok(())
    }

    /// All (name, value) pairs whose name matches a glob pattern (CONFIG GET). An alias is
    /// a name of its own, as in Redis: `CONFIG GET *` lists `slaveof` and `replicaof` both.
    /// A pattern never matches a hidden parameter (Redis's test knobs), a plain name does.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let is_glob = pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        let pattern = crate::glob::Glob::new(pattern, true);
        for p in PARAMS {
            if is_glob && HIDDEN.contains(&p.name) {
                continue;
            }
            let v = self.values.get(p.name).cloned().unwrap_or_default();
            for name in std::iter::once(p.name).chain(p.alias) {
                if pattern.matches(name.as_bytes()) {
                    out.push((name, v.clone()));
                }
            }
        }
        out
    }

    fn int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn yes(&self, name: &str) -> bool {
        self.get(name) == Some("yes")
    }

    /// The typed snapshot.
    pub fn settings(&self) -> Settings {
        let s = |n: &str| self.get(n).unwrap_or("").to_string();
        Settings {
            port: self.int("port") as u16,
            bind: s("bind").split_whitespace().map(String::from).collect(),
            protected_mode: self.yes("protected-mode"),
            dir: PathBuf::from(s("dir")),
            databases: self.int("databases").max(1) as usize,
            requirepass: Some(s("requirepass")).filter(|p| !p.is_empty()),
            aclfile: Some(s("aclfile"))
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            acllog_max_len: self.int("acllog-max-len").max(0) as usize,
            acl_pubsub_all: s("acl-pubsub-default") == "allchannels",
            maxclients: self.int("maxclients").max(1) as usize,
            // No bulk (so no key) longer than an entry can hold is read, whatever the
            // file says: keys share their length word with a flag (keyspace::entry).
            proto_max_bulk_len: (self.int("proto-max-bulk-len") as u64)
                .min(crate::keyspace::entry::MAX_KEY_LEN as u64),
            client_query_buffer_limit: self.int("client-query-buffer-limit") as u64,
            timeout_secs: self.int("timeout") as u64,
            hz: self.int("hz").max(1) as u64,
            debug: match self.get("enable-debug-command") {
                Some("yes") => DebugGate::Yes,
                Some("local") => DebugGate::Local,
                _ => DebugGate::No,
            },
            cluster_enabled: self.yes("cluster-enabled"),
            cluster_databases: self.int("cluster-databases").max(1) as usize,
            loglevel: s("loglevel"),
            logfile: s("logfile"),
            maxmemory: self.int("maxmemory") as u64,
            maxmemory_clients: {
                let v = s("maxmemory-clients");
                match v.strip_suffix('%') {
                    Some(pct) => {
                        pct.parse::<u64>().unwrap_or(0) * (self.int("maxmemory").max(0) as u64)
                            / 100
                    }
                    None => v.parse().unwrap_or(0),
                }
            },
            normal_obuf: crate::pubsub::Limits::parse_class(
                &s("client-output-buffer-limit"),
                &["normal"],
            ),
            pubsub_obuf: crate::pubsub::Limits::parse(&s("client-output-buffer-limit")),
            tracking_table_max_keys: self.int("tracking-table-max-keys").max(0) as usize,
            lua_memory_limit: self.int("lua-memory-limit").max(0) as usize,
            tcp_keepalive_secs: self.int("tcp-keepalive").max(0) as u64,
            maxmemory_policy: s("maxmemory-policy"),
            eviction_policy: EvictionPolicy::parse(&s("maxmemory-policy")),
            maxmemory_samples: self.int("maxmemory-samples").max(1) as usize,
            maxmemory_eviction_tenacity: self.int("maxmemory-eviction-tenacity").max(0) as u64,
            lfu_log_factor: self.int("lfu-log-factor").max(0) as u64,
            lfu_decay_time: self.int("lfu-decay-time").max(0) as u64,
            cluster_config_file: s("cluster-config-file"),
            cluster_node_timeout: self.int("cluster-node-timeout").max(10) as u64,
            cluster_port: self.int("cluster-port") as u16,
            cluster_announce_ip: s("cluster-announce-ip"),
            cluster_announce_port: self.int("cluster-announce-port") as u16,
            cluster_announce_bus_port: self.int("cluster-announce-bus-port") as u16,
            cluster_announce_hostname: s("cluster-announce-hostname"),
            cluster_preferred_endpoint: slotcache_cluster_state::announce::Endpoint::parse(&s(
                "cluster-preferred-endpoint-type",
            )),
            cluster_require_full_coverage: self.yes("cluster-require-full-coverage"),
            cluster_allow_reads_when_down: self.yes("cluster-allow-reads-when-down"),
            cluster_allow_pubsubshard_when_down: self.yes("cluster-allow-pubsubshard-when-down"),
            cluster_replica_no_failover: self.yes("cluster-replica-no-failover"),
            cluster_replica_validity_factor: self.int("cluster-replica-validity-factor").max(0)
                as u64,
            cluster_migration_barrier: self.int("cluster-migration-barrier").max(0) as usize,
            hash_max_listpack_entries: self.int("hash-max-listpack-entries").max(0) as usize,
            hash_max_listpack_value: self.int("hash-max-listpack-value").max(0) as usize,
            list_max_listpack_size: self.int("list-max-listpack-size"),
            set_max_intset_entries: self.int("set-max-intset-entries").max(0) as usize,
            set_max_listpack_entries: self.int("set-max-listpack-entries").max(0) as usize,
            zset_max_listpack_entries: self.int("zset-max-listpack-entries").max(0) as usize,
            zset_max_listpack_value: self.int("zset-max-listpack-value").max(0) as usize,
            stream_node_max_bytes: self.int("stream-node-max-bytes").max(0) as usize,
            stream_node_max_entries: self.int("stream-node-max-entries").max(0) as usize,
            hll_sparse_max_bytes: self.int("hll-sparse-max-bytes").max(0) as usize,
            notify_keyspace_events: s("notify-keyspace-events"),
            notify_flags: crate::keyspace_events::Flags::parse(&s("notify-keyspace-events")),
            repl_timeout_secs: self.int("repl-timeout").max(1) as u64,
            repl_ping_period_secs: self.int("repl-ping-replica-period").max(1) as u64,
            repl_backlog_size: self.int("repl-backlog-size").max(16384) as usize,
            replicaof: {
                let v = s("replicaof");
                let mut it = v.split_whitespace();
                match (it.next(), it.next().and_then(|p| p.parse::<u16>().ok())) {
                    (Some(h), Some(p)) if !h.eq_ignore_ascii_case("no") => Some((h.to_string(), p)),
                    _ => None,
                }
            },
            io_threads: self.int("io-threads").max(0) as usize,
            idle_spin_us: self.int("idle-spin-us").clamp(0, 100) as u32,
            metrics_port: self.int("metrics-port") as u16,
            metrics_bind: s("metrics-bind"),
            masterauth: s("masterauth"),
            masteruser: s("masteruser"),
            replica_read_only: self.yes("replica-read-only"),
            replica_serve_stale_data: self.yes("replica-serve-stale-data"),
            min_replicas_to_write: self.int("min-replicas-to-write").max(0) as usize,
            min_replicas_max_lag: self.int("min-replicas-max-lag").max(0) as u64,
            shutdown_timeout_secs: self.int("shutdown-timeout").max(0) as u64,
            bind_source_addr: s("bind-source-addr"),
            busy_reply_threshold_ms: self.int("busy-reply-threshold").max(0) as u64,
            slowlog_log_slower_than: self.int("slowlog-log-slower-than"),
            slowlog_max_len: self.int("slowlog-max-len").max(0) as usize,
            latency_monitor_threshold: self.int("latency-monitor-threshold").max(0) as u64,
            latency_tracking: self.yes("latency-tracking"),
            latency_tracking_percentiles: parse_percentiles(&s(
                "latency-tracking-info-percentiles",
            ))
            .unwrap_or_default(),
            replica_obuf_hard: obuf_hard(&s("client-output-buffer-limit"), &["replica", "slave"]),
            appendonly: self.yes("appendonly"),
            appendfsync: s("appendfsync"),
            appendfilename: s("appendfilename"),
            appenddirname: s("appenddirname"),
            aof_use_rdb_preamble: self.yes("aof-use-rdb-preamble"),
            aof_load_truncated: self.yes("aof-load-truncated"),
            auto_aof_rewrite_percentage: self.int("auto-aof-rewrite-percentage").max(0) as u64,
            auto_aof_rewrite_min_size: self.int("auto-aof-rewrite-min-size").max(0) as u64,
            aof_disable_auto_gc: self.yes("aof-disable-auto-gc"),
            rdb_key_save_delay_us: self.int("rdb-key-save-delay").max(0) as u64,
            key_load_delay: self.int("key-load-delay"),
            dbfilename: s("dbfilename"),
            save_rules: parse_save(&s("save")).unwrap_or_default(),
            rdbcompression: self.yes("rdbcompression"),
            rdbchecksum: self.yes("rdbchecksum"),
            stop_writes_on_bgsave_error: self.yes("stop-writes-on-bgsave-error"),
            tls: crate::tls::TlsConfig::from_config(self),
            cluster_secret: s("cluster-secret"),
            cluster_secret_previous: s("cluster-secret-previous"),
        }
    }

    /// Writes the configuration back to its file (CONFIG REWRITE): lines for known options are
    /// replaced in place with current values, options changed from their defaults and not yet
    /// in the file are appended, comments and unknown lines are kept. Written to a temporary
    /// file, synced and renamed, so a crash leaves the old or the new file, never half of one.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| "The server is running without a config file".to_string())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let out = self.rewritten(&old);
        slotcache_util::fs::write_atomically(path, out.as_bytes())
            .map_err(|e| format!("Rewriting config file: {e}"))
    }

    /// The text CONFIG REWRITE writes over a file that held `old`.
    pub fn rewritten(&self, old: &str) -> String {
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        for line in old.lines() {
            let t = line.trim();
            // The directive's name as the loader reads it (quotes, escapes, a NUL ending the
            // line): a line this keeps as unknown must not load as a known directive.
            let first = crate::protocol::parser::split_inline(t.as_bytes())
                .and_then(|w| w.into_iter().next())
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .unwrap_or_default();
            let name = first.as_str();
            match (t.starts_with('#'), param(name)) {
                (false, Some(p)) if !name.is_empty() => {
                    if written.insert(p.name) {
                        out.push_str(&format_line(p.name, self.get(p.name).unwrap_or("")));
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        for p in PARAMS {
            let v = self.get(p.name).unwrap_or("");
            if !written.contains(p.name) && v != p.default {
                out.push_str(&format_line(p.name, v));
            }
        }
        out
    }

    /// Every parameter's current value, in table order (for comparing two configurations).
    pub fn values(&self) -> Vec<(&'static str, String)> {
        PARAMS
            .iter()
            .map(|p| (p.name, self.get(p.name).unwrap_or("").to_string()))
            .collect()
    }
}

/// The hard limit of one class in a `client-output-buffer-limit` value
/// (`normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60`); 0 = unlimited.
/// A list of percentiles (`50 99 99.9`), each between 0 and 100; an empty list is allowed.
pub fn parse_percentiles(value: &str) -> Option<Vec<f64>> {
    value
        .split_whitespace()
        .map(|w| w.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)))
        .collect()
}

pub fn obuf_hard(value: &str, classes: &[&str]) -> usize {
    let words: Vec<&str> = value.split_whitespace().collect();
    words
        .chunks(4)
        .find(|c| c.len() == 4 && classes.contains(&c[0]))
        .and_then(|c| parse_memory(c[1]))
        .unwrap_or(0) as usize
}

fn format_line(name: &str, value: &str) -> String {
    // A value is written bare only when it is made of printable, unquoted, unescaped
    // characters; anything else (a newline, a tab, a quote, a control byte) is written as one
    // double-quoted token with escapes, which the loader's splitter reads back byte for byte.
    // A newline written bare would start a new directive in the file.
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
    };
    let words_ok = value.split(' ').all(plain);
    let multi_word = matches!(
        name,
        "bind" | "save" | "client-output-buffer-limit" | "replicaof"
    );
    if plain(value) || (multi_word && words_ok) {
        format!("{name} {value}\n")
    } else {
        format!("{name} {}\n", quote(value))
    }
}

/// `"..."` with the escapes the loader's splitter (Redis's sdssplitargs) understands.
fn quote(value: &str) -> String {
    let mut q = String::with_capacity(value.len() + 2);
    q.push('"');
    for b in value.bytes() {
        match b {
            b'\\' => q.push_str("\\\\"),
            b'"' => q.push_str("\\\""),
            b'\n' => q.push_str("\\n"),
            b'\r' => q.push_str("\\r"),
            b'\t' => q.push_str("\\t"),
            0x07 => q.push_str("\\a"),
            0x08 => q.push_str("\\b"),
            b if (0x20..0x7f).contains(&b) => q.push(b as char),
            b => q.push_str(&format!("\\x{b:02x}")),
        }
    }
    q.push('"');
    q
}

// The value types' conversion thresholds, read from the settings here so that the
// containers in `keyspace` need not know the configuration.

impl crate::keyspace::types::list::ListLimits {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            fill: s.list_max_listpack_size,
        }
    }
}

impl crate::keyspace::types::set::SetLimits {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max_intset: s.set_max_intset_entries,
            max_listpack: s.set_max_listpack_entries,
        }
    }
}

impl crate::keyspace::types::hash::HashLimits {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max_entries: s.hash_max_listpack_entries,
            max_value: s.hash_max_listpack_value,
        }
    }
}

impl crate::rdb::decode::Limits {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            list: crate::keyspace::types::list::ListLimits::from_settings(s),
            set: crate::keyspace::types::set::SetLimits::from_settings(s),
            hash: crate::keyspace::types::hash::HashLimits::from_settings(s),
            zset: crate::keyspace::types::zset::ZLimits {
                max_entries: s.zset_max_listpack_entries,
                max_value: s.zset_max_listpack_value,
            },
        }
    }
}

// TLS settings from the parsed file, here so that `tls` need not know the configuration.
impl crate::tls::TlsConfig {
    pub fn from_config(c: &Config) -> Self {
        let s = |n: &str| c.get(n).unwrap_or("").to_string();
        let n = |n: &str| c.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let yes = |n: &str| c.get(n) == Some("yes");
        Self {
            port: n("tls-port") as u16,
            cert_file: s("tls-cert-file"),
            key_file: s("tls-key-file"),
            key_file_pass: s("tls-key-file-pass"),
            client_cert_file: s("tls-client-cert-file"),
            client_key_file: s("tls-client-key-file"),
            client_key_file_pass: s("tls-client-key-file-pass"),
            ca_cert_file: s("tls-ca-cert-file"),
            ca_cert_dir: s("tls-ca-cert-dir"),
            auth_clients: match c.get("tls-auth-clients") {
                Some("no") => crate::tls::ClientAuth::No,
                Some("optional") => crate::tls::ClientAuth::Optional,
                _ => crate::tls::ClientAuth::Required,
            },
            protocols: s("tls-protocols"),
            ciphersuites: s("tls-ciphersuites"),
            ciphers: s("tls-ciphers"),
            prefer_server_ciphers: yes("tls-prefer-server-ciphers"),
            session_caching: yes("tls-session-caching"),
            session_cache_size: n("tls-session-cache-size") as usize,
            session_cache_timeout: n("tls-session-cache-timeout"),
            replication: yes("tls-replication"),
            cluster: yes("tls-cluster"),
        }
    }
}

/// `maxmemory-policy`, parsed once when the settings are read (every command reads it for
/// its LRU or LFU touch); [`crate::eviction`] acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionPolicy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    /// Unknown names cannot reach here (CONFIG validates the enum); they read as noeviction.
    pub fn parse(s: &str) -> EvictionPolicy {
        match s {
            "allkeys-lru" => EvictionPolicy::AllKeysLru,
            "allkeys-lfu" => EvictionPolicy::AllKeysLfu,
            "allkeys-random" => EvictionPolicy::AllKeysRandom,
            "volatile-lru" => EvictionPolicy::VolatileLru,
            "volatile-lfu" => EvictionPolicy::VolatileLfu,
            "volatile-random" => EvictionPolicy::VolatileRandom,
            "volatile-ttl" => EvictionPolicy::VolatileTtl,
            _ => EvictionPolicy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
    pub fn random(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_overrides_file_and_rejects_unknown() {
        let dir = std::env::temp_dir().join(format!("sc-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.conf");
        std::fs::write(&f, "# c\nport 7000\nmaxmemory 100mb\nsave \"\"\n").unwrap();
        let cfg = Config::from_args(&args(&[
            f.to_str().unwrap(),
            "--port",
            "7001",
            "--save",
            "",
            "--appendonly",
            "no",
        ]))
        .unwrap();
        let s = cfg.settings();
        assert_eq!(s.port, 7001);
        assert_eq!(s.maxmemory, 100 << 20);
        let err = Config::from_args(&args(&["--frobnicate", "1"])).unwrap_err();
        assert!(err.contains("frobnicate"), "{err}");
        let err = Config::from_args(&args(&["--port", "x"])).unwrap_err();
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn hidden_parameters_answer_only_their_exact_name() {
        let cfg = Config::default();
        let names = |pat: &[u8]| -> Vec<&str> { cfg.matching(pat).iter().map(|p| p.0).collect() };
        assert!(!names(b"*").contains(&"key-load-delay"));
        assert!(!names(b"key-load-*").contains(&"key-load-delay"));
        assert_eq!(names(b"key-load-delay"), ["key-load-delay"]);
        assert_eq!(names(b"rdb-key-save-delay"), ["rdb-key-save-delay"]);
    }

    #[test]
    fn percent_over_100_has_its_own_error() {
        let mut cfg = Config::default();
        let err = cfg.set("maxmemory-clients", "200%").unwrap_err();
        assert!(
            err.ends_with("percentage argument must be less or equal to 100"),
            "{err}"
        );
        let err = cfg.set("maxmemory-clients", "x%").unwrap_err();
        assert!(
            err.ends_with("argument must be a memory or percent value"),
            "{err}"
        );
        cfg.set("maxmemory-clients", "100%").unwrap();
        assert_eq!(cfg.get("maxmemory-clients"), Some("100%"));
    }

    #[test]
    fn rewrite_keeps_comments_and_updates_values() {
        let dir = std::env::temp_dir().join(format!("sc-cfg-rw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("b.conf");
        std::fs::write(&f, "# keep me\nport 7000\n").unwrap();
        let mut cfg = Config::from_args(&args(&[f.to_str().unwrap()])).unwrap();
        cfg.set("maxmemory", "1mb").unwrap();
        cfg.rewrite().unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("# keep me"));
        assert!(text.contains("port 7000"));
        assert!(text.contains("maxmemory 1048576"));
        let again = Config::from_args(&args(&[f.to_str().unwrap()])).unwrap();
        assert_eq!(again.get("maxmemory"), Some("1048576"));
    }
}
