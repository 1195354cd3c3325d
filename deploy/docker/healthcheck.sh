#!/usr/bin/env bash
# Health of the node in this container, with nothing but bash: `healthcheck.sh` succeeds
# when the node answers PING; `healthcheck.sh cluster` also needs this node to see
# cluster_state:ok (Kubernetes readiness: route clients only to a node of a working
# cluster). Reads SLOTCACHE_PORT and SLOTCACHE_PASSWORD as the entrypoint does.
set -uo pipefail
port="${SLOTCACHE_PORT:-6379}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1

ask() { # ask LINE: send an inline command, read its first reply line into $reply
  printf '%s\r\n' "$1" >&3
  IFS= read -r -t 2 reply <&3 || exit 1
  reply="${reply%$'\r'}"
}

if [ -n "${SLOTCACHE_PASSWORD:-}" ]; then
  ask "AUTH $SLOTCACHE_PASSWORD"
  [ "$reply" = "+OK" ] || exit 1
fi
ask "PING"
[ "$reply" = "+PONG" ] || exit 1
if [ "${1:-}" = "cluster" ]; then
  ask "CLUSTER INFO"
  # A bulk string ($len) of \r\n-separated lines; cluster_state is the first.
  case "$reply" in \$*) ;; *) exit 1 ;; esac
  IFS= read -r -t 2 line <&3 || exit 1
  [ "${line%$'\r'}" = "cluster_state:ok" ] || exit 1
fi
exit 0
