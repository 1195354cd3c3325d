//! EVAL, EVALSHA, EVAL_RO, SCRIPT through the redis crate: the Lua <-> reply conversions,
//! the sandbox, script flags, effects replication, the cluster's key checks, and redis-py's
//! Lock scripts (acquire, extend, reacquire, release) with the EVALSHA + NOSCRIPT retry
//! client libraries use.

use cluster_tests::{own_all_slots, q, repl_stream, server_error, wait_for, Node};
use redis::Value;
use std::time::Duration;

fn eval(c: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    redis::cmd("EVAL")
        .arg(script)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(c)
        .unwrap_or_else(|e| panic!("EVAL {script:?} failed: {e}"))
}

fn eval_err(c: &mut redis::Connection, script: &str, keys: &[&str]) -> String {
    let mut args = vec!["EVAL", script];
    let n = keys.len().to_string();
    args.push(&n);
    args.extend_from_slice(keys);
    server_error(c, &args)
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn lua_values_and_replies_convert_as_in_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(eval(&mut c, "return 'hello'", &[], &[]), bulk("hello"));
    // Numbers are truncated to integers; true is 1, false a null.
    assert_eq!(eval(&mut c, "return 100.5", &[], &[]), Value::Int(100));
    assert_eq!(eval(&mut c, "return -100.5", &[], &[]), Value::Int(-100));
    // Out of range, as C's cast on x86-64 gives it (found by the differential check):
    // 2^63 and NaN answer i64::MIN in Redis, not a saturated i64::MAX.
    for big in ["9223372036854775807", "1e300", "-1e300"] {
        assert_eq!(
            eval(&mut c, "return tonumber(ARGV[1])", &[], &[big]),
            Value::Int(i64::MIN),
            "{big}"
        );
    }
    assert_eq!(eval(&mut c, "return 0/0", &[], &[]), Value::Int(i64::MIN));
    assert_eq!(eval(&mut c, "return true", &[], &[]), Value::Int(1));
    assert_eq!(eval(&mut c, "return false", &[], &[]), Value::Nil);
    assert_eq!(
        eval(&mut c, "return {ok='fine'}", &[], &[]),
        Value::SimpleString("fine".into())
    );
    assert_eq!(
        eval_err(&mut c, "return {err='ERR this is an error'}", &[]),
        "ERR this is an error"
    );
    // Tables stop at the first nil.
    assert_eq!(
        eval(&mut c, "return {1,2,3,'ciao',{1,2},nil,7}", &[], &[]),
        Value::Array(vec![
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
            bulk("ciao"),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
        ])
    );
    assert_eq!(
        eval(
            &mut c,
            "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}",
            &["a{t}", "b{t}"],
            &["c", "d"]
        ),
        Value::Array(vec![bulk("a{t}"), bulk("b{t}"), bulk("c"), bulk("d")])
    );
    // Replies to Lua: integers, bulks, nil bulks as false, status and error tables.
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let _: () = q(&mut c, &["RPUSH", "l", "a", "b"]);
    let got = eval(
        &mut c,
        "local s = redis.call('set', KEYS[1], 'v') \
         local e = redis.pcall('incr', KEYS[1]) \
         return {type(redis.call('rpush', KEYS[2], 'c')), redis.call('get', KEYS[1]), \
                 tostring(redis.call('get', 'nokey')), s['ok'], e['err'], \
                 #redis.call('lrange', KEYS[2], 0, -1)}",
        &["k", "l"],
        &[],
    );
    assert_eq!(
        got,
        Value::Array(vec![
            bulk("number"),
            bulk("v"),
            bulk("false"),
            bulk("OK"),
            bulk("ERR value is not an integer or out of range"),
            Value::Int(3),
        ])
    );
    // Numbers passed to commands keep their precision (%.17g).
    assert_eq!(
        eval(
            &mut c,
            "redis.call('set', KEYS[1], 0.1) return redis.call('get', KEYS[1])",
            &["f"],
            &[]
        ),
        bulk("0.10000000000000001")
    );
    // redis.call raises the command's error, with where the script was.
    let e = eval_err(&mut c, "return redis.call('incr', KEYS[1])", &["k"]);
    assert!(
        e.starts_with("ERR value is not an integer or out of range script: ")
            && e.ends_with(", on @user_script:1."),
        "{e}"
    );
    assert!(eval_err(&mut c, "redis.call('nosuchcommand')", &[])
        .contains("Unknown Redis command called from script"));
    assert!(eval_err(&mut c, "redis.call('get','a','b','c')", &[])
        .contains("Wrong number of args calling Redis command from script"));
    assert!(eval_err(&mut c, "redis.call('blpop','x',0)", &[])
        .contains("This Redis command is not allowed from script"));
    assert!(eval_err(&mut c, "return redis.call()", &[])
        .contains("Please specify at least one argument for this redis lib call"));
    assert!(eval_err(&mut c, "return redis.call('ping', {})", &[])
        .contains("Lua redis lib command arguments must be strings or integers"));
    // error_reply / status_reply.
    assert_eq!(
        eval_err(
            &mut c,
            "return redis.error_reply('MY_ERR_CODE custom msg')",
            &[]
        ),
        "MY_ERR_CODE custom msg"
    );
    assert_eq!(
        eval(
            &mut c,
            "return redis.status_reply('MY_OK_CODE custom msg')",
            &[],
            &[]
        ),
        Value::SimpleString("MY_OK_CODE custom msg".into())
    );
    assert_eq!(
        eval(
            &mut c,
            "return redis.sha1hex('Pizza & Mandolino')",
            &[],
            &[]
        ),
        bulk("74822d82031af7493c20eefa13bd07ec4fada82f")
    );
    // SELECT inside a script does not change the caller's database.
    eval(
        &mut c,
        "redis.call('select', 9) redis.call('set', 'db9', 1)",
        &[],
        &[],
    );
    let here: Option<String> = q(&mut c, &["GET", "db9"]);
    assert_eq!(here, None);
}

