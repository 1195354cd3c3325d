//! Graceful stop on SIGTERM / SIGINT (SHUTDOWN goes through the same flag), with the final
//! snapshot when save points are configured, and the service manager's notices around it
//! (see [`crate::supervise`]): this task starts once the server serves, so that is when
//! readiness is reported.

use crate::state::Shared;
use std::sync::Arc;
use tracing::{info, warn};

pub async fn watch_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mode = shared
        .config
        .read()
        .get("supervised")
        .unwrap_or("no")
        .to_string();
    let supervisor = crate::supervise::Supervisor::detect(&mode, |k| std::env::var(k).ok());
    supervisor.ready();
    let mut flag = shared.shutdown.subscribe();
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            warn!("could not install signal handlers; SIGTERM will not shut down gracefully");
            let _ = flag.wait_for(|stop| *stop).await;
            supervisor.stopping();
            return;
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => info!("Received SIGTERM scheduling shutdown..."),
            _ = int.recv() => info!("Received SIGINT scheduling shutdown..."),
            // SHUTDOWN (or anything else that set the flag).
            _ = flag.wait_for(|stop| *stop) => {
                supervisor.stopping();
                return;
            }
        }
        // As Redis on a signal: the final snapshot when save points are configured; if it
        // fails the server stays up (and says so) rather than lose the data.
        if !shared.settings().save_rules.is_empty() {
            info!("Saving the final RDB snapshot before exiting.");
            let saved = {
                let ks = shared.keyspace.lock();
                crate::persistence::save(&shared, &ks)
            };
            if saved.is_err() {
                warn!("Error trying to save the DB, can't exit.");
                continue;
            }
        }
        break;
    }
    supervisor.stopping();
    crate::cluster::handoff::hand_over(&shared).await;
    shared.request_shutdown();
}
