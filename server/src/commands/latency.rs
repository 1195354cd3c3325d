//! LATENCY: the latency monitor's events (LATEST, HISTORY, RESET, GRAPH, DOCTOR) and the
//! per-command latency histograms (HISTOGRAM), from `crate::telemetry`.

use super::table::{flags::*, CommandSpec};
use super::{reply_help, unknown_sub, Ctx};
use crate::telemetry::unix_secs;
use bytes::Bytes;

const L: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "doctor",
        2,
        L,
        &[],
        doctor,
        "server",
        "Returns a human-readable latency analysis report.",
    ),
    CommandSpec::new(
        "graph",
        3,
        L,
        &[],
        graph,
        "server",
        "Returns a latency graph for an event.",
    ),
    CommandSpec::new(
        "histogram",
        -2,
        L,
        &[],
        histogram,
        "server",
        "Returns the cumulative distribution of latencies of a subset or all commands.",
    ),
    CommandSpec::new(
        "history",
        3,
        L,
        &[],
        history,
        "server",
        "Returns timestamp-latency samples for an event.",
    ),
    CommandSpec::new(
        "latest",
        2,
        L,
        &[],
        latest,
        "server",
        "Returns the latest latency samples for all events.",
    ),
    CommandSpec::new(
        "reset",
        -2,
        L,
        &[],
        reset,
        "server",
        "Resets the latency data for one or more events.",
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        &[],
        help,
        "server",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "latency",
    -2,
    unknown_sub,
    "server",
    "A container for latency diagnostics commands.",
    SUBCOMMANDS,
)];

fn latest(ctx: &mut Ctx, _a: &[Bytes]) {
    let m = ctx.shared.telemetry.latency.lock();
    let events: Vec<_> = m.events().filter(|(_, s)| !s.samples.is_empty()).collect();
    ctx.out.array(events.len());
    for (name, s) in events {
        let (t, ms) = s.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(s.max as i64);
    }
}

fn history(ctx: &mut Ctx, a: &[Bytes]) {
    let m = ctx.shared.telemetry.latency.lock();
    let Some(s) = m.series(&a[2]) else {
        drop(m);
        return ctx.out.array(0);
    };
    ctx.out.array(s.samples.len());
    for (t, ms) in &s.samples {
        ctx.out.array(2);
        ctx.out.int(*t as i64);
        ctx.out.int(*ms as i64);
    }
}

fn reset(ctx: &mut Ctx, a: &[Bytes]) {
    let names: Vec<&[u8]> = a[2..].iter().map(|b| b.as_ref()).collect();
    let n = ctx.shared.telemetry.latency.lock().reset(&names);
    ctx.out.int(n as i64);
}

fn graph(ctx: &mut Ctx, a: &[Bytes]) {
    let m = ctx.shared.telemetry.latency.lock();
    let text = m
        .series(&a[2])
        .map(|s| m.graph(&String::from_utf8_lossy(&a[2]), s, unix_secs()));
    drop(m);
    match text {
        Some(t) => ctx.out.verbatim("txt", t.as_bytes()),
        None => ctx.err(&format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(&a[2])
        )),
    }
}

fn doctor(ctx: &mut Ctx, _a: &[Bytes]) {
    let report = ctx.shared.telemetry.latency.lock().doctor();
    ctx.out.verbatim("txt", report.as_bytes());
}

/// Each named command's (or every command's) call count and cumulative latency buckets;
/// a container brings its subcommands, unknown names and commands that never ran are left
/// out.
fn histogram(ctx: &mut Ctx, a: &[Bytes]) {
    let stats = &ctx.shared.telemetry.commands;
    let mut picked: Vec<&crate::telemetry::commands::Entry> = if a.len() == 2 {
        stats.entries().iter().collect()
    } else {
        a[2..]
            .iter()
            .flat_map(|n| stats.named(&String::from_utf8_lossy(n)))
            .collect()
    };
    picked.retain(|e| e.counters.histogram.get().is_some_and(|h| h.total() > 0));
    picked.dedup_by(|x, y| x.name == y.name);
    ctx.out.map(picked.len());
    for e in picked {
        let Some(h) = e.counters.histogram.get() else {
            continue;
        };
        let buckets = h.cumulative_usec();
        ctx.out.bulk(e.name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(h.total() as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(buckets.len());
        for (us, n) in buckets {
            ctx.out.int(us as i64);
            ctx.out.int(n as i64);
        }
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}
