//! MONITOR: turns the connection into a stream of every command the server executes
//! (`crate::telemetry::monitor` formats and delivers the lines).

use super::table::{flags::*, CommandSpec};
use super::Ctx;
use bytes::Bytes;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "monitor",
    1,
    ADMIN | NOSCRIPT | LOADING | STALE,
    &[],
    monitor,
    "server",
    "Listens for all requests received by the server in real-time.",
)];

fn monitor(ctx: &mut Ctx, _a: &[Bytes]) {
    if ctx.conn.in_exec {
        return ctx.err("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    // Lines travel through the connection's push queue (shared with pub/sub messages),
    // which the connection task writes out under the output-buffer limits.
    let sub = super::pubsub::subscriber(ctx);
    {
        let mut flags = ctx.conn.handle.flags.lock();
        if !flags.contains('O') {
            *flags = flags.replace('N', "");
            flags.push('O');
        }
    }
    ctx.shared.telemetry.monitors.add(sub);
    ctx.out.ok();
}
