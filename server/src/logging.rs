//! `tracing` set up from `loglevel` and `logfile`, as redis.conf names them.

use crate::config::Settings;

/// Maps Redis's log levels onto tracing's.
fn filter(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "verbose" => "debug",
        "notice" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    }
}

/// Installs the global subscriber. An empty `logfile` logs to standard output.
pub fn init(s: &Settings) -> Result<(), String> {
    let env = tracing_subscriber::EnvFilter::try_from_env("SLOTCACHE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter(&s.loglevel)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if s.logfile.is_empty() {
        builder.with_writer(std::io::stdout).try_init().map_err(|e| e.to_string())
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.logfile)
            .map_err(|e| format!("Can't open the log file '{}': {e}", s.logfile))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init()
            .map_err(|e| e.to_string())
    }
}
