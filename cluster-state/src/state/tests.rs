use super::*;
use std::net::Ipv4Addr;

fn id(c: char) -> String {
    c.to_string().repeat(40)
}

fn node(c: char, port: u16) -> ClusterState {
    let mut s = ClusterState::new(id(c), String::new(), port, port + 10000, 1000, 0);
    s.myself = id(c);
    s
}

fn lo() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Delivers messages between in-memory nodes until quiet; `cut` drops links.
fn pump(nodes: &mut [ClusterState], now: u64, cut: &[usize]) {
    let mut queue: Vec<(usize, Option<usize>, Action)> = Vec::new();
    for (i, n) in nodes.iter_mut().enumerate() {
        for id in n.nodes.keys().cloned().collect::<Vec<_>>() {
            n.set_link(&id, true, now);
        }
        for a in n.tick(now) {
            queue.push((i, None, a));
        }
    }
    let mut steps = 0;
    while let Some((from, reply_to, action)) = queue.pop() {
        steps += 1;
        assert!(steps < 100_000);
        let (to, msg, src_out) = match action {
            Action::Send(target, m) => {
                let Some(port) = nodes[from].nodes.get(&target).map(|t| t.port) else {
                    continue;
                };
                let Some(to) = nodes.iter().position(|n| n.me().port == port) else {
                    continue;
                };
                (to, m, false)
            }
            Action::Reply(m) => match reply_to {
                Some(to) => (to, m, true),
                None => continue,
            },
            Action::Deliver { .. }
            | Action::SaveNow
            | Action::Follow(_)
            | Action::DropSlots(_)
            | Action::ResetLink(_) => continue,
        };
        if cut.contains(&from) || cut.contains(&to) {
            continue;
        }
        let src = if src_out {
            // A reply arrives on the receiver's outbound link to `from`.
            let link = nodes[to]
                .nodes
                .values()
                .find(|n| n.port == nodes[from].me().port)
                .map(|n| n.id.clone())
                .unwrap_or_default();
            Source::Outbound(link)
        } else {
            Source::Inbound {
                peer: lo(),
                local: lo(),
            }
        };
        for a in nodes[to].handle(msg, src, now) {
            queue.push((to, Some(from), a));
        }
    }
}

fn three_primaries() -> Vec<ClusterState> {
    let mut ns = vec![node('a', 7000), node('b', 7001), node('c', 7002)];
    let ranges = [(0u16, 5460u16), (5461, 10922), (10923, 16383)];
    for (i, n) in ns.iter_mut().enumerate() {
        let slots: Vec<u16> = (ranges[i].0..=ranges[i].1).collect();
        n.add_slots(&slots).unwrap();
        n.set_config_epoch(i as u64 + 1).unwrap();
    }
    ns[1].meet(lo(), 7000, 17000, 0);
    ns[2].meet(lo(), 7000, 17000, 0);
    let mut now = 0;
    for _ in 0..20 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    ns
}

#[test]
fn meet_and_gossip_form_a_full_mesh_with_agreed_slots() {
    let ns = three_primaries();
    for n in &ns {
        assert_eq!(n.nodes.len(), 3, "{} knows {:?}", n.myself, n.nodes.keys());
        assert!(n.nodes.values().all(|x| !x.handshake));
        assert!(n.owners.iter().all(|o| o.is_some()));
        assert!(n.ok);
        assert_eq!(n.owners[0].as_deref(), Some(id('a').as_str()));
        assert_eq!(n.owners[16383].as_deref(), Some(id('c').as_str()));
    }
}

#[test]
fn silent_node_becomes_pfail_then_fail_with_majority() {
    let mut ns = three_primaries();
    let mut now = 2000;
    for _ in 0..30 {
        now += 100;
        pump(&mut ns, now, &[2]);
    }
    for n in &ns[..2] {
        assert_eq!(
            n.nodes[&id('c')].health,
            Health::Fail,
            "seen from {}",
            n.myself
        );
        assert!(!n.ok, "slots of a failed primary are uncovered");
    }
    // It comes back: FAIL clears once it answers (after 2x timeout with no takeover).
    for _ in 0..40 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert!(n.nodes.values().all(|x| x.health == Health::Ok));
        assert!(n.ok);
    }
}

