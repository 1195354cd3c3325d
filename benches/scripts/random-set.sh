#!/usr/bin/env bash
# SET over 1M random keys (16-byte values, pipeline 16, 50 clients): the cache-miss-bound
# case that `compare` (one key per test) does not show. slotcache vs redis-server, 3 rounds,
# server on core 0 and client on core 1. Run from the repository root after
# `cargo build --release -p slotcache-server`.
set -u
SC=${SLOTCACHE_SERVER_BIN:-target/release/slotcache-server}
for r in 1 2 3; do for s in slotcache redis; do
  D=$(mktemp -d /dev/shm/randset-XXXX)
  if [ $s = slotcache ]; then taskset -c 0 "$SC" --port 21973 --dir "$D" > /dev/null 2>&1 & P=$!
  else taskset -c 0 redis-server --port 21973 --dir "$D" --save "" --appendonly no > /dev/null 2>&1 & P=$!; fi
  sleep 0.4
  v=$(taskset -c 1 timeout 120 redis-benchmark -p 21973 -t set -r 1000000 -d 16 -n 2000000 -c 50 -P 16 -q --csv | tail -1 | cut -d, -f2 | tr -d '"')
  echo "round$r $s $v"
  kill $P; wait $P 2>/dev/null; rm -rf "$D"
done; done
