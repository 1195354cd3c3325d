//! Pipelined batches over many spread keys. The server warms every batch's keys before it
//! runs the batch (`Db::prefetch` in server/src/keyspace/db.rs): a hint that must change no
//! answer, no counter and no key, whatever the batch holds — present and absent keys, keys
//! past the inline length, keyless and unknown commands, wrong arity, SELECT in the middle,
//! batches longer than the prefetch window, and a cluster-mode node.

use cluster_tests::{info_field, own_all_slots, q, raw_exchange, Node};

/// Key `i`: short ones inline in the entry, every third one longer than the 22 inline bytes.
fn key(i: usize) -> String {
    if i.is_multiple_of(3) {
        format!("pipelined:long-key-name-past-the-inline-bytes:{i}")
    } else {
        format!("pk:{i}")
    }
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn stat(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = q(c, &["INFO", "stats"]);
    info_field(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has no {field}"))
}

/// Stores `keys` keys in db 0 (values `v<i>`), pipelined.
fn load(c: &mut redis::Connection, keys: usize) {
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET").arg(key(i)).arg(format!("v{i}")).ignore();
    }
    pipe.query::<()>(c).expect("loading keys");
}

/// Sends one batch of `n` mixed commands in a single write and checks the replies byte for
/// byte against what each command answers on its own, then that the hit and miss counters
/// moved by exactly the GETs' outcomes. Returns how many keys the batch created.
fn check_mixed_batch(node: &Node, loaded: usize, n: usize) -> u64 {
    let mut c = node.client();
    let (hits0, misses0) = (
        stat(&mut c, "keyspace_hits"),
        stat(&mut c, "keyspace_misses"),
    );
    let (mut send, mut want) = (Vec::new(), String::new());
    let (mut hits, mut misses) = (0u64, 0u64);
    for i in 0..n {
        // Spread over the loaded keys and twice as many absent ones.
        let k = (i * 7919) % (loaded * 3);
        match i % 9 {
            0..=3 => {
                send.extend(resp(&["GET", &key(k)]));
                if k < loaded {
                    want += &bulk(&format!("v{k}"));
                    hits += 1;
                } else {
                    want += "$-1\r\n";
                    misses += 1;
                }
            }
            4 => {
                let name = format!("pipelined:counter:{n}:{i}");
                send.extend(resp(&["INCRBY", &name, "5"]));
                want += ":5\r\n";
            }
            5 => {
                send.extend(resp(&["PING"]));
                want += "+PONG\r\n";
            }
            6 => {
                send.extend(resp(&["NOSUCHCOMMAND", &key(k)]));
                want += &format!(
                    "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: '{}' \r\n",
                    key(k)
                );
            }
            7 => {
                send.extend(resp(&["GET"]));
                want += "-ERR wrong number of arguments for 'get' command\r\n";
            }
            _ => {
                send.extend(resp(&["EXISTS", &key(k)]));
                want += if k < loaded { ":1\r\n" } else { ":0\r\n" };
            }
        }
    }
    let mut s = node.raw();
    let got = raw_exchange(&mut s, &send, want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(stat(&mut c, "keyspace_hits") - hits0, hits);
    assert_eq!(stat(&mut c, "keyspace_misses") - misses0, misses);
    (0..n).filter(|i| i % 9 == 4).count() as u64
}

#[test]
fn pipelined_batches_answer_as_commands_run_one_at_a_time() {
    let node = Node::start(&[]);
    let mut c = node.client();
    load(&mut c, 3000);
    // Shorter and longer than the 32 commands one prefetch covers.
    let created = check_mixed_batch(&node, 3000, 20) + check_mixed_batch(&node, 3000, 1000);
    assert_eq!(q::<u64>(&mut c, &["DBSIZE"]), 3000 + created);

    // SELECT inside a batch: the keys after it are looked up in the other database, whose
    // same names hold other values (the batch was warmed for db 0).
    let mut send = Vec::new();
    let mut want = String::new();
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(1)
        .ignore()
        .cmd("SET")
        .arg(key(1))
        .arg("db1")
        .ignore()
        .query(&mut c)
        .expect("db 1 key");
    send.extend(resp(&["GET", &key(1)]));
    want += &bulk("v1");
    send.extend(resp(&["SELECT", "1"]));
    want += "+OK\r\n";
    send.extend(resp(&["GET", &key(1)]));
    want += &bulk("db1");
    send.extend(resp(&["GET", &key(2)]));
    want += "$-1\r\n";
    send.extend(resp(&["DEL", &key(1)]));
    want += ":1\r\n";
    send.extend(resp(&["SELECT", "0"]));
    want += "+OK\r\n";
    send.extend(resp(&["GET", &key(1)]));
    want += &bulk("v1");
    let mut s = node.raw();
    assert_eq!(
        String::from_utf8_lossy(&raw_exchange(&mut s, &send, want.len())),
        want
    );
}

#[test]
fn pipelined_batches_on_a_cluster_node_owning_every_slot() {
    let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"]);
    let mut c = node.client();
    own_all_slots(&mut c);
    let ok = cluster_tests::wait_for(std::time::Duration::from_secs(10), || {
        let info: String = q(&mut c, &["CLUSTER", "INFO"]);
        (info_field(&info, "cluster_state").as_deref() == Some("ok")).then_some(())
    });
    assert!(ok.is_some(), "cluster_state never became ok");
    load(&mut c, 2000);
    let created = check_mixed_batch(&node, 2000, 500);
    // Every key is counted in its own slot.
    let mut pipe = redis::pipe();
    for slot in 0..16384 {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
    }
    let counts: Vec<u64> = pipe.query(&mut c).expect("COUNTKEYSINSLOT");
    assert_eq!(counts.iter().sum::<u64>(), 2000 + created);
    assert_eq!(q::<u64>(&mut c, &["DBSIZE"]), 2000 + created);
}
