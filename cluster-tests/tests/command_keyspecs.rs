//! Redis 7 key specs: COMMAND INFO's key specs and legacy `first last step`, COMMAND
//! GETKEYS / GETKEYSANDFLAGS, COMMAND DOCS' `key_spec_index`, routing by them, and PUBSUB
//! NUMSUB's reply shape. The side-by-side tests run redis-server 7.0.15 next to slotcache
//! and compare replies, so the table cannot drift from Redis's; they skip (saying so) only
//! where redis-server is not installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::{q, server_error, Node};
use redis::Value;

fn raw(c: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => v,
        Err(e) => Value::SimpleString(format!("error: {e}")),
    }
}

fn names(c: &mut redis::Connection) -> Vec<String> {
    let mut v: Vec<String> = q(c, &["COMMAND", "LIST"]);
    v.sort();
    v
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn has_flag(flags: &Value, name: &str) -> bool {
    items(flags).iter().any(|f| match f {
        Value::SimpleString(s) => s == name,
        Value::BulkString(b) => b == name.as_bytes(),
        _ => false,
    })
}

/// A set's or array's members as sorted strings (flags and categories are sets: their order
/// is not part of the reply).
fn sorted_names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = items(v)
        .iter()
        .map(|f| match f {
            Value::SimpleString(s) => s.clone(),
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    names.sort();
    names
}

/// The commands and subcommands both servers have, sorted.
fn shared_names(ours: &mut redis::Connection, theirs: &mut redis::Connection) -> Vec<String> {
    let theirs = names(theirs);
    names(ours)
        .into_iter()
        .filter(|n| theirs.binary_search(n).is_ok())
        .collect()
}

/// Commands whose arity is Redis 7.2's on purpose: ZRANK/ZREVRANK take 7.2's WITHSCORE.
const ARITY_OF_7_2: &[&str] = &["zrank", "zrevrank"];

/// Every command both servers know (subcommands too): the same arity, flags, legacy
/// `first last step`, ACL categories, tips and key specs, in RESP2 and RESP3.
#[test]
fn command_info_equals_redis_for_every_shared_command() {
    let Some(reference) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let mut ours = node.client();
    let mut theirs = reference.client();
    let shared = shared_names(&mut ours, &mut theirs);
    assert!(shared.len() > 250, "only {} shared commands", shared.len());
    for resp3 in [false, true] {
        let (mut ours, mut theirs) = if resp3 {
            (node.client_resp3(), reference.client_resp3())
        } else {
            (node.client(), reference.client())
        };
        let mut differ = Vec::new();
        for name in &shared {
            let a = raw(&mut ours, &["COMMAND", "INFO", name]);
            let b = raw(&mut theirs, &["COMMAND", "INFO", name]);
            let (a, b) = (&items(&a)[0], &items(&b)[0]);
            let (a, b) = (items(a), items(b));
            if a[1] != b[1] && !ARITY_OF_7_2.contains(&name.as_str()) {
                differ.push(format!("{name}: arity {:?} != {:?}", a[1], b[1]));
            }
            for (i, what) in [(2, "flags"), (6, "ACL categories"), (7, "tips")] {
                if sorted_names(&a[i]) != sorted_names(&b[i]) {
                    differ.push(format!(
                        "{name}: {what} {:?} != {:?}",
                        sorted_names(&a[i]),
                        sorted_names(&b[i])
                    ));
                }
            }
            if a[3..6] != b[3..6] {
                differ.push(format!(
                    "{name}: first/last/step {:?} != {:?}",
                    &a[3..6],
                    &b[3..6]
                ));
            }
            if a[8] != b[8] {
                differ.push(format!(
                    "{name}: key specs\n  ours   {:?}\n  redis  {:?}",
                    a[8], b[8]
                ));
            }
            if has_flag(&a[2], "movablekeys") != has_flag(&b[2], "movablekeys") {
                differ.push(format!("{name}: movablekeys differs"));
            }
        }
        assert!(differ.is_empty(), "resp3={resp3}:\n{}", differ.join("\n"));
    }
}

/// A field of a map, which RESP2 sends as a flat array of keys and values.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let is = |k: &Value| matches!(k, Value::BulkString(b) if b == name.as_bytes());
    match v {
        Value::Map(m) => m.iter().find(|(k, _)| is(k)).map(|(_, v)| v),
        Value::Array(a) => a.chunks(2).find(|kv| is(&kv[0])).map(|kv| &kv[1]),
        _ => None,
    }
}

/// A map without its field `name` (RESP2 maps are flat arrays of keys and values).
fn without(v: &Value, name: &str) -> Value {
    let is = |k: &Value| matches!(k, Value::BulkString(b) if b == name.as_bytes());
    match v {
        Value::Map(m) => Value::Map(m.iter().filter(|(k, _)| !is(k)).cloned().collect()),
        Value::Array(a) => Value::Array(
            a.chunks(2)
                .filter(|kv| !is(&kv[0]))
                .flat_map(|kv| kv.to_vec())
                .collect(),
        ),
        other => other.clone(),
    }
}

/// COMMAND DOCS: every shared command's entry equals Redis's (summary, since, group,
/// complexity, doc flags, deprecation, history, and the arguments, each key argument with
/// its `key_spec_index`), in RESP2 and RESP3. A container's subcommands are compared one by
/// one (slotcache has some of Redis 7.2's that 7.0.15 lacks).
#[test]
fn docs_equal_redis_for_every_shared_command() {
    let Some(reference) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let mut ours = node.client();
    let mut theirs = reference.client();
    let shared = shared_names(&mut ours, &mut theirs);
    for resp3 in [false, true] {
        let (mut ours, mut theirs) = if resp3 {
            (node.client_resp3(), reference.client_resp3())
        } else {
            (node.client(), reference.client())
        };
        let mut differ = Vec::new();
        let mut documented = 0;
        for name in &shared {
            let a = raw(&mut ours, &["COMMAND", "DOCS", name]);
            let b = raw(&mut theirs, &["COMMAND", "DOCS", name]);
            let (a, b) = (field(&a, name), field(&b, name));
            documented += usize::from(b.is_some_and(|d| field(d, "arguments").is_some()));
            let (a, b) = (
                a.map(|d| without(d, "subcommands")),
                b.map(|d| without(d, "subcommands")),
            );
            if a != b {
                differ.push(format!("{name}:\n  ours   {a:?}\n  redis  {b:?}"));
            }
        }
        assert!(differ.is_empty(), "resp3={resp3}:\n{}", differ.join("\n"));
        assert!(documented > 150, "only {documented} commands compared");
    }
}

/// COMMAND DOCS points a key argument at its key spec (checked without redis-server).
#[test]
fn docs_key_arguments_carry_key_spec_index() {
    let node = Node::start(&[]);
    let mut c = node.client_resp3();
    let docs = raw(&mut c, &["COMMAND", "DOCS", "LMOVE"]);
    let args = field(&docs, "lmove")
        .and_then(|d| field(d, "arguments"))
        .expect("LMOVE documents its arguments");
    let indexes: Vec<Option<&Value>> = items(args)
        .iter()
        .map(|a| field(a, "key_spec_index"))
        .collect();
    assert_eq!(
        indexes[..2],
        [Some(&Value::Int(0)), Some(&Value::Int(1))],
        "{args:?}"
    );
    assert!(indexes[2..].iter().all(|i| i.is_none()));
}

/// Commands whose keys (and their flags) GETKEYSANDFLAGS reports: the list, every
/// way of finding keys (ranges, counts, keywords, finder functions) and the edge cases
/// where the specs do not fit and Redis falls back to the command's own finder.
const KEYS_CORPUS: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["SET", "k", "v", "GET"],
    &["SET", "k", "v", "EX", "10", "get"],
    &["GET", "k"],
    &["DEL", "a", "b"],
    &["UNLINK", "a"],
    &["LMOVE", "a", "b", "LEFT", "RIGHT"],
    &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
    &["RENAME", "a", "b"],
    &["RENAMENX", "a", "b"],
    &["COPY", "a", "b"],
    &["COPY", "a", "b", "DB", "1", "REPLACE"],
    &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
    &["ZINTERSTORE", "d", "1", "a"],
    &["ZDIFFSTORE", "d", "2", "a", "b"],
    &["ZUNION", "2", "a", "b"],
    &["ZUNION", "2abc", "a", "b"],
    &["ZUNIONSTORE", "d", "2x", "a", "b"],
    &["ZUNION", "0", "a"],
    &["ZUNION", "3", "a"],
    &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"],
    &["SINTERCARD", "1x", "a"],
    &["LMPOP", "2", "a", "b", "LEFT"],
    &["BLMPOP", "0", "2", "a", "b", "LEFT"],
    &["ZMPOP", "1", "a", "MIN"],
    &["BZMPOP", "0", "1x", "a", "MIN"],
    &["APPEND", "k", "v"],
    &["SETRANGE", "k", "0", "v"],
    &["EXPIRE", "k", "10"],
    &["GETDEL", "k"],
    &["GETEX", "k", "PERSIST"],
    &["MSET", "a", "1", "b", "2"],
    &["MSETNX", "a", "1", "b", "2"],
    &["MGET", "a", "b"],
    &["EXISTS", "a", "b"],
    &["BITOP", "AND", "d", "a", "b"],
    &["BITFIELD", "k", "GET", "u8", "0"],
    &["BITFIELD", "k", "SET", "u8", "0", "1"],
    &["BITFIELD", "k", "OVERFLOW", "SAT", "GET", "u8", "0"],
    &["BITFIELD", "k", "GET", "u8"],
    &["BITFIELD_RO", "k", "GET", "u8", "0"],
    &["SORT", "k"],
    &["SORT", "k", "BY", "w_*", "STORE", "d"],
    &["SORT", "k", "GET", "store", "LIMIT", "0", "1"],
    &["SORT_RO", "k", "BY", "w_*"],
    &["MIGRATE", "h", "1", "k", "0", "1000"],
    &[
        "MIGRATE", "h", "1", "", "0", "1000", "COPY", "KEYS", "a", "b",
    ],
    &[
        "MIGRATE", "h", "1", "", "0", "1000", "AUTH2", "u", "keys", "KEYS", "a",
    ],
    &["MIGRATE", "h", "1", "k", "0", "1000", "KEYS", "a"],
    &["MIGRATE", "h", "1", "", "0", "1000", "KEYS"],
    &["BLPOP", "a", "b", "0"],
    &["BZPOPMIN", "a", "0"],
    &["SMOVE", "a", "b", "m"],
    &["SINTERSTORE", "d", "a", "b"],
    &["SUNIONSTORE", "d", "a"],
    &["PFMERGE", "d", "a", "b"],
    &["PFCOUNT", "a", "b"],
    &["PFDEBUG", "GETREG", "k"],
    &["OBJECT", "ENCODING", "k"],
    &["MEMORY", "USAGE", "k"],
    &["LCS", "a", "b"],
    &["ZRANGESTORE", "d", "a", "0", "-1"],
    &["RESTORE", "k", "0", "x"],
    &["WATCH", "a", "b"],
    &["TOUCH", "a"],
    &["HSET", "h", "f", "v"],
    &["SPUBLISH", "ch", "m"],
    &["PING"],
    &["OBJECT", "NOSUCH", "k"],
    &["GET"],
];

