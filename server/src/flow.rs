//! What a connection does after a command: the one value through which commands change a
//! connection's course.
//!
//! A handler that blocks, waits for replicas, hands keys to MIGRATE, turns the connection
//! into a replica link, starts pushes (SUBSCRIBE, MONITOR), closes it or shuts the node down
//! says so with [`crate::commands::Ctx::then`]; admission holds a command back the same way
//! ([`Next::Again`]). `dispatch::execute` returns the value, and the connection task
//! (`server.rs`) matches it exhaustively: a new kind of "what next" is a new variant there,
//! not a flag on the session that two places must remember to check.

use bytes::Bytes;
use std::sync::Arc;

/// What the connection does once a command has run (or was held back).
#[derive(Default)]
pub enum Next {
    /// The reply is written: go on with the next command.
    #[default]
    Continue,
    /// Nothing ran and nothing was replied: run the same command again once `Hold` clears.
    Again(Hold),
    /// A blocking command found nothing: park until a write serves it or it times out.
    Block(BlockRequest),
    /// WAIT: reply with how many replicas acknowledged, once enough did or time ran out.
    WaitAcks(Wait),
    /// MIGRATE: send the serialized keys (replies before it go out first).
    Migrate(crate::migration::Job),
    /// SYNC/PSYNC: the connection becomes a replica link.
    ReplicaLink(Arc<crate::replication::feed::ReplicaLink>),
    /// The first SUBSCRIBE or MONITOR: the connection also writes what arrives on this queue.
    /// Commands after it in the same batch still run.
    Pushes(tokio::sync::mpsc::UnboundedReceiver<Bytes>),
    /// Close once the reply is written (QUIT, CLIENT KILL of oneself, a command that
    /// panicked).
    Close,
    /// SHUTDOWN: no reply; hand the slots over, stop the node, close.
    Shutdown,
}

/// Why a command was held back before it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The cluster state lock was busy (see `commands::cluster`).
    ClusterState,
    /// It touches keys a MIGRATE is moving; `seen` is `Shared::moves_done` when that was
    /// decided.
    KeysMoving { seen: u64 },
    /// CLIENT PAUSE (or a failover's pause) holds it.
    Paused,
}

impl Next {
    /// Whether the connection must act before running further commands of its batch.
    pub fn ends_batch(&self) -> bool {
        !matches!(self, Next::Continue | Next::Pushes(_))
    }

    /// Two outcomes of one command line (EXEC's queued commands): a push queue and a
    /// close both matter; otherwise the first outcome that ends the batch wins.
    pub fn and(self, later: Next) -> Next {
        match (self, later) {
            (Next::Continue, n) | (n, Next::Continue) => n,
            (Next::Pushes(_), n) if n.ends_batch() => n,
            (n, _) => n,
        }
    }
}

/// What a blocking command waits for: any of `keys` to become ready, until `deadline`
/// (`None`: forever).
#[derive(Clone, Debug)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub deadline: Option<tokio::time::Instant>,
    /// The command line to re-run when a key is ready, when it is not the one sent: XREAD
    /// resolves `$` to the stream's last id at block time, as Redis rewrites its argv.
    pub rerun: Option<Vec<Bytes>>,
}

/// WAIT numreplicas timeout, parked until acknowledgements arrive or time runs out.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    pub offset: u64,
    pub replicas: usize,
    /// `None`: wait forever (timeout 0).
    pub deadline: Option<tokio::time::Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_a_transaction_combine() {
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(matches!(Next::Continue.and(Next::Close), Next::Close));
        assert!(matches!(Next::Close.and(Next::Continue), Next::Close));
        assert!(matches!(Next::Pushes(rx).and(Next::Close), Next::Close));
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(matches!(Next::Close.and(Next::Pushes(rx)), Next::Close));
        assert!(!Next::Continue.ends_batch());
        assert!(Next::Again(Hold::Paused).ends_batch());
    }
}
