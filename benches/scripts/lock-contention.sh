#!/usr/bin/env bash
# How much of the serving threads' time goes to waiting for the one keyspace lock (issue #33).
# Starts slotcache with each io-threads value, drives it with redis-benchmark (spread keys),
# and prints from INFO stats: acquisitions, the share that found the lock taken, the wait
# per acquisition, and wait and hold time as a share of the run's wall time per thread.
# Usage: benches/scripts/lock-contention.sh [threads list] [pipelines] [clients] [requests]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${SLOTCACHE_SERVER_BIN:-target/release/slotcache-server}
THREADS=${1:-1,2,4}
PIPES=${2:-1,16}
CLIENTS=${3:-200}
N=${4:-1000000}
PORT=${PORT:-21950}
stat() { timeout 5 redis-cli -p "$PORT" info stats | tr -d '\r' | awk -F: -v k="$1" '$1==k{print $2}'; }
printf '%-8s %-3s %-6s %10s %12s %10s %12s %10s %10s\n' io-thr P test rps acquisitions contended wait/acq_us wait%wall hold%wall
for t in ${THREADS//,/ }; do
  "$BIN" --port "$PORT" --io-threads "$t" --save '' --appendonly no --logfile /dev/null >/dev/null 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 50); do timeout 1 redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  timeout 120 redis-benchmark -p "$PORT" -q -t set -r 100000 -n 200000 -P 16 >/dev/null
  for p in ${PIPES//,/ }; do
    for test in set get; do
      a0=$(stat keyspace_lock_acquisitions); c0=$(stat keyspace_lock_contended)
      w0=$(stat keyspace_lock_wait_usec); h0=$(stat keyspace_lock_hold_usec)
      t0=$(date +%s%N)
      rps=$(timeout 300 redis-benchmark -p "$PORT" -q -t "$test" -r 100000 -n "$N" -c "$CLIENTS" -P "$p" | tr '\r' '\n' | awk '/requests per second/{print $2}' | tail -1)
      t1=$(date +%s%N)
      a1=$(stat keyspace_lock_acquisitions); c1=$(stat keyspace_lock_contended)
      w1=$(stat keyspace_lock_wait_usec); h1=$(stat keyspace_lock_hold_usec)
      wall_us=$(( (t1 - t0) / 1000 ))
      awk -v t="$t" -v p="$p" -v test="$test" -v rps="$rps" -v a=$((a1-a0)) -v c=$((c1-c0)) -v w=$((w1-w0)) -v h=$((h1-h0)) -v wall="$wall_us" 'BEGIN{
        printf "%-8s %-3s %-6s %10s %12d %9.1f%% %12.2f %9.1f%% %9.1f%%\n", t, p, test, rps, a, (a? 100*c/a:0), (a? w/a:0), 100*w/(wall*t), 100*h/wall }'
    done
  done
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
done
