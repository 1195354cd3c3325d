//! Which node to talk to, and connections to it that cannot hang.

use anyhow::{Context, Result};
use clap::Args;
use std::time::Duration;

/// The node a command addresses; the same flags as redis-cli so habits carry over.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// Server hostname.
    #[arg(short = 'h', long = "host", global = true, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short = 'p', long = "port", global = true, default_value_t = 6379)]
    pub port: u16,
    /// Password (AUTH), when the node has requirepass.
    #[arg(short = 'a', long = "pass", global = true)]
    pub pass: Option<String>,
}

impl Target {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn info(&self) -> redis::ConnectionInfo {
        redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(self.host.clone(), self.port),
            redis: redis::RedisConnectionInfo {
                password: self.pass.clone(),
                ..Default::default()
            },
        }
    }

    /// A connection with connect/read/write timeouts.
    pub fn connect(&self) -> Result<redis::Connection> {
        self.connect_with_timeout(Duration::from_secs(10))
    }

    /// A connection whose replies may take up to `io` (MIGRATE waits for its own timeout).
    pub fn connect_with_timeout(&self, io: Duration) -> Result<redis::Connection> {
        let client = redis::Client::open(self.info())?;
        let con = client
            .get_connection_with_timeout(Duration::from_secs(3))
            .with_context(|| format!("cannot connect to {}", self.addr()))?;
        con.set_read_timeout(Some(io))?;
        con.set_write_timeout(Some(io))?;
        Ok(con)
    }

    /// Whether the node answers PING with PONG right now.
    pub fn answers_ping(&self) -> bool {
        let Ok(mut con) = self.connect() else {
            return false;
        };
        matches!(redis::cmd("PING").query::<String>(&mut con), Ok(p) if p == "PONG")
    }
}