#[test]
fn resp3_conversions_follow_setresp() {
    let node = Node::start(&[]);
    let mut c = node.client_resp3();
    let _: () = q(&mut c, &["HSET", "h", "f", "v"]);
    let as_map = eval(
        &mut c,
        "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
        &["h"],
        &[],
    );
    assert_eq!(as_map, Value::Map(vec![(bulk("f"), bulk("v"))]));
    let as_list = eval(
        &mut c,
        "redis.setresp(2) return redis.call('hgetall', KEYS[1])",
        &["h"],
        &[],
    );
    assert_eq!(as_list, Value::Array(vec![bulk("f"), bulk("v")]));
    assert_eq!(
        eval(&mut c, "redis.setresp(3) return {double=3.5}", &[], &[]),
        Value::Double(3.5)
    );
    assert_eq!(
        eval(&mut c, "redis.setresp(3) return true", &[], &[]),
        Value::Boolean(true)
    );
}

#[test]
fn the_sandbox_keeps_scripts_in() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let e = eval_err(&mut c, "return a", &[]);
    assert!(
        e.starts_with("ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: "),
        "{e}"
    );
    for script in [
        "a = 10",
        "redis.call = function() return 1 end",
        "cjson = nil",
        "string.len = nil",
        "local g = getmetatable(_G) g.__index = {}",
        "setmetatable(_G, {})",
        "_G = {}",
    ] {
        let e = eval_err(&mut c, script, &[]);
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{script}: {e}"
        );
    }
    for global in [
        "os", "io", "loadfile", "dofile", "print", "require", "debug",
    ] {
        let e = eval_err(&mut c, &format!("return {global}"), &[]);
        assert!(
            e.contains(&format!("nonexistent global variable '{global}'")),
            "{global}: {e}"
        );
    }
    // No bytecode (CVE-2015-4335).
    let e = eval_err(
        &mut c,
        "return loadstring(string.dump(function() return 1 end))()",
        &[],
    );
    assert!(e.contains("attempt to call a nil value"), "{e}");
    assert_eq!(
        eval(&mut c, "return loadstring('return 7')()", &[], &[]),
        Value::Int(7)
    );
    // pcall turns error tables into their message, as Redis 7's.
    assert_eq!(
        eval(
            &mut c,
            "local ok, e = pcall(function() return redis.call('nosuch') end) return {tostring(ok), e}",
            &[],
            &[]
        ),
        Value::Array(vec![
            bulk("false"),
            bulk("ERR Unknown Redis command called from script")
        ])
    );
    // math.random: its state carries over between scripts; a seed repeats a sequence.
    let r1 = eval(&mut c, "return tostring(math.random())", &[], &[]);
    let r2 = eval(&mut c, "return tostring(math.random())", &[], &[]);
    assert_ne!(r1, r2);
    let seeded = "math.randomseed(ARGV[1]) return tostring(math.random())";
    assert_eq!(
        eval(&mut c, seeded, &[], &["10"]),
        eval(&mut c, seeded, &[], &["10"])
    );
    assert_ne!(
        eval(&mut c, seeded, &[], &["10"]),
        eval(&mut c, seeded, &[], &["20"])
    );
    // Compilation errors.
    let e = eval_err(&mut c, "x=", &[]);
    assert_eq!(
        e,
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'"
    );
}

