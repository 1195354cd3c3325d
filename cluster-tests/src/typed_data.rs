//! A dataset with every type in each of the encodings Redis 7.0 uses (int/embstr/raw
//! strings; quicklists of one listpack node and of several; intset and hashtable sets;
//! listpack and skiplist zsets; listpack and hashtable hashes), built by plain commands so the same data can be
//! loaded into slotcache and a reference redis-server and compared.

/// One key the dataset creates, with the OBJECT ENCODING redis-server 7.0 gives it (7.0
/// reports every list as a quicklist).
pub struct TypedKey {
    pub name: String,
    pub encoding: &'static str,
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// The commands that build the dataset (prefix `p` keeps several copies apart), and the keys
/// they create. Scores include -0, ±inf, non-representable decimals and integers beyond
/// 2^53, since DEBUG DIGEST hashes their `%.17g` text.
pub fn every_type(p: &str) -> (Vec<Vec<String>>, Vec<TypedKey>) {
    let mut cmds = Vec::new();
    let mut keys = Vec::new();
    let mut key = |name: String, encoding: &'static str| {
        keys.push(TypedKey {
            name: name.clone(),
            encoding,
        });
        name
    };

    // Strings.
    let k = key(format!("{p}str:int"), "int");
    cmds.push(cmd(&["SET", &k, "-9223372036854775808"]));
    let k = key(format!("{p}str:small"), "embstr");
    cmds.push(cmd(&["SET", &k, "bar"]));
    let k = key(format!("{p}str:empty"), "embstr");
    cmds.push(cmd(&["SET", &k, ""]));
    let k = key(format!("{p}str:notint"), "embstr");
    cmds.push(cmd(&["SET", &k, "007"]));
    let k = key(format!("{p}str:raw"), "raw");
    cmds.push(cmd(&["SET", &k, &"abcdefgh".repeat(40)]));
    let k = key(format!("{p}str:binary"), "raw");
    let bin: String = (0u8..=255).map(char::from).collect();
    cmds.push(vec!["SET".into(), k, bin]);

    // Lists.
    let k = key(format!("{p}list:small"), "quicklist");
    cmds.push(cmd(&[
        "RPUSH",
        &k,
        "a",
        "1",
        "-5",
        "",
        "9223372036854775807",
        "x",
    ]));
    let k = key(format!("{p}list:big"), "quicklist");
    let mut c = cmd(&["RPUSH", &k]);
    c.extend((0..300).map(|i| {
        if i % 3 == 0 {
            i.to_string()
        } else {
            format!("item-{i}")
        }
    }));
    cmds.push(c);
    let k = key(format!("{p}list:long"), "quicklist");
    cmds.push(cmd(&["RPUSH", &k, "short", &"y".repeat(100)]));

    // Sets.
    let k = key(format!("{p}set:ints"), "intset");
    cmds.push(cmd(&["SADD", &k, "1", "-3", "2", "9223372036854775807"]));
    let k = key(format!("{p}set:strs"), "hashtable");
    cmds.push(cmd(&["SADD", &k, "a", "b", "1", ""]));
    let k = key(format!("{p}set:bigints"), "hashtable");
    let mut c = cmd(&["SADD", &k]);
    c.extend((0..600).map(|i| (i * 7 - 1000).to_string()));
    cmds.push(c);

    // Sorted sets.
    let k = key(format!("{p}zset:small"), "listpack");
    cmds.push(cmd(&[
        "ZADD",
        &k,
        "1.5",
        "a",
        "-0",
        "negzero",
        "0",
        "zero",
        "inf",
        "top",
        "-inf",
        "bottom",
        "0.1",
        "tenth",
        "1e300",
        "huge",
        "123456789012345678",
        "bigint",
        "-2.5e-10",
        "tiny",
        "7",
        "42",
    ]));
    cmds.push(cmd(&["ZINCRBY", &k, "0.2", "tenth"]));
    let k = key(format!("{p}zset:big"), "skiplist");
    let mut c = cmd(&["ZADD", &k]);
    for i in 0..200 {
        c.push(format!("{}", f64::from(i) / 3.0));
        c.push(format!("m{i}"));
    }
    cmds.push(c);
    let k = key(format!("{p}zset:long"), "skiplist");
    cmds.push(cmd(&["ZADD", &k, "1", "a", "2", &"z".repeat(80)]));

    // Hashes.
    let k = key(format!("{p}hash:small"), "listpack");
    cmds.push(cmd(&[
        "HSET", &k, "f1", "v1", "n", "12", "empty", "", "neg", "-7",
    ]));
    let k = key(format!("{p}hash:big"), "hashtable");
    let mut c = cmd(&["HSET", &k]);
    for i in 0..600 {
        c.push(format!("field:{i}"));
        c.push(i.to_string());
    }
    cmds.push(c);
    let k = key(format!("{p}hash:long"), "hashtable");
    cmds.push(cmd(&["HSET", &k, "f", &"v".repeat(70)]));

    // TTLs (far away, so they do not pass during a test).
    let k = key(format!("{p}ttl:str"), "embstr");
    cmds.push(cmd(&["SET", &k, "v", "EX", "100000"]));
    let k = key(format!("{p}ttl:hash"), "listpack");
    cmds.push(cmd(&["HSET", &k, "a", "b"]));
    cmds.push(cmd(&["PEXPIRE", &k, "100000000"]));

    (cmds, keys)
}

/// Runs the commands on a connection.
pub fn load(c: &mut redis::Connection, cmds: &[Vec<String>]) {
    for parts in cmds {
        let mut r = redis::cmd(&parts[0]);
        for a in &parts[1..] {
            r.arg(a.as_bytes());
        }
        r.query::<redis::Value>(c)
            .unwrap_or_else(|e| panic!("{:?} failed: {e}", &parts[..2]));
    }
}
