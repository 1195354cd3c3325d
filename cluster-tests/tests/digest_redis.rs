//! DEBUG DIGEST and DEBUG DIGEST-VALUE side by side with redis-server 7.0.15: the same data
//! (every type in each encoding, integers, -0 and infinite scores, TTLs, several databases)
//! gives the same signatures on both servers. Skips, saying so, where redis-server is not
//! installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use cluster_tests::{q, Node};
use redis::Connection;

fn digest(c: &mut Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

fn digest_values(c: &mut Connection, keys: &[&str]) -> Vec<String> {
    let mut args = vec!["DEBUG", "DIGEST-VALUE"];
    args.extend_from_slice(keys);
    q(c, &args)
}

#[test]
fn digests_equal_redis_for_every_type_and_encoding() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let mut ours = node.client();
    let mut theirs = redis.client();
    // Both empty: forty zeros.
    assert_eq!(digest(&mut ours), "0".repeat(40));
    assert_eq!(digest(&mut theirs), "0".repeat(40));

    for db in ["0", "3", "15"] {
        let (cmds, keys) = every_type(&format!("db{db}:"));
        for c in [&mut ours, &mut theirs] {
            let _: () = q(c, &["SELECT", db]);
            load(c, &cmds);
        }
        for k in &keys {
            let enc: String = q(&mut theirs, &["OBJECT", "ENCODING", &k.name]);
            assert_eq!(enc, k.encoding, "redis-server's encoding of {}", k.name);
            assert_eq!(
                digest_values(&mut ours, &[&k.name]),
                digest_values(&mut theirs, &[&k.name]),
                "DIGEST-VALUE of {}",
                k.name
            );
        }
        // Several keys at once, and a missing key (forty zeros).
        let names: Vec<&str> = keys
            .iter()
            .map(|k| k.name.as_str())
            .chain(["nokey"])
            .collect();
        let mine = digest_values(&mut ours, &names);
        assert_eq!(
            mine.last().map(String::as_str),
            Some("0".repeat(40).as_str())
        );
        assert_eq!(mine, digest_values(&mut theirs, &names));
        assert_eq!(digest(&mut ours), digest(&mut theirs), "after db {db}");
    }

    // A TTL changes the signature (whatever its value), and removing it changes it back.
    let before = digest(&mut ours);
    for c in [&mut ours, &mut theirs] {
        let _: () = q(c, &["SELECT", "0"]);
        let _: i64 = q(c, &["EXPIRE", "db0:str:small", "5000"]);
    }
    let with_ttl = digest(&mut ours);
    assert_ne!(with_ttl, before);
    assert_eq!(with_ttl, digest(&mut theirs));
    for c in [&mut ours, &mut theirs] {
        let _: i64 = q(c, &["PERSIST", "db0:str:small"]);
    }
    assert_eq!(digest(&mut ours), before);

    // The same data in another database is another dataset.
    for c in [&mut ours, &mut theirs] {
        let _: () = q(c, &["SELECT", "3"]);
        let _: () = q(c, &["FLUSHDB"]);
        let _: () = q(c, &["SELECT", "4"]);
        load(c, &every_type("db3:").0);
    }
    assert_ne!(digest(&mut ours), before);
    assert_eq!(digest(&mut ours), digest(&mut theirs));
}
