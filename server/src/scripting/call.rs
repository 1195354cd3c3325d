//! A command called from a script (`redis.call`, `redis.pcall`): the checks Redis's
//! `scriptCall` makes, in its order, then the command through the command table as any
//! other, its effects gathered into the script's transaction for replicas.

use crate::admission::{live::Live, Call, Node, Role};
use crate::cluster::redirect::Redirect;
use crate::commands::table::{self, flags, CommandSpec};
use crate::config::Settings;
use crate::dataset::Keyspace;
use crate::protocol::Out;
use crate::session::Conn;
use crate::state::Shared;
use bytes::Bytes;

/// What a script may do, decided before it runs (Redis's `run_ctx->flags`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// EVAL_RO / FCALL_RO, or a script declared `no-writes`.
    pub read_only: bool,
    pub allow_oom: bool,
    /// Keys of any slot (compatibility mode, or `allow-cross-slot-keys`).
    pub allow_cross_slot: bool,
}

/// One script run: what its commands run against, and what it did so far.
pub struct Run<'a> {
    pub shared: &'a Shared,
    pub ks: &'a mut Keyspace,
    pub settings: &'a Settings,
    /// The script's own client: the caller's database, READONLY and ASKING; its SELECT does
    /// not change the caller's.
    pub conn: Conn,
    pub policy: Policy,
    /// The node was over maxmemory when the script started.
    pub oom_at_start: bool,
    /// A write command ran: later ones are not refused for the node's state.
    pub write_dirty: bool,
    /// The slot of the keys touched so far (declared or not), in cluster mode.
    pub slot: Option<u16>,
    /// `redis.set_repl`: which of the script's effects reach replicas (bit 2: replicas).
    pub repl: u8,
    /// The protocol the script reads replies in (`redis.setresp`).
    pub resp3: bool,
    out: Out,
}

