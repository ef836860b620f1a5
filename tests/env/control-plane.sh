#!/usr/bin/env bash
# Kills (SIGKILL, like a crash) or restarts the control plane of the running environment, etcd and
# kube-apiserver, with the command lines up.sh wrote ($KTO_ENV_DIR/etcd.sh, kube-apiserver.sh):
# the same flags, and etcd keeps its data directory.
#   control-plane.sh kill     both die at once
#   control-plane.sh start    etcd, then kube-apiserver; returns once etcd is healthy and the
#                             apiserver answers /readyz (fails after 60 s and 120 s)
# Run it with the environment's variables (`source $KTO_ENV_DIR/env.sh`).
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUN="$KTO_ENV_DIR"
ETCD_ENDPOINT="${KTO_ETCD_ENDPOINT:-http://127.0.0.1:$ETCD_PORT}"
action=${1:?usage: control-plane.sh kill|start}

wait_until() { # wait_until <seconds> <name> <command...>
  local deadline=$((SECONDS + $1)) name=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "ERROR: $name did not come back; tail of $RUN/logs/$name.log:"
      tail -n 30 "$RUN/logs/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
}

case "$action" in
  kill)
    for name in kube-apiserver etcd; do
      pid=$(cat "$RUN/pids/$name.pid")
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    for name in kube-apiserver etcd; do
      pid=$(cat "$RUN/pids/$name.pid")
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    done
    log "control plane killed" ;;
  start)
    for name in etcd kube-apiserver; do
      setsid "$RUN/$name.sh" >>"$RUN/logs/$name.log" 2>&1 < /dev/null &
      echo $! > "$RUN/pids/$name.pid"
      if [ "$name" = etcd ]; then
        wait_until 60 etcd curl -sf "$ETCD_ENDPOINT/health"
      else
        wait_until 120 kube-apiserver "$K8S_BIN/kubectl" --kubeconfig "$RUN/kubeconfig" get --raw /readyz
      fi
    done
    log "control plane started" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
