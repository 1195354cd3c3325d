//! `supervised systemd|upstart|auto`: telling a service manager when the server is ready and
//! when it is stopping, as redis-server does.
//!
//! systemd's protocol is one datagram per state change to the unix socket named by
//! `NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`). That is a few
//! lines of std, so the `sd-notify` crate (which does the same) is not worth a dependency.
//! Under upstart, `expect stop` waits for the job to stop itself with SIGSTOP once ready.

use std::io;
use tracing::{info, warn};

/// Who supervises this process, from `supervised` and the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    /// systemd, with the `NOTIFY_SOCKET` address.
    Systemd(String),
    Upstart,
}

impl Supervisor {
    /// Resolves the `supervised` setting (`no`, `systemd`, `upstart`, `auto`) against the
    /// environment: `auto` means systemd when `NOTIFY_SOCKET` is set, upstart when
    /// `UPSTART_JOB` is, as Redis decides.
    pub fn detect(mode: &str, env: impl Fn(&str) -> Option<String>) -> Self {
        let socket = env("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        let upstart = env("UPSTART_JOB").is_some();
        match mode {
            "systemd" => match socket {
                Some(s) => Supervisor::Systemd(s),
                None => {
                    warn!("systemd supervision requested or auto-detected, but NOTIFY_SOCKET environment variable not found!");
                    Supervisor::None
                }
            },
            "upstart" => Supervisor::Upstart,
            "auto" => match (socket, upstart) {
                (Some(s), _) => Supervisor::Systemd(s),
                (None, true) => Supervisor::Upstart,
                (None, false) => Supervisor::None,
            },
            _ => Supervisor::None,
        }
    }

    /// The server accepts connections (and, in cluster mode, runs its bus).
    pub fn ready(&self) {
        match self {
            Supervisor::Systemd(socket) => {
                info!("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
                report(notify(
                    socket,
                    "STATUS=Ready to accept connections\nREADY=1\n",
                ));
            }
            Supervisor::Upstart => {
                info!("Supervised by upstart, will stop to signal readiness.");
                // SAFETY: raise(2) with a valid signal number; no memory is involved.
                unsafe {
                    libc::raise(libc::SIGSTOP);
                }
            }
            Supervisor::None => {}
        }
    }

    /// Shutdown has begun (a signal or SHUTDOWN): systemd stops waiting for READY and
    /// knows the exit that follows is intended.
    pub fn stopping(&self) {
        if let Supervisor::Systemd(socket) = self {
            report(notify(socket, "STOPPING=1\n"));
        }
    }
}

fn report(r: io::Result<()>) {
    if let Err(e) = r {
        warn!("could not notify systemd: {e}");
    }
}

/// Sends one datagram to the `NOTIFY_SOCKET` address.
///
/// # Errors
/// The socket cannot be created or the datagram not sent.
pub fn notify(socket: &str, state: &str) -> io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        Some(name) => {
            #[cfg(target_os = "linux")]
            {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)?;
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = name;
                return Err(io::Error::other("abstract sockets exist only on Linux"));
            }
        }
        None => {
            sock.send_to(state.as_bytes(), socket)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_mode_and_the_environment_pick_the_supervisor() {
        let sd = &[("NOTIFY_SOCKET", "/run/x")];
        let up = &[("UPSTART_JOB", "slotcache")];
        assert_eq!(
            Supervisor::detect("auto", env(sd)),
            Supervisor::Systemd("/run/x".into())
        );
        assert_eq!(Supervisor::detect("auto", env(up)), Supervisor::Upstart);
        assert_eq!(Supervisor::detect("auto", env(&[])), Supervisor::None);
        assert_eq!(Supervisor::detect("systemd", env(&[])), Supervisor::None);
        assert_eq!(Supervisor::detect("no", env(sd)), Supervisor::None);
    }

    #[test]
    fn datagrams_reach_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("sd-notify-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let rx = UnixDatagram::bind(&dir).unwrap();
        notify(dir.to_str().unwrap(), "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
        let _ = std::fs::remove_file(&dir);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("slotcache-sd-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        notify(&format!("@{name}"), "STOPPING=1\n").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }
}
