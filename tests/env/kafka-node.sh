#!/usr/bin/env bash
# Stops (SIGKILL, like a crash) or restarts one Kafka node of the running environment:
#   kafka-node.sh kill 1 | kafka-node.sh start 1
set -euo pipefail
source "$(dirname "$0")/common.sh"
action=${1:?usage: kafka-node.sh kill|start N}; n=${2:?node number}
pidf="$KTO_ENV_DIR/pids/kafka-$n.pid"
case "$action" in
  kill)
    pid=$(cat "$pidf"); kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done ;;
  start)
    setsid "$KTO_ENV_DIR/kafka-$n/run.sh" >>"$KTO_ENV_DIR/logs/kafka-$n.log" 2>&1 < /dev/null &
    echo $! > "$pidf" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
