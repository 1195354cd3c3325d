//! Expiry through the `redis` crate: the EXPIRE family and its NX/XX/GT/LT conditions, TTL
//! reads, PERSIST, lazy expiry on read, millisecond precision, and the active cycle that
//! reclaims keys nobody reads (and DEBUG SET-ACTIVE-EXPIRE switching it off).

use cluster_tests::{q, wait_for, Node};
use redis::{Connection, RedisResult, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: RedisResult<Value> = cmd.query(c);
    let e = r.expect_err(&format!("{args:?} should fail"));
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        _ => e.to_string(),
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn ttl_and_pttl_report_missing_persistent_and_volatile() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["TTL", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "nope"]), -2);
    let _: () = q(&mut c, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), 100);
    let pttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&pttl), "pttl {pttl}");
    let at: i64 = q(&mut c, &["PEXPIRETIME", "k"]);
    assert!(
        (at - (unix_ms() + 100_000)).abs() < 2000,
        "pexpiretime {at}"
    );
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "k"]), at / 1000);
    // TTL rounds to the nearest second.
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "k", "1600"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), 2);
    assert_eq!(
        err(&mut c, &["TTL"]),
        "ERR wrong number of arguments for 'ttl' command"
    );
}

#[test]
fn expireat_and_pexpireat_set_absolute_instants() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let at_s = unix_ms() / 1000 + 1000;
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "k", &at_s.to_string()]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "k"]), at_s);
    let at_ms = unix_ms() + 500_123;
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "k", &at_ms.to_string()]), 1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), at_ms);
    assert_eq!(
        q::<i64>(&mut c, &["EXPIREAT", "missing", &at_s.to_string()]),
        0
    );
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "missing", "10"]), 0);
}

#[test]
fn past_or_zero_instants_delete_the_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    for args in [
        ["EXPIRE", "k", "0"],
        ["EXPIRE", "k", "-10"],
        ["PEXPIRE", "k", "0"],
        ["EXPIREAT", "k", "1"],
        ["PEXPIREAT", "k", "100"],
    ] {
        let _: () = q(&mut c, &["SET", "k", "v"]);
        assert_eq!(q::<i64>(&mut c, &args), 1, "{args:?}");
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0, "{args:?}");
        assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0, "{args:?}");
    }
}

#[test]
fn expire_conditions_nx_xx_gt_lt() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    // No TTL yet: XX and GT fail, NX and LT succeed.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "nx"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), 100);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "200", "XX"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "300", "GT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "50", "LT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "60", "XX", "GT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), 60);
    let _: () = q(&mut c, &["SET", "p", "v"]);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "p", "5000", "LT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "missing", "5", "NX"]), 0);
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "5", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "5", "NX", "GT"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["PEXPIRE", "k", "5", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "5", "FOO"]),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        q::<i64>(&mut c, &["TTL", "k"]),
        60,
        "failed commands change nothing"
    );
}

#[test]
fn expire_argument_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
        assert_eq!(
            err(&mut c, &[cmd, "k", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(&mut c, &[cmd, "k"]),
            format!(
                "ERR wrong number of arguments for '{}' command",
                cmd.to_lowercase()
            )
        );
    }
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err(&mut c, &["EXPIREAT", "k", "-9223372036854775807"]),
        "ERR invalid expire time in 'expireat' command"
    );
    assert_eq!(
        err(&mut c, &["PEXPIRE", "k", "9223372036854775806"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    // The largest absolute instant is fine.
    assert_eq!(
        q::<i64>(&mut c, &["PEXPIREAT", "k", "9223372036854775807"]),
        1
    );
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), i64::MAX);
    assert!(q::<i64>(&mut c, &["TTL", "k"]) > 0);
}

#[test]
fn persist_removes_only_an_existing_ttl() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "nope"]), 0);
    let _: () = q(&mut c, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "k"]), 0);
    let _: () = q(&mut c, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "k"]), 0);
    // SET without options clears a TTL too.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100"]), 1);
    let _: () = q(&mut c, &["SET", "k", "w"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
}

#[test]
fn lazy_expiry_with_millisecond_precision() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // Active expiry off: only reads can reclaim the key.
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let _: () = q(&mut c, &["SET", "k", "v", "PX", "50"]);
    let start = Instant::now();
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    let pttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!((1..=50).contains(&pttl), "pttl {pttl}");
    // Wait until just past 50 ms, then the key reads as missing though nothing reclaimed it.
    let gone = wait_for(Duration::from_secs(2), || {
        let v: Option<String> = q(&mut c, &["GET", "k"]);
        v.is_none().then(|| start.elapsed())
    })
    .expect("key should expire");
    assert!(gone >= Duration::from_millis(45), "expired after {gone:?}");
    assert!(
        gone < Duration::from_millis(1500),
        "expired only after {gone:?}"
    );
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0, "the read reclaimed it");
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -2);
}

#[test]
fn active_expiry_reclaims_unread_keys_and_can_be_switched_off() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for i in 0..500 {
        let _: () = q(&mut c, &["SET", &format!("v:{i}"), "x", "PX", "100"]);
    }
    let _: () = q(&mut c, &["SET", "persistent", "x"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 501);
    // Switched off: the expired keys still count, nobody reads them.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 501);
    // Switched on: the cycle reclaims them without any read.
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let left = wait_for(Duration::from_secs(10), || {
        let n: i64 = q(&mut c, &["DBSIZE"]);
        (n == 1).then_some(n)
    });
    assert_eq!(
        left,
        Some(1),
        "active expiry should leave only the persistent key"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "persistent"]), "x");
}
