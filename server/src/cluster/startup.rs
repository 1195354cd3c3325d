//! Bringing cluster mode up at server start: load or create the node's identity, publish
//! the first view, start the bus.

use super::bus;
use super::handle::Cluster;
use super::nodes_conf;
use super::state::ClusterState;
use crate::state::Shared;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::info;

/// What clients blocked on a primary that becomes a replica are told (Redis's words).
pub const UNBLOCKED: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// Whether `ip`, read from nodes.conf, can still be this node's address: one of the
/// addresses it is told to bind (when it binds specific ones) and one the host has (it can
/// bind it). A pod rescheduled with its volume, or a node restarted on another address,
/// fails this and learns its new address from its peers.
fn still_ours(ip: &str, bind: &[String]) -> bool {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let wildcard = |b: &str| matches!(b, "*" | "0.0.0.0" | "::" | "::*");
    let listed: Vec<&str> = bind
        .iter()
        .map(|b| b.strip_prefix('-').unwrap_or(b))
        .collect();
    let named = listed.iter().any(|b| wildcard(b))
        || listed
            .iter()
            .any(|b| b.parse::<std::net::IpAddr>().is_ok_and(|b| b == addr));
    named && std::net::TcpListener::bind((addr, 0)).is_ok()
}

/// Starts cluster mode. `port` is the client port announced; the bus listens on
/// `cluster-port`, or `bus_base` + 10000.
pub fn start(shared: &Arc<Shared>, port: u16, bus_base: u16) -> Result<Arc<Cluster>, String> {
    let s = shared.settings();
    let cport = if s.cluster_port != 0 {
        s.cluster_port
    } else {
        bus_base
            .checked_add(10000)
            .ok_or("client port + 10000 exceeds 65535: set cluster-port")?
    };
    let path = PathBuf::from(&s.cluster_config_file);
    let now = 1;
    let mut state = match nodes_conf::load(&path, s.cluster_node_timeout, now)? {
        Some(mut st) => {
            info!(id = %st.myself(), "Node configuration loaded, I'm {}", st.myself());
            st.set_node_timeout(s.cluster_node_timeout);
            st.forget_moved_address(|ip| still_ours(ip, &s.bind));
            // The snapshot (if any) was loaded before: empty, or possibly behind replicas.
            let empty = shared.keyspace.lock().total_keys() == 0;
            st.start_rejoin_if_needed(empty, shared.persistence.loaded_offset(), now);
            st
        }
        None => {
            let id = slotcache_util::ids::random_hex_id();
            info!("No cluster configuration found, I'm {id}");
            let mut st =
                ClusterState::new(id, String::new(), port, cport, s.cluster_node_timeout, now);
            st.mark_needs_save();
            st
        }
    };
    // The announce settings themselves are applied with the others (`apply_settings`).
    state.set_listen(port, cport);
    let cluster = Cluster::new(state, path, shared.repl_offset.clone());
    {
        let mut st = cluster.state.lock();
        st.set_require_full_coverage(s.cluster_require_full_coverage);
        st.update_state(cluster.now());
        drop(st);
        cluster.apply_settings(&s);
        let mut st = cluster.state.lock();
        st.mark_needs_save();
        cluster
            .save_now(&mut st)
            .map_err(|e| format!("Can't write the cluster config file: {e}"))?;
        cluster.publish(&mut st);
    }
    cluster.allow_reads_when_down.store(
        s.cluster_allow_reads_when_down,
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut addrs = Vec::new();
    for b in &s.bind {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let text = if host.contains(':') {
            format!("[{host}]:{cport}")
        } else {
            format!("{host}:{cport}")
        };
        match text.parse::<SocketAddr>() {
            Ok(a) => {
                if std::net::TcpListener::bind(a).is_ok() || !optional {
                    addrs.push(a);
                }
            }
            Err(_) if optional => {}
            Err(e) => return Err(format!("bad bind address {b}: {e}")),
        }
    }
    // A replica restarted from nodes.conf resumes following its primary.
    let primary = {
        let st = cluster.state.lock();
        st.me()
            .primary_id()
            .and_then(|p| st.nodes().get(p))
            .map(|p| (p.ip.clone(), p.port))
    };
    if let Some(target) = primary {
        let mut ks = shared.keyspace.lock();
        crate::replication::follow(
            shared,
            &mut ks.repl,
            Some(target),
            "nodes.conf says I am a replica",
        );
    }
    let weak = Arc::downgrade(shared);
    let on_follow: bus::OnFollow = Arc::new(move |target| {
        if let Some(shared) = weak.upgrade() {
            let mut ks = shared.keyspace.lock();
            if target.is_some() {
                ks.blocked.unblock_all(UNBLOCKED);
                // Its clients' caches may now differ from what the new primary serves.
                ks.tracking.invalidate_all();
            }
            crate::replication::follow(
                &shared,
                &mut ks.repl,
                target,
                "cluster configuration change",
            );
        }
    });
    let weak = Arc::downgrade(shared);
    let deliver: bus::Deliver = Arc::new(move |channel, message, shard| {
        if let Some(shared) = weak.upgrade() {
            let v = shared
                .config
                .read()
                .get("client-output-buffer-limit")
                .unwrap_or("")
                .to_string();
            let limits = crate::pubsub::Limits::parse(&v);
            shared.pubsub.publish(&channel, &message, shard, &limits);
        }
    });
    let weak = Arc::downgrade(shared);
    let on_slots_lost: bus::OnSlotsLost = Arc::new(move |slots| {
        if let Some(shared) = weak.upgrade() {
            crate::slot_loss::drop_lost_slots(&shared, &slots);
        }
    });
    bus::start(
        cluster.clone(),
        addrs,
        bus::Hooks {
            deliver: Some(deliver),
            on_follow: Some(on_follow),
            on_slots_lost: Some(on_slots_lost),
        },
        s.bind_source_addr.clone(),
        s.tls.cluster.then(|| shared.tls.clone()),
        shared.shutdown.subscribe(),
    )
    .map_err(|e| format!("Can't start the cluster bus on port {cport}: {e}"))?;
    Ok(cluster)
}
