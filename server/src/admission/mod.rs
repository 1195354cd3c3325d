//! Admission: whether a command line runs now, waits in a MULTI queue, is held back, or is
//! refused — decided by one function, [`admit`], in the order of Redis's `processCommand`.
//!
//! What admission needs to know about the node (cluster routing, memory, replication,
//! pauses, keys in flight) it asks a [`Node`], and only once the checks that need no data
//! have passed: look-up, arity, authentication and the MULTI rules are answered from the
//! command table and the session alone, before anything is asked of the keyspace. The
//! decision is a value ([`Verdict`], [`Rejection`]) that the tests check as a table of
//! cases against a node they make up.

use crate::cluster::redirect::Redirect;
use crate::commands::errors;
use crate::commands::table::{self, facts, flags, CommandSpec};
use crate::config::Settings;
use crate::flow::Hold;
use crate::session::Conn;
use bytes::Bytes;
use std::cell::OnceCell;

pub mod live;

/// One command line and the spec that runs it, with its key positions found at most once
/// (routing, WATCH, notifications and blocked clients all ask for them).
pub struct Call<'a> {
    pub spec: &'static CommandSpec,
    pub args: &'a [Bytes],
    keys: OnceCell<Vec<usize>>,
}

impl<'a> Call<'a> {
    pub fn new(spec: &'static CommandSpec, args: &'a [Bytes]) -> Self {
        Call {
            spec,
            args,
            keys: OnceCell::new(),
        }
    }

    /// Positions of the keys in `args`, found on first use.
    pub fn keys(&self) -> &[usize] {
        self.keys.get_or_init(|| self.spec.key_positions(self.args))
    }

    /// The keys themselves.
    pub fn key_args(&self) -> impl Iterator<Item = &'a Bytes> + '_ {
        self.keys().iter().filter_map(|&i| self.args.get(i))
    }
}

/// Why a command was refused before it ran, in the order admission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `ERR unknown command ...` (the full message).
    UnknownCommand(String),
    /// `ERR unknown subcommand ...` (the full message).
    UnknownSubcommand(String),
    /// Wrong number of arguments; the command's full name (`client|kill`).
    Arity(String),
    NoAuth,
    /// A NO_MULTI command (SHUTDOWN, SYNC, ...) inside MULTI.
    NotInTransaction,
    /// Cluster routing: the keys are served elsewhere, or not at all now.
    Redirect(Redirect),
    OutOfMemory,
    /// min-replicas-to-write is not met.
    NoReplicas,
    /// A write on a read-only replica.
    ReadOnlyReplica,
    /// A RESP2 connection in subscribed mode; the command's full name.
    Subscribed(String),
    /// A replica whose link is down with replica-serve-stale-data off.
    MasterDown,
    /// A script (`function`: a library function) has run past busy-reply-threshold.
    Busy {
        function: bool,
    },
}

impl Rejection {
    /// The error reply, worded as Redis words it.
    pub fn message(&self) -> String {
        match self {
            Rejection::UnknownCommand(m) | Rejection::UnknownSubcommand(m) => m.clone(),
            Rejection::Arity(name) => errors::arity(name),
            Rejection::NoAuth => errors::NOAUTH.to_string(),
            Rejection::NotInTransaction => "ERR Command not allowed inside a transaction".into(),
            Rejection::Redirect(r) => r.message(),
            Rejection::OutOfMemory => crate::eviction::OOM.to_string(),
            Rejection::NoReplicas => "NOREPLICAS Not enough good replicas to write.".into(),
            Rejection::ReadOnlyReplica => {
                "READONLY You can't write against a read only replica.".into()
            }
            Rejection::Subscribed(name) => format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ),
            Rejection::MasterDown => {
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                    .into()
            }
            Rejection::Busy { function } => format!(
                "BUSY Redis is busy running a script. You can only call {} KILL or SHUTDOWN NOSAVE.",
                if *function { "FUNCTION" } else { "SCRIPT" }
            ),
        }
    }

    /// The reply when this refuses EXEC: the transaction is discarded, and the reason given
    /// as Redis's `execCommandAbort` gives it. A redirect is sent as it is (Redis discards the
    /// transaction and redirects).
    pub fn exec_abort_message(&self) -> String {
        let msg = self.message();
        if matches!(self, Rejection::Redirect(_)) {
            return msg;
        }
        let why = msg.strip_prefix("ERR ").unwrap_or(&msg);
        format!("EXECABORT Transaction discarded because of: {why}")
    }
}

/// What admission decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Inside MULTI: queue it and reply QUEUED.
    Queue,
    /// Hold it back; it runs again once the hold clears.
    Hold(Hold),
    Refuse(Rejection),
}

