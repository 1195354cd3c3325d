#!/usr/bin/env bash
# SET throughput with the append-only file on (`appendonly yes`), appendfsync everysec and
# always, slotcache side by side with redis-server and Valkey configured the same: 16-byte
# values over 100k random keys (-r 100000), 50 clients, pipeline 16; server on core 0, client
# on core 1; the three servers take turns within each round (A/B/C, twice), each in a fresh
# directory on disk (not tmpfs: an fsync there costs nothing). Run from the repository root
# after `cargo build --release -p slotcache-server`, ideally under `nice -n -19`.
# Env: SLOTCACHE_SERVER_BIN, VALKEY_SERVER_BIN (default: the one benches' procs.rs builds),
# PORT (default 20790), N_EVERYSEC / N_ALWAYS (requests per run), ROUNDS (default 2).
set -u
SC=${SLOTCACHE_SERVER_BIN:-target/release/slotcache-server}
VK=${VALKEY_SERVER_BIN:-$(ls -d /root/.cache/slotcache-peers/valkey-*/src/valkey-server 2>/dev/null | head -1)}
PORT=${PORT:-20790}
ROUNDS=${ROUNDS:-2}
servers="slotcache redis"
[ -n "$VK" ] && [ -x "$VK" ] && servers="$servers valkey"
for fsync in everysec always; do
  if [ $fsync = always ]; then n=${N_ALWAYS:-100000}; else n=${N_EVERYSEC:-1000000}; fi
  for r in $(seq 1 "$ROUNDS"); do for s in $servers; do
    D=$(mktemp -d "${TMPDIR:-/tmp}/aofset-XXXX")
    common=(--port "$PORT" --dir "$D" --save "" --appendonly yes --appendfsync "$fsync")
    case $s in
      slotcache) taskset -c 0 "$SC" "${common[@]}" > /dev/null 2>&1 & P=$! ;;
      redis) taskset -c 0 redis-server "${common[@]}" > /dev/null 2>&1 & P=$! ;;
      valkey) taskset -c 0 "$VK" "${common[@]}" > /dev/null 2>&1 & P=$! ;;
    esac
    for _ in $(seq 50); do timeout 1 redis-cli -p "$PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
    v=$(taskset -c 1 timeout 300 redis-benchmark -p "$PORT" -t set -r 100000 -d 16 -n "$n" -c 50 -P 16 -q --csv | tail -1 | cut -d, -f2 | tr -d '"')
    size=$(du -sk "$D/appendonlydir" 2>/dev/null | cut -f1)
    echo "$fsync round$r $s $v req/s (aof dir ${size}k)"
    kill $P; wait $P 2>/dev/null; rm -rf "$D"
  done; done
done
