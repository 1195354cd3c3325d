//! The codec against redis-server 7.0.15's own DUMP payloads (testdata/), and against
//! hand-built payloads in the encodings only older servers write.

use super::decode::Limits;
use super::listpack::Item;
use super::payload::{decode_body, dump, restore, seal, Refused};
use super::{encode, kind, ziplist};
use crate::keyspace::{digest, Entry, Value};

struct Vector {
    name: String,
    digest: String,
    payload: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vectors() -> Vec<Vector> {
    include_str!("testdata/redis-7.0.15-dumps.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Vector {
                name: f[0].to_string(),
                digest: f[2].to_string(),
                payload: unhex(f[3]),
            }
        })
        .collect()
}

fn digest_of(v: &Value) -> String {
    digest::hex(&digest::value(&Entry::new(b"k", v.clone())))
}

/// Every Redis payload loads to a value with Redis's DEBUG DIGEST-VALUE; re-dumped it loads
/// to the same value; and where no LZF is involved (our compressor may find other matches
/// than Redis's, and compress where Redis did not) the re-dump is byte for byte Redis's.
#[test]
fn loads_and_redumps_redis_7_0_payloads() {
    let lim = Limits::default();
    let vs = vectors();
    assert!(vs.len() >= 20);
    for v in vs {
        let val = restore(&v.payload, &lim).unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
        assert_eq!(digest_of(&val), v.digest, "{}", v.name);
        let again = dump(&val);
        let back = restore(&again, &lim).expect("own payload");
        assert_eq!(digest_of(&back), v.digest, "{} re-dumped", v.name);
        let identical = v.name.starts_with("str_")
            || v.name == "set_int16"
            || v.name == "set_int32"
            || v.name == "hash_small";
        if identical && v.name != "str_lzf" {
            assert_eq!(again, v.payload, "{} byte for byte", v.name);
        }
    }
}

#[test]
fn refuses_bad_footers_and_truncations() {
    let lim = Limits::default();
    for v in vectors() {
        let p = &v.payload;
        // A cut payload fails its footer check. Each check reads the whole prefix, so the
        // cuts are sampled (about 100, and the last 12 bytes one by one): every cut, at an
        // unoptimised CRC's speed, made this test 40 s of the unit tests' run.
        let sampled = (0..p.len()).step_by(p.len() / 100 + 1);
        for cut in sampled.chain(p.len().saturating_sub(12)..p.len()) {
            assert!(
                restore(&p[..cut], &lim).is_err(),
                "{}: cut at {cut}",
                v.name
            );
        }
        let mut flipped = p.clone();
        flipped[0] ^= 1;
        assert_eq!(restore(&flipped, &lim), Err(Refused::VersionOrChecksum));
        // A body cut anywhere reaches the decoder (as it would resealed), which refuses it
        // or reads a shorter value without panicking. Each decode reads up to its cut, so on
        // the big vectors (12 KB) the middle is sampled at an odd stride (about 1000 cuts),
        // the first and last 512 bytes cut everywhere.
        let body = &p[..p.len() - 10];
        let n = body.len();
        let middle = (512..n.saturating_sub(512)).step_by((n / 1000) | 1);
        for cut in (1..n.min(512))
            .chain(middle)
            .chain(n.saturating_sub(512).max(512)..n)
        {
            let _ = decode_body(&body[..cut], &lim);
        }
        let _ = restore(&seal(body[..body.len() / 2].to_vec(), 10), &lim);
    }
    // RDB 12 is newer than anything read; 11 (Redis 7.2) is read.
    let body = vec![kind::STRING, 1, b'a'];
    assert_eq!(
        restore(&seal(body.clone(), 12), &lim),
        Err(Refused::VersionOrChecksum)
    );
    assert!(restore(&seal(body, 11), &lim).is_ok());
    assert_eq!(restore(&[0; 9], &lim), Err(Refused::VersionOrChecksum));
    // An empty collection, a stream, and a count far beyond the bytes present.
    for body in [
        vec![kind::SET, 0],
        vec![15, 0],
        vec![
            kind::LIST,
            0x81,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ],
        vec![kind::SET, 0x80, 0x7f, 0xff, 0xff, 0xff, 1, b'a'],
        vec![kind::SET, 2, 1, b'a', 1, b'a'],
    ] {
        assert_eq!(restore(&seal(body, 10), &lim), Err(Refused::BadFormat));
    }
}

fn with_blob(t: u8, blob: &[u8]) -> Vec<u8> {
    let mut body = vec![t];
    encode::write_string(&mut body, blob);
    seal(body, 9)
}

