//! The lowest layer of the server: pieces every other layer needs and that need nothing of
//! slotcache themselves. Keeping them in their own crate lets the compiler hold the line:
//! the cluster state machine, replication and the command handlers can all use a clock or
//! write a file atomically without reaching sideways (or up) into each other.
//!
//! - [`clock`]: the process's monotonic milliseconds (timeouts, leases, lags).
//! - [`ids`]: 40-hex-digit random ids (node ids, replication ids, run ids).
//! - [`fs`]: replacing a file so a crash leaves the old or the new version, never a mix.

pub mod clock;
pub mod fs;
pub mod ids;
