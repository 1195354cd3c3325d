#!/usr/bin/env bash
# Kubernetes preStop (and usable before any planned stop): if this node is a primary that
# serves slots, ask one of its replicas to take over with CLUSTER FAILOVER and wait until
# this node has become a replica, so the stop that follows loses no acknowledged write and
# clients see a planned switch instead of a failure. The server's own SIGTERM handoff does
# the same and remains the fallback when this finds no replica or runs out of time.
# Bash only (no redis-cli in the image). Reads SLOTCACHE_PORT and SLOTCACHE_PASSWORD.
set -uo pipefail
port="${SLOTCACHE_PORT:-6379}"
deadline=$((SECONDS + ${SLOTCACHE_PRESTOP_SECONDS:-30}))

# call HOST PORT COMMAND...: one command, its reply in $reply (a bulk string's payload).
call() {
  local host=$1 p=$2
  shift 2
  exec 4<>"/dev/tcp/$host/$p" || return 1
  if [ -n "${SLOTCACHE_PASSWORD:-}" ]; then
    printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "${#SLOTCACHE_PASSWORD}" "$SLOTCACHE_PASSWORD" >&4
    IFS= read -r -t 2 line <&4 || return 1
  fi
  local req="*$#"$'\r\n' a
  for a in "$@"; do req+="\$${#a}"$'\r\n'"$a"$'\r\n'; done
  printf '%s' "$req" >&4
  IFS= read -r -t 2 line <&4 || return 1
  line="${line%$'\r'}"
  reply=""
  case "$line" in
    \$-1) ;;
    \$*) IFS= read -r -d '' -n "${line#\$}" -t 2 reply <&4 ;;
    *) reply="$line" ;;
  esac
  exec 4>&-
  return 0
}

myself() { # the myself line of CLUSTER NODES, in $me
  call 127.0.0.1 "$port" CLUSTER NODES || return 1
  me=$(grep ' myself,' <<<"$reply") || return 1
}

myself || exit 0
read -r myid _ flags _ _ _ _ _ slots <<<"$me"
case "$flags" in *master*) ;; *) exit 0 ;; esac
[ -n "$slots" ] || exit 0
# A replica of mine that is connected and not failing: its address is ip:port@cport[,host].
replica=$(awk -v id="$myid" '$4 == id && $3 !~ /fail/ && $8 == "connected" { print $2; exit }' <<<"$reply")
if [ -z "$replica" ]; then
  echo "prestop: no healthy replica to hand my slots to" >&2
  exit 0
fi
addr=${replica%%@*}
host=${addr%:*}
rport=${addr##*:}
echo "prestop: asking $host:$rport to take my slots over"
call "$host" "$rport" CLUSTER FAILOVER || exit 0
while [ $SECONDS -lt $deadline ]; do
  if myself; then
    case "$me" in *" myself,slave "*) echo "prestop: handed off"; exit 0 ;; esac
  fi
  sleep 0.2
done
echo "prestop: the handoff did not finish in time; SIGTERM's handoff follows" >&2
exit 0
