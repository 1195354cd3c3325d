//! Replays every committed fuzz input (`fuzz/corpus/<target>/seed-*` and
//! `fuzz/regressions/<target>-*`) through the same entry points the cargo fuzz targets call,
//! so `cargo test` catches a regression of anything fuzzing once found.
//!
//! `SLOTCACHE_WRITE_SEEDS=1 cargo test -p slotcache-server --test fuzz_corpora` rewrites the
//! bus-frame seeds from the real encoder (after a change to the bus messages).

use slotcache_server::cluster::message::{self, Gossip, Header, Kind, Message};
use slotcache_server::fuzzing;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn target(name: &str) -> fn(&[u8]) {
    match name {
        "resp_parser" => fuzzing::resp_parser,
        "bus_frames" => fuzzing::bus_frames,
        "dump_payload" => fuzzing::dump_payload,
        "config_text" => fuzzing::config_text,
        "commands" => fuzzing::commands,
        "rdb_file" => fuzzing::rdb_file,
        "script_codecs" => fuzzing::script_codecs,
        "aof_files" => fuzzing::aof_files,
        other => panic!("no fuzz target named {other}"),
    }
}

const TARGETS: [&str; 8] = [
    "resp_parser",
    "bus_frames",
    "dump_payload",
    "config_text",
    "commands",
    "rdb_file",
    "script_codecs",
    "aof_files",
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_committed_seed_and_regression_replays_cleanly() {
    let mut replayed = 0;
    for t in TARGETS {
        let run = target(t);
        for f in files(&fuzz_dir().join("corpus").join(t)) {
            if f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                run(&std::fs::read(&f).unwrap());
                replayed += 1;
            }
        }
    }
    for f in files(&fuzz_dir().join("regressions")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let t = TARGETS
            .iter()
            .find(|t| name.starts_with(&format!("{t}-")))
            .unwrap_or_else(|| panic!("regression {name} names no target"));
        target(t)(&std::fs::read(&f).unwrap());
        replayed += 1;
    }
    assert!(replayed >= TARGETS.len(), "only {replayed} inputs found");
}

fn header(id: char, slots: Vec<(u16, u16)>) -> Header {
    Header {
        id: id.to_string().repeat(40),
        ip: "127.0.0.1".into(),
        port: 7000,
        cport: 17000,
        flags: 1,
        primary: None,
        config_epoch: 1,
        current_epoch: 1,
        slots,
        ..Default::default()
    }
}

#[test]
fn bus_frame_seeds_come_from_the_encoder() {
    if std::env::var_os("SLOTCACHE_WRITE_SEEDS").is_none() {
        return;
    }
    let gossip = vec![Gossip {
        id: "b".repeat(40),
        ip: "127.0.0.2".into(),
        port: 7001,
        cport: 17001,
        ..Default::default()
    }];
    let frames = [
        ("ping", Kind::Ping, header('a', vec![(0, 5460)])),
        ("meet", Kind::Meet, header('a', vec![])),
        (
            "fail",
            Kind::Fail {
                node: "c".repeat(40),
            },
            header('a', vec![]),
        ),
        (
            "update",
            Kind::Update {
                node: "c".repeat(40),
                config_epoch: 9,
                slots: vec![(0, 100), (200, 300)],
            },
            header('a', vec![]),
        ),
        (
            "publish",
            Kind::Publish {
                channel: b"news".to_vec(),
                message: b"hi".to_vec(),
                shard: false,
            },
            header('a', vec![]),
        ),
        (
            "auth-request",
            Kind::AuthRequest {
                epoch: 2,
                force: false,
            },
            header('a', vec![]),
        ),
    ];
    let dir = fuzz_dir().join("corpus/bus_frames");
    std::fs::create_dir_all(&dir).unwrap();
    let mut all = Vec::new();
    for (name, kind, sender) in frames {
        let m = Message {
            version: message::VERSION,
            kind,
            sender,
            gossip: gossip.clone(),
        };
        let bytes = message::encode(&m);
        all.extend_from_slice(&bytes);
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
    std::fs::write(dir.join("seed-all-kinds"), all).unwrap();
}