#[test]
fn higher_config_epoch_wins_a_slot_and_equal_epochs_are_resolved() {
    let mut ns = three_primaries();
    // b claims slot 0 (owned by a at epoch 1) with a higher epoch: everyone adopts it.
    ns[1].nodes.get_mut(&id('b')).unwrap().config_epoch = 10;
    ns[1].current_epoch = 10;
    ns[1].assign(0, &id('b'));
    let mut now = 3000;
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert_eq!(n.owners[0].as_deref(), Some(id('b').as_str()));
    }
    // a and c collide on the same epoch: the smaller id (a) moves to a new one.
    ns[2].nodes.get_mut(&id('c')).unwrap().config_epoch = 1;
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    let epochs: Vec<u64> = ns.iter().map(|n| n.me().config_epoch).collect();
    let mut uniq = epochs.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "epochs {epochs:?}");
}

#[test]
fn delslots_on_the_owner_changes_only_its_own_view_until_someone_claims_the_slot() {
    let mut ns = three_primaries();
    let (a, b, c) = (id('a'), id('b'), id('c'));
    ns[0].del_slots(&[0]).unwrap();
    let mut now = 3000;
    for _ in 0..30 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    assert_eq!(ns[0].owners[0], None);
    assert!(!ns[0].ok, "the node that gave the slot up is not covered");
    for n in &ns[1..] {
        assert_eq!(n.owners[0].as_deref(), Some(a.as_str()), "{}", n.myself);
        assert!(n.ok, "{} stays ok", n.myself);
    }
    // Given back on the same node: everything as before.
    ns[0].add_slots(&[0]).unwrap();
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    assert!(ns[0].ok);
    // A slot still bound to its owner elsewhere but no longer claimed goes to whoever
    // claims it, even with a lower configEpoch (b's is 2, c's 3).
    ns[0].del_slots(&[1]).unwrap();
    ns[2].del_slots(&[16383]).unwrap();
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns[..2] {
        assert_eq!(n.owners[16383].as_deref(), Some(c.as_str()));
    }
    // In b's view they are a's and c's: an operator frees them there first.
    ns[1].del_slots(&[1, 16383]).unwrap();
    ns[1].add_slots(&[1, 16383]).unwrap();
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert_eq!(n.owners[1].as_deref(), Some(b.as_str()), "{}", n.myself);
        assert_eq!(n.owners[16383].as_deref(), Some(b.as_str()), "{}", n.myself);
        assert!(n.ok, "{}", n.myself);
    }
    // A claim on a slot its owner still claims loses to the higher configEpoch.
    ns[0].unassign(10923);
    ns[0].assign(10923, &a);
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert_eq!(n.owners[10923].as_deref(), Some(c.as_str()), "{}", n.myself);
    }
}

fn with_replica() -> Vec<ClusterState> {
    let mut ns = three_primaries();
    let mut d = node('d', 7003);
    d.meet(lo(), 7000, 17000, 3000);
    ns.push(d);
    let mut now = 3000;
    for _ in 0..10 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    ns[3].set_primary(Some(id('a')));
    for _ in 0..5 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    ns
}

