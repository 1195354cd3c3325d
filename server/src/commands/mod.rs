//! Commands: the [`table`] that describes them, one file per command family, and the [`Ctx`]
//! every handler receives.
//!
//! A handler parses its arguments, acts on the keyspace and writes exactly one reply through
//! `ctx.out`; a handler that changes what the connection does next (blocks, waits, closes,
//! ...) hands that back with [`Ctx::then`]. Handlers never see sockets, the cluster bus or
//! replication internals.

pub mod acl;
pub mod bitmaps;
pub mod bounds;
pub mod client;
pub mod client_tracking;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod debug;
pub mod docs;
pub mod dump;
pub mod expiry;
pub mod functions;
pub mod geo;
pub mod hash_ttl;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod introspection;
pub mod keys;
pub mod keyspec;
pub mod latency;
pub mod lists;
pub mod lolwut;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod persistence;
pub mod pubsub;
pub mod redis_meta;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_groups;
pub mod stream_read;
pub mod streams;
pub mod strings;
pub mod table;
pub mod transactions;
pub mod zblocking;
pub mod zsets;

use crate::config::Settings;
use crate::dataset::Keyspace;
use crate::flow::{BlockRequest, Next};
use crate::keyspace::Db;
use crate::protocol::Out;
use crate::session::Conn;
use crate::state::Shared;
use bytes::Bytes;
pub use table::{flags, CommandSpec};

/// Every command family's table, in the order COMMAND lists them.
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    strings::COMMANDS,
    hashes::COMMANDS,
    hash_ttl::COMMANDS,
    sets::COMMANDS,
    bitmaps::COMMANDS,
    keys::COMMANDS,
    sort::COMMANDS,
    memory::COMMANDS,
    expiry::COMMANDS,
    dump::COMMANDS,
    migrate::COMMANDS,
    server::COMMANDS,
    persistence::COMMANDS,
    acl::COMMANDS,
    client::COMMANDS,
    config::COMMANDS,
    info::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
    monitor::COMMANDS,
    lolwut::COMMANDS,
    introspection::COMMANDS,
    debug::COMMANDS,
    cluster::COMMANDS,
    replication::COMMANDS,
    lists::COMMANDS,
    zblocking::COMMANDS,
    pubsub::COMMANDS,
    transactions::COMMANDS,
    zsets::COMMANDS,
    geo::COMMANDS,
    hyperloglog::COMMANDS,
    streams::COMMANDS,
    stream_groups::COMMANDS,
    stream_read::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
];

/// What a handler works with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub ks: &'a mut Keyspace,
    pub conn: &'a mut Conn,
    pub out: &'a mut Out,
    pub settings: &'a Settings,
    /// Wall-clock milliseconds, read once per command (expiry decisions within one command
    /// agree with each other).
    pub now: u64,
    /// What to replicate instead of the command itself (effects, not intentions: relative
    /// expiries as PEXPIREAT, INCRBYFLOAT as SET, ...). `None` replicates the command as
    /// sent when it changed data.
    pub propagate: Option<Vec<Vec<Bytes>>>,
    /// The keys the command really modified, when fewer than its key arguments (SMOVE of
    /// a member the destination already holds leaves the destination as it was). `None`:
    /// all of them. Decides which WATCHes break, which waiters wake, what is notified.
    pub modified: Option<Vec<Bytes>>,
    /// What the connection does after this command (see [`Ctx::then`]).
    pub next: Next,
    /// Keyspace events reported by the handler (see [`Ctx::notify`]).
    pub events: Vec<(&'static str, Bytes)>,
    /// The error reply the command wrote was already counted in the error statistics: a
    /// script's error raised from a command it called, counted when that command failed
    /// (Redis's `ERR_REPLY_FLAG_NO_STATS_UPDATE`). The command still counts as failed.
    pub error_counted: bool,
}

