//! CONFIG GET / SET / RESETSTAT / REWRITE over the parameter registry in `config.rs`.

use super::table::{flags::*, CommandSpec};
use super::{errors, reply_help, unknown_sub, Ctx};
use bytes::Bytes;

const CFG: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "get",
        -3,
        CFG,
        &[],
        get,
        "server",
        "Returns the effective values of configuration parameters.",
    ),
    CommandSpec::new(
        "set",
        -4,
        CFG,
        &[],
        set,
        "server",
        "Sets configuration parameters in-flight.",
    )
    .secrets(config_set_secrets),
    CommandSpec::new(
        "resetstat",
        2,
        CFG,
        &[],
        resetstat,
        "server",
        "Resets the server's statistics.",
    ),
    CommandSpec::new(
        "rewrite",
        2,
        CFG,
        &[],
        rewrite,
        "server",
        "Persists the effective configuration to file.",
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
    "config",
    -2,
    unknown_sub,
    "server",
    "A container for server configuration commands.",
    SUBCOMMANDS,
)];

/// CONFIG GET pattern...: a name without glob characters is looked up and answered under
/// the name as given (Redis 7.0.15 echoes `MaxMemory`); a pattern lists every matching name
/// and alias. A name already answered is not repeated, whatever its case.
fn get(ctx: &mut Ctx, a: &[Bytes]) {
    let cfg = ctx.shared.config.read();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let add = |pairs: &mut Vec<(String, String)>, k: String, v: String| {
        if !pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(&k)) {
            pairs.push((k, v));
        }
    };
    for pat in &a[2..] {
        if !pat.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            let name = String::from_utf8_lossy(pat);
            if let Some(p) = crate::config::param(&name) {
                let v = cfg.get(p.name).unwrap_or_default().to_string();
                add(&mut pairs, name.into_owned(), v);
            }
            continue;
        }
        for (k, v) in cfg.matching(pat) {
            add(&mut pairs, k.to_string(), v);
        }
    }
    drop(cfg);
    ctx.out.map(pairs.len());
    for (k, v) in pairs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
}

fn set(ctx: &mut Ctx, a: &[Bytes]) {
    // An odd number of name/value arguments is Redis's syntax error (arity only asks
    // for one pair).
    if !(a.len() - 2).is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    let mut cfg = ctx.shared.config.write();
    // All or nothing: apply to a copy, swap it in only if every pair was accepted.
    let mut next = cfg.clone();
    let mut seen = std::collections::HashSet::new();
    for pair in a[2..].chunks(2) {
        let name = crate::util::lower(&pair[0]);
        if !seen.insert(name.clone()) {
            return ctx.err(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            ));
        }
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if let Err(e) = next.set(&name, &value) {
            return ctx.err(&format!("ERR {e}"));
        }
    }
    // The snapshot file lives in `dir`, relative to the working directory (as Redis does,
    // which changes directory here too).
    if seen.contains("dir") {
        if let Err(e) = std::env::set_current_dir(next.get("dir").unwrap_or(".")) {
            return ctx.err(&format!(
                "ERR CONFIG SET failed (possibly related to argument 'dir') - {}",
                crate::util::io_error_text(&e)
            ));
        }
    }
    // New TLS settings are loaded before anything changes: certificates that fail to load
    // leave the node on its current ones (Redis's answer; the reason is logged).
    let tls = if seen.iter().any(|n| n.starts_with("tls-")) {
        match crate::tls::load(&crate::tls::TlsConfig::from_config(&next)) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("Failed to update TLS configuration: {e}");
                let name = a[2..]
                    .chunks(2)
                    .map(|p| crate::util::lower(&p[0]))
                    .find(|n| n.starts_with("tls-"))
                    .unwrap_or_default();
                return ctx.err(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs."
                ));
            }
        }
    } else {
        None
    };
    *cfg = next;
    drop(cfg);
    if let Some(c) = tls {
        ctx.shared.tls.install(c);
    }
    ctx.shared.refresh_settings();
    let settings = ctx.shared.settings();
    // requirepass is the default user's password (Redis's `ACLUpdateDefaultUserPassword`).
    if seen.contains("requirepass") {
        ctx.shared
            .acl
            .set_default_password(settings.requirepass.as_deref());
    }
    ctx.ks.repl.backlog.set_capacity(settings.repl_backlog_size);
    if seen.contains("appendfsync") {
        ctx.shared
            .aof
            .set_policy(crate::aof::writer::Fsync::parse(&settings.appendfsync));
    }
    // As Redis's `updateAppendonly`: yes starts AOF with a rewrite, no stops it.
    if seen.contains("appendonly") {
        let enabled = ctx.shared.aof.enabled();
        if settings.appendonly && !enabled {
            let started = ctx
                .shared
                .arc()
                .ok_or_else(String::new)
                .and_then(|sh| crate::aof::enable(&sh, ctx.conn.in_exec));
            if started.is_err() {
                let mut cfg = ctx.shared.config.write();
                let _ = cfg.set("appendonly", "no");
                drop(cfg);
                ctx.shared.refresh_settings();
                return ctx.err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.");
            }
        } else if !settings.appendonly && enabled {
            crate::aof::disable(ctx.shared, ctx.ks);
        }
    }
    // A lower maxmemory takes effect at once, as Redis's `updateMaxmemory` evicts right
    // away (bounded by maxmemory-eviction-tenacity, like any eviction run).
    if seen.contains("maxmemory") && settings.maxmemory > 0 {
        crate::eviction::perform(ctx.shared, ctx.ks, &settings, ctx.now);
    }
    ctx.out.ok();
}

fn resetstat(ctx: &mut Ctx, _a: &[Bytes]) {
    ctx.shared.stats.reset();
    ctx.shared.telemetry.reset_stats();
    super::server::lazyfree_reset_stats();
    for db in ctx.ks.dbs.iter_mut() {
        db.stats = Default::default();
        db.hits = 0;
        db.misses = 0;
    }
    ctx.ks.repl.stats = Default::default();
    ctx.out.ok();
}

fn rewrite(ctx: &mut Ctx, _a: &[Bytes]) {
    let r = ctx.shared.config.read().rewrite();
    match r {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}

fn help(ctx: &mut Ctx, _a: &[Bytes]) {
    reply_help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

/// Configuration parameters whose values are secrets.
const SECRET_PARAMS: &[&str] = &[
    "masterauth",
    "masteruser",
    "requirepass",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
    "cluster-secret",
    "cluster-secret-previous",
];

/// CONFIG SET's values of secret parameters.
fn config_set_secrets(args: &[Bytes]) -> Vec<usize> {
    (2..args.len())
        .step_by(2)
        .filter(|&i| SECRET_PARAMS.contains(&crate::util::lower(&args[i]).as_str()))
        .map(|i| i + 1)
        .collect()
}