#[test]
fn spublish_goes_to_the_other_nodes_of_the_shard_only() {
    let mut ns = with_replica();
    let targets = |n: &mut ClusterState| -> Vec<String> {
        n.publish_shard(b"ch".to_vec(), b"m".to_vec())
            .into_iter()
            .map(|a| match a {
                Action::Send(id, m) => {
                    assert!(matches!(m.kind, Kind::Publish { shard: true, .. }));
                    id
                }
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(targets(&mut ns[0]), vec![id('d')], "primary -> its replica");
    assert_eq!(targets(&mut ns[3]), vec![id('a')], "replica -> its primary");
    assert!(targets(&mut ns[1]).is_empty(), "a shard of one");
    assert_eq!(ns[0].stats.sent.get("publishshard"), Some(&1));
}

#[test]
fn replica_of_a_failed_primary_wins_the_election_and_the_old_primary_follows_it() {
    let mut ns = with_replica();
    assert!(ns[0].nodes[&id('d')].primary_id() == Some(id('a').as_str()));
    let mut now = 5000;
    let mut promoted_at = None;
    for step in 0..60 {
        now += 100;
        pump(&mut ns, now, &[0]);
        if ns[3].me().is_primary() && promoted_at.is_none() {
            promoted_at = Some(step);
        }
    }
    assert!(promoted_at.is_some(), "replica never promoted");
    for n in &ns[1..] {
        assert_eq!(
            n.owners[0].as_deref(),
            Some(id('d').as_str()),
            "view of {}",
            n.myself
        );
        assert!(n.ok, "cluster ok in view of {}", n.myself);
    }
    let epoch = ns[3].me().config_epoch;
    assert!(epoch > 3, "new configEpoch {epoch}");
    // One vote per epoch: the voters recorded it.
    assert!(ns[1].last_vote_epoch == epoch || ns[2].last_vote_epoch == epoch);
    // The old primary returns and becomes a replica of the new one.
    for _ in 0..40 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    assert_eq!(ns[0].me().primary_id(), Some(id('d').as_str()));
    assert!(ns[0].me().slots.is_empty());
    for n in &ns {
        assert_eq!(n.owners[0].as_deref(), Some(id('d').as_str()));
    }
}

#[test]
fn a_primary_votes_once_per_epoch_and_not_for_a_replica_behind_a_sibling() {
    let mut ns = with_replica();
    let mut e = node('e', 7004);
    e.meet(lo(), 7000, 17000, 6000);
    ns.push(e);
    // Not about replica migration: b and c are orphans, a gets two replicas, and d
    // would otherwise move to b.
    for n in ns.iter_mut() {
        n.migration_barrier = 10;
    }
    let mut now = 6000;
    for _ in 0..10 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    ns[4].set_primary(Some(id('a')));
    ns[3].set_my_offset(100);
    ns[4].set_my_offset(50);
    for _ in 0..3 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    // b sees a as failed and gets a request from e (behind d): refused.
    ns[1].nodes.get_mut(&id('a')).unwrap().health = Health::Fail;
    let mut hdr_e = ns[4].header();
    hdr_e.current_epoch = 50;

    assert!(ns[1].consider_vote(&hdr_e, 50, false, now).is_empty());
    // d (ahead) gets the vote; a second request in the same epoch does not.
    let hdr_d = ns[3].header();
    let granted = ns[1].consider_vote(&hdr_d, 50, false, now);
    assert!(
        granted.contains(&Action::SaveNow),
        "vote must be saved before it is sent"
    );
    assert!(ns[1].consider_vote(&hdr_d, 50, false, now).is_empty());
}

#[test]
fn a_primary_cut_off_from_the_majority_loses_its_lease_within_half_the_timeout() {
    let mut ns = three_primaries();
    let mut now = 2000;
    pump(&mut ns, now, &[]);
    assert!(ns[0].lease_valid(now, 500));
    for _ in 0..6 {
        now += 100;
        pump(&mut ns, now, &[0]);
    }
    assert!(
        !ns[0].lease_valid(now, 500),
        "isolated primary kept its lease"
    );
    assert!(ns[1].lease_valid(now, 500));
}

#[test]
fn forget_bans_and_admin_errors() {
    let mut ns = three_primaries();
    assert!(ns[0].forget(&id('a'), 0).is_err());
    assert!(ns[0]
        .forget(&id('z'), 0)
        .unwrap_err()
        .contains("Unknown node"));
    ns[0].forget(&id('c'), 5000).unwrap();
    assert!(!ns[0].nodes.contains_key(&id('c')));
    assert!(ns[0].add_slots(&[1]).unwrap_err().contains("busy"));
    assert!(ns[0].set_config_epoch(5).is_err());
}

#[test]
fn setslot_moves_a_slot_and_the_new_owner_wins_everywhere() {
    let mut ns = three_primaries();
    let (a, b) = (id('a'), id('b'));
    // Errors as Redis words them.
    assert!(ns[1]
        .set_slot(1, SetSlot::Migrating, Some(&a), SlotKeys::default())
        .unwrap_err()
        .contains("not the owner"));
    assert!(ns[0]
        .set_slot(1, SetSlot::Importing, Some(&b), SlotKeys::default())
        .unwrap_err()
        .contains("already the owner"));
    assert!(ns[0]
        .set_slot(1, SetSlot::Migrating, Some(&id('z')), SlotKeys::default())
        .unwrap_err()
        .contains("don't know"));
    ns[1]
        .set_slot(1, SetSlot::Importing, Some(&a), SlotKeys::default())
        .unwrap();
    ns[0]
        .set_slot(1, SetSlot::Migrating, Some(&b), SlotKeys::default())
        .unwrap();
    assert!(ns[0]
        .set_slot(
            1,
            SetSlot::Node,
            Some(&b),
            SlotKeys {
                db0: 3,
                other_db: None
            }
        )
        .unwrap_err()
        .ends_with("still hold keys for this hash slot."));
    // Keys left in another database (cluster-databases) are named, and the slot stays.
    let e = ns[0]
        .set_slot(
            1,
            SetSlot::Node,
            Some(&b),
            SlotKeys {
                db0: 0,
                other_db: Some(3),
            },
        )
        .unwrap_err();
    assert!(
        e.contains("still hold keys for this hash slot in database 3"),
        "{e}"
    );
    assert!(ns[0].migrating.contains_key(&1));
    // The target takes a configEpoch above everyone's and claims the slot.
    assert!(ns[1]
        .set_slot(1, SetSlot::Node, Some(&b), SlotKeys::default())
        .unwrap());
    assert!(ns[1].importing.is_empty());
    assert_eq!(ns[1].me().config_epoch, 4);
    ns[0]
        .set_slot(1, SetSlot::Node, Some(&b), SlotKeys::default())
        .unwrap();
    assert!(ns[0].migrating.is_empty());
    let mut now = 10_000;
    for _ in 0..10 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert_eq!(n.owners[1].as_deref(), Some(b.as_str()));
        assert_eq!(n.owners[0].as_deref(), Some(a.as_str()));
    }
    // STABLE clears an open slot.
    ns[2]
        .set_slot(2, SetSlot::Importing, Some(&a), SlotKeys::default())
        .unwrap();
    ns[2]
        .set_slot(2, SetSlot::Stable, None, SlotKeys::default())
        .unwrap();
    assert!(ns[2].importing.is_empty());
}

#[test]
fn a_slot_its_migration_target_took_is_held_for_handover_only_with_keys_beyond_db0() {
    let mut ns = three_primaries();
    let (a, b) = (id('a'), id('b'));
    for slot in [1, 2] {
        ns[1]
            .set_slot(slot, SetSlot::Importing, Some(&a), SlotKeys::default())
            .unwrap();
        ns[0]
            .set_slot(slot, SetSlot::Migrating, Some(&b), SlotKeys::default())
            .unwrap();
        // The target is told first (as redis-cli does) and the source hears it by gossip.
        ns[1]
            .set_slot(slot, SetSlot::Node, Some(&b), SlotKeys::default())
            .unwrap();
    }
    let mut now = 10_000;
    for _ in 0..10 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    assert_eq!(ns[0].owners[1].as_deref(), Some(b.as_str()));
    assert!(
        ns[0].migrating.is_empty(),
        "the markers went with the slots"
    );
    // Keys left in database 3 of slot 1: held, marked migrating to its owner.
    assert_eq!(ns[0].hold_for_handover(1, true), Some(b.clone()));
    assert_eq!(ns[0].migrating.get(&1), Some(&b));
    // Slot 2 has nothing beyond database 0: deleted as any lost slot's keys.
    assert_eq!(ns[0].hold_for_handover(2, false), None);
    assert!(!ns[0].migrating.contains_key(&2));
    // A slot that was not being migrated is never held.
    assert_eq!(ns[0].hold_for_handover(3, true), None);
    assert_eq!(
        ns[0].hold_for_handover(1, true),
        None,
        "asked once per loss"
    );
}

fn inbound() -> Source {
    Source::Inbound {
        peer: lo(),
        local: lo(),
    }
}

/// A frame from `sender` (a primary at 127.0.0.1:port) claiming `slots` at `epoch`.
fn frame(kind: Kind, sender: &str, port: u16, slots: Vec<(u16, u16)>, epoch: u64) -> Message {
    Message {
        version: message::VERSION,
        kind,
        sender: Header {
            id: sender.to_string(),
            ip: "127.0.0.1".into(),
            port,
            cport: port + 10000,
            flags: nflags::PRIMARY,
            config_epoch: epoch,
            current_epoch: epoch,
            slots,
            ..Default::default()
        },
        gossip: Vec::new(),
    }
}

fn lone_primary() -> ClusterState {
    let mut a = node('a', 7000);
    a.add_slots(&(0..SLOTS as u16).collect::<Vec<_>>()).unwrap();
    a.set_config_epoch(1).unwrap();
    a.update_state(0);
    assert!(a.ok);
    a
}

fn handshakes(s: &ClusterState) -> usize {
    s.nodes.values().filter(|n| n.handshake).count()
}

#[test]
fn an_unsolicited_meet_claiming_every_slot_only_starts_a_handshake() {
    let mut a = lone_primary();
    let f = id('f');
    let m = frame(Kind::Meet, &f, 7009, vec![(0, 16383)], 1000);
    let actions = a.handle(m, inbound(), 100);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Reply(Message {
                kind: Kind::Pong,
                ..
            })]
        ),
        "{actions:?}"
    );
    assert!(!a.nodes.contains_key(&f));
    assert!(a
        .owners
        .iter()
        .all(|o| o.as_deref() == Some(id('a').as_str())));
    assert!(a.me().is_primary());
    assert_eq!((a.current_epoch, a.me().config_epoch), (1, 1));
    assert!(a.ok);
    // The handshake node is at the sender's address, under a temporary id.
    let hs: Vec<&Node> = a.nodes.values().filter(|n| n.handshake).collect();
    assert_eq!(hs.len(), 1);
    assert_eq!(
        (hs[0].ip.as_str(), hs[0].port, hs[0].cport),
        ("127.0.0.1", 7009, 17009)
    );
    // The same MEET again does not start a second one.
    a.handle(frame(Kind::Meet, &f, 7009, vec![], 0), inbound(), 150);
    assert_eq!(handshakes(&a), 1);
}

