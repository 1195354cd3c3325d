#!/usr/bin/env bash
# Scripting throughput side by side (issue #24): redis-benchmark sending EVALSHA of
#   - "read+incr": a script that reads one key and increments another (spread keys, -r),
#   - "loop1000": a script making 1,000 redis.call per run,
# against slotcache, redis-server and Valkey (when ../shared/peers built it), each alone in
# turn, rounds alternating; the server on core 0 and redis-benchmark on core 1 where
# taskset exists. Prints the median requests per second and the ratios to each peer.
# usage: benches/scripts/evalsha-bench.sh [BASE_PORT]   (env: ROUNDS=3 N=200000 P="1 16")
set -eu
cd "$(dirname "$0")/../.."
base=${1:-20170}
rounds=${ROUNDS:-3}
n=${N:-200000}
pipes=${P:-1 16}
valkey=$(ls /root/.cache/slotcache-peers/valkey-*/src/valkey-server 2>/dev/null | head -1 || true)
servers="slotcache:target/release/slotcache-server redis:$(command -v redis-server)"
[ -n "$valkey" ] && servers="$servers valkey:$valkey" || echo "valkey: not built (../shared/peers/build.sh); skipped"
pin_s=""; pin_c=""
if command -v taskset >/dev/null; then pin_s="taskset -c 0"; pin_c="taskset -c 1"; fi
READ_INCR="local v = redis.call('GET', KEYS[1]); return redis.call('INCR', KEYS[2])"
LOOP="for i = 1, 1000 do redis.call('INCR', KEYS[1]) end return 1"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
declare -A port
i=0
for s in $servers; do
  name=${s%%:*}; bin=${s#*:}; p=$((base + i)); i=$((i + 1)); port[$name]=$p
  $pin_s "$bin" --port "$p" --save '' --appendonly no >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do timeout 2 redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
bench() { # port pipeline n sha keys... -> rps
  local p=$1 pl=$2 nn=$3 sha=$4; shift 4
  timeout 300 $pin_c redis-benchmark -p "$p" -n "$nn" -r 100000 -c 50 -P "$pl" -q EVALSHA "$sha" "$@" 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {for (i = 2; i <= NF; i++) if ($i == "requests") print $(i - 1)}' | tail -1
}
for case in read+incr loop1000; do
  for pl in $pipes; do
    declare -A res=()
    for _ in $(seq "$rounds"); do
      for s in $servers; do
        name=${s%%:*}; p=${port[$name]}
        if [ "$case" = read+incr ]; then
          sha=$(timeout 5 redis-cli -p "$p" SCRIPT LOAD "$READ_INCR")
          r=$(bench "$p" "$pl" "$n" "$sha" 2 'key:__rand_int__' 'counter:__rand_int__')
        else
          sha=$(timeout 5 redis-cli -p "$p" SCRIPT LOAD "$LOOP")
          r=$(bench "$p" "$pl" $((n / 100)) "$sha" 1 'loop:__rand_int__')
        fi
        res[$name]="${res[$name]:-} $r"
      done
    done
    line="$case P=$pl"
    for s in $servers; do name=${s%%:*}; m=$(printf '%s\n' ${res[$name]} | median); line="$line $name=$m"; eval "med_$name=$m"; done
    for s in $servers; do
      name=${s%%:*}; [ "$name" = slotcache ] && continue
      line="$line slotcache/$name=$(awk -v a="$med_slotcache" -v b="$(eval echo \$med_$name)" 'BEGIN {printf "%.2f", a/b}')"
    done
    echo "$line"
  done
done
