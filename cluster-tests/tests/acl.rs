//! ACL users and permissions through stock clients: command, key (read vs write) and
//! channel rules, selectors, the ACL log, AUTH / HELLO, DRYRUN, the ACL file, and an ACL
//! user driving `redis-cli --cluster create` and `reshard`, a replica logging in to its
//! primary with `masteruser`/`masterauth`. Texts are Redis 7.0.15's.

use cluster_tests::{
    info_field, q, raw_exchange, read_to_close, run_tool, server_error, wait_for, Node,
};
use redis::Value;
use std::collections::HashMap;
use std::time::Duration;

/// A connection logged in as `user` (the `redis` crate sends `AUTH user pass`).
fn login(node: &Node, user: &str, pass: &str) -> redis::Connection {
    let url = format!("redis://{user}:{pass}@{}:{}/", node.host, node.port);
    let c = redis::Client::open(url).expect("url");
    let con = c
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("log in");
    con.set_read_timeout(Some(Duration::from_secs(10))).ok();
    con
}

fn setuser(c: &mut redis::Connection, user: &str, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER", user];
    args.extend_from_slice(rules);
    let _: () = q(c, &args);
}

/// A map reply (ACL GETUSER, an ACL LOG entry) as field -> value.
fn fields(v: &Value) -> HashMap<String, Value> {
    let pairs: Vec<(String, Value)> = match v {
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (redis::from_redis_value(k).unwrap(), v.clone()))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .map(|p| (redis::from_redis_value(&p[0]).unwrap(), p[1].clone()))
            .collect(),
        other => panic!("not a map: {other:?}"),
    };
    pairs.into_iter().collect()
}

fn text(v: &Value) -> String {
    redis::from_redis_value(v).unwrap()
}

#[test]
fn command_rules_categories_and_subcommands() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "app",
        &[
            "on",
            ">s3cret",
            "~*",
            "+@read",
            "-@dangerous",
            "+client|id",
            "+set",
            "+acl|whoami",
        ],
    );
    let mut app = login(&node, "app", "s3cret");
    let _: () = q(&mut app, &["SET", "k", "v"]);
    let v: String = q(&mut app, &["GET", "k"]);
    assert_eq!(v, "v");
    let _: i64 = q(&mut app, &["CLIENT", "ID"]);
    assert_eq!(
        server_error(&mut app, &["DEL", "k"]),
        "NOPERM this user has no permissions to run the 'del' command"
    );
    assert_eq!(
        server_error(&mut app, &["CLIENT", "LIST"]),
        "NOPERM this user has no permissions to run the 'client|list' command"
    );
    // KEYS is read but dangerous: the later rule wins.
    assert_eq!(
        server_error(&mut app, &["KEYS", "*"]),
        "NOPERM this user has no permissions to run the 'keys' command"
    );
    let who: String = q(&mut app, &["ACL", "WHOAMI"]);
    assert_eq!(who, "app");
    // Unknown names are refused, and nothing of the line applies.
    assert_eq!(
        server_error(&mut admin, &["ACL", "SETUSER", "app", "+get", "+nosuch"]),
        "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(
        server_error(&mut admin, &["ACL", "SETUSER", "app", "+@nosuch"]),
        "ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL"
    );
    // Rules as Redis describes them.
    setuser(&mut admin, "d", &["on", "nopass", "~k*", "&ch", "+get"]);
    let list: Vec<String> = q(&mut admin, &["ACL", "LIST"]);
    assert!(
        list.contains(&"user d on nopass ~k* resetchannels &ch -@all +get".to_string()),
        "{list:?}"
    );
    assert!(
        list.contains(&"user default on nopass ~* &* +@all".to_string()),
        "{list:?}"
    );
    setuser(&mut admin, "e", &["+@all", "-client", "+client|id"]);
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "e"]);
    let f = fields(&u);
    assert_eq!(text(&f["commands"]), "+@all -client +client|id");
    assert_eq!(text(&f["keys"]), "");
    assert_eq!(text(&f["channels"]), "");
    setuser(&mut admin, "f", &["-@all", "+@string", "-incr"]);
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "f"]);
    assert_eq!(text(&fields(&u)["commands"]), "-@all +@string -incr");
    let users: Vec<String> = q(&mut admin, &["ACL", "USERS"]);
    assert_eq!(users, vec!["app", "d", "default", "e", "f"]);
    let cats: Vec<String> = q(&mut admin, &["ACL", "CAT"]);
    assert_eq!(cats.len(), 21);
    assert_eq!(cats[0], "keyspace");
    let geo: Vec<String> = q(&mut admin, &["ACL", "CAT", "geo"]);
    assert!(geo.contains(&"geoadd".to_string()) && !geo.contains(&"get".to_string()));
    assert_eq!(
        server_error(&mut admin, &["ACL", "CAT", "nosuch"]),
        "ERR Unknown category 'nosuch'"
    );
    let pass: String = q(&mut admin, &["ACL", "GENPASS"]);
    assert_eq!(pass.len(), 64);
    let pass: String = q(&mut admin, &["ACL", "GENPASS", "5"]);
    assert_eq!(pass.len(), 2);
}