#[test]
fn claims_count_only_from_the_frame_after_the_handshake() {
    let mut a = lone_primary();
    let f = id('f');
    a.meet(lo(), 7009, 17009, 0);
    let tmp = a.nodes.values().find(|n| n.handshake).unwrap().id.clone();
    // Its PONG on our link names it, but its claims wait for the next frame.
    let pong = frame(Kind::Pong, &f, 7009, vec![(0, 16383)], 1000);
    a.handle(pong.clone(), Source::Outbound(tmp), 100);
    assert!(a.nodes.get(&f).is_some_and(|n| !n.handshake));
    assert!(a
        .owners
        .iter()
        .all(|o| o.as_deref() == Some(id('a').as_str())));
    assert_eq!(a.current_epoch, 1);
    // Once known, a higher configEpoch wins the slots as usual.
    a.handle(pong, inbound(), 200);
    assert!(a.owners.iter().all(|o| o.as_deref() == Some(f.as_str())));
    assert_eq!(a.me().primary_id(), Some(f.as_str()));
}

#[test]
fn frames_from_unknown_or_handshake_senders_change_nothing() {
    let mut ns = three_primaries();
    let (b, c) = (id('b'), id('c'));
    // A handshake node's temporary id is no better than an unknown one.
    ns[0].meet(lo(), 7009, 17009, 3000);
    let tmp = ns[0]
        .nodes
        .values()
        .find(|n| n.handshake)
        .unwrap()
        .id
        .clone();
    let before = ns[0].owners.clone();
    let (cur, vote) = (ns[0].current_epoch, ns[0].last_vote_epoch);
    ns[0].nodes.get_mut(&c).unwrap().health = Health::Fail;
    for sender in [id('f'), tmp] {
        // The MEET first: taking its sender in would let the rest through.
        let kinds = [
            Kind::Meet,
            Kind::Fail { node: b.clone() },
            Kind::Update {
                node: b.clone(),
                config_epoch: 1000,
                slots: vec![(0, 16383)],
            },
            Kind::Publish {
                channel: b"ch".to_vec(),
                message: b"forged".to_vec(),
                shard: false,
            },
            Kind::AuthRequest {
                epoch: 1000,
                force: true,
            },
            Kind::AuthAck { epoch: 1000 },
            Kind::MfStart,
            Kind::TakeOver,
            Kind::Ping,
            Kind::Pong,
        ];
        for kind in kinds {
            let mut m = frame(kind.clone(), &sender, 7009, vec![(0, 16383)], 1000);
            m.sender.primary = Some(c.clone());
            m.sender.flags = nflags::REPLICA;
            m.gossip = vec![Gossip {
                id: b.clone(),
                ip: "127.0.0.1".into(),
                port: 7001,
                cport: 17001,
                flags: nflags::FAIL,
                pong_age_ms: 0,
            }];
            let actions = ns[0].handle(m, inbound(), 3100);
            assert!(
                actions.iter().all(|a| matches!(
                    a,
                    Action::Reply(Message {
                        kind: Kind::Pong,
                        ..
                    })
                )),
                "{kind:?}: {actions:?}"
            );
        }
    }
    let a = &ns[0];
    assert_eq!(a.owners, before);
    assert_eq!((a.current_epoch, a.last_vote_epoch), (cur, vote));
    assert_eq!(a.nodes[&b].health, Health::Ok);
    assert!(a.nodes[&b].fail_reports.is_empty());
    assert_eq!(a.paused_until, 0);
    assert!(a.me().is_primary());
    assert_eq!(a.nodes.len(), 4, "only the handshake node was added");
}