impl<'a> Run<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: &'a Shared,
        ks: &'a mut Keyspace,
        settings: &'a Settings,
        caller: &Conn,
        policy: Policy,
        oom_at_start: bool,
        slot: Option<u16>,
    ) -> Self {
        let mut conn = Conn::new(caller.handle.clone(), true);
        conn.user = caller.user.clone();
        conn.db = caller.db;
        conn.readonly = caller.readonly;
        conn.asking = caller.asking;
        // Blocking commands answer at once, as inside EXEC.
        conn.in_exec = true;
        conn.in_script = true;
        Run {
            shared,
            ks,
            settings,
            conn,
            policy,
            oom_at_start,
            write_dirty: false,
            slot,
            repl: 3,
            resp3: false,
            out: Out::new(false),
        }
    }

    /// Runs one command for the script: its reply (RESP), or why it was refused (a message
    /// as Redis words it, to become an error table). The reply is good until the next call.
    pub fn call(&mut self, argv: &[Bytes]) -> Result<&[u8], String> {
        self.execute(argv)?;
        Ok(&self.out.buf[..])
    }

    /// [`Run::call`], a refusal written as the error reply that holds the error table's
    /// text.
    pub fn call_reply(&mut self, argv: &[Bytes]) -> &[u8] {
        if let Err(msg) = self.execute(argv) {
            self.out.buf.clear();
            self.out.buf.extend_from_slice(b"-");
            self.out
                .buf
                .extend_from_slice(super::error_text(&msg).as_bytes());
            self.out.buf.extend_from_slice(b"\r\n");
        }
        &self.out.buf[..]
    }

    fn execute(&mut self, argv: &[Bytes]) -> Result<(), String> {
        let spec = match resolve(argv) {
            Some(s) => s,
            None => return Err("Unknown Redis command called from script".into()),
        };
        if let Err(e) = self.check(spec, argv) {
            let msg = super::error_text(&e);
            self.shared.telemetry.rejected(Some(spec), msg.as_bytes());
            return Err(e);
        }
        if spec.has(flags::WRITE) {
            self.write_dirty = true;
            self.shared.script_busy.wrote();
        }
        self.out.buf.clear();
        self.out.resp3 = self.resp3;
        self.conn.resp3 = self.resp3;
        let mark = self.ks.repl.tx_len();
        let call = Call::new(spec, argv);
        let next = crate::dispatch::execute_for_script(
            self.shared,
            self.ks,
            &mut self.conn,
            &mut self.out,
            self.settings,
            &call,
        );
        drop(next);
        if self.repl & 2 == 0 {
            self.ks.repl.tx_truncate(mark);
        }
        Ok(())
    }

    /// `scriptCall`'s checks, in its order; the error is Redis's message.
    fn check(&mut self, spec: &'static CommandSpec, argv: &[Bytes]) -> Result<(), String> {
        if !spec.arity_ok(argv.len()) {
            return Err("Wrong number of args calling Redis command from script".into());
        }
        if spec.has(flags::NOSCRIPT)
            && !self
                .shared
                .script_deny_disabled
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err("This Redis command is not allowed from script".into());
        }
        let replica_stream = self.ks.repl.is_replica();
        let mut node = Live {
            shared: self.shared,
            ks: self.ks,
            settings: self.settings,
        };
        let role = node.role();
        if role == (Role::Replica { link_up: false })
            && !self.settings.replica_serve_stale_data
            && !spec.has(flags::STALE)
        {
            return Err("Can not execute the command on a stale replica. The replica is not connected to the master and replica-serve-stale-data is set to 'no'.".into());
        }
        if let Err(p) = crate::admission::acl_check(&self.conn, spec, argv) {
            self.shared.acl.log_denial(crate::acl::log::entry(
                &p,
                crate::acl::log::Context::Lua,
                &self.conn,
            ));
            return Err(match p.reason {
                crate::acl::Reason::Key => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
                crate::acl::Reason::Channel => "The user executing the script can't publish to the channel mentioned in the command",
                _ => "The user executing the script can't run this command or subcommand",
            }
            .into());
        }
        let write = spec.has(flags::WRITE);
        if self.policy.read_only && (write || spec.has(flags::MAY_REPLICATE)) {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        if write && !self.write_dirty {
            if matches!(role, Role::Replica { .. }) && self.settings.replica_read_only {
                return Err("-READONLY You can't write against a read only replica.".into());
            }
            if role == Role::Primary
                && self.settings.min_replicas_to_write > 0
                && node.good_replicas(self.settings) < self.settings.min_replicas_to_write
            {
                return Err("-NOREPLICAS Not enough good replicas to write.".into());
            }
        }
        if !self.policy.allow_oom
            && self.settings.maxmemory > 0
            && !self.write_dirty
            && self.oom_at_start
            && spec.has(flags::DENYOOM)
        {
            return Err(format!("-{}", crate::eviction::OOM));
        }
        if self.shared.cluster.get().is_some() && !replica_stream {
            let call = Call::new(spec, argv);
            match node.route(&call, &self.conn, None) {
                None => {}
                Some(Redirect::DownReadOnly) => return Err("Script attempted to execute a write command while the cluster is down and readonly".into()),
                Some(Redirect::Down) => {
                    return Err("Script attempted to execute a command while the cluster is down".into())
                }
                Some(_) => {
                    return Err("Script attempted to access a non local key in a cluster node".into())
                }
            }
            if !self.policy.allow_cross_slot {
                if let Some(k) = call.key_args().next() {
                    let slot = crate::keyspace::slot::key_slot(k);
                    match self.slot {
                        None => self.slot = Some(slot),
                        Some(s) if s != slot => {
                            return Err(
                                "Script attempted to access keys that do not hash to the same slot"
                                    .into(),
                            )
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// The command a script's argument vector names (Redis's `lookupCommand`: a container with
/// an unknown subcommand names none).
fn resolve(argv: &[Bytes]) -> Option<&'static CommandSpec> {
    let cmd = table::lookup(argv.first()?)?;
    if cmd.subcommands.is_empty() {
        return Some(cmd);
    }
    match argv.get(1) {
        None => Some(cmd),
        Some(sub) => cmd.subcommand(sub),
    }
}
