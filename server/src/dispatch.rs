//! Admission and execution of one command, in a fixed order: look-up, arity, auth, then run.
//! (Cluster redirects, OOM and replica checks slot in here, in that order, as they land.)

use crate::clients::{Conn, ReplyMode};
use crate::commands::{errors, flags, table, CommandSpec, Ctx};
use crate::config::Settings;
use crate::keyspace::Keyspace;
use crate::protocol::Out;
use crate::state::Shared;
use bytes::Bytes;

/// Why a command was refused before it ran.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    UnknownSub,
    Arity,
    NoAuth,
}

/// Resolves a command (and its subcommand) and checks arity and authentication.
pub fn admit(
    args: &[Bytes],
    conn: &Conn,
    settings: &Settings,
) -> Result<&'static CommandSpec, (Refusal, String)> {
    let Some(cmd) = table::lookup(&args[0]) else {
        return Err((Refusal::Unknown, unknown_command(args)));
    };
    let spec = if cmd.subcommands.is_empty() {
        if !cmd.arity_ok(args.len()) {
            return Err((Refusal::Arity, errors::arity(cmd.name)));
        }
        cmd
    } else {
        if args.len() < 2 {
            return Err((Refusal::Arity, errors::arity(cmd.name)));
        }
        match cmd.subcommand(&args[1]) {
            Some(sub) => {
                if !sub.arity_ok(args.len()) {
                    return Err((
                        Refusal::Arity,
                        errors::arity(&format!("{}|{}", cmd.name, sub.name)),
                    ));
                }
                sub
            }
            None => {
                return Err((
                    Refusal::UnknownSub,
                    errors::unknown_subcommand(&args[1], cmd.name),
                ))
            }
        }
    };
    if settings.requirepass.is_some() && !conn.authenticated && !spec.has(flags::NO_AUTH) {
        return Err((Refusal::NoAuth, errors::NOAUTH.to_string()));
    }
    Ok(spec)
}

/// Cluster routing: where the command's keys live decides whether it runs here.
fn redirect(shared: &Shared, spec: &CommandSpec, args: &[Bytes]) -> Option<String> {
    let cluster = shared.cluster.get()?;
    let positions = spec.key_positions(args);
    if positions.is_empty() {
        return None;
    }
    let view = cluster.view();
    let slots = positions
        .iter()
        .filter_map(|&i| args.get(i))
        .map(|k| crate::keyspace::slot::key_slot(k));
    let allow_reads = cluster
        .allow_reads_when_down
        .load(std::sync::atomic::Ordering::Relaxed);
    crate::cluster::redirect::route(&view, slots, spec.has(flags::WRITE), allow_reads)
        .map(|r| r.message())
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

/// Runs one command for a connection, replying through `out`.
pub fn execute(
    shared: &Shared,
    ks: &mut Keyspace,
    conn: &mut Conn,
    out: &mut Out,
    settings: &Settings,
    args: &[Bytes],
) {
    let before = conn.reply;
    if before == ReplyMode::Skip {
        conn.reply = ReplyMode::On;
    }
    let mark = out.mark();
    match admit(args, conn, settings) {
        Ok(spec) => {
            if let Some(msg) = redirect(shared, spec, args) {
                out.error(&msg);
                return finish(shared, conn, out, before, mark);
            }
            let mut ctx = Ctx {
                shared,
                ks,
                conn,
                out,
                settings,
                now: crate::util::now_ms(),
            };
            (spec.handler)(&mut ctx, args);
        }
        Err((_, msg)) => out.error(&msg),
    }
    finish(shared, conn, out, before, mark);
}

/// Bookkeeping after a command: error counting and CLIENT REPLY suppression.
fn finish(shared: &Shared, conn: &mut Conn, out: &mut Out, before: ReplyMode, mark: usize) {
    if out.buf.get(mark) == Some(&b'-') {
        crate::state::Stats::add(&shared.stats.errors_replied, 1);
    }
    let after = conn.reply;
    let emit = match (before, after) {
        (_, ReplyMode::Off) => false,
        (ReplyMode::Off, ReplyMode::On) => true,
        (ReplyMode::Skip, _) => false,
        _ => true,
    };
    if after == ReplyMode::SkipNext {
        conn.reply = ReplyMode::Skip;
    }
    if !emit {
        out.truncate(mark);
    }
}
