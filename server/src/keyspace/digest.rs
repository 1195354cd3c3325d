//! DEBUG DIGEST and DEBUG DIGEST-VALUE, computed exactly as Redis 7.0 computes them
//! (`debug.c`: `xorDigest`, `mixDigest`, `xorObjectDigest`, `computeDatasetDigest`), so that
//! a slotcache node and a redis-server holding the same data print the same signature. That
//! is what `redis-cli --cluster fix` compares on a BUSYKEY, and what an operator uses to prove
//! a copy between the two servers complete.
//!
//! The two building blocks, both over SHA1:
//! - *xor* `d ^= SHA1(data)`: order-independent, for members of sets, hash pairs, zset pairs
//!   and the keys of a database;
//! - *mix* `d = SHA1(d ^ SHA1(data))`: order-dependent, for list elements and the fields of one
//!   record (key, type, value).
//!
//! Integers are hashed as their decimal text (Redis decodes intset and listpack integers
//! first) and zset scores as `%.17g` text, so the digest does not depend on encodings.

use super::entry::{Entry, Value};
use super::Db;

/// A 20-byte SHA1-sized signature.
pub type Digest = [u8; 20];

/// Redis's object type numbers (`OBJ_STRING`, ...), which the digest mixes in.
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// `xorDigest`: `d ^= SHA1(data)`.
fn xor(d: &mut Digest, data: &[u8]) {
    for (x, y) in d.iter_mut().zip(sha1(data)) {
        *x ^= y;
    }
}

/// `mixDigest`: `d = SHA1(d ^ SHA1(data))`.
fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = sha1(d);
}

/// A (member, score) or (field, value) pair's contribution: mixed into a fresh digest, then
/// XORed into the value's digest so pair order does not matter.
fn xor_pair(d: &mut Digest, a: &[u8], b: &[u8]) {
    let mut e = [0u8; 20];
    mix(&mut e, a);
    mix(&mut e, b);
    xor(d, &e);
}

/// `xorObjectDigest`: folds a value (and whether it has a TTL, not the TTL itself) into `d`.
fn fold_value(d: &mut Digest, v: &Value, expires: bool) {
    mix(d, &type_code(v).to_be_bytes());
    match v {
        Value::Str(s) => mix(d, s),
        Value::List(l) => {
            for item in l.iter() {
                mix(d, item);
            }
        }
        Value::Set(s) => {
            let mut buf = itoa::Buffer::new();
            for m in s.iter() {
                match m {
                    super::types::set::Elem::Int(n) => xor(d, buf.format(n).as_bytes()),
                    super::types::set::Elem::Bytes(b) => xor(d, b),
                }
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                xor_pair(d, m, crate::util::fmt_double(score).as_bytes());
            }
        }
        // A field's TTL (absolute Unix ms) is part of its contribution, so two copies of a
        // hash agree only when their field TTLs do.
        Value::Hash(h) => {
            for (f, val, at) in h.iter_with_expiry() {
                if at == 0 {
                    xor_pair(d, f, val);
                } else {
                    let mut e = [0u8; 20];
                    mix(&mut e, f);
                    mix(&mut e, val);
                    mix(&mut e, itoa::Buffer::new().format(at).as_bytes());
                    xor(d, &e);
                }
            }
        }
        // Each entry's id as `<ms>.<seq>`, then its fields and values, in order (Redis's
        // digest leaves consumer groups out).
        Value::Stream(s) => {
            use super::types::stream::StreamId;
            s.visit(StreamId::MIN, StreamId::MAX, false, |id, b, slot| {
                mix(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for p in b.pairs(slot) {
                    mix(d, p);
                }
                true
            });
        }
    }
    if expires {
        xor(d, b"!!expire!!");
    }
}

/// DEBUG DIGEST-VALUE of one key: its value and TTL flag, not its name.
pub fn value(e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    fold_value(&mut d, &e.value, e.expire_at() != 0);
    d
}

/// One record's digest within DEBUG DIGEST: the key's name, then its value.
fn record(e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    mix(&mut d, e.key());
    fold_value(&mut d, &e.value, e.expire_at() != 0);
    d
}

/// DEBUG DIGEST of all databases; all zeros when every database is empty. Like Redis it
/// counts keys whose TTL has passed but that are still stored (a replica keeps them until
/// its primary's DEL arrives, so primary and replica agree).
pub fn dataset<'a>(dbs: impl IntoIterator<Item = &'a Db>) -> Digest {
    let mut fin = [0u8; 20];
    for (i, db) in dbs.into_iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        // The database number, so the same data in another database gives another digest.
        mix(&mut fin, &(i as u32).to_be_bytes());
        for e in db.iter_stored() {
            xor(&mut fin, &record(e));
        }
    }
    fin
}