/// GETKEYS and GETKEYSANDFLAGS give exactly Redis's replies (keys, flags and errors) for
/// every command of the corpus.
#[test]
fn getkeys_and_flags_equal_redis() {
    let Some(reference) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    for resp3 in [false, true] {
        let (mut ours, mut theirs) = if resp3 {
            (node.client_resp3(), reference.client_resp3())
        } else {
            (node.client(), reference.client())
        };
        let mut differ = Vec::new();
        for cmd in KEYS_CORPUS {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args = vec!["COMMAND", sub];
                args.extend_from_slice(cmd);
                let a = raw(&mut ours, &args);
                let b = raw(&mut theirs, &args);
                if a != b {
                    differ.push(format!("{args:?}\n  ours   {a:?}\n  redis  {b:?}"));
                }
            }
        }
        assert!(differ.is_empty(), "resp3={resp3}:\n{}", differ.join("\n"));
    }
}

/// `(key, flags)` pairs, as GETKEYSANDFLAGS gives them.
type KeysAndFlags = Vec<(String, Vec<String>)>;

fn keys_and_flags(c: &mut redis::Connection, cmd: &[&str]) -> KeysAndFlags {
    let mut args = vec!["COMMAND", "GETKEYSANDFLAGS"];
    args.extend_from_slice(cmd);
    q(c, &args)
}

