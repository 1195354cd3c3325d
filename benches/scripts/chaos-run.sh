#!/usr/bin/env bash
# The long chaos run of issue #31 (not in CI): slotcache-cli chaos for SECONDS (default 600)
# against six nodes in network namespaces (needs root, iproute2, iptables; chromium for the
# screenshot), every fault kind, then the report's summary. Exits non-zero when a promise
# was broken (a WAIT-confirmed write lost, a read below a confirmed value, overlapping
# primaries, a false failover).
# usage: benches/scripts/chaos-run.sh [SECONDS] [SEED] [OUT]
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-600}
seed=${2:-1}
out=${3:-target/chaos-$seconds-s-seed-$seed}
cargo build --release -p slotcache-server -p slotcache-cli
timeout $((seconds + 900)) target/release/slotcache-cli chaos \
  --server-bin target/release/slotcache-server \
  --seconds "$seconds" --seed "$seed" --out "$out"