#[test]
fn key_patterns_tell_reads_from_writes() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "rw",
        &["on", "nopass", "+@all", "%R~read*", "%W~write*", "~both*"],
    );
    let _: () = q(&mut admin, &["SET", "read1", "r"]);
    let _: () = q(&mut admin, &["SET", "write1", "w"]);
    let mut c = login(&node, "rw", "x");
    let v: String = q(&mut c, &["GET", "read1"]);
    assert_eq!(v, "r");
    let _: () = q(&mut c, &["SET", "write2", "w"]);
    let _: () = q(&mut c, &["SET", "both1", "b"]);
    let keyerr = "NOPERM this user has no permissions to access one of the keys used as arguments";
    assert_eq!(server_error(&mut c, &["SET", "read1", "x"]), keyerr);
    assert_eq!(server_error(&mut c, &["GET", "write1"]), keyerr);
    // COPY reads its source and writes its destination.
    let n: i64 = q(&mut c, &["COPY", "read1", "write3"]);
    assert_eq!(n, 1);
    assert_eq!(server_error(&mut c, &["COPY", "write1", "read3"]), keyerr);
    let dry: String = q(&mut admin, &["ACL", "DRYRUN", "rw", "GET", "read1"]);
    assert_eq!(dry, "OK");
    let dry: String = q(&mut admin, &["ACL", "DRYRUN", "rw", "SET", "read1", "v"]);
    assert_eq!(
        dry,
        "This user has no permissions to access the 'read1' key"
    );
    let dry: String = q(
        &mut admin,
        &["ACL", "DRYRUN", "rw", "MSET", "both1", "1", "nope", "2"],
    );
    assert_eq!(dry, "This user has no permissions to access the 'nope' key");
    assert_eq!(
        server_error(&mut admin, &["ACL", "DRYRUN", "nobody", "GET", "k"]),
        "ERR User 'nobody' not found"
    );
    assert_eq!(
        server_error(&mut admin, &["ACL", "DRYRUN", "rw", "NOSUCH", "k"]),
        "ERR Command 'NOSUCH' not found"
    );
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "rw"]);
    assert_eq!(text(&fields(&u)["keys"]), "%R~read* %W~write* ~both*");
}