/// The node's replication role as admission sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica { link_up: bool },
}

/// What admission asks of the node, once the checks that need no data have passed.
pub trait Node {
    /// Cluster routing for the command (for EXEC, for the transaction it queued, `queued`):
    /// `None` when it is served here or the node is not in a cluster.
    fn route(
        &mut self,
        call: &Call,
        conn: &Conn,
        queued: Option<&[Vec<Bytes>]>,
    ) -> Option<Redirect>;
    /// Evicts what the policy allows; whether memory is still over `maxmemory`.
    fn out_of_memory(&mut self) -> bool;
    fn role(&self) -> Role;
    /// Replicas online and acknowledging within `min-replicas-max-lag`.
    fn good_replicas(&self, settings: &Settings) -> usize;
    /// Whether CLIENT PAUSE (or a failover) holds a command that writes or may replicate
    /// (`writes`), or any command, now.
    fn paused(&self, writes: bool) -> bool;
    /// Whether the command (or EXEC's transaction) touches keys a MIGRATE is moving:
    /// `Some(moves_done)` to wait for the next move to finish.
    fn keys_moving(&self, call: &Call, conn: &Conn) -> Option<u64>;
}

/// The spec a command line resolves to, or why it resolves to none.
fn resolve(args: &[Bytes]) -> Result<(&'static CommandSpec, &'static CommandSpec), Rejection> {
    let Some(cmd) = table::lookup(&args[0]) else {
        return Err(Rejection::UnknownCommand(unknown_command(args)));
    };
    if cmd.subcommands.is_empty() {
        return Ok((cmd, cmd));
    }
    match args.get(1) {
        // A container that accepts no subcommand (COMMAND) runs its own handler.
        None => Ok((cmd, cmd)),
        Some(sub) => match cmd.subcommand(sub) {
            Some(s) => Ok((cmd, s)),
            None => Err(Rejection::UnknownSubcommand(errors::unknown_subcommand(
                sub, cmd.name,
            ))),
        },
    }
}

/// The spec a command line resolves to (subcommand included), if any; a container with an
/// unknown subcommand resolves to the container.
pub fn spec_of(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let cmd = table::lookup(args.first()?)?;
    if cmd.subcommands.is_empty() {
        return Some(cmd);
    }
    args.get(1).and_then(|s| cmd.subcommand(s)).or(Some(cmd))
}

/// A command's full name as Redis reports it in errors (`pubsub|numsub`).
pub fn full_name(container: &CommandSpec, spec: &CommandSpec) -> String {
    if std::ptr::eq(container, spec) {
        spec.name.to_string()
    } else {
        format!("{}|{}", container.name, spec.name)
    }
}

/// The flags a command is judged by: its own, or for EXEC those of the commands it queued
/// as well (Redis's `mstate.cmd_flags`).
#[derive(Debug, Clone, Copy, Default)]
struct Judged {
    write: bool,
    may_replicate: bool,
    denyoom: bool,
    /// Some command refuses to run on a stale replica.
    deny_stale: bool,
}

fn judged(spec: &CommandSpec, conn: &Conn) -> Judged {
    let mut j = Judged {
        write: spec.has(flags::WRITE),
        may_replicate: spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE),
        denyoom: spec.has(flags::DENYOOM),
        deny_stale: !spec.has(flags::STALE),
    };
    if spec.is(facts::EXEC) {
        for q in conn.multi.iter().flat_map(|m| m.queued.iter()) {
            if let Some(s) = spec_of(q) {
                j.write |= s.has(flags::WRITE);
                j.may_replicate |= s.has(flags::WRITE) || s.has(flags::MAY_REPLICATE);
                j.denyoom |= s.has(flags::DENYOOM);
                j.deny_stale |= !s.has(flags::STALE);
            }
        }
    }
    j
}

/// The outcome of admission: the verdict, and the spec when the command line resolved to
/// one (a refused known command is still accounted to it).
pub struct Admission {
    pub spec: Option<&'static CommandSpec>,
    pub verdict: Verdict,
}

