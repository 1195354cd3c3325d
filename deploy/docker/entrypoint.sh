#!/usr/bin/env bash
# The container's entrypoint: builds slotcache-server's command line from the environment
# and execs it, so the server is PID 1 and receives the runtime's SIGTERM itself (a cluster
# primary then hands its slots to a replica before it exits).
#
# Environment (all optional):
#   SLOTCACHE_PORT                client port (6379)
#   SLOTCACHE_BUS_PORT            cluster bus port (client port + 10000)
#   SLOTCACHE_CLUSTER             yes|no: cluster mode (yes)
#   SLOTCACHE_NODE_TIMEOUT        cluster-node-timeout in ms (5000)
#   SLOTCACHE_ANNOUNCE_IP         cluster-announce-ip (the address others reach this node at)
#   SLOTCACHE_ANNOUNCE_PORT       cluster-announce-port (a port mapped on the host)
#   SLOTCACHE_ANNOUNCE_BUS_PORT   cluster-announce-bus-port
#   SLOTCACHE_ANNOUNCE_HOSTNAME   cluster-announce-hostname (e.g. the pod's DNS name)
#   SLOTCACHE_PREFERRED_ENDPOINT  cluster-preferred-endpoint-type: ip|hostname|unknown-endpoint
#   SLOTCACHE_MAXMEMORY           maxmemory (e.g. 1gb; 0 = no limit)
#   SLOTCACHE_MAXMEMORY_POLICY    maxmemory-policy (allkeys-lru)
#   SLOTCACHE_PASSWORD            requirepass and masterauth
#   SLOTCACHE_DIR                 working directory, where nodes.conf lives (/data)
# Arguments: more `--option value` pairs for the server; or a command to run instead
# (`docker run IMAGE slotcache-cli ...`).
set -euo pipefail

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

server="${SLOTCACHE_SERVER_BIN:-slotcache-server}"
port="${SLOTCACHE_PORT:-6379}"
args=(
  --port "$port"
  --bind "* -::*"
  # Reached through the container's network only; a password (SLOTCACHE_PASSWORD) is the
  # access control, as in the official Redis image.
  --protected-mode no
  --dir "${SLOTCACHE_DIR:-/data}"
  --logfile ""
  --maxmemory "${SLOTCACHE_MAXMEMORY:-0}"
  --maxmemory-policy "${SLOTCACHE_MAXMEMORY_POLICY:-allkeys-lru}"
)
if [ "${SLOTCACHE_CLUSTER:-yes}" = "yes" ]; then
  args+=(--cluster-enabled yes --cluster-config-file nodes.conf)
  args+=(--cluster-node-timeout "${SLOTCACHE_NODE_TIMEOUT:-5000}")
  [ -n "${SLOTCACHE_BUS_PORT:-}" ] && args+=(--cluster-port "$SLOTCACHE_BUS_PORT")
  [ -n "${SLOTCACHE_ANNOUNCE_IP:-}" ] && args+=(--cluster-announce-ip "$SLOTCACHE_ANNOUNCE_IP")
  [ -n "${SLOTCACHE_ANNOUNCE_PORT:-}" ] && args+=(--cluster-announce-port "$SLOTCACHE_ANNOUNCE_PORT")
  [ -n "${SLOTCACHE_ANNOUNCE_BUS_PORT:-}" ] && args+=(--cluster-announce-bus-port "$SLOTCACHE_ANNOUNCE_BUS_PORT")
  [ -n "${SLOTCACHE_ANNOUNCE_HOSTNAME:-}" ] && args+=(--cluster-announce-hostname "$SLOTCACHE_ANNOUNCE_HOSTNAME")
  [ -n "${SLOTCACHE_PREFERRED_ENDPOINT:-}" ] && args+=(--cluster-preferred-endpoint-type "$SLOTCACHE_PREFERRED_ENDPOINT")
fi
if [ -n "${SLOTCACHE_PASSWORD:-}" ]; then
  args+=(--requirepass "$SLOTCACHE_PASSWORD" --masterauth "$SLOTCACHE_PASSWORD")
fi

exec "$server" "${args[@]}" "$@"
