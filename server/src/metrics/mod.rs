//! The Prometheus endpoint (`metrics-port`, off by default; `metrics-bind`): [`collect`]
//! copies the numbers INFO reports into metric families at each scrape, [`family`] builds
//! and encodes them in the classic text format, [`http`] answers `GET /metrics`.
//!
//! Nothing is measured for the exporter alone: the command path records into telemetry
//! whether or not anyone scrapes, so turning metrics on costs nothing per command.

pub mod collect;
pub mod family;
pub mod http;

use crate::state::Shared;
use std::sync::Arc;

/// Binds the metrics port when one is configured and serves it in the background. A port
/// that cannot be bound stops the server at startup, as a client port would.
pub async fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    let s = shared.settings();
    if s.metrics_port == 0 {
        return Ok(());
    }
    let addr = format!("{}:{}", s.metrics_bind, s.metrics_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("metrics port {addr}: {e}")))?;
    tracing::info!("Serving Prometheus metrics on http://{addr}/metrics");
    tokio::spawn(http::serve(shared.clone(), listener));
    Ok(())
}
