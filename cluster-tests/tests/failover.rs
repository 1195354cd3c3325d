//! Failure detection and failover with real processes: kill -9 and SIGSTOP of a primary in
//! a 3x2 cluster, manual failover, restarts. Every wait is bounded and polls CLUSTER NODES /
//! CLUSTER INFO.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::wait_for;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Writes counters to keys of slot 0's shard through a cluster client until told to stop,
/// confirming each with WAIT 1; returns the confirmed values and the number of acknowledged
/// SETs.
fn confirmed_writes(c: &TestCluster, duration: Duration) -> (HashMap<String, i64>, u64) {
    let mut conn = c.cluster_client();
    let mut confirmed = HashMap::new();
    let mut acked_sets = 0u64;
    let start = Instant::now();
    let mut i: i64 = 0;
    while start.elapsed() < duration {
        i += 1;
        let key = format!("{{06S}}k{}", i % 100);
        let r: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(i).query(&mut conn);
        if r.is_err() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        acked_sets += 1;
        let acked: redis::RedisResult<i64> = redis::cmd("WAIT").arg(1).arg(200).query(&mut conn);
        if acked == Ok(1) {
            confirmed.insert(key, i);
        }
    }
    (confirmed, acked_sets)
}

#[test]
fn kill_9_of_a_primary_promotes_its_replica_and_keeps_wait_confirmed_writes() {
    let (mut c, ids) = TestCluster::start_3x2(&[]);
    let victim = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(1, 0))
        .unwrap();
    let (before, _) = confirmed_writes(&c, Duration::from_millis(500));
    assert!(!before.is_empty());
    c.nodes[victim].kill();
    let killed_at = Instant::now();
    let alive: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    let promoted = wait_for(Duration::from_secs(15), || {
        let o = c.owner_of(alive[0], 0)?;
        (o != ids[victim] && c.ok_and_agreed(&alive)).then_some(o)
    });
    let took = killed_at.elapsed();
    assert!(promoted.is_some(), "no failover within 15s");
    eprintln!("failover completed in {took:?}");
    // Every write confirmed with WAIT 1 survived.
    let mut conn = c.cluster_client();
    for (k, v) in &before {
        let got: i64 = redis::cmd("GET").arg(k).query(&mut conn).unwrap();
        assert!(got >= *v, "{k}: confirmed {v}, found {got}");
    }
    let (_, acked) = confirmed_writes(&c, Duration::from_millis(300));
    assert!(acked > 0, "writes did not resume");
}

#[test]
fn a_paused_primary_is_replaced_and_rejoins_as_a_replica() {
    let (c, ids) = TestCluster::start_3x2(&[]);
    let victim = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(1, 0))
        .unwrap();
    c.nodes[victim].pause();
    let alive: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    let promoted = wait_for(Duration::from_secs(15), || {
        let o = c.owner_of(alive[0], 0)?;
        (o != ids[victim] && c.ok_and_agreed(&alive)).then_some(o)
    });
    c.nodes[victim].resume();
    let new_primary = promoted.expect("no failover while paused");
    let demoted = wait_for(Duration::from_secs(15), || {
        let text = query_string(&c.nodes[victim], &["CLUSTER", "NODES"]).ok()?;
        let me = parse_nodes(&text).into_iter().find(|n| n.is_myself())?;
        me.is_replica().then_some(())
    });
    assert!(demoted.is_some(), "old primary did not become a replica");
    // Exactly one primary serves slot 0 in every view.
    let all: Vec<usize> = (0..6).collect();
    let agreed = wait_for(Duration::from_secs(10), || {
        c.ok_and_agreed(&all).then_some(())
    });
    assert!(agreed.is_some());
    assert_eq!(c.owner_of(victim, 0), Some(new_primary));
}

#[test]
fn manual_failover_swaps_roles_without_losing_writes() {
    let (c, ids) = TestCluster::start_3x2(&[]);
    let replica = replica_of_slot0_primary(&c, &ids);
    let (before, _) = confirmed_writes(&c, Duration::from_millis(300));
    manual_failover_to(&c, &ids, replica);
    let mut conn = c.cluster_client();
    for (k, v) in &before {
        let got: i64 = redis::cmd("GET").arg(k).query(&mut conn).unwrap();
        assert!(got >= *v);
    }
}

/// A cluster that has taken no write yet: the paused primary's final offset is 0, which is an
/// offset like any other (it was once taken for "not known yet", and the failover timed out).
#[test]
fn manual_failover_works_before_any_write() {
    let (c, ids) = TestCluster::start_3x2(&[]);
    let replica = replica_of_slot0_primary(&c, &ids);
    manual_failover_to(&c, &ids, replica);
}

