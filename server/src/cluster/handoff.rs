//! Graceful shutdown of a primary in cluster mode: before exiting it pauses writes, waits
//! until a replica has acknowledged its exact offset, asks that replica to take its slots
//! over, and waits to see the takeover — so a rolling restart loses no acknowledged write.
//! Bounded by `shutdown-timeout`.

use crate::state::Shared;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{info, warn};

pub async fn hand_over(shared: &Shared) {
    let Some(c) = shared.cluster.get() else {
        return;
    };
    let timeout = Duration::from_secs(shared.settings().shutdown_timeout_secs.max(1));
    let deadline = Instant::now() + timeout;
    let replicas: Vec<(String, String, u16)> = {
        let st = c.state.lock();
        let me = st.me();
        if !me.is_primary() || me.slots.is_empty() {
            return;
        }
        st.live_replicas()
            .into_iter()
            .map(|n| (n.id.clone(), n.ip.clone(), n.port))
            .collect()
    };
    if replicas.is_empty() {
        return;
    }
    info!("Shutting down as a primary with replicas: handing my slots over first");
    {
        let mut st = c.state.lock();
        st.pause_writes_until(c.now() + timeout.as_millis() as u64);
        c.publish(&mut st);
    }
    let mut chosen = None;
    let mut asked = Instant::now() - Duration::from_secs(1);
    let mut target = 0;
    while Instant::now() < deadline && chosen.is_none() {
        {
            let now = crate::util::now_ms();
            let mut ks = shared.keyspace.lock();
            let ks = &mut *ks;
            if asked.elapsed() > Duration::from_millis(100) {
                ks.repl.request_acks(&ks.dbs, now);
                target = ks.repl.offset;
                asked = Instant::now();
            }
            for link in ks.repl.replicas() {
                if link.online.load(Ordering::Relaxed)
                    && link.ack_offset.load(Ordering::Relaxed) >= target
                {
                    let port = link.listening_port.load(Ordering::Relaxed) as u16;
                    chosen = replicas
                        .iter()
                        .find(|(_, ip, p)| *p == port && *ip == link.ip)
                        .or_else(|| replicas.iter().find(|(_, _, p)| *p == port))
                        .map(|(id, _, _)| id.clone());
                    if chosen.is_some() {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let Some(id) = chosen else {
        warn!("No replica caught up in time; shutting down without a handover");
        return;
    };
    info!(replica = %id, "replica {id} has my exact offset {target}: asking it to take over");
    let actions = c.state.lock().hand_over_to(&id);
    c.enqueue(actions);
    while Instant::now() < deadline {
        if c.state.lock().me().slots.is_empty() {
            info!("Handover complete: {id} owns my slots");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    warn!("Handover to {id} not confirmed before shutdown-timeout");
}
