#!/usr/bin/env bash
# Stops everything up.sh started and removes its state. Safe to run twice.
set -uo pipefail
source "$(dirname "$0")/common.sh"
[ -d "$KTO_ENV_DIR/pids" ] || exit 0
# Nodes first: their containers and mounts are not processes of this environment's process groups.
"$(dirname "$0")/node-down.sh"
for f in "$KTO_ENV_DIR"/pids/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
done
for _ in $(seq 1 20); do
  alive=0
  for f in "$KTO_ENV_DIR"/pids/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1; done
  [ $alive -eq 0 ] && break
  sleep 0.5
done
for f in "$KTO_ENV_DIR"/pids/*.pid; do [ -f "$f" ] && kill -KILL -- "-$(cat "$f")" 2>/dev/null; done
rm -rf "$KTO_ENV_DIR"
log "down"