/// The node that replicates slot 0's primary.
fn replica_of_slot0_primary(c: &TestCluster, ids: &[String]) -> usize {
    let primary = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(1, 0))
        .unwrap();
    (0..c.nodes.len())
        .find(|&i| {
            query_string(&c.nodes[i], &["CLUSTER", "NODES"])
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&ids[primary]))
        })
        .unwrap()
}

/// CLUSTER FAILOVER on `replica`; asserts it owns slot 0 within 10 s.
fn manual_failover_to(c: &TestCluster, ids: &[String], replica: usize) {
    let r = query_string(&c.nodes[replica], &["CLUSTER", "FAILOVER"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let swapped = wait_for(Duration::from_secs(10), || {
        (c.owner_of(0, 0) == Some(ids[replica].clone())).then_some(())
    });
    assert!(swapped.is_some(), "manual failover did not complete");
}

/// Writes `n` keys of slot 0's shard, each confirmed by WAIT 1; returns them. SET and WAIT
/// go down one connection to slot 0's current primary (a cluster client would send the
/// keyless WAIT to any node, possibly one that just became a replica).
fn write_confirmed(c: &TestCluster, n: usize, tag: &str) -> Vec<(String, String)> {
    // Ids survive restarts (nodes.conf); a node that is down right now has none here.
    let ids: Vec<Option<String>> = c
        .nodes
        .iter()
        .map(|n| query_string(n, &["CLUSTER", "MYID"]).ok())
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        let k = format!("{{06S}}{tag}{i}");
        let v = format!("v{i}");
        let done = wait_for(Duration::from_secs(20), || {
            let owner = c.owner_of(0, 0)?;
            let node = &c.nodes[ids.iter().position(|id| id.as_deref() == Some(&owner))?];
            let mut conn = node.client();
            let (_, acked): ((), i64) = redis::pipe()
                .cmd("SET")
                .arg(&k)
                .arg(&v)
                .cmd("WAIT")
                .arg(1)
                .arg(2000)
                .query(&mut conn)
                .ok()?;
            Some(acked)
        });
        assert_eq!(done, Some(1), "write not acknowledged by the replica");
        out.push((k, v));
    }
    out
}

fn all_readable(c: &TestCluster, kv: &[(String, String)]) {
    let mut conn = c.cluster_client();
    for (k, v) in kv {
        let got: Option<String> = redis::cmd("GET").arg(k).query(&mut conn).unwrap();
        assert_eq!(got.as_deref(), Some(v.as_str()), "{k} lost");
    }
}

#[test]
fn a_primary_restarted_empty_before_failover_does_not_wipe_its_shard() {
    let (mut c, ids) = TestCluster::start_3x2(&[]);
    let victim = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(1, 0))
        .unwrap();
    let kv = write_confirmed(&c, 50, "r");
    c.nodes[victim].kill();
    c.nodes[victim].restart().expect("restart");
    let all: Vec<usize> = (0..6).collect();
    let settled = wait_for(Duration::from_secs(20), || {
        (c.owner_of(1, 0).is_some_and(|o| o != ids[victim]) && c.ok_and_agreed(&all)).then_some(())
    });
    assert!(
        settled.is_some(),
        "the replica did not take over from the emptied primary"
    );
    all_readable(&c, &kv);
}

#[test]
fn a_killed_primary_restarted_after_failover_rejoins_as_a_replica_and_syncs() {
    let (mut c, ids) = TestCluster::start_3x2(&[]);
    let victim = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(1, 0))
        .unwrap();
    let kv = write_confirmed(&c, 20, "k");
    c.nodes[victim].kill();
    let alive: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    let promoted = wait_for(Duration::from_secs(15), || {
        (c.owner_of(alive[0], 0).is_some_and(|o| o != ids[victim]) && c.ok_and_agreed(&alive))
            .then_some(())
    });
    assert!(promoted.is_some());
    c.nodes[victim].restart().expect("restart");
    let synced = wait_for(Duration::from_secs(20), || {
        let mut conn = c.nodes[victim].client();
        let _: () = redis::cmd("READONLY").query(&mut conn).ok()?;
        let v: Option<String> = redis::cmd("GET").arg(&kv[0].0).query(&mut conn).ok()?;
        (v.as_deref() == Some(kv[0].1.as_str())).then_some(())
    });
    assert!(
        synced.is_some(),
        "restarted node did not sync as a replica: {}",
        c.nodes[victim].log()
    );
    all_readable(&c, &kv);
}

