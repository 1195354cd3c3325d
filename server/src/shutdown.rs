//! Graceful stop on SIGTERM / SIGINT (SHUTDOWN goes through the same flag).

use crate::state::Shared;
use std::sync::Arc;
use tracing::{info, warn};

pub async fn watch_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            warn!("could not install signal handlers; SIGTERM will not shut down gracefully");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("Received SIGTERM scheduling shutdown..."),
        _ = int.recv() => info!("Received SIGINT scheduling shutdown..."),
    }
    shared.request_shutdown();
}