/// Ziplist lists, hashes and sorted sets, quicklist v1 and zipmaps (Redis 6.2 and older),
/// and the listpack set of RDB 11 (Redis 7.2).
#[test]
fn reads_older_and_newer_encodings() {
    let lim = Limits::default();
    let zl = ziplist::tests::build(&[
        Item::Str(b"a"),
        Item::Int(1),
        Item::Str(b"b"),
        Item::Int(-2),
    ]);
    let list = restore(&with_blob(kind::LIST_ZIPLIST, &zl), &lim).unwrap();
    let Value::List(l) = &list else { panic!() };
    let got: Vec<&[u8]> = l.iter().collect();
    assert_eq!(got, [&b"a"[..], b"1", b"b", b"-2"]);

    let mut ql = vec![kind::LIST_QUICKLIST];
    encode::write_len(&mut ql, 2);
    encode::write_string(&mut ql, &zl);
    encode::write_string(&mut ql, &ziplist::tests::build(&[Item::Str(b"c")]));
    let Value::List(l) = restore(&seal(ql, 9), &lim).unwrap() else {
        panic!()
    };
    assert_eq!(l.len(), 5);

    let Value::Hash(h) = restore(&with_blob(kind::HASH_ZIPLIST, &zl), &lim).unwrap() else {
        panic!()
    };
    assert_eq!(h.get(b"b"), Some(&b"-2"[..]));
    let Value::ZSet(z) = restore(&with_blob(kind::ZSET_ZIPLIST, &zl), &lim).unwrap() else {
        panic!()
    };
    assert_eq!(z.score(b"b"), Some(-2.0));

    let zm = [
        2, 1, b'a', 1, 0, b'1', 3, b'k', b'e', b'y', 2, 1, b'v', b'v', 0, 0xff,
    ];
    let Value::Hash(h) = restore(&with_blob(kind::HASH_ZIPMAP, &zm), &lim).unwrap() else {
        panic!()
    };
    assert_eq!(h.get(b"key"), Some(&b"vv"[..]));

    let mut lp = super::listpack::Builder::default();
    for m in ["x", "7", "y"] {
        lp.push(m.as_bytes());
    }
    let Value::Set(s) = restore(&with_blob(kind::SET_LISTPACK, &lp.finish()), &lim).unwrap() else {
        panic!()
    };
    assert!(s.contains(b"7") && s.contains(b"y") && s.len() == 3);

    // RDB_TYPE_ZSET: scores as text, with codes for the infinities.
    let mut zs = vec![kind::ZSET];
    encode::write_len(&mut zs, 2);
    encode::write_string(&mut zs, b"a");
    zs.extend_from_slice(&[3, b'1', b'.', b'5']);
    encode::write_string(&mut zs, b"b");
    zs.push(254);
    let Value::ZSet(z) = restore(&seal(zs, 9), &lim).unwrap() else {
        panic!()
    };
    assert_eq!(z.score(b"a"), Some(1.5));
    assert_eq!(z.score(b"b"), Some(f64::INFINITY));
}

/// Random byte changes to Redis's payloads, resealed so they reach the decoder: refused or
/// loaded, never a panic, and what loads round-trips.
#[test]
fn mutated_payloads_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    for v in vectors() {
        let body = &v.payload[..v.payload.len() - 10];
        for _ in 0..300 {
            let mut m = body.to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..m.len());
                m[i] = rng.gen();
            }
            let mut sealed = seal(m, 10);
            crate::fuzzing::dump_payload(&sealed);
            sealed.truncate(rng.gen_range(0..sealed.len()));
            crate::fuzzing::dump_payload(&sealed);
        }
    }
}

/// Hashes with field TTLs: written as Redis 7.4/8.0's types 24 and 25 and read back with
/// their TTLs; 7.4's pre-GA type 22 (absolute TTLs, no minimum) read; mutations of such
/// payloads never panic.
#[test]
fn hashes_with_field_ttls_round_trip_in_redis_7_4_types() {
    use crate::keyspace::types::hash::HashLimits;
    use crate::keyspace::types::HashValue;
    let lim = Limits::default();
    let small = HashLimits {
        max_entries: 128,
        max_value: 64,
    };
    let mut rng_fields = 0;
    for (n, rdb_type) in [(5usize, kind::HASH_LISTPACK_EX), (300, kind::HASH_METADATA)] {
        let mut h = HashValue::new();
        for i in 0..n {
            h.set(format!("f{i}").as_bytes(), b"v", small);
        }
        h.set_expiry(b"f1", Some(1_700_000_000_123));
        h.set_expiry(b"f3", Some(1_700_000_000_000));
        let v = Value::Hash(h);
        let p = dump(&v);
        assert_eq!(p[0], rdb_type);
        let Ok(Value::Hash(back)) = restore(&p, &lim) else {
            panic!("type {rdb_type} did not load");
        };
        assert_eq!(back.expiry(b"f1"), Some(Some(1_700_000_000_123)));
        assert_eq!(back.expiry(b"f3"), Some(Some(1_700_000_000_000)));
        assert_eq!(back.expiry(b"f0"), Some(None));
        assert_eq!(digest_of(&Value::Hash(back)), digest_of(&v));
        let body = &p[..p.len() - 10];
        let mut rng = rand::rngs::StdRng::seed_from_u64(36 + n as u64);
        use rand::{Rng, SeedableRng};
        for _ in 0..300 {
            let mut m = body.to_vec();
            let i = rng.gen_range(1..m.len());
            m[i] = rng.gen();
            rng_fields += 1;
            crate::fuzzing::dump_payload(&seal(m, 10));
        }
    }
    assert!(rng_fields > 0);
    // Type 22: count, then per field an absolute TTL (0: none), the field, the value.
    let mut body = vec![kind::HASH_METADATA_PRE_GA];
    encode::write_len(&mut body, 2);
    for (ttl, f) in [(1_700_000_000_777u64, "a"), (0, "b")] {
        encode::write_len(&mut body, ttl);
        encode::write_string(&mut body, f.as_bytes());
        encode::write_string(&mut body, b"v");
    }
    let Ok(Value::Hash(h)) = restore(&seal(body, 11), &lim) else {
        panic!("type 22 did not load");
    };
    assert_eq!(h.expiry(b"a"), Some(Some(1_700_000_000_777)));
    assert_eq!(h.expiry(b"b"), Some(None));
}