/// The checks that need no data, in Redis's order: look-up, arity, authentication, and
/// MULTI's NO_MULTI rule. They run at the head of [`admit`], and also before the keyspace lock
/// is taken (`dispatch::refuse_unlocked`): what they refuse is answered without the lock, so
/// an unauthenticated flood never contends for it. Ok: the command line's container and spec.
pub fn precheck(
    args: &[Bytes],
    conn: &Conn,
    settings: &Settings,
) -> Result<(&'static CommandSpec, &'static CommandSpec), Admission> {
    let (container, spec) = resolve(args).map_err(|r| Admission {
        spec: None,
        verdict: Verdict::Refuse(r),
    })?;
    let refuse = |r: Rejection| Admission {
        spec: Some(spec),
        verdict: Verdict::Refuse(r),
    };
    if !spec.arity_ok(args.len()) {
        return Err(refuse(Rejection::Arity(full_name(container, spec))));
    }
    if settings.requirepass.is_some() && !conn.authenticated && !spec.has(flags::NO_AUTH) {
        return Err(refuse(Rejection::NoAuth));
    }
    if conn.multi.is_some() && spec.has(flags::NO_MULTI) {
        return Err(refuse(Rejection::NotInTransaction));
    }
    Ok((container, spec))
}

/// Decides what happens to one command line, in Redis's `processCommand` order: look-up,
/// arity, authentication, MULTI rules ([`precheck`]), then cluster routing, memory,
/// min-replicas, read-only replica, subscribed mode, stale replica, pause, then queue or run
/// (with keys in flight to a MIGRATE holding it back).
pub fn admit(args: &[Bytes], conn: &Conn, settings: &Settings, node: &mut dyn Node) -> Admission {
    let (container, spec) = match precheck(args, conn, settings) {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    let refuse = |r: Rejection| Admission {
        spec: Some(spec),
        verdict: Verdict::Refuse(r),
    };
    let in_multi = conn.multi.is_some();
    // From here on the node's data and state are asked.
    let call = Call::new(spec, args);
    let exec = spec.is(facts::EXEC);
    let queued = if exec {
        conn.multi.as_ref().map(|m| m.queued.as_slice())
    } else {
        None
    };
    if let Some(r) = node.route(&call, conn, queued) {
        return refuse(Rejection::Redirect(r));
    }
    let j = judged(spec, conn);
    let queuing = in_multi && !spec.is(facts::TX_CONTROL);
    // As Redis's processCommand: eviction runs before every command once maxmemory is set
    // (so a read, too, frees room: tracking clients learn of evicted keys before its
    // reply); only a command that may grow memory is refused when it could not.
    if settings.maxmemory > 0 && node.out_of_memory() && (j.denyoom || queuing) {
        return refuse(Rejection::OutOfMemory);
    }
    let role = node.role();
    if role == Role::Primary
        && settings.min_replicas_to_write > 0
        && j.write
        && node.good_replicas(settings) < settings.min_replicas_to_write
    {
        return refuse(Rejection::NoReplicas);
    }
    if matches!(role, Role::Replica { .. }) && settings.replica_read_only && j.write {
        return refuse(Rejection::ReadOnlyReplica);
    }
    if !conn.resp3 && conn.subs.total() > 0 && !spec.is(facts::SUBSCRIBED_OK) {
        return refuse(Rejection::Subscribed(full_name(container, spec)));
    }
    if role == (Role::Replica { link_up: false })
        && !settings.replica_serve_stale_data
        && j.deny_stale
    {
        return refuse(Rejection::MasterDown);
    }
    let verdict = if node.paused(j.may_replicate) {
        Verdict::Hold(Hold::Paused)
    } else if queuing {
        Verdict::Queue
    } else if let Some(seen) = node.keys_moving(&call, conn) {
        Verdict::Hold(Hold::KeysMoving { seen })
    } else {
        Verdict::Run
    };
    Admission {
        spec: Some(spec),
        verdict,
    }
}

/// What happens to a command line while a script has run past busy-reply-threshold, decided
/// without the keyspace lock the script holds.
#[derive(Debug, PartialEq, Eq)]
pub enum WhileBusy {
    Refuse(Rejection),
    /// SCRIPT KILL (`function` false) or FUNCTION KILL: served at once.
    Kill {
        function: bool,
    },
    /// FUNCTION STATS: answered from the running script's state.
    Stats,
    /// A command allowed while busy (ALLOW_BUSY) that needs the keyspace: it waits for it.
    Wait,
}

/// Redis's `processCommand` while a script is busy: unknown commands and wrong arity are
/// refused as always, the kill commands served, ALLOW_BUSY commands let through, the rest
/// refused with BUSY (`function`: the running script is a library function).
pub fn while_busy(args: &[Bytes], function: bool) -> WhileBusy {
    let (container, spec) = match resolve(args) {
        Ok(s) => s,
        Err(r) => return WhileBusy::Refuse(r),
    };
    if !spec.arity_ok(args.len()) {
        return WhileBusy::Refuse(Rejection::Arity(full_name(container, spec)));
    }
    if spec.is(facts::KILLS_SCRIPT) || spec.is(facts::KILLS_FUNCTION) {
        return WhileBusy::Kill {
            function: spec.is(facts::KILLS_FUNCTION),
        };
    }
    if spec.is(facts::STATS_WHILE_BUSY) {
        return WhileBusy::Stats;
    }
    if spec.has(flags::ALLOW_BUSY) {
        return WhileBusy::Wait;
    }
    WhileBusy::Refuse(Rejection::Busy { function })
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` — Redis's exact wording.
fn unknown_command(args: &[Bytes]) -> String {
    let mut s = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
    );
    let mut room = 128usize;
    for a in &args[1..] {
        if room == 0 {
            break;
        }
        let take = a.len().min(room);
        s.push_str(&format!("'{}' ", String::from_utf8_lossy(&a[..take])));
        room -= take;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientHandle;
    use crate::session::Multi;
    use std::sync::Arc;

    /// A node made up for one case; it counts what admission asked of it.
    #[derive(Default)]
    struct Fake {
        redirect: Option<Redirect>,
        oom: bool,
        replica: Option<bool>,
        good: usize,
        paused_all: bool,
        paused_writes: bool,
        moving: Option<u64>,
        asked: usize,
    }

    impl Node for Fake {
        fn route(&mut self, _: &Call, _: &Conn, _: Option<&[Vec<Bytes>]>) -> Option<Redirect> {
            self.asked += 1;
            self.redirect.clone()
        }
        fn out_of_memory(&mut self) -> bool {
            self.asked += 1;
            self.oom
        }
        fn role(&self) -> Role {
            match self.replica {
                None => Role::Primary,
                Some(link_up) => Role::Replica { link_up },
            }
        }
        fn good_replicas(&self, _: &Settings) -> usize {
            self.good
        }
        fn paused(&self, writes: bool) -> bool {
            self.paused_all || (self.paused_writes && writes)
        }
        fn keys_moving(&self, _: &Call, _: &Conn) -> Option<u64> {
            self.moving
        }
    }

    fn conn() -> Conn {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        Conn::new(Arc::new(ClientHandle::new(1, addr, addr)), true)
    }

    fn defaults() -> Settings {
        crate::config::Config::default().settings()
    }

    fn line(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|w| Bytes::from(w.to_string())).collect()
    }

    fn verdict(cmd: &str, c: &Conn, s: &Settings, node: &mut Fake) -> Verdict {
        admit(&line(cmd), c, s, node).verdict
    }

    fn refused(v: Verdict) -> String {
        match v {
            Verdict::Refuse(r) => r.message(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn while_a_script_is_busy_only_kill_and_allow_busy_commands_pass() {
        let busy = Rejection::Busy { function: false }.message();
        assert_eq!(
            busy,
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        );
        let cases: &[(&str, bool, WhileBusy)] = &[
            (
                "get k",
                false,
                WhileBusy::Refuse(Rejection::Busy { function: false }),
            ),
            (
                "set k v",
                true,
                WhileBusy::Refuse(Rejection::Busy { function: true }),
            ),
            ("script kill", false, WhileBusy::Kill { function: false }),
            ("function kill", true, WhileBusy::Kill { function: true }),
            ("multi", false, WhileBusy::Wait),
            ("function stats", true, WhileBusy::Stats),
            (
                "get",
                false,
                WhileBusy::Refuse(Rejection::Arity("get".into())),
            ),
        ];
        for (cmd, function, want) in cases {
            assert_eq!(&while_busy(&line(cmd), *function), want, "{cmd}");
        }
        assert!(matches!(
            while_busy(&line("nosuch"), false),
            WhileBusy::Refuse(Rejection::UnknownCommand(_))
        ));
    }

    #[test]
    fn checks_that_need_no_data_come_first_and_ask_nothing_of_the_node() {
        let mut s = defaults();
        s.requirepass = Some("pw".into());
        let mut unauthed = conn();
        unauthed.authenticated = false;
        let mut node = Fake {
            redirect: Some(Redirect::CrossSlot),
            oom: true,
            ..Fake::default()
        };
        let cases: &[(&str, &str)] = &[
            (
                "nosuch a b",
                "ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ",
            ),
            (
                "client nosuch",
                "ERR unknown subcommand 'nosuch'. Try CLIENT HELP.",
            ),
            ("get", "ERR wrong number of arguments for 'get' command"),
            (
                "client kill",
                "ERR wrong number of arguments for 'client|kill' command",
            ),
            ("get k", "NOAUTH Authentication required."),
        ];
        for (cmd, want) in cases {
            assert_eq!(
                refused(verdict(cmd, &unauthed, &s, &mut node)),
                *want,
                "{cmd}"
            );
        }
        // AUTH needs none, and goes on to the node's checks.
        assert_eq!(
            refused(verdict("auth pw", &unauthed, &s, &mut node)),
            Redirect::CrossSlot.message()
        );
        let mut in_multi = conn();
        in_multi.multi = Some(Multi::default());
        s.requirepass = None;
        node.asked = 0;
        assert_eq!(
            refused(verdict("shutdown", &in_multi, &s, &mut node)),
            "ERR Command not allowed inside a transaction"
        );
        assert_eq!(node.asked, 0, "no data needed for any of these");
    }

    #[test]
    fn the_node_is_asked_in_redis_order() {
        let mut s = defaults();
        s.maxmemory = 1;
        s.min_replicas_to_write = 1;
        s.replica_serve_stale_data = false;
        s.replica_read_only = true;
        let c = conn();
        // Each case: the node's state, and which refusal wins.
        let moved = Redirect::Moved(1, "127.0.0.1:7001".into());
        let mut everything = Fake {
            redirect: Some(moved.clone()),
            oom: true,
            replica: Some(false),
            paused_all: true,
            ..Fake::default()
        };
        assert_eq!(
            refused(verdict("set k v", &c, &s, &mut everything)),
            moved.message()
        );
        everything.redirect = None;
        assert_eq!(
            refused(verdict("set k v", &c, &s, &mut everything)),
            crate::eviction::OOM
        );
        // Reads are not refused for memory; on a replica whose link is down they are
        // refused as stale.
        assert_eq!(
            refused(verdict("get k", &c, &s, &mut everything)),
            Rejection::MasterDown.message()
        );
        everything.oom = false;
        assert_eq!(
            refused(verdict("set k v", &c, &s, &mut everything)),
            Rejection::ReadOnlyReplica.message()
        );
        let mut primary = Fake::default();
        assert_eq!(
            refused(verdict("set k v", &c, &s, &mut primary)),
            Rejection::NoReplicas.message()
        );
        primary.good = 1;
        assert_eq!(verdict("set k v", &c, &s, &mut primary), Verdict::Run);
        // A stale replica still serves what is flagged stale.
        let mut stale = Fake {
            replica: Some(false),
            ..Fake::default()
        };
        assert_eq!(verdict("info", &c, &s, &mut stale), Verdict::Run);
    }

    #[test]
    fn subscribed_mode_pause_queue_and_moving_keys() {
        let s = defaults();
        let mut c = conn();
        c.subs.subscribe(crate::pubsub::Kind::Channel, b"ch");
        let mut node = Fake::default();
        assert_eq!(
            refused(verdict("get k", &c, &s, &mut node)),
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(verdict("ping", &c, &s, &mut node), Verdict::Run);
        c.resp3 = true;
        assert_eq!(verdict("get k", &c, &s, &mut node), Verdict::Run);

        let mut c = conn();
        let mut paused = Fake {
            paused_writes: true,
            ..Fake::default()
        };
        assert_eq!(verdict("get k", &c, &s, &mut paused), Verdict::Run);
        assert_eq!(
            verdict("set k v", &c, &s, &mut paused),
            Verdict::Hold(Hold::Paused)
        );
        // EXEC is held by what it queued.
        c.multi = Some(Multi::default());
        assert_eq!(verdict("exec", &c, &s, &mut paused), Verdict::Run);
        c.multi.as_mut().unwrap().queued.push(line("set k v"));
        assert_eq!(
            verdict("exec", &c, &s, &mut paused),
            Verdict::Hold(Hold::Paused)
        );
        let mut node = Fake {
            moving: Some(7),
            ..Fake::default()
        };
        assert_eq!(verdict("set k v", &c, &s, &mut node), Verdict::Queue);
        c.multi = None;
        assert_eq!(
            verdict("get k", &c, &s, &mut node),
            Verdict::Hold(Hold::KeysMoving { seen: 7 })
        );
    }

    #[test]
    fn a_refused_exec_aborts_its_transaction_but_a_redirect_is_sent_as_is() {
        assert_eq!(
            Rejection::Arity("exec".into()).exec_abort_message(),
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
        );
        assert_eq!(
            Rejection::OutOfMemory.exec_abort_message(),
            format!(
                "EXECABORT Transaction discarded because of: {}",
                crate::eviction::OOM
            )
        );
        assert_eq!(
            Rejection::Redirect(Redirect::CrossSlot).exec_abort_message(),
            Redirect::CrossSlot.message()
        );
    }
}
