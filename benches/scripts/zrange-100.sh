#!/usr/bin/env bash
# ZRANGE z 0 99 WITHSCORES on a 100-member sorted set (redis-benchmark's own tests have no
# ZRANGE): slotcache vs redis-server, pipeline 1 and 16, 3 rounds each, server on core 0 and
# client on core 1. Prints requests/s per round. Run from the repository root after
# `cargo build --release -p slotcache-server`.
set -u
SC=${SLOTCACHE_SERVER_BIN:-target/release/slotcache-server}
D=$(mktemp -d /dev/shm/zrange-XXXX)
trap 'kill $A $B 2>/dev/null; rm -rf "$D"' EXIT
mkdir -p "$D/a" "$D/b"
taskset -c 0 "$SC" --port 21955 --dir "$D/a" > "$D/a.log" 2>&1 & A=$!
taskset -c 0 redis-server --port 21956 --dir "$D/b" --save "" --appendonly no > "$D/b.log" 2>&1 & B=$!
sleep 0.5
args=""; for i in $(seq 1 100); do args="$args $i member:$i"; done
timeout 10 redis-cli -p 21955 zadd z $args > /dev/null
timeout 10 redis-cli -p 21956 zadd z $args > /dev/null
for P in 1 16; do for r in 1 2 3; do for port in 21955 21956; do
  name=$([ $port = 21955 ] && echo slotcache || echo redis)
  v=$(taskset -c 1 timeout 120 redis-benchmark -p $port -n 200000 -c 50 -P $P -q --csv zrange z 0 99 withscores | tail -1 | cut -d, -f2 | tr -d '"')
  echo "P$P round$r $name $v"
done; done; done
