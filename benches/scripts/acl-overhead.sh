#!/usr/bin/env bash
# The cost of ACL checks: redis-benchmark SET/GET as the default user (everything allowed:
# one branch per command) against a user with key patterns among 100 users with patterns,
# on the same server, rounds interleaved. Reports the median requests per second of each
# and their ratio, and the server's CPU time per request (user + system, from /proc), which
# a machine shared with other work disturbs far less than throughput.
# usage: benches/scripts/acl-overhead.sh [PORT] [SERVER_BIN]   (env: ROUNDS=5 N=200000 P="1 16")
# SERVER_BIN may be redis-server, for Redis's own cost of the same rules.
set -eu
port=${1:-20160}
bin=${2:-target/release/slotcache-server}
rounds=${ROUNDS:-5}
n=${N:-200000}
pipes=${P:-1 16}
"$bin" --port "$port" --save '' --appendonly no >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq 0 99); do
  redis-cli -p "$port" ACL SETUSER "user$i" on ">pw$i" "~app$i:*" "%R~cache$i:*" "%W~log$i:*" \
    "&chan$i" +@read +@write -@dangerous >/dev/null
done
# The benchmark user: nine patterns that never match before the one that does, read vs write
# patterns, and command rules by category.
redis-cli -p "$port" ACL SETUSER bench on '>benchpw' '%R~a*' '%W~b*' '~c*' '~d*' '~e*' '~f*' \
  '~g*' '~h*' '~i*' '~key:*' +@read +@write -@dangerous +ping +config +select >/dev/null
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # user-args... -> "requests-per-second cpu-microseconds-per-request"
  local before after rps
  before=$(cpu)
  rps=$(redis-benchmark -p "$port" -n "$n" -r 100000 -c 50 "$@" -q 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1)
  after=$(cpu)
  echo "$rps $(awk -v a="$before" -v b="$after" -v t="$tck" -v n="$n" 'BEGIN {printf "%.3f", (b - a) / t * 1e6 / n}')"
}
for p in $pipes; do
  for t in set get; do
    d=(); u=(); dc=(); uc=()
    for _ in $(seq "$rounds"); do
      read -r r c <<<"$(run -t "$t" -P "$p")"; d+=("$r"); dc+=("$c")
      read -r r c <<<"$(run -t "$t" -P "$p" --user bench -a benchpw)"; u+=("$r"); uc+=("$c")
    done
    dm=$(printf '%s\n' "${d[@]}" | median); um=$(printf '%s\n' "${u[@]}" | median)
    dcm=$(printf '%s\n' "${dc[@]}" | median); ucm=$(printf '%s\n' "${uc[@]}" | median)
    echo "$t P=$p rps default=${dm} acl-user=${um} ratio=$(awk -v a="$um" -v b="$dm" 'BEGIN {printf "%.3f", a/b}')" \
      "| cpu-us/req default=${dcm} acl-user=${ucm} ratio=$(awk -v a="$ucm" -v b="$dcm" 'BEGIN {printf "%.3f", a/b}')"
  done
done