#[test]
fn channel_rules_and_revoked_subscribers() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "ps",
        &["on", "nopass", "+@all", "~*", "&news.*"],
    );
    let mut c = login(&node, "ps", "x");
    let n: i64 = q(&mut c, &["PUBLISH", "news.1", "m"]);
    assert_eq!(n, 0);
    let chanerr =
        "NOPERM this user has no permissions to access one of the channels used as arguments";
    assert_eq!(server_error(&mut c, &["PUBLISH", "other", "m"]), chanerr);
    assert_eq!(
        server_error(&mut c, &["SUBSCRIBE", "news.1", "other"]),
        chanerr
    );
    assert_eq!(server_error(&mut c, &["PSUBSCRIBE", "news.a*"]), chanerr);
    assert_eq!(server_error(&mut c, &["SPUBLISH", "other", "m"]), chanerr);
    let dry: String = q(&mut admin, &["ACL", "DRYRUN", "ps", "PUBLISH", "x", "m"]);
    assert_eq!(
        dry,
        "This user has no permissions to access the 'x' channel"
    );
    // A subscriber whose channel is revoked is disconnected.
    let mut sub = node.raw();
    let want = "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.1\r\n:1\r\n";
    let got = raw_exchange(&mut sub, b"AUTH ps x\r\nSUBSCRIBE news.1\r\n", want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    // Channels it does not use may go; the subscriber stays.
    setuser(&mut admin, "ps", &["&more"]);
    setuser(&mut admin, "ps", &["resetchannels", "&other"]);
    let (_, closed) = read_to_close(&mut sub, Duration::from_secs(5));
    assert!(closed, "the revoked subscriber was not disconnected");
    let list: String = q(&mut admin, &["CLIENT", "LIST"]);
    assert_eq!(list.matches("user=ps").count(), 1, "{list}");
    // New users start with no channels (acl-pubsub-default resetchannels).
    setuser(&mut admin, "fresh", &[]);
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "fresh"]);
    assert_eq!(text(&fields(&u)["channels"]), "");
    let _: () = q(
        &mut admin,
        &["CONFIG", "SET", "acl-pubsub-default", "allchannels"],
    );
    setuser(&mut admin, "fresh2", &[]);
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "fresh2"]);
    assert_eq!(text(&fields(&u)["channels"]), "&*");
}

#[test]
fn selectors_add_permissions_of_their_own() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "sel",
        &[
            "on",
            "nopass",
            "+get",
            "~app:*",
            "(~cache:*",
            "+set)",
            "(+@hash ~h*)",
        ],
    );
    let mut c = login(&node, "sel", "x");
    let _: () = q(&mut c, &["SET", "cache:1", "v"]);
    let _: Option<String> = q(&mut c, &["GET", "app:1"]);
    let _: i64 = q(&mut c, &["HSET", "h1", "f", "v"]);
    // GET of cache:* is in no selector: the root allows GET but not the key, the first
    // selector the key but not GET.
    assert_eq!(
        server_error(&mut c, &["GET", "cache:1"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        server_error(&mut c, &["SET", "app:1", "v"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        server_error(&mut c, &["DEL", "app:1"]),
        "NOPERM this user has no permissions to run the 'del' command"
    );
    let list: Vec<String> = q(&mut admin, &["ACL", "LIST"]);
    let line = list.iter().find(|l| l.starts_with("user sel ")).unwrap();
    assert_eq!(
        line,
        "user sel on nopass ~app:* resetchannels -@all +get (~cache:* resetchannels -@all +set) (~h* resetchannels -@all +@hash)"
    );
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "sel"]);
    let f = fields(&u);
    let Value::Array(sels) = &f["selectors"] else {
        panic!("selectors: {:?}", f["selectors"]);
    };
    assert_eq!(sels.len(), 2);
    assert_eq!(text(&fields(&sels[0])["keys"]), "~cache:*");
    setuser(&mut admin, "sel", &["clearselectors"]);
    assert_eq!(
        server_error(&mut c, &["SET", "cache:1", "v"]),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    assert_eq!(
        server_error(&mut admin, &["ACL", "SETUSER", "sel", "(~x", "+get"]),
        "ERR Unmatched parenthesis in acl selector starting at '(~x'."
    );
}

#[test]
fn acl_log_records_denials_in_their_context() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "lg",
        &["on", ">pw", "~obj:*", "+get", "+multi", "+exec", "+eval"],
    );
    let mut c = login(&node, "lg", "pw");
    let _: () = q(&mut admin, &["ACL", "LOG", "RESET"]);
    for _ in 0..3 {
        let _ = server_error(&mut c, &["SET", "obj:1", "v"]);
    }
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG"]);
    assert_eq!(log.len(), 1, "similar events fold into one entry");
    let e = fields(&log[0]);
    assert_eq!(redis::from_redis_value::<i64>(&e["count"]).unwrap(), 3);
    assert_eq!(text(&e["reason"]), "command");
    assert_eq!(text(&e["context"]), "toplevel");
    assert_eq!(text(&e["object"]), "set");
    assert_eq!(text(&e["username"]), "lg");
    assert!(text(&e["client-info"]).contains("user=lg"));
    let mut keys: Vec<&String> = e.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "age-seconds",
            "client-info",
            "context",
            "count",
            "object",
            "reason",
            "username"
        ]
    );
    // A key, inside MULTI: the command is refused when queued and EXEC aborts.
    let _: () = q(&mut c, &["MULTI"]);
    let _ = server_error(&mut c, &["GET", "other"]);
    assert_eq!(
        server_error(&mut c, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let e = fields(&log[0]);
    assert_eq!(
        (text(&e["reason"]), text(&e["context"]), text(&e["object"])),
        ("key".into(), "multi".into(), "other".into())
    );
    // Inside a script, for a key it does not declare.
    let r: redis::RedisResult<Value> = redis::cmd("EVAL")
        .arg("return redis.call('get', 'other')")
        .arg(0)
        .query(&mut c);
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("The user executing the script can't access at least one of the keys mentioned in the command arguments"),
        "{err}"
    );
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let e = fields(&log[0]);
    assert_eq!(
        (text(&e["reason"]), text(&e["context"]), text(&e["object"])),
        ("key".into(), "lua".into(), "other".into())
    );
    // A failed login.
    let _ = server_error(&mut c, &["AUTH", "lg", "wrong"]);
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG", "1"]);
    let e = fields(&log[0]);
    assert_eq!(
        (text(&e["reason"]), text(&e["object"]), text(&e["username"])),
        ("auth".into(), "AUTH".into(), "lg".into())
    );
    let _: () = q(&mut admin, &["CONFIG", "SET", "acllog-max-len", "2"]);
    let _ = server_error(&mut c, &["GET", "a"]);
    let _ = server_error(&mut c, &["GET", "b"]);
    let _ = server_error(&mut c, &["GET", "c"]);
    let log: Vec<Value> = q(&mut admin, &["ACL", "LOG"]);
    assert_eq!(log.len(), 2);
}