#[test]
fn evalsha_script_cache_and_noscript_retry() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let sha = "b534286061d4b9e4026607613b95c06c06015ae8";
    assert_eq!(
        server_error(&mut c, &["EVALSHA", sha, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    let loaded: String = q(&mut c, &["SCRIPT", "LOAD", "return 'loaded'"]);
    assert_eq!(loaded, sha);
    let got: String = q(&mut c, &["EVALSHA", &sha.to_uppercase(), "0"]);
    assert_eq!(got, "loaded");
    // EVAL caches what it ran.
    let _: i64 = q(&mut c, &["EVAL", "return 1+1", "0"]);
    let exists: Vec<i64> = q(
        &mut c,
        &[
            "SCRIPT",
            "EXISTS",
            "a27e7e8a43702b7046d4f6a7ccf5b60cef6b9bd9",
            "a27e7e8a43702b7046d4f6a7ccf5b60cef6b9bda",
        ],
    );
    assert_eq!(exists, vec![1, 0]);
    let info: String = q(&mut c, &["INFO", "memory"]);
    assert_eq!(
        cluster_tests::info_field(&info, "number_of_cached_scripts").as_deref(),
        Some("2")
    );
    let _: () = q(&mut c, &["SCRIPT", "FLUSH", "ASYNC"]);
    assert!(server_error(&mut c, &["EVALSHA", sha, "0"]).starts_with("NOSCRIPT"));
    assert_eq!(
        server_error(&mut c, &["SCRIPT", "FLUSH", "LATER"]),
        "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
    );
    assert_eq!(
        server_error(&mut c, &["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
    // The redis crate's Script: EVALSHA, and on NOSCRIPT, SCRIPT LOAD then EVALSHA again.
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    let n: i64 = script.key("counter").arg(5).invoke(&mut c).unwrap();
    assert_eq!(n, 5);
    let _: () = q(&mut c, &["SCRIPT", "FLUSH"]);
    let n: i64 = script.key("counter").arg(5).invoke(&mut c).unwrap();
    assert_eq!(n, 10);
    assert_eq!(
        server_error(&mut c, &["EVAL", "return 1", "2", "a"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        server_error(&mut c, &["EVAL", "return 1", "-1"]),
        "ERR Number of keys can't be negative"
    );
}

#[test]
fn read_only_scripts_and_shebang_flags() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "foo", "bar"]);
    let v: String = q(
        &mut c,
        &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "foo"],
    );
    assert_eq!(v, "bar");
    let e = server_error(
        &mut c,
        &["EVAL_RO", "redis.call('del', KEYS[1])", "1", "foo"],
    );
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    let e = server_error(
        &mut c,
        &[
            "EVAL",
            "#!lua flags=no-writes\nredis.call('del', KEYS[1])",
            "1",
            "foo",
        ],
    );
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    assert_eq!(
        server_error(&mut c, &["EVAL_RO", "#!lua\nreturn 1", "0"]),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        server_error(&mut c, &["EVAL", "#!lua flags=bogus\nreturn 1", "0"]),
        "ERR Unexpected flag in script shebang: bogus"
    );
    assert_eq!(
        server_error(&mut c, &["EVAL", "#!lua name=x\nreturn 1", "0"]),
        "ERR Unknown lua shebang option: name=x"
    );
    // Line numbers stay the user's after a shebang.
    let e = server_error(&mut c, &["EVAL", "#!lua\n\nreturn a", "0"]);
    assert!(e.ends_with("on @user_script:3."), "{e}");
    // At maxmemory, a script's first write is refused; a no-writes script runs.
    let _: () = q(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let e = server_error(&mut c, &["EVAL", "redis.call('set', 'x', 1)", "0"]);
    assert!(
        e.starts_with("OOM command not allowed when used memory > 'maxmemory'."),
        "{e}"
    );
    let e = server_error(&mut c, &["EVAL", "#!lua\nreturn 1", "0"]);
    assert!(e.starts_with("OOM "), "{e}");
    let one: i64 = q(&mut c, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]);
    assert_eq!(one, 1);
    let _: () = q(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn a_scripts_writes_reach_replicas_as_one_transaction_of_effects() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut stream = repl_stream::attach(&node);
    // Two writes and a read: MULTI, the writes, EXEC; the script itself is not sent.
    let _: Value = eval(
        &mut c,
        "redis.call('set', KEYS[1], 'a') redis.call('get', KEYS[1]) redis.call('incr', KEYS[2]) return 1",
        &["x{t}", "n{t}"],
        &[],
    );
    let mut seen = vec![repl_stream::next_cmd(&mut stream)];
    if seen[0][0] == "select" {
        seen.clear();
    }
    while seen.len() < 4 {
        seen.push(repl_stream::next_cmd(&mut stream));
    }
    assert_eq!(seen[0], vec!["multi"]);
    assert_eq!(seen[1], vec!["set", "x{t}", "a"]);
    assert_eq!(seen[2], vec!["incr", "n{t}"]);
    assert_eq!(seen[3], vec!["exec"]);
    // One write alone is sent alone; set_repl(REPL_NONE) keeps a write from replicas.
    let _: Value = eval(
        &mut c,
        "redis.set_repl(redis.REPL_NONE) redis.call('set', 'hidden', 1) \
         redis.set_repl(redis.REPL_ALL) redis.call('set', 'shown', 1)",
        &[],
        &[],
    );
    assert_eq!(
        repl_stream::next_cmd(&mut stream),
        vec!["set", "shown", "1"]
    );
    // Random values travel as the values written (effects, not the script).
    let _: Value = eval(
        &mut c,
        "redis.call('set', 'r', tostring(math.random()))",
        &[],
        &[],
    );
    let set = repl_stream::next_cmd(&mut stream);
    let here: String = q(&mut c, &["GET", "r"]);
    assert_eq!(set, vec!["set".to_string(), "r".into(), here]);
    // SPOP's effect is the SREM of the member it took, the last one too (Redis rewrites
    // SPOP without a count to SREM, whatever is left).
    q::<i64>(&mut c, &["SADD", "s1", "only"]);
    assert_eq!(repl_stream::next_cmd(&mut stream)[0], "sadd");
    let _: Value = eval(&mut c, "return redis.call('spop', KEYS[1])", &["s1"], &[]);
    assert_eq!(
        repl_stream::next_cmd(&mut stream),
        vec!["srem", "s1", "only"]
    );
}

/// A command a script called that failed is counted once in errorstats: when it failed,
/// not again as the script's error reply (which counts as EVAL's failed call only). An
/// error the script raises itself is counted as EVAL's.
#[test]
fn a_scripts_errors_are_counted_once() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let stats = |c: &mut redis::Connection| {
        let info: String = q(c, &["INFO", "errorstats"]);
        let all: String = q(c, &["INFO", "stats"]);
        let cmd: String = q(c, &["INFO", "commandstats"]);
        let eval = cluster_tests::info_field(&cmd, "cmdstat_eval").unwrap_or_default();
        (
            cluster_tests::info_field(&info, "errorstat_ERR"),
            cluster_tests::info_field(&all, "total_error_replies"),
            eval,
        )
    };
    q::<String>(&mut c, &["CONFIG", "RESETSTAT"]);
    let e = eval_err(&mut c, "return redis.call('select', 99)", &[]);
    assert!(e.starts_with("ERR DB index is out of range"), "{e}");
    let (err, total, eval_stat) = stats(&mut c);
    assert_eq!(err.as_deref(), Some("count=1"));
    assert_eq!(total.as_deref(), Some("1"));
    assert!(eval_stat.contains("failed_calls=1"), "{eval_stat}");
    // Returned from pcall: the same table, counted once too.
    q::<String>(&mut c, &["CONFIG", "RESETSTAT"]);
    let e = eval_err(&mut c, "return redis.pcall('select', 99)", &[]);
    assert!(e.starts_with("ERR DB index is out of range"), "{e}");
    let (err, total, _) = stats(&mut c);
    assert_eq!(err.as_deref(), Some("count=1"));
    assert_eq!(total.as_deref(), Some("1"));
    // The script's own error: counted as EVAL's reply.
    q::<String>(&mut c, &["CONFIG", "RESETSTAT"]);
    let e = eval_err(&mut c, "return redis.error_reply('ERR mine')", &[]);
    assert_eq!(e, "ERR mine");
    let (err, total, _) = stats(&mut c);
    assert_eq!(err.as_deref(), Some("count=1"));
    assert_eq!(total.as_deref(), Some("1"));
}

#[test]
fn in_a_cluster_a_script_stays_in_its_slot() {
    let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let mut c = node.client();
    own_all_slots(&mut c);
    wait_for(Duration::from_secs(10), || {
        let info: String = q(&mut c, &["CLUSTER", "INFO"]);
        info.contains("cluster_state:ok").then_some(())
    })
    .expect("cluster_state:ok");
    // Declared keys in different slots: refused before running.
    assert_eq!(
        server_error(&mut c, &["EVAL", "return 1", "2", "a", "b"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    // A script with flags touching an undeclared key of another slot.
    let e = server_error(
        &mut c,
        &[
            "EVAL",
            "#!lua\nredis.call('set', KEYS[1], 1) return redis.call('get', 'b')",
            "1",
            "a",
        ],
    );
    assert!(
        e.starts_with("ERR Script attempted to access keys that do not hash to the same slot"),
        "{e}"
    );
    // Without flags (compatibility mode) it may, on this node, which serves every slot.
    let v: Option<String> = q(
        &mut c,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 1) return redis.call('get', 'b')",
            "1",
            "a",
        ],
    );
    assert_eq!(v, None);
    assert_eq!(
        server_error(&mut c, &["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]),
        "ERR Can not run script on cluster, 'no-cluster' flag is set."
    );
    // A slot served by nobody: the script is told it is not local.
    let _: () = q(&mut c, &["CLUSTER", "DELSLOTS", "3300"]); // slot of "b"? checked below
    let slot: i64 = q(&mut c, &["CLUSTER", "KEYSLOT", "b"]);
    assert_eq!(slot, 3300);
    let e = server_error(&mut c, &["EVAL", "return redis.call('get', 'b')", "0"]);
    assert!(
        e.contains("Script attempted to access a non local key in a cluster node")
            || e.contains("cluster is down"),
        "{e}"
    );
}

/// redis-py's Lock scripts (redis/lock.py), run as redis-py runs them: EVALSHA, and on
/// NOSCRIPT, SCRIPT LOAD then EVALSHA.
const RELEASE: &str = "
    local token = redis.call('get', KEYS[1])
    if not token or token ~= ARGV[1] then
        return 0
    end
    redis.call('del', KEYS[1])
    return 1
";
const EXTEND: &str = "
    local token = redis.call('get', KEYS[1])
    if not token or token ~= ARGV[1] then
        return 0
    end
    local expiration = redis.call('pttl', KEYS[1])
    if not expiration then
        expiration = 0
    end
    if expiration < 0 then
        return 0
    end

    local newttl = ARGV[2]
    if ARGV[3] == \"0\" then
        newttl = ARGV[2] + expiration
    end
    redis.call('pexpire', KEYS[1], newttl)
    return 1
";
const REACQUIRE: &str = "
    local token = redis.call('get', KEYS[1])
    if not token or token ~= ARGV[1] then
        return 0
    end
    redis.call('pexpire', KEYS[1], ARGV[2])
    return 1
";

#[test]
fn redis_py_lock_acquire_extend_reacquire_release() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    let release = redis::Script::new(RELEASE);
    let extend = redis::Script::new(EXTEND);
    let reacquire = redis::Script::new(REACQUIRE);
    // acquire: SET NX PX.
    let got: Option<String> = q(&mut a, &["SET", "job", "tok-a", "NX", "PX", "10000"]);
    assert_eq!(got.as_deref(), Some("OK"));
    let other: Option<String> = q(&mut b, &["SET", "job", "tok-b", "NX", "PX", "10000"]);
    assert_eq!(other, None, "the lock is held");
    // extend by 10 s (additive), then replace the TTL.
    let n: i64 = extend
        .key("job")
        .arg("tok-a")
        .arg(10000)
        .arg("0")
        .invoke(&mut a)
        .unwrap();
    assert_eq!(n, 1);
    let pttl: i64 = q(&mut a, &["PTTL", "job"]);
    assert!(pttl > 10000 && pttl <= 20000, "{pttl}");
    let n: i64 = extend
        .key("job")
        .arg("tok-a")
        .arg(5000)
        .arg("1")
        .invoke(&mut a)
        .unwrap();
    assert_eq!(n, 1);
    let pttl: i64 = q(&mut a, &["PTTL", "job"]);
    assert!(pttl > 0 && pttl <= 5000, "{pttl}");
    // Another token can neither extend nor release.
    let n: i64 = extend
        .key("job")
        .arg("tok-b")
        .arg(1)
        .arg("0")
        .invoke(&mut b)
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = release.key("job").arg("tok-b").invoke(&mut b).unwrap();
    assert_eq!(n, 0);
    let n: i64 = reacquire
        .key("job")
        .arg("tok-a")
        .arg(60000)
        .invoke(&mut a)
        .unwrap();
    assert_eq!(n, 1);
    // A second client blocking in acquire (redis-py polls SET NX every `sleep`) gets the
    // lock once the holder releases it.
    let url = node.url();
    let waiter = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..200 {
            let got: Option<String> = redis::cmd("SET")
                .arg("job")
                .arg("tok-b")
                .arg("NX")
                .arg("PX")
                .arg(10000)
                .query(&mut c)
                .unwrap();
            if got.is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    });
    std::thread::sleep(Duration::from_millis(50));
    let n: i64 = release.key("job").arg("tok-a").invoke(&mut a).unwrap();
    assert_eq!(n, 1);
    assert!(
        waiter.join().unwrap(),
        "the waiting client never got the lock"
    );
    let holder: String = q(&mut a, &["GET", "job"]);
    assert_eq!(holder, "tok-b");
}

#[test]
fn a_long_script_makes_others_busy_and_script_kill_stops_it() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let url = node.url();
    let runner = std::thread::spawn(move || {
        let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
        let e: redis::RedisResult<Value> = redis::cmd("EVAL")
            .arg("local i = 0 while true do i = i + 1 end")
            .arg(0)
            .query(&mut r);
        e.unwrap_err().to_string()
    });
    // Other clients get BUSY without waiting for the script.
    let busy = wait_for(Duration::from_secs(10), || {
        let r: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
        r.err().map(|e| e.to_string())
    })
    .expect("BUSY while the script runs");
    assert!(busy.contains("Redis is busy running a script"), "{busy}");
    // FUNCTION KILL does not stop EVAL: it says which KILL does.
    assert_eq!(
        server_error(&mut c, &["FUNCTION", "KILL"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    let _: () = q(&mut c, &["SCRIPT", "KILL"]);
    let ended = runner.join().unwrap();
    assert!(
        ended.contains("Script killed by user with SCRIPT KILL"),
        "{ended}"
    );
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
    // A script that wrote cannot be killed; it ends by itself (here after 500 ms).
    let url = node.url();
    let writer = std::thread::spawn(move || {
        let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
        let v: i64 = redis::cmd("EVAL")
            .arg(
                "redis.call('set', 'w', 1) local t = redis.call('time') \
                 local start = t[1] * 1000000 + t[2] \
                 repeat t = redis.call('time') until t[1] * 1000000 + t[2] - start > 500000 \
                 return 1",
            )
            .arg(0)
            .query(&mut r)
            .unwrap();
        v
    });
    let refused = wait_for(Duration::from_secs(10), || {
        let r: redis::RedisResult<()> = redis::cmd("SCRIPT").arg("KILL").query(&mut c);
        r.err()
            .map(|e| e.to_string())
            .filter(|e| e.contains("UNKILLABLE"))
    });
    assert!(
        refused.is_some(),
        "SCRIPT KILL of a script that wrote is refused"
    );
    assert_eq!(writer.join().unwrap(), 1);
    let w: i64 = q(&mut c, &["GET", "w"]);
    assert_eq!(w, 1);
}

/// Hex of a script's string result, as the Tcl suite checks packed bytes.
const HEX: &str =
    "local h = '' for i = 1, #s do h = h .. string.format('%02x', string.byte(s, i)) end return h";

#[test]
fn cjson_cmsgpack_and_struct_behave_as_redis_bundles_them() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let s = |c: &mut redis::Connection, script: &str| eval(c, script, &[], &[]);
    // cjson: arrays, objects, escapes, numbers as %.14g, null, settings.
    assert_eq!(
        s(&mut c, "return cjson.encode({1, 'a/\\n', {x=true}})"),
        bulk(r#"[1,"a\/\n",{"x":true}]"#)
    );
    assert_eq!(s(&mut c, "return cjson.encode({})"), bulk("{}"));
    assert_eq!(
        s(
            &mut c,
            "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"
        ),
        bulk("0 -5000 -1 0.0003 1023.2 0")
    );
    assert_eq!(
        s(
            &mut c,
            r#"local t = cjson.decode('{"a":"\\u00e9","n":null}') return {t.a, tostring(t.n == cjson.null)}"#
        ),
        Value::Array(vec![bulk("\u{e9}"), bulk("true")])
    );
    let e = eval_err(&mut c, "return cjson.decode('[1,')", &[]);
    assert!(
        e.starts_with("ERR user_script:1: Expected value but found T_END at character 4 script: ")
            && e.ends_with(", on @user_script:1."),
        "{e}"
    );
    assert!(eval_err(&mut c, "return cjson.encode({[1]=1,[20]=2})", &[])
        .contains("Cannot serialise table: excessively sparse array"));
    assert_eq!(
        s(&mut c, "cjson.encode_invalid_numbers(true) local r = cjson.encode({0/0}) cjson.encode_invalid_numbers(false) return r"),
        bulk("[nan]")
    );
    assert_eq!(
        s(&mut c, "return cjson.encode_number_precision(3) .. cjson.encode(1/3) .. cjson.encode_number_precision(14)"),
        bulk("30.33314")
    );
    // cmsgpack: the Tcl suite's byte strings, and a stream unpacked piece by piece.
    assert_eq!(
        s(&mut c, &format!("local s = cmsgpack.pack(0.1) {HEX}")),
        bulk("cb3fb999999999999a")
    );
    assert_eq!(
        s(
            &mut c,
            &format!("local s = cmsgpack.pack({{1, 'ab', true, {{x=-1}}}}, nil) {HEX}")
        ),
        bulk("9401a26162c381a178ffc0")
    );
    assert_eq!(
        s(&mut c, "local s = cmsgpack.pack(1, 'two', 3) local o, a = cmsgpack.unpack_limit(s, 2, 0) local o2, b = cmsgpack.unpack_one(s, o) return {o, a, b, o2}"),
        Value::Array(vec![Value::Int(5), Value::Int(1), Value::Int(3), Value::Int(-1)])
    );
    // struct: sizes, alignment, endianness, c0.
    assert_eq!(
        s(
            &mut c,
            &format!("local s = struct.pack('>I2i4', 258, -2) {HEX}")
        ),
        bulk("0102fffffffe")
    );
    assert_eq!(
        s(
            &mut c,
            "return {struct.unpack('>I2i4', struct.pack('>I2i4', 258, -2))}"
        ),
        Value::Array(vec![Value::Int(258), Value::Int(-2), Value::Int(7)])
    );
    assert_eq!(s(&mut c, "return struct.size('!4bi')"), Value::Int(8));
    assert_eq!(
        s(
            &mut c,
            "return {struct.unpack('Bc0', struct.pack('Bc0', 3, 'abc'))}"
        ),
        Value::Array(vec![bulk("abc"), Value::Int(5)])
    );
    // Hostile inputs (the cases behind CVE-2022-24834) fail with the libraries' errors, and
    // the node carries on.
    for (script, error) in [
        ("return cjson.decode(string.rep('[', 1000000))", "Found too many nested data structures (1001)"),
        ("cjson.decode_max_depth(2147483647) local ok, e = pcall(cjson.decode, string.rep('[', 1000000)) cjson.decode_max_depth(1000) error(e)", "Found too many nested data structures"),
        ("local t = {} t[1] = t return cjson.encode(t)", "Cannot serialise, excessive nesting (1001)"),
        ("return cmsgpack.unpack(string.rep('\\145', 1000000))", "stack overflow (in function mp_decode_to_lua_array)"),
        ("return cmsgpack.unpack('\\221\\255\\255\\255\\255')", "Missing bytes in input."),
        ("return cmsgpack.unpack('\\219\\255\\255\\255\\255')", "Missing bytes in input."),
        ("return struct.pack('i99999999999', 1)", "integral size overflow"),
        ("return struct.pack('i33', 1)", "integral size 33 is larger than limit of 32"),
        ("return struct.unpack('c2147483647', 'abc')", "data string too short"),
        ("return struct.unpack('i4c0', struct.pack('i4', -1))", "data string too short"),
    ] {
        let e = eval_err(&mut c, script, &[]);
        assert!(e.contains(error), "{script}: {e}");
    }
    // A circular table packs to 16 levels, then nil (as the suite checks).
    assert_eq!(
        s(
            &mut c,
            "local a = {} a[1] = a local s = cmsgpack.pack(a) return #s"
        ),
        Value::Int(17)
    );
    assert_eq!(
        q::<Value>(&mut c, &["PING"]),
        Value::SimpleString("PONG".into())
    );
    // The libraries are read-only.
    assert!(eval_err(&mut c, "cjson.encode = function() end", &[])
        .contains("Attempt to modify a readonly table"));
}

/// Compiled scripts and library functions are kept inside the VM, not as handles held from
/// Rust (mlua's auxiliary stack, 8000 slots): ten thousand of each keep working.
#[test]
fn ten_thousand_scripts_and_functions_keep_working() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let first: String = q(&mut c, &["SCRIPT", "LOAD", "return 0"]);
    let mut pipe = redis::pipe();
    for i in 1..10_000 {
        pipe.cmd("SCRIPT")
            .arg("LOAD")
            .arg(format!("return {i}"))
            .ignore();
    }
    pipe.query::<()>(&mut c).expect("10000 SCRIPT LOADs");
    assert_eq!(eval(&mut c, "return 10000", &[], &[]), Value::Int(10000));
    let v: Value = redis::cmd("EVALSHA")
        .arg(&first)
        .arg(0)
        .query(&mut c)
        .expect("EVALSHA of the first of 10,000 scripts");
    assert_eq!(v, Value::Int(0));
    let sha: String = q(&mut c, &["SCRIPT", "LOAD", "return 1234"]);
    let v: Value = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Int(1234));
    let lib = "#!lua name=many\nfor i = 1, 10000 do redis.register_function('f' .. i, function() return i end) end";
    let name: String = q(&mut c, &["FUNCTION", "LOAD", lib]);
    assert_eq!(name, "many");
    let v: Value = q(&mut c, &["FCALL", "f9999", "0"]);
    assert_eq!(v, Value::Int(9999));
    // Replaced, deleted, loaded again: the functions keep answering.
    let _: String = q(&mut c, &["FUNCTION", "LOAD", "REPLACE", lib]);
    let _: Value = q(&mut c, &["FUNCTION", "DELETE", "many"]);
    let _: String = q(&mut c, &["FUNCTION", "LOAD", lib]);
    let v: Value = q(&mut c, &["FCALL", "f1", "0"]);
    assert_eq!(v, Value::Int(1));
    // redis.call from a script with any argument types still answers as before.
    assert_eq!(
        eval(
            &mut c,
            "return redis.pcall('SET', 'k', {})['err']",
            &[],
            &[]
        ),
        bulk("ERR Lua redis lib command arguments must be strings or integers")
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.call('SET', 'n', 1.5) return redis.call('GET', 'n')",
            &[],
            &[]
        ),
        bulk("1.5")
    );
}

fn memory_figure(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = q(c, &["INFO", "memory"]);
    cluster_tests::info_field(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO memory has no {field}"))
}

/// `lua-memory-limit` (slotcache's own): a script that allocates past it fails with "not
/// enough memory", and the node and the VM carry on; INFO memory reports both VMs, the
/// cached scripts and the libraries, and SCRIPT FLUSH / FUNCTION FLUSH give their VMs back.
#[test]
fn lua_memory_limit_fails_the_script_not_the_node() {
    let node = Node::start(&["--lua-memory-limit", "4mb"]);
    let mut c = node.client();
    let hog = "local t = {} for i = 1, 1000000 do t[i] = string.rep('x', 100) .. i end return #t";
    let e = eval_err(&mut c, hog, &[]);
    assert!(
        e.starts_with("ERR Error running script ") && e.ends_with(", not enough memory"),
        "{e}"
    );
    assert_eq!(
        eval(&mut c, "return 'still here'", &[], &[]),
        bulk("still here")
    );
    let lib = "#!lua name=hog\nredis.register_function('hog', function() local t = {} for i = 1, 1000000 do t[i] = 'y' .. i end return #t end)";
    let _: String = q(&mut c, &["FUNCTION", "LOAD", lib]);
    let e = server_error(&mut c, &["FCALL", "hog", "0"]);
    assert_eq!(e, "ERR Error running script hog, not enough memory");
    assert!(memory_figure(&mut c, "used_memory_vm_functions") > 0);
    assert_eq!(memory_figure(&mut c, "number_of_functions"), 1);
    assert_eq!(
        memory_figure(&mut c, "used_memory_functions"),
        lib.len() as u64
    );
    assert!(memory_figure(&mut c, "used_memory_scripts") >= lib.len() as u64);
    // Lifted at runtime: the same function runs to its end.
    let _: () = q(&mut c, &["CONFIG", "SET", "lua-memory-limit", "0"]);
    assert_eq!(q::<i64>(&mut c, &["FCALL", "hog", "0"]), 1_000_000);
    assert!(memory_figure(&mut c, "used_memory_vm_functions") > 1_000_000);
    // SCRIPT FLUSH: a fresh VM (what Redis's test of a leak-free Lua stack checks).
    let _: () = q(&mut c, &["SCRIPT", "FLUSH"]);
    assert!(memory_figure(&mut c, "used_memory_lua") < 100 * 1024);
    assert_eq!(memory_figure(&mut c, "number_of_cached_scripts"), 0);
    let _: () = q(&mut c, &["FUNCTION", "FLUSH"]);
    assert!(memory_figure(&mut c, "used_memory_vm_functions") < 100 * 1024);
    assert_eq!(memory_figure(&mut c, "used_memory_functions"), 0);
    let v: Value = q(&mut c, &["CONFIG", "GET", "lua-memory-limit"]);
    assert_eq!(v, Value::Array(vec![bulk("lua-memory-limit"), bulk("0")]));
}

/// A script that wrote and never ends: SHUTDOWN (saving) is refused with BUSY, SHUTDOWN
/// NOSAVE stops the node, as Redis lets only NOSAVE through while a script is busy.
#[test]
fn shutdown_nosave_stops_a_node_whose_script_is_busy() {
    let mut node = Node::start(&["--busy-reply-threshold", "100"]);
    let mut c = node.client();
    let url = node.url();
    let _runner = std::thread::spawn(move || {
        let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: redis::RedisResult<Value> = redis::cmd("EVAL")
            .arg("redis.call('set', 'x', 1) while true do end")
            .arg(0)
            .query(&mut r);
    });
    let busy = wait_for(Duration::from_secs(10), || {
        let r: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
        r.err().map(|e| e.to_string())
    })
    .expect("BUSY while the script runs");
    assert!(busy.contains("Redis is busy running a script"), "{busy}");
    assert!(server_error(&mut c, &["SCRIPT", "KILL"]).starts_with("UNKILLABLE"));
    assert_eq!(
        server_error(&mut c, &["SHUTDOWN"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    let _: redis::RedisResult<Value> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut c);
    let status = node.wait_exit(10).expect("the node exits");
    assert!(status.success(), "{status:?}");
}

/// The commands that answer a script differently from a client (Redis's `CLIENT_SCRIPT`
/// checks), and the DEBUG switch Redis's own tests use to reach `noscript` commands.
#[test]
fn commands_that_answer_a_script_differently() {
    let node = Node::start(&["--enable-debug-command", "yes"]);
    let mut c = node.client();
    // XREAD / XREADGROUP may not ask to block from a script; without BLOCK they run.
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "s", "g", "$", "MKSTREAM"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        eval(
            &mut c,
            "return redis.pcall('xread','STREAMS',KEYS[1],'$')",
            &["s"],
            &[]
        ),
        Value::Nil
    );
    let e = eval_err(
        &mut c,
        "return redis.call('xread','BLOCK',0,'STREAMS',KEYS[1],'$')",
        &["s"],
    );
    assert!(
        e.contains("xread command is not allowed with BLOCK option from scripts"),
        "{e}"
    );
    let e = eval_err(
        &mut c,
        "return redis.call('XREADGROUP','GROUP','g','c','BLOCK',0,'STREAMS',KEYS[1],'>')",
        &["s"],
    );
    assert!(
        e.contains("XREADGROUP command is not allowed with BLOCK option from scripts"),
        "{e}"
    );
    // SORT BY a constant pattern leaves a client's set unsorted, but a script gets it in
    // lexicographic order (its effects must be the same on every replica).
    let members = ["z", "aa", "b", "a", "azz", "c", "1", "10", "2"];
    let _: i64 = redis::cmd("SADD")
        .arg("myset")
        .arg(&members)
        .query(&mut c)
        .unwrap();
    let sorted = eval(
        &mut c,
        "return redis.call('sort',KEYS[1],'by','_')",
        &["myset"],
        &[],
    );
    let mut want: Vec<&str> = members.to_vec();
    want.sort_unstable();
    assert_eq!(sorted, Value::Array(want.iter().map(|m| bulk(m)).collect()));
    // DEBUG is `noscript` unless DEBUG SET-DISABLE-DENY-SCRIPTS 1.
    let e = eval_err(
        &mut c,
        "return redis.call('debug','protocol','bignum')",
        &[],
    );
    assert!(
        e.contains("This Redis command is not allowed from script"),
        "{e}"
    );
    let _: () = redis::cmd("DEBUG")
        .arg(&["SET-DISABLE-DENY-SCRIPTS", "1"])
        .query(&mut c)
        .unwrap();
    let big = eval(
        &mut c,
        "return redis.call('debug','protocol','bignum')",
        &[],
        &[],
    );
    assert_eq!(big, bulk("1234567999999999999999999999999999999"));
    // Time stands still inside a script: a key set to expire in 1 ms is still there after
    // the script waited 10 ms, and gone for the next command.
    let script = "redis.call('SET', KEYS[1], 'v', 'PX', 1) \
                  redis.call('DEBUG', 'SLEEP', 0.01) \
                  return redis.call('EXISTS', KEYS[1])";
    assert_eq!(eval(&mut c, script, &["frozen"], &[]), Value::Int(1));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "frozen"]), 0);
    let _: () = redis::cmd("DEBUG")
        .arg(&["SET-DISABLE-DENY-SCRIPTS", "0"])
        .query(&mut c)
        .unwrap();
    let e = eval_err(
        &mut c,
        "return redis.call('debug','protocol','bignum')",
        &[],
    );
    assert!(e.contains("not allowed from script"), "{e}");
    // DEBUG OBJECT sees a key that expired but was not reclaimed yet; a script's read
    // reclaims it.
    let _: () = redis::cmd("DEBUG")
        .arg(&["SET-ACTIVE-EXPIRE", "0"])
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&["gone", "v", "PX", "1"])
        .query(&mut c)
        .unwrap();
    // The server waits out the millisecond (reading the key would reclaim it).
    let _: () = redis::cmd("DEBUG")
        .arg(&["SLEEP", "0.01"])
        .query(&mut c)
        .unwrap();
    let obj: String = redis::cmd("DEBUG")
        .arg(&["OBJECT", "gone"])
        .query(&mut c)
        .expect("DEBUG OBJECT of an expired, unreclaimed key");
    assert!(obj.starts_with("Value at:"), "{obj}");
    assert_eq!(
        eval(
            &mut c,
            "return redis.call('EXISTS',KEYS[1])",
            &["gone"],
            &[]
        ),
        Value::Int(0)
    );
    let e = server_error(&mut c, &["DEBUG", "OBJECT", "gone"]);
    assert_eq!(e, "ERR no such key");
}