#[test]
fn an_update_about_myself_is_ignored() {
    let mut ns = three_primaries();
    let m = frame(
        Kind::Update {
            node: id('a'),
            config_epoch: 1000,
            slots: vec![],
        },
        &id('b'),
        7001,
        vec![(5461, 10922)],
        2,
    );
    ns[0].handle(m, inbound(), 3000);
    assert_eq!(ns[0].me().config_epoch, 1);
    assert_eq!(ns[0].me().slots.len(), 5461);
}

fn gossip_about(n: usize, first_port: u16) -> Vec<Gossip> {
    (0..n)
        .map(|i| Gossip {
            id: format!("{:040x}", 0xbeef_0000 + i),
            ip: "127.0.0.1".into(),
            port: first_port + i as u16,
            cport: first_port + 10000 + i as u16,
            flags: nflags::PRIMARY,
            pong_age_ms: 0,
        })
        .collect()
}

#[test]
fn gossip_starts_a_bounded_number_of_handshakes() {
    let mut ns = three_primaries();
    // An unknown node's MEET: its gossip is not taken; only it is handshaken.
    let mut meet = frame(Kind::Meet, &id('f'), 7009, vec![], 0);
    meet.gossip = gossip_about(300, 8000);
    ns[0].handle(meet, inbound(), 3000);
    assert_eq!(handshakes(&ns[0]), 1);
    // A member's gossip: a few per frame, and a cap on those in progress.
    let mut ping = ns[1].build(Kind::Ping, &id('a'));
    ping.gossip = gossip_about(300, 9000);
    ns[0].handle(ping.clone(), inbound(), 3000);
    assert_eq!(handshakes(&ns[0]), 1 + MAX_HANDSHAKES_PER_FRAME);
    for _ in 0..100 {
        ns[0].handle(ping.clone(), inbound(), 3000);
    }
    assert_eq!(handshakes(&ns[0]), MAX_GOSSIP_HANDSHAKES);
    // CLUSTER MEET is an administrator's request: not capped.
    ns[0].meet(lo(), 7500, 17500, 3000);
    assert_eq!(handshakes(&ns[0]), MAX_GOSSIP_HANDSHAKES + 1);
    // They expire, and the cluster is as it was.
    ns[0].tick(3000 + 2 * 1000 + 1);
    assert_eq!(handshakes(&ns[0]), 0);
    assert_eq!(ns[0].nodes.len(), 3);
}