#[test]
fn rules_changed_before_exec_refuse_the_queued_command() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "tx",
        &["on", "nopass", "~*", "+multi", "+exec", "+set"],
    );
    let mut s = node.raw();
    // Denied when queued: the transaction is doomed.
    setuser(&mut admin, "tx", &["-set"]);
    let want = "+OK\r\n+OK\r\n-NOPERM this user has no permissions to run the 'set' command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n";
    let got = raw_exchange(
        &mut s,
        b"AUTH tx x\r\nMULTI\r\nSET k v\r\nEXEC\r\n",
        want.len(),
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
    // Allowed when queued, denied by EXEC's time.
    setuser(&mut admin, "tx", &["+set"]);
    let mut s = node.raw();
    let _ = raw_exchange(
        &mut s,
        b"AUTH tx x\r\nMULTI\r\nSET k v\r\n",
        "+OK\r\n+OK\r\n+QUEUED\r\n".len(),
    );
    setuser(&mut admin, "tx", &["-set"]);
    let want = "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n";
    let got = raw_exchange(&mut s, b"EXEC\r\n", want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    let v: Option<String> = q(&mut admin, &["GET", "k"]);
    assert_eq!(v, None);
}

#[test]
fn auth_hello_requirepass_and_disconnects() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(&mut admin, "bob", &["on", ">pw1", ">pw2", "+@all", "~*"]);
    assert_eq!(
        server_error(&mut admin, &["AUTH", "bob", "nope"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(
        server_error(&mut admin, &["AUTH", "pw"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    let mut c = node.client_resp3();
    let hello: Value = redis::cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("bob")
        .arg("pw2")
        .arg("SETNAME")
        .arg("bobconn")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        redis::from_redis_value::<i64>(&fields(&hello)["proto"]).unwrap(),
        3
    );
    let who: String = q(&mut c, &["ACL", "WHOAMI"]);
    assert_eq!(who, "bob");
    let info: String = q(&mut c, &["CLIENT", "INFO"]);
    assert!(
        info.contains("name=bobconn") && info.contains("user=bob"),
        "{info}"
    );
    // `<pw1` removes one password; `off` refuses logins.
    setuser(&mut admin, "bob", &["<pw1"]);
    assert!(server_error(&mut admin, &["AUTH", "bob", "pw1"]).starts_with("WRONGPASS"));
    setuser(
        &mut admin,
        "hashed",
        &["on", &format!("#{}", sha_of("letmein")), "+ping"],
    );
    let mut hc = login(&node, "hashed", "letmein");
    let pong: String = q(&mut hc, &["PING"]);
    assert_eq!(pong, "PONG");
    assert_eq!(
        server_error(&mut admin, &["ACL", "SETUSER", "x", "#abc"]),
        "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
    );
    // CLIENT KILL USER, and a deleted user's clients are disconnected.
    let n: i64 = q(&mut admin, &["CLIENT", "KILL", "USER", "hashed"]);
    assert_eq!(n, 1);
    assert_eq!(
        server_error(&mut admin, &["CLIENT", "KILL", "USER", "nobody"]),
        "ERR No such user 'nobody'"
    );
    let deleted: i64 = q(&mut admin, &["ACL", "DELUSER", "bob", "nobody"]);
    assert_eq!(deleted, 1);
    let r: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
    assert!(r.is_err(), "a deleted user's client is disconnected");
    assert_eq!(
        server_error(&mut admin, &["ACL", "DELUSER", "default"]),
        "ERR The 'default' user cannot be removed"
    );
    // requirepass is the default user's password.
    let _: () = q(&mut admin, &["CONFIG", "SET", "requirepass", "topsecret"]);
    let u: Value = q(&mut admin, &["ACL", "GETUSER", "default"]);
    let Value::Array(pw) = &fields(&u)["passwords"] else {
        panic!()
    };
    assert_eq!(text(&pw[0]), sha_of("topsecret"));
    let mut fresh = node.client();
    assert_eq!(
        server_error(&mut fresh, &["GET", "k"]),
        "NOAUTH Authentication required."
    );
    let _: () = q(&mut fresh, &["AUTH", "topsecret"]);
    let _: () = q(&mut fresh, &["AUTH", "default", "topsecret"]);
    let _: () = q(&mut fresh, &["CONFIG", "SET", "requirepass", ""]);
}

/// The SHA-256 hex of a password, computed with the system's sha256sum.
fn sha_of(pass: &str) -> String {
    let (ok, out) = run_tool("sha256sum", &[], Some(pass.as_bytes()));
    assert!(ok, "sha256sum: {out}");
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn acl_file_load_and_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser worker on >w ~jobs:* resetchannels -@all +get +set\n",
    )
    .unwrap();
    let p = path.to_str().unwrap().to_string();
    let node = Node::start(&["--aclfile", &p]);
    let mut admin = node.client();
    let users: Vec<String> = q(&mut admin, &["ACL", "USERS"]);
    assert_eq!(users, vec!["default", "worker"]);
    let mut w = login(&node, "worker", "w");
    let _: () = q(&mut w, &["SET", "jobs:1", "x"]);
    setuser(&mut admin, "extra", &["on", "nopass", "+ping"]);
    let _: () = q(&mut admin, &["ACL", "SAVE"]);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.contains("user extra on nopass resetchannels -@all +ping"),
        "{saved}"
    );
    assert!(
        saved.contains(&format!(
            "user worker on #{} ~jobs:* resetchannels -@all +get +set",
            sha_of("w")
        )),
        "{saved}"
    );
    // A broken file changes nothing.
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser bad on +nosuch\n",
    )
    .unwrap();
    let err = server_error(&mut admin, &["ACL", "LOAD"]);
    assert!(
        err.contains("Unknown command or category name in ACL"),
        "{err}"
    );
    assert!(err.ends_with("WARNING: ACL errors detected, no change to the previously active ACL rules was performed"), "{err}");
    let users: Vec<String> = q(&mut admin, &["ACL", "USERS"]);
    assert_eq!(users, vec!["default", "extra", "worker"]);
    // A good one replaces every user; the removed users' clients go.
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser other on nopass +@all ~*\n",
    )
    .unwrap();
    let _: () = q(&mut admin, &["ACL", "LOAD"]);
    let users: Vec<String> = q(&mut admin, &["ACL", "USERS"]);
    assert_eq!(users, vec!["default", "other"]);
    let r: redis::RedisResult<String> = redis::cmd("PING").query(&mut w);
    assert!(r.is_err(), "worker's client is disconnected");
    // Without an aclfile, LOAD and SAVE say so.
    let plain = Node::start(&[]);
    let mut pc = plain.client();
    assert!(server_error(&mut pc, &["ACL", "SAVE"])
        .starts_with("ERR This Redis instance is not configured to use an ACL file."));
}

#[test]
fn config_file_user_lines() {
    let node = Node::start_with_config("user default off\nuser ops on >opspw ~* &* +@all\n", &[]);
    let mut c = node.client();
    assert_eq!(
        server_error(&mut c, &["PING"]),
        "NOAUTH Authentication required."
    );
    let mut ops = login(&node, "ops", "opspw");
    let users: Vec<String> = q(&mut ops, &["ACL", "USERS"]);
    assert_eq!(users, vec!["default", "ops"]);
}

#[test]
fn acl_user_creates_and_reshards_a_cluster_with_redis_cli() {
    let conf = "user default off\nuser admin on >adminpw ~* &* +@all\n";
    let nodes: Vec<Node> = (0..3)
        .map(|_| {
            Node::start_with_config(
                conf,
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"],
            )
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect();
    let mut args: Vec<&str> = vec![
        "--user",
        "admin",
        "--pass",
        "adminpw",
        "--no-auth-warning",
        "--cluster",
        "create",
    ];
    args.extend(addrs.iter().map(|s| s.as_str()));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let (ok, out) = run_tool("redis-cli", &args, None);
    assert!(ok, "create: {out}");
    let ok = wait_for(Duration::from_secs(20), || {
        let mut a = login(&nodes[0], "admin", "adminpw");
        let info: String = q(&mut a, &["CLUSTER", "INFO"]);
        info.contains("cluster_state:ok").then_some(())
    });
    assert!(ok.is_some(), "cluster did not become ok");
    let mut a = login(&nodes[0], "admin", "adminpw");
    let mut cc = redis::cluster::ClusterClientBuilder::new(vec![format!(
        "redis://admin:adminpw@{}/",
        addrs[0]
    )])
    .build()
    .unwrap()
    .get_connection()
    .unwrap();
    // "{06S}" hashes to slot 0, among the first slots the reshard moves.
    for i in 0..5 {
        let _: () = redis::cmd("SET")
            .arg(format!("{{06S}}k{i}"))
            .arg(i)
            .query(&mut cc)
            .unwrap();
    }
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| {
            let mut c = login(n, "admin", "adminpw");
            q::<String>(&mut c, &["CLUSTER", "MYID"])
        })
        .collect();
    let args: Vec<&str> = vec![
        "--user",
        "admin",
        "--pass",
        "adminpw",
        "--no-auth-warning",
        "--cluster",
        "reshard",
        &addrs[0],
        "--cluster-from",
        &ids[0],
        "--cluster-to",
        &ids[1],
        "--cluster-slots",
        "100",
        "--cluster-yes",
    ];
    let (ok, out) = run_tool("redis-cli", &args, None);
    assert!(ok, "reshard: {out}");
    let slots: Vec<Value> = q(&mut a, &["CLUSTER", "SLOTS"]);
    assert_eq!(slots.len(), 4, "one range moved: {slots:?}");
    let dbsize: i64 = (0..3)
        .map(|i| {
            let mut c = login(&nodes[i], "admin", "adminpw");
            q::<i64>(&mut c, &["DBSIZE"])
        })
        .sum();
    assert_eq!(dbsize, 5, "no key lost");
    let moved: i64 = q(&mut login(&nodes[1], "admin", "adminpw"), &["DBSIZE"]);
    assert_eq!(moved, 5, "the keys of slot 0 moved with it");
}

/// A replica logs in to its primary as `masteruser` with `masterauth` (`AUTH user pass`)
/// and needs no more than PSYNC, REPLCONF and PING there; a user without PSYNC never gets a
/// link, and the primary's ACL log says why.
#[test]
fn replica_logs_in_with_masteruser() {
    let conf = "user default off\nuser repl on >replpw +psync +replconf +ping\nuser norepl on >nopw +replconf +ping\nuser admin on >adminpw ~* &* +@all\n";
    let primary = Node::start_with_config(conf, &[]);
    let mut admin = login(&primary, "admin", "adminpw");
    let _: () = q(&mut admin, &["SET", "k", "v"]);
    let port = primary.port.to_string();
    let replica = Node::start(&[
        "--replicaof",
        &primary.host,
        &port,
        "--masteruser",
        "repl",
        "--masterauth",
        "replpw",
    ]);
    let link = |n: &Node| {
        let info: String = q(&mut n.client(), &["INFO", "replication"]);
        info_field(&info, "master_link_status").unwrap_or_default()
    };
    let up = wait_for(Duration::from_secs(10), || {
        (link(&replica) == "up").then_some(())
    });
    assert!(up.is_some(), "the replica linked as 'repl'");
    let _: () = q(&mut admin, &["SET", "k2", "v2"]);
    let got = wait_for(Duration::from_secs(10), || {
        q::<Option<String>>(&mut replica.client(), &["GET", "k2"])
    });
    assert_eq!(got.as_deref(), Some("v2"));
    let v: Option<String> = q(&mut replica.client(), &["GET", "k"]);
    assert_eq!(v.as_deref(), Some("v"));
    let clients: String = q(&mut admin, &["CLIENT", "LIST", "TYPE", "replica"]);
    assert!(clients.contains("user=repl"), "{clients}");

    // A user that may not PSYNC: refused, logged, never linked.
    let _: () = q(&mut admin, &["ACL", "LOG", "RESET"]);
    let other = Node::start(&[
        "--replicaof",
        &primary.host,
        &port,
        "--masteruser",
        "norepl",
        "--masterauth",
        "nopw",
    ]);
    let logged = wait_for(Duration::from_secs(10), || {
        let log: Vec<Value> = q(&mut admin, &["ACL", "LOG"]);
        log.iter()
            .map(fields)
            .find(|e| text(&e["object"]) == "psync")
            .map(|e| (text(&e["reason"]), text(&e["username"])))
    });
    assert_eq!(logged, Some(("command".into(), "norepl".into())));
    assert_eq!(link(&other), "down");
}

/// `redis.acl_check_cmd` answers for the script's user: a command, a key, an unknown
/// command.
#[test]
fn scripts_ask_whether_their_user_may_run_a_command() {
    let node = Node::start(&[]);
    let mut admin = node.client();
    setuser(
        &mut admin,
        "sc",
        &["on", ">pw", "+@scripting", "+set", "~x*"],
    );
    let mut c = login(&node, "sc", "pw");
    let check = |c: &mut redis::Connection, call: &str| -> redis::RedisResult<Option<i64>> {
        redis::cmd("EVAL")
            .arg(format!("return redis.acl_check_cmd({call})"))
            .arg(1)
            .arg("xx")
            .query(c)
    };
    assert_eq!(check(&mut c, "'set','xx',1").unwrap(), Some(1));
    assert_eq!(check(&mut c, "'hset','xx','f',1").unwrap(), None);
    assert_eq!(check(&mut c, "'set','yy',1").unwrap(), None);
    let err = check(&mut c, "'invalid-cmd','arg'")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Invalid command passed to redis.acl_check_cmd()"),
        "{err}"
    );
    // The default user may run anything.
    assert_eq!(check(&mut admin, "'hset','yy','f',1").unwrap(), Some(1));
}