fn kf(key: &str, flags: &[&str]) -> (String, Vec<String>) {
    (key.into(), flags.iter().map(|f| f.to_string()).collect())
}

/// The flags the issue lists, checked without redis-server too (they are Redis 7.0.15's).
#[test]
fn getkeysandflags_reports_each_keys_access() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let cases: &[(&[&str], KeysAndFlags)] = &[
        (&["SET", "k", "v"], vec![kf("k", &["OW", "update"])]),
        (
            &["SET", "k", "v", "GET"],
            vec![kf("k", &["RW", "access", "update"])],
        ),
        (&["GET", "k"], vec![kf("k", &["RO", "access"])]),
        (
            &["DEL", "a", "b"],
            vec![kf("a", &["RM", "delete"]), kf("b", &["RM", "delete"])],
        ),
        (
            &["LMOVE", "a", "b", "LEFT", "RIGHT"],
            vec![
                kf("a", &["RW", "access", "delete"]),
                kf("b", &["RW", "insert"]),
            ],
        ),
        (
            &["RENAME", "a", "b"],
            vec![
                kf("a", &["RW", "access", "delete"]),
                kf("b", &["OW", "update"]),
            ],
        ),
        (
            &["COPY", "a", "b"],
            vec![kf("a", &["RO", "access"]), kf("b", &["OW", "update"])],
        ),
        (
            &["ZUNIONSTORE", "d", "2", "a", "b"],
            vec![
                kf("d", &["OW", "update"]),
                kf("a", &["RO", "access"]),
                kf("b", &["RO", "access"]),
            ],
        ),
        (&["APPEND", "k", "v"], vec![kf("k", &["RW", "insert"])]),
        (
            &["SETRANGE", "k", "0", "v"],
            vec![kf("k", &["RW", "update"])],
        ),
        (&["EXPIRE", "k", "1"], vec![kf("k", &["RW", "update"])]),
        (&["GETDEL", "k"], vec![kf("k", &["RW", "access", "delete"])]),
        (
            &["SORT", "k", "STORE", "d"],
            vec![kf("k", &["RO", "access"]), kf("d", &["OW", "update"])],
        ),
        (
            &["MIGRATE", "h", "1", "", "0", "10", "KEYS", "a"],
            vec![kf("a", &["RW", "access", "delete"])],
        ),
    ];
    for (cmd, want) in cases {
        assert_eq!(&keys_and_flags(&mut c, cmd), want, "{cmd:?}");
    }
    // Sharded pub/sub's channels are not keys.
    assert_eq!(
        server_error(&mut c, &["COMMAND", "GETKEYS", "SPUBLISH", "ch", "m"]),
        "ERR The command has no key arguments"
    );
    // A container's unknown subcommand is not a command.
    assert_eq!(
        server_error(&mut c, &["COMMAND", "GETKEYS", "OBJECT", "NOSUCH", "k"]),
        "ERR Invalid command specified"
    );
}