/// MEETs are not repeated, so they may start more handshakes than gossip (a cluster being
/// created MEETs its first node from every other at once), but not without bound.
#[test]
fn meets_from_unknown_nodes_start_a_bounded_number_of_handshakes() {
    let mut a = lone_primary();
    for i in 0..MAX_MEET_HANDSHAKES as u64 + 10 {
        let mut m = frame(
            Kind::Meet,
            &format!("{:040x}", 0xfeed_0000 + i),
            1,
            vec![],
            0,
        );
        m.sender.ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        a.handle(m, inbound(), 100);
    }
    assert_eq!(handshakes(&a), MAX_MEET_HANDSHAKES);
    // Gossip from a member waits for them.
    let b = node('b', 7001);
    a.nodes.insert(
        id('b'),
        Node::new(id('b'), "127.0.0.1".into(), 7001, 17001, 100),
    );
    let mut ping = b.header();
    ping.ip = "127.0.0.1".into();
    let ping = Message {
        version: message::VERSION,
        kind: Kind::Ping,
        sender: ping,
        gossip: gossip_about(10, 9000),
    };
    a.handle(ping, inbound(), 100);
    assert_eq!(a.nodes.len(), 2 + MAX_MEET_HANDSHAKES);
    assert_eq!(handshakes(&a), MAX_MEET_HANDSHAKES);
}

// ----- issue #19: healing a partition ---------------------------------------------------

/// Frames `a` (cut off) builds for `b` while the partition lasts: its view then.
fn frames_from_the_minority(ns: &mut [ClusterState], now: &mut u64, steps: usize) -> Vec<Message> {
    let mut queued = Vec::new();
    for _ in 0..steps {
        *now += 100;
        pump(ns, *now, &[0]);
        queued.push(ns[0].build(Kind::Ping, &id('b')));
    }
    queued
}

