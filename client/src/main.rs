//! `slotcache-cli`: one tool to run slotcache nodes locally and talk to them, so a newcomer
//! needs neither a hand-written server command line nor a separate redis-cli to get going.
//!
//! Each subcommand group lives in its own module: `node` (ping, info), `server` (a single
//! node's lifecycle) and `cluster` (a whole local cluster), reusing `server`'s spawning and
//! `conn`'s connections.

mod chaos;
mod cluster;
mod conn;
mod events;
mod fix;
mod manage;
mod node;
use slotcache_proto::nodes;
mod plan;
mod reshard;
mod server;
mod slotmove;
mod topology;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "slotcache-cli",
    version,
    about = "Run and administer local slotcache nodes",
    // -h is the host, as in redis-cli; help is --help only.
    disable_help_flag = true
)]
struct Cli {
    #[command(flatten)]
    target: conn::Target,
    #[arg(long, action = clap::ArgAction::Help, global = true, help = "Print help")]
    help: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks that a node answers (prints PONG).
    Ping,
    /// Prints a node's INFO, optionally one section.
    Info { section: Option<String> },
    /// Starts or stops a single local node.
    #[command(subcommand)]
    Server(server::ServerCmd),
    /// Starts, stops or shows a local cluster.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Injects faults into a cluster under a load and reports availability and what the
    /// clients saw (lost writes, reads backwards, overlapping primaries).
    Chaos(chaos::ChaosArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Ping => node::ping(&cli.target),
        Command::Info { section } => node::info(&cli.target, section.as_deref()),
        Command::Server(cmd) => server::run(&cli.target, cmd),
        Command::Cluster(cmd) => cluster::run(&cli.target, cmd),
        Command::Chaos(args) => chaos::run(&cli.target, args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slotcache-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}