/// COMMAND INFO carries the key specs themselves, and the movablekeys flag and legacy
/// triple that derive from them.
#[test]
fn command_info_carries_key_specs() {
    let node = Node::start(&[]);
    let mut c = node.client_resp3();
    let info = raw(
        &mut c,
        &["COMMAND", "INFO", "LMOVE", "ZUNIONSTORE", "MIGRATE"],
    );
    let info = items(&info);
    let lmove = items(&info[0]);
    assert_eq!(lmove[3..6], [Value::Int(1), Value::Int(2), Value::Int(1)]);
    let specs = items(&lmove[8]);
    assert_eq!(specs.len(), 2);
    let Value::Map(first) = &specs[0] else {
        panic!("a key spec is a map: {:?}", specs[0])
    };
    let flags = first
        .iter()
        .find(|(k, _)| *k == Value::BulkString(b"flags".to_vec()))
        .map(|(_, v)| v)
        .expect("flags");
    assert!(has_flag(flags, "RW") && has_flag(flags, "delete"));
    let zunionstore = items(&info[1]);
    assert!(has_flag(&zunionstore[2], "movablekeys"));
    assert_eq!(
        zunionstore[3..6],
        [Value::Int(1), Value::Int(1), Value::Int(1)]
    );
    let migrate = items(&info[2]);
    assert!(has_flag(&migrate[2], "movablekeys"));
    assert_eq!(migrate[3..6], [Value::Int(3), Value::Int(3), Value::Int(1)]);
    assert_eq!(items(&migrate[8]).len(), 2);
}