#[test]
fn frames_queued_during_a_partition_change_nothing_when_newer_ones_were_applied() {
    let mut ns = with_replica();
    let mut now = 5000;
    // a is cut off for 6 s: d replaces it; a's queued frames say it is the primary
    // and suspect everyone else.
    let queued = frames_from_the_minority(&mut ns, &mut now, 60);
    assert!(ns[3].me().is_primary(), "d was not promoted");
    let last = queued.last().unwrap();
    assert!(last.sender.primary.is_none());
    assert!(last
        .gossip
        .iter()
        .any(|g| g.flags & (nflags::PFAIL | nflags::FAIL) != 0));
    // The heal: a follows d, and its fresh frames reach b.
    for _ in 0..40 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    assert_eq!(ns[0].me().primary_id(), Some(id('d').as_str()));
    // Then the queue of the link that stopped delivering arrives, all at once.
    for m in queued {
        ns[1].handle(m, inbound(), now);
    }
    let b = &ns[1];
    assert_eq!(
        b.nodes[&id('a')].primary_id(),
        Some(id('d').as_str()),
        "a stale frame changed a's role"
    );
    assert_eq!(b.owners[0].as_deref(), Some(id('d').as_str()));
    for x in ['c', 'd'] {
        assert!(
            b.nodes[&id(x)].fail_reports.is_empty(),
            "a stale frame reported {x}"
        );
    }
    // Nothing fails over.
    for _ in 0..30 {
        now += 100;
        pump(&mut ns, now, &[]);
    }
    for n in &ns {
        assert!(
            n.nodes.values().all(|x| x.health == Health::Ok),
            "{}",
            n.myself
        );
        assert_eq!(n.owners[0].as_deref(), Some(id('d').as_str()));
        assert_eq!(n.owners[6000].as_deref(), Some(id('b').as_str()));
        assert_eq!(n.owners[16000].as_deref(), Some(id('c').as_str()));
    }
}

#[test]
fn a_new_incarnation_is_not_stale_and_its_old_frames_are() {
    let mut ns = three_primaries();
    let now = 3000;
    let mut m = ns[0].build(Kind::Ping, &id('b'));
    m.sender.seq = 100;
    ns[1].handle(m.clone(), inbound(), now);
    // a restarts (new boot, seq from 1) and now replicates c: applied.
    let mut restarted = m.clone();
    restarted.sender.boot = m.sender.boot.wrapping_add(1).max(1);
    restarted.sender.seq = 1;
    restarted.sender.primary = Some(id('c'));
    restarted.sender.flags = nflags::REPLICA;
    ns[1].handle(restarted, inbound(), now);
    assert_eq!(ns[1].nodes[&id('a')].primary_id(), Some(id('c').as_str()));
    // A frame of the old incarnation arriving late changes nothing.
    m.sender.seq = 101;
    ns[1].handle(m, inbound(), now);
    assert_eq!(ns[1].nodes[&id('a')].primary_id(), Some(id('c').as_str()));
}

#[test]
fn a_primary_pinging_from_a_new_address_is_followed_there_by_its_replica() {
    let mut ns = with_replica();
    let now = 5000;
    let mut m = ns[0].build(Kind::Ping, &id('d'));
    m.sender.boot = m.sender.boot.wrapping_add(1).max(1);
    m.sender.seq = 1;
    let moved = Source::Inbound {
        peer: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        local: lo(),
    };
    let actions = ns[3].handle(m.clone(), moved.clone(), now);
    assert_eq!(ns[3].nodes[&id('a')].ip, "127.0.0.3");
    assert!(ns[3].needs_save);
    assert!(
        actions.contains(&Action::Follow(Some(("127.0.0.3".into(), 7000)))),
        "{actions:?}"
    );
    // A primary that is not ours moving changes whom nobody follows.
    m.sender.seq = 2;
    let actions = ns[1].handle(m, moved, now);
    assert_eq!(ns[1].nodes[&id('a')].ip, "127.0.0.3");
    assert!(!actions.iter().any(|a| matches!(a, Action::Follow(_))));
}

#[test]
fn an_address_that_is_no_longer_ours_is_relearned_from_the_next_ping() {
    let mut ns = three_primaries();
    ns[1].me_mut().ip = "127.0.0.2".into();
    ns[1].forget_moved_address(|ip| ip == "127.0.0.2");
    assert_eq!(ns[1].me().ip, "127.0.0.2", "still ours: kept");
    ns[1].forget_moved_address(|_| false);
    assert_eq!(ns[1].me().ip, "");
    let m = ns[0].build(Kind::Ping, &id('b'));
    let here = Source::Inbound {
        peer: lo(),
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
    };
    ns[1].handle(m.clone(), here, 4000);
    assert_eq!(ns[1].me().ip, "127.0.0.3");
    // Once known, a PING on another local address does not change it (only a MEET).
    let other = Source::Inbound {
        peer: lo(),
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)),
    };
    ns[1].handle(m, other, 4100);
    assert_eq!(ns[1].me().ip, "127.0.0.3");
    // An announced address is never forgotten nor replaced.
    ns[2].set_announce(Announce {
        ip: "10.1.2.3".into(),
        ..Announce::default()
    });
    ns[2].forget_moved_address(|_| false);
    assert_eq!(ns[2].me().ip, "10.1.2.3");
}

