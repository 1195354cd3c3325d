//! `slotcache-server [/path/to/slotcache.conf] [--option value ...]`, as redis-server.

use slotcache_server::{config::Config, idle_spin, logging, server, state::Shared};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: slotcache_server::eviction::alloc::Counting<tikv_jemallocator::Jemalloc> =
    slotcache_server::eviction::alloc::Counting(tikv_jemallocator::Jemalloc);

/// jemalloc options: pages freed by eviction go back to the OS after one second instead of
/// ten (and skip the "muzzy" stage), so RSS tracks `maxmemory` under constant eviction
/// instead of carrying ~10 s of freed pages; that purging runs on jemalloc's background
/// thread (as Redis's `jemalloc-bg-thread yes`), not inside a client's allocation.
/// `MALLOC_CONF`-style env (`_RJEM_MALLOC_CONF`) still overrides.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true\0";

fn usage() {
    println!(
        "Usage: slotcache-server [/path/to/slotcache.conf] [options]\n       \
         slotcache-server -v or --version\n       slotcache-server -h or --help\n\n\
         Examples:\n       slotcache-server (run with defaults)\n       \
         slotcache-server /etc/slotcache/7000.conf\n       \
         slotcache-server --port 7777\n       \
         slotcache-server --port 7777 --cluster-enabled yes --cluster-node-timeout 1000\n       \
         slotcache-server /etc/myslotcache.conf --loglevel verbose"
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-v") | Some("--version") => {
            println!("slotcache-server v={}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("-h") | Some("--help") => {
            usage();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("\n*** FATAL CONFIG FILE ERROR ***\n{e}");
            return ExitCode::from(1);
        }
    };
    let settings = config.settings();
    if let Err(e) = logging::init(&settings) {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    if let Err(e) = std::env::set_current_dir(&settings.dir) {
        eprintln!("Can't chdir to '{}': {e}", settings.dir.display());
        return ExitCode::from(1);
    }
    idle_spin::set_budget_us(settings.idle_spin_us);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(worker_threads(settings.io_threads))
        .enable_all()
        .on_thread_park(idle_spin::before_park)
        .on_thread_unpark(idle_spin::after_unpark);
    // Connections run in the order their input arrived. A worker's LIFO slot runs the task
    // woken last first: of two clients whose input one poll of the socket driver found, the
    // later one's command would overtake the earlier one's (a DEL sent after another client's
    // blocking XREADGROUP would run first), and a flood of new connections would keep going
    // ahead of established clients.
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let users = config.users.clone();
    let shared = Shared::new(config);
    if let Err(e) = load_users(&shared, &settings, &users) {
        tracing::error!("{e}");
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    // The Redis test suite starts its servers and waits for " PID: <pid>" in their log.
    tracing::info!("Server starting, PID: {}", std::process::id());
    tracing::info!(
        pid = std::process::id(),
        port = settings.port,
        "slotcache-server {} starting",
        env!("CARGO_PKG_VERSION")
    );
    match rt.block_on(server::run(shared)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server stopped: {e}");
            ExitCode::from(1)
        }
    }
}

/// The users of the config file's `user` lines or of the ACL file, as Redis's
/// `ACLLoadUsersAtStartup`: both at once is an error, and so is a rule that does not apply.
fn load_users(
    shared: &Shared,
    settings: &slotcache_server::config::Settings,
    users: &[Vec<String>],
) -> Result<(), String> {
    if settings.aclfile.is_some() && !users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    slotcache_server::acl::file::load_config_users(&shared.acl, users)
        .map_err(|e| format!("{e}. Critical error while loading ACLs. Exiting."))?;
    if let Some(path) = &settings.aclfile {
        slotcache_server::acl::file::load(&shared.acl, path)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(())
}

/// Threads that serve clients: `io-threads N`, or by default one per core but one, at least
/// one. Commands execute one batch at a time under the keyspace lock, so the threads parse,
/// encode, do I/O and feed replicas in parallel; the core left over is for what shares the
/// machine (clients, a replica, the cluster bus). On a 2-core box, two threads made a
/// replica's lag p99 under load 11.8-13.7 ms against 6.9-7.1 ms with one (`repl-bench lag`),
/// at the same primary throughput with a replica attached.
fn worker_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}