/// Routing reads the same key specs: a command's keys in different slots is CROSSSLOT,
/// the keys it finds through a finder function included.
#[test]
fn cluster_routing_uses_key_specs() {
    let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"]);
    let mut c = node.client();
    cluster_tests::own_all_slots(&mut c);
    let crossslot = "CROSSSLOT Keys in request don't hash to the same slot";
    for cmd in [
        &["RENAME", "a", "b"][..],
        &["ZUNIONSTORE", "d", "2", "{a}1", "{a}2"],
        &["SORT", "{a}1", "STORE", "b"],
        &["LMOVE", "{a}1", "b", "LEFT", "LEFT"],
        &["BITOP", "AND", "{a}d", "{a}1", "b"],
    ] {
        assert_eq!(server_error(&mut c, cmd), crossslot, "{cmd:?}");
    }
    let n: i64 = q(&mut c, &["ZUNIONSTORE", "{a}d", "2", "{a}1", "{a}2"]);
    assert_eq!(n, 0);
    let _: () = q(&mut c, &["SET", "{a}1", "v"]);
    let _: () = q(&mut c, &["RENAME", "{a}1", "{a}2"]);
}

/// PUBSUB NUMSUB and SHARDNUMSUB: channel, count, channel, count... as a flat array in RESP2
/// and RESP3 alike, as Redis 7.0 replies.
#[test]
fn numsub_is_a_flat_array_in_both_protocols() {
    let node = Node::start(&[]);
    let mut sub = node.client();
    let _: Value = q(&mut sub, &["SUBSCRIBE", "news"]);
    let mut sub3 = node.client_resp3();
    let _: Value = raw(&mut sub3, &["SSUBSCRIBE", "shard"]);
    for resp3 in [false, true] {
        let mut c = if resp3 {
            node.client_resp3()
        } else {
            node.client()
        };
        let flat = |ch: &str, n: i64, ch2: &str| {
            Value::Array(vec![
                Value::BulkString(ch.as_bytes().to_vec()),
                Value::Int(n),
                Value::BulkString(ch2.as_bytes().to_vec()),
                Value::Int(0),
            ])
        };
        assert_eq!(
            raw(&mut c, &["PUBSUB", "NUMSUB", "news", "none"]),
            flat("news", 1, "none"),
            "resp3={resp3}"
        );
        assert_eq!(
            raw(&mut c, &["PUBSUB", "SHARDNUMSUB", "shard", "none"]),
            flat("shard", 1, "none"),
            "resp3={resp3}"
        );
        assert_eq!(
            raw(&mut c, &["PUBSUB", "NUMSUB"]),
            Value::Array(vec![]),
            "resp3={resp3}"
        );
    }
}

/// The NUMSUB shape side by side with redis-server, in both protocols.
#[test]
fn numsub_shape_equals_redis() {
    let Some(reference) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    for resp3 in [false, true] {
        let (mut ours, mut theirs) = if resp3 {
            (node.client_resp3(), reference.client_resp3())
        } else {
            (node.client(), reference.client())
        };
        for cmd in [
            &["PUBSUB", "NUMSUB", "a", "b"][..],
            &["PUBSUB", "SHARDNUMSUB", "a"],
            &["PUBSUB", "NUMSUB"],
        ] {
            assert_eq!(
                raw(&mut ours, cmd),
                raw(&mut theirs, cmd),
                "{cmd:?} resp3={resp3}"
            );
        }
    }
}