#[test]
fn announced_ports_and_hostname_travel_in_the_header_and_clear_when_dropped() {
    let mut ns = three_primaries();
    ns[0].set_announce(Announce {
        port: 19999,
        bus_port: 29999,
        hostname: "node-a.test".into(),
        ..Announce::default()
    });
    assert_eq!(ns[0].me().addr_field(), "127.0.0.1:19999@29999,node-a.test");
    let h = ns[0].header();
    assert_eq!((h.ip.as_str(), h.port, h.cport), ("", 19999, 29999));
    assert_eq!(h.hostname, "node-a.test");
    let m = ns[0].build(Kind::Ping, &id('b'));
    ns[1].handle(m, inbound(), 4000);
    let a = &ns[1].nodes[&id('a')];
    assert_eq!(a.addr_field(), "127.0.0.1:19999@29999,node-a.test");
    // Back to the bound ports, no hostname.
    ns[0].set_announce(Announce::default());
    assert_eq!(ns[0].me().addr_field(), "127.0.0.1:7000@17000");
    let m = ns[0].build(Kind::Ping, &id('b'));
    ns[1].handle(m, inbound(), 4100);
    assert_eq!(ns[1].nodes[&id('a')].addr_field(), "127.0.0.1:7000@17000");
}

#[test]
fn failure_reports_from_a_node_that_just_rejoined_do_not_count() {
    let mut ns = three_primaries();
    let mut now = 2000;
    // c is cut off long enough to be FAIL and to clear it when it answers.
    for _ in 0..40 {
        now += 100;
        pump(&mut ns, now, &[2]);
    }
    assert_eq!(ns[0].nodes[&id('c')].health, Health::Fail);
    // c's first frame after the heal still suspects a and b: it has not heard from
    // them yet. a, meanwhile, suspects b itself (say its thread was stalled).
    let m = ns[2].build(Kind::Ping, &id('a'));
    assert!(m
        .gossip
        .iter()
        .any(|g| g.id == id('b') && g.flags & nflags::PFAIL != 0));
    ns[0].nodes.get_mut(&id('b')).unwrap().health = Health::PFail;
    now += 10;
    ns[0].handle(m, inbound(), now);
    assert_eq!(ns[0].nodes[&id('c')].health, Health::Ok);
    ns[0].tick(now);
    assert_ne!(
        ns[0].nodes[&id('b')].health,
        Health::Fail,
        "a report from a node that just rejoined counted"
    );
}

#[test]
fn a_late_tick_suspects_nobody_until_the_replies_are_read() {
    let mut ns = three_primaries();
    let now = 2000;
    pump(&mut ns, now, &[]);
    // a's thread stalls for 1.5 s: the peers' replies wait unread.
    let late = now + 1500;
    ns[0].tick(late);
    assert!(
        ns[0].nodes.values().all(|n| n.health == Health::Ok),
        "a late tick suspected its peers"
    );
    // The silence is real (nothing arrives): suspected after one more interval.
    let after_hold = late + ns[0].ping_interval() + 1;
    ns[0].tick(after_hold);
    for x in ['b', 'c'] {
        assert_eq!(ns[0].nodes[&id(x)].health, Health::PFail);
    }
}

#[test]
fn an_unanswered_ping_alone_does_not_suspect_a_node_that_sends_data() {
    let mut ns = three_primaries();
    let now = 2000;
    pump(&mut ns, now, &[]);
    let b = ns[0].nodes.get_mut(&id('b')).unwrap();
    b.ping_sent = now - 1500;
    b.pong_received = now + 90;
    ns[0].tick(now + 100);
    assert_eq!(ns[0].nodes[&id('b')].health, Health::Ok);
}

#[test]
fn a_link_that_delivers_nothing_is_reset_once() {
    let mut ns = three_primaries();
    let mut now = 2000;
    pump(&mut ns, now, &[]);
    let mut resets = Vec::new();
    for _ in 0..60 {
        now += 50;
        for a in ns[0].tick(now) {
            if let Action::ResetLink(id) = a {
                resets.push((now, id));
            }
        }
    }
    let ids: Vec<&str> = resets.iter().map(|(_, i)| i.as_str()).collect();
    assert_eq!(ids.len(), 2, "{resets:?}");
    assert!(ids.contains(&id('b').as_str()) && ids.contains(&id('c').as_str()));
    // After half the node timeout, not much later.
    assert!(
        resets
            .iter()
            .all(|(t, _)| *t > 2000 + 500 && *t <= 2000 + 800),
        "{resets:?}"
    );
}