#[test]
fn rolling_sigterm_restart_of_every_primary_keeps_every_acknowledged_write() {
    let (mut c, _) = TestCluster::start_3x2(&[]);
    let mut kv = write_confirmed(&c, 20, "a");
    for round in 0..3 {
        let primaries: Vec<usize> = (0..6)
            .filter(|&i| {
                query_string(&c.nodes[i], &["CLUSTER", "NODES"])
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("myself,master"))
            })
            .collect();
        let victim = primaries[round % primaries.len()];
        let status = c.nodes[victim].terminate().expect("exit status");
        assert!(status.success());
        c.nodes[victim].restart().expect("restart");
        let all: Vec<usize> = (0..6).collect();
        let ok = wait_for(Duration::from_secs(20), || {
            c.ok_and_agreed(&all).then_some(())
        });
        assert!(
            ok.is_some(),
            "cluster did not settle after restarting node {victim}"
        );
        kv.extend(write_confirmed(&c, 10, &format!("round{round}-")));
        all_readable(&c, &kv);
    }
}

#[test]
fn an_orphaned_primary_receives_a_replica_from_a_primary_with_two() {
    let mut c = TestCluster::start(7, &[]);
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(20)));
    let ids = c.ids();
    // Nodes 3 and 6 replicate node 0; node 4 is node 1's only replica.
    let ready = wait_for(Duration::from_secs(20), || {
        let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).ok()?;
        (text.lines().filter(|l| l.contains("slave")).count() == 4).then_some(())
    });
    assert!(ready.is_some());
    c.nodes[4].kill();
    let adopted = wait_for(Duration::from_secs(20), || {
        let text = query_string(&c.nodes[1], &["CLUSTER", "NODES"]).ok()?;
        parse_nodes(&text)
            .into_iter()
            .any(|n| {
                n.id != ids[4]
                    && n.is_replica()
                    && !n.has_flag("fail")
                    && !n.has_flag("fail?")
                    && n.primary.as_deref() == Some(ids[1].as_str())
            })
            .then_some(())
    });
    assert!(
        adopted.is_some(),
        "no replica migrated to the orphaned primary"
    );
}

/// Every node's `cluster_current_epoch` and whether any node is flagged failing; `None`
/// when a node did not answer (a slow reply under load is not a failover).
fn epochs_and_suspicions(c: &TestCluster) -> Option<(Vec<String>, bool)> {
    let mut epochs = Vec::new();
    let mut suspected = false;
    for n in &c.nodes {
        let info = query_string(n, &["CLUSTER", "INFO"]).ok()?;
        epochs.push(cluster_tests::info_field(&info, "cluster_current_epoch")?);
        let nodes = query_string(n, &["CLUSTER", "NODES"]).ok()?;
        suspected |= nodes.contains("fail");
    }
    Some((epochs, suspected))
}

#[test]
fn no_false_failover_under_a_saturating_benchmark() {
    let (c, _) = TestCluster::start_3x2(&[]);
    // Gossip spreads the current epoch a little after the cluster reports ok: start from
    // the epoch every node agrees on, so only a failover can change it.
    let before = wait_for(Duration::from_secs(10), || {
        let (epochs, _) = epochs_and_suspicions(&c)?;
        let agreed = epochs.iter().all(|e| *e == epochs[0]);
        agreed.then_some(epochs)
    })
    .expect("the nodes never agreed on the current epoch");
    let seconds: u64 = std::env::var("SLOTCACHE_NO_FALSE_FAILOVER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let port = c.nodes[0].port.to_string();
    let mut bench = std::process::Command::new("timeout")
        .args([
            &format!("{}", seconds + 5),
            "redis-benchmark",
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            "50",
            "-P",
            "16",
            "--threads",
            "2",
            "-t",
            "set,get",
            "-n",
            "100000000",
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-benchmark");
    let start = Instant::now();
    let mut flagged = false;
    let mut checked = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        let Some((epochs, suspected)) = epochs_and_suspicions(&c) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        checked += 1;
        assert_eq!(
            epochs, before,
            "an epoch changed under load: a failover happened"
        );
        flagged |= suspected;
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster_tests::stop_tool(&mut bench);
    assert!(checked > 0, "no node answered CLUSTER INFO under load");
    assert!(!flagged, "a node was flagged fail? or fail under load");
}