/// Lower-case hex, as DEBUG prints digests.
pub fn hex(d: &Digest) -> String {
    use std::fmt::Write;
    d.iter().fold(String::with_capacity(40), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Keyspace;
    use crate::keyspace::types::{
        hash::HashLimits, set::SetLimits, zset::ZLimits, HashValue, ListValue, SetValue, ZSetValue,
    };
    use crate::keyspace::{Db, KeyHasher, SmallBytes, Ttl};

    fn of(v: Value, expires: bool) -> String {
        let e = Entry::boxed(b"k", v, u64::from(expires), 0);
        hex(&value(&e))
    }

    fn string(s: &str) -> Value {
        Value::Str(SmallBytes::new(s.as_bytes()))
    }

    /// Signatures printed by redis-server 7.0.15 for the same values.
    #[test]
    fn values_match_redis_7_0() {
        // SET foo bar
        assert_eq!(
            of(string("bar"), false),
            "68467c70ae30376e7ce005bcc8827f5ba7fd67dc"
        );
        // ZADD z 1.5 a 0.1 b (scores hashed as %.17g: "0.10000000000000001")
        let mut z = ZSetValue::new();
        z.insert(b"a", 1.5, ZLimits::default());
        z.insert(b"b", 0.1, ZLimits::default());
        assert_eq!(
            of(Value::ZSet(z), false),
            "09248147a8d667e310816b5412a4796dae07d20c"
        );
        // DEBUG DIGEST with only foo=bar in db 0
        let mut dbs: Vec<Db> = (0..16).map(|_| Db::new(KeyHasher::default())).collect();
        dbs[0].set(b"foo", string("bar"), Ttl::Persist, 0);
        assert_eq!(
            hex(&dataset(&dbs)),
            "d2ab4820c1be0580ea28efbfe8bfa1dc05bb802a"
        );
    }

    #[test]
    fn sets_and_hashes_ignore_order_and_encoding() {
        let small = SetLimits {
            max_intset: 4,
            max_listpack: 3,
        };
        let mut a = SetValue::new();
        a.add(b"1", small);
        a.add(b"2", small);
        let mut b = SetValue::for_first(b"x", 100, small);
        b.add(b"2", small);
        b.add(b"1", small);
        assert_eq!(b.encoding(), "hashtable");
        assert_eq!(of(Value::Set(a), false), of(Value::Set(b), false));

        let lim = HashLimits {
            max_entries: 4,
            max_value: 8,
        };
        let mut a = HashValue::new();
        let mut b = HashValue::new();
        a.set(b"x", b"1", lim);
        a.set(b"y", b"2", lim);
        b.prepare(10, 0, lim);
        b.set(b"y", b"2", lim);
        b.set(b"x", b"1", lim);
        assert_eq!(
            of(Value::Hash(a.clone()), false),
            of(Value::Hash(b.clone()), false)
        );
        b.set(b"x", b"3", lim);
        assert_ne!(of(Value::Hash(a), false), of(Value::Hash(b), false));
    }

    #[test]
    fn lists_depend_on_order_zsets_on_scores_and_ttl_counts() {
        let mut l1 = ListValue::new();
        let mut l2 = ListValue::new();
        for x in ["a", "b"] {
            l1.push_back(x.as_bytes(), Default::default());
            l2.push_front(x.as_bytes(), Default::default());
        }
        assert_ne!(of(Value::List(l1), false), of(Value::List(l2), false));
        let mut a = ZSetValue::new();
        a.insert(b"x", 1.0, ZLimits::default());
        let mut b = ZSetValue::new();
        b.insert(b"x", 2.0, ZLimits::default());
        assert_ne!(of(Value::ZSet(a), false), of(Value::ZSet(b), false));
        assert_ne!(of(string("v"), false), of(string("v"), true));
    }

    fn load(ks: &mut Keyspace, keys: &[(usize, &str, &str, u64)]) {
        for &(db, k, v, ttl) in keys {
            let t = if ttl == 0 { Ttl::Persist } else { Ttl::At(ttl) };
            ks.dbs[db].set(k.as_bytes(), string(v), t, 0);
        }
    }

    #[test]
    fn dataset_is_zero_when_empty_and_order_independent() {
        let empty = Keyspace::new(4);
        assert_eq!(dataset(&empty.dbs), [0; 20]);
        let data = [
            (0, "a", "1", 0),
            (0, "b", "2", 5000),
            (1, "a", "1", 0),
            (3, "zz", "", 0),
        ];
        let mut x = Keyspace::new(4);
        let mut y = Keyspace::new(4);
        load(&mut x, &data);
        let mut rev = data;
        rev.reverse();
        load(&mut y, &rev);
        let dx = dataset(&x.dbs);
        assert_ne!(dx, [0; 20]);
        assert_eq!(dx, dataset(&y.dbs));
        // A different value, an extra key, a lost TTL, or a key in another db change it.
        for change in [(0, "a", "x", 0), (2, "zz", "", 0), (0, "b", "2", 0)] {
            let mut z = Keyspace::new(4);
            load(&mut z, &data);
            load(&mut z, &[change]);
            assert_ne!(dataset(&z.dbs), dx, "{change:?}");
        }
    }
}