impl Ctx<'_> {
    /// The connection's selected database.
    pub fn db(&mut self) -> &mut Db {
        let i = self.conn.db.min(self.ks.dbs.len() - 1);
        &mut self.ks.dbs[i]
    }

    /// The selected database and the reply writer, borrowed together.
    pub fn db_out(&mut self) -> (&mut Db, &mut Out) {
        let i = self.conn.db.min(self.ks.dbs.len() - 1);
        (&mut self.ks.dbs[i], self.out)
    }

    /// A blocking command found nothing to serve: park the connection on `keys` for
    /// `timeout_ms` (0 = forever). Inside EXEC it answers the timeout reply at once, as
    /// Redis does.
    pub fn block_on(&mut self, keys: Vec<Vec<u8>>, timeout_ms: u64) {
        self.block_on_with(keys, timeout_ms, false);
    }

    /// [`Ctx::block_on`] for BLMOVE and BRPOPLPUSH, which inside EXEC answer a null bulk
    /// string (Redis's `addReplyNull` there); their timeout reply is still the null array
    /// every list block times out with (Redis's `replyToBlockedClientTimedOut`).
    pub fn block_on_with(&mut self, keys: Vec<Vec<u8>>, timeout_ms: u64, null_bulk: bool) {
        self.park(keys, timeout_ms, null_bulk, None);
    }

    /// [`Ctx::block_on`] for a command whose re-run must see `rerun` rather than the line as
    /// sent (XREAD's `$` resolved to the id it stood for when the client blocked).
    pub fn block_on_rerun(&mut self, keys: Vec<Vec<u8>>, timeout_ms: u64, rerun: Vec<Bytes>) {
        self.park(keys, timeout_ms, false, Some(rerun));
    }

    fn park(
        &mut self,
        keys: Vec<Vec<u8>>,
        timeout_ms: u64,
        null_bulk: bool,
        rerun: Option<Vec<Bytes>>,
    ) {
        if self.conn.in_exec {
            return if null_bulk {
                self.out.null()
            } else {
                self.out.null_array()
            };
        }
        let deadline = (timeout_ms > 0)
            .then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms));
        self.then(Next::Block(BlockRequest {
            keys,
            deadline,
            rerun,
        }));
    }

    /// Reports a keyspace event on `key` for a command whose events depend on what it did
    /// (its spec says [`crate::keyspace_events::Events::Reported`]).
    pub fn notify(&mut self, event: &'static str, key: &Bytes) {
        if !self.settings.notify_keyspace_events.is_empty() {
            self.events.push((event, key.clone()));
        }
    }

    /// Says what the connection does after this command: the one way a handler changes a
    /// connection's course (see [`crate::flow`]).
    pub fn then(&mut self, next: Next) {
        let now = std::mem::take(&mut self.next);
        self.next = now.and(next);
    }

    /// Whether writes are being recorded for replicas or the AOF (effects need building
    /// only then).
    pub fn replicating(&self) -> bool {
        self.ks.repl.recording() && !self.ks.repl.is_replica()
    }

    /// Replicates `cmds` instead of the command as sent.
    pub fn propagate_as(&mut self, cmds: Vec<Vec<Bytes>>) {
        self.propagate = Some(cmds);
    }

    /// Says which of the command's keys it modified (see [`Ctx::modified`]).
    pub fn modified_only(&mut self, keys: Vec<Bytes>) {
        self.modified = Some(keys);
    }

    /// Records that the dataset changed (one write in the total order).
    pub fn dirty(&mut self, n: u64) {
        self.ks.dirty += n;
    }

    pub fn err(&mut self, msg: &str) {
        self.out.error(msg);
    }
}

/// Error replies used across families, worded exactly as Redis words them.
pub mod errors {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_KEY: &str = "ERR no such key";
    pub const DB_INDEX: &str = "ERR DB index is out of range";
    pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '{}' command";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";

    /// `ERR wrong number of arguments for '<cmd>' command`.
    pub fn arity(cmd: &str) -> String {
        format!("ERR wrong number of arguments for '{cmd}' command")
    }

    /// `ERR invalid expire time in '<cmd>' command`.
    pub fn invalid_expire(cmd: &str) -> String {
        format!("ERR invalid expire time in '{cmd}' command")
    }

    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> String {
        format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            cmd.to_ascii_uppercase()
        )
    }
}

/// Argument helpers shared by handlers.
pub mod args {
    use bytes::Bytes;

    /// Case-insensitive comparison of an argument with an option name.
    #[inline]
    pub fn is(arg: &Bytes, opt: &str) -> bool {
        arg.eq_ignore_ascii_case(opt.as_bytes())
    }

    pub fn int(arg: &[u8]) -> Option<i64> {
        crate::util::parse_i64_strict(arg)
    }

    /// The command name as the user typed it, lower-cased (for error messages).
    pub fn name(args: &[Bytes]) -> String {
        crate::util::lower(&args[0])
    }
}

/// Replies with the lines of a HELP subcommand (a status reply per line, as Redis does).
pub fn reply_help(ctx: &mut Ctx, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Handler for container commands: the dispatcher resolves subcommands itself, so reaching
/// this means the subcommand was unknown.
pub fn unknown_sub(ctx: &mut Ctx, args: &[Bytes]) {
    let cmd = args::name(args);
    let sub = args.get(1).map(|b| b.as_ref()).unwrap_or(b"");
    ctx.err(&errors::unknown_subcommand(sub, &cmd));
}

pub use crate::util::REDIS_VERSION;

/// Client names may not contain spaces or newlines (CLIENT SETNAME, HELLO SETNAME).
pub fn client_name_check(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    } else {
        Ok(())
    }
}

/// Keeps `Bytes` in scope for family files that only use it in signatures.
pub type Args = [Bytes];
