//! DUMP/RESTORE and MIGRATE between slotcache and redis-server 7.0.15, both ways, for every
//! type in each encoding Redis uses: the copy has the original's DEBUG DIGEST-VALUE. Skips,
//! saying so, where redis-server is not installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use cluster_tests::{info_field, q, wait_for, Node};
use redis::Connection;
use std::time::Duration;

fn digest_value(c: &mut Connection, key: &str) -> String {
    let d: Vec<String> = q(c, &["DEBUG", "DIGEST-VALUE", key]);
    d.into_iter().next().expect("one digest")
}

fn dump(c: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP")
        .arg(key)
        .query::<Option<Vec<u8>>>(c)
        .expect("DUMP")
        .unwrap_or_else(|| panic!("{key} missing"))
}

fn restore(c: &mut Connection, key: &str, ttl: u64, payload: &[u8]) {
    let r: redis::RedisResult<String> = redis::cmd("RESTORE")
        .arg(key)
        .arg(ttl)
        .arg(payload)
        .query(c);
    assert_eq!(r.as_deref(), Ok("OK"), "RESTORE {key}");
}

/// Copies `key` under `prefix` with its remaining TTL (a DUMP carries none, and whether a
/// key has one is part of its digest).
fn copy_and_compare(from: &mut Connection, to: &mut Connection, prefix: &str, key: &str) {
    let copy = format!("{prefix}{key}");
    let ttl: i64 = q(from, &["PTTL", key]);
    restore(to, &copy, ttl.max(0) as u64, &dump(from, key));
    assert_eq!(
        digest_value(to, &copy),
        digest_value(from, key),
        "{key} copied as {copy}"
    );
}

#[test]
fn dump_restore_between_redis_and_slotcache_keeps_every_value() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let (mut ours, mut theirs) = (node.client(), redis.client());
    let (cmds, keys) = every_type("");
    load(&mut ours, &cmds);
    load(&mut theirs, &cmds);
    for k in &keys {
        let enc: String = q(&mut theirs, &["OBJECT", "ENCODING", &k.name]);
        assert_eq!(enc, k.encoding, "redis-server's encoding of {}", k.name);
        copy_and_compare(&mut theirs, &mut ours, "from-redis:", &k.name);
        copy_and_compare(&mut ours, &mut theirs, "from-slotcache:", &k.name);
        // And the round trip: redis -> slotcache -> redis.
        copy_and_compare(
            &mut ours,
            &mut theirs,
            "round-trip:",
            &format!("from-redis:{}", k.name),
        );
        assert_eq!(
            digest_value(&mut theirs, &format!("round-trip:from-redis:{}", k.name)),
            digest_value(&mut theirs, &k.name)
        );
    }
    // A TTL given to RESTORE holds on both sides.
    restore(
        &mut ours,
        "with-ttl",
        100_000,
        &dump(&mut theirs, "str:small"),
    );
    let ttl: i64 = q(&mut ours, &["PTTL", "with-ttl"]);
    assert!((1..=100_000).contains(&ttl), "{ttl}");
}

#[test]
fn restore_refuses_newer_versions_and_bad_checksums_like_redis() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let (mut ours, mut theirs) = (node.client(), redis.client());
    let _: () = q(&mut theirs, &["SET", "k", "v"]);
    let good = dump(&mut theirs, "k");
    let mut bad_crc = good;
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    for c in [&mut ours, &mut theirs] {
        let e = redis::cmd("RESTORE")
            .arg("x")
            .arg(0)
            .arg(&bad_crc[..])
            .query::<String>(c)
            .expect_err("bad checksum");
        assert_eq!(
            e.detail(),
            Some("DUMP payload version or checksum are wrong")
        );
    }
}

fn migrate(c: &mut Connection, port: u16, keys: &[&str], extra: &[&str]) -> String {
    let mut cmd = redis::cmd("MIGRATE");
    cmd.arg("127.0.0.1").arg(port).arg("").arg(0).arg(10_000);
    for e in extra {
        cmd.arg(*e);
    }
    cmd.arg("KEYS");
    for k in keys {
        cmd.arg(*k);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("MIGRATE to {port}: {e}"))
}

#[test]
fn migrate_between_redis_and_slotcache_both_ways() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let (mut ours, mut theirs) = (node.client(), redis.client());
    let (cmds, keys) = every_type("");
    load(&mut ours, &cmds);
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let digests: Vec<String> = names.iter().map(|k| digest_value(&mut ours, k)).collect();
    let before: String = q(&mut ours, &["DEBUG", "DIGEST"]);

    // slotcache -> redis-server: the keys move, with their values and TTLs.
    assert_eq!(migrate(&mut ours, redis.port, &names, &[]), "OK");
    let left: i64 = q(&mut ours, &["DBSIZE"]);
    assert_eq!(left, 0);
    for (k, d) in names.iter().zip(&digests) {
        assert_eq!(&digest_value(&mut theirs, k), d, "{k} on redis-server");
    }
    let on_redis: String = q(&mut theirs, &["DEBUG", "DIGEST"]);
    assert_eq!(on_redis, before);

    // redis-server -> slotcache, and back where they started.
    assert_eq!(migrate(&mut theirs, node.port, &names, &[]), "OK");
    let left: i64 = q(&mut theirs, &["DBSIZE"]);
    assert_eq!(left, 0);
    let after: String = q(&mut ours, &["DEBUG", "DIGEST"]);
    assert_eq!(after, before);

    // COPY and REPLACE work across too.
    assert_eq!(migrate(&mut ours, redis.port, &names, &["COPY"]), "OK");
    assert_eq!(
        migrate(&mut ours, redis.port, &names, &["COPY", "REPLACE"]),
        "OK"
    );
    let on_redis: String = q(&mut theirs, &["DEBUG", "DIGEST"]);
    assert_eq!(on_redis, before);

    // The connection to redis-server stays cached for reuse, then is closed after 10 s idle.
    let cached = |c: &mut Connection| {
        let info: String = q(c, &["INFO", "stats"]);
        info_field(&info, "migrate_cached_sockets").expect("migrate_cached_sockets")
    };
    assert_eq!(cached(&mut ours), "1");
    let released = wait_for(Duration::from_secs(30), || {
        (cached(&mut ours) == "0").then_some(())
    });
    assert!(released.is_some(), "the cached connection was never closed");
}
