#!/usr/bin/env bash
# Stops what node-up.sh started, in the order that leaves nothing behind: kubelets first (else
# they restart the containers), then every container through its containerd, then containerd,
# the controllers and the scheduler; then unmounts what Pods left, restores the kernel tunables
# the kubelet changed and removes the node addresses. Safe to run twice.
set -uo pipefail
source "$(dirname "$0")/common.sh"
RUN="$KTO_ENV_DIR"
NODES="$RUN/nodes"
[ -d "$NODES" ] || exit 0

stop() { # stop <name>: TERM the process group started as <name>, KILL it after 10 s
  local f="$RUN/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$f"
}

for dir in "$NODES"/node-*; do
  [ -d "$dir" ] || continue
  i=${dir##*-}
  stop "node-$i-kubelet"
  # The Node object goes too, so that a later node-up.sh registers a fresh node (not a cordoned one).
  "$K8S_BIN/kubectl" --kubeconfig "$RUN/kubeconfig" delete node "kto-node-$i" --wait=false >/dev/null 2>&1
  ctr=("$CONTAINERD_BIN/ctr" --address "$dir/containerd.sock" -n k8s.io)
  if "${ctr[@]}" version >/dev/null 2>&1; then
    tasks=$("${ctr[@]}" tasks ls -q 2>/dev/null)
    for t in $tasks; do "${ctr[@]}" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1; done
    for t in $tasks; do
      for _ in $(seq 1 25); do "${ctr[@]}" tasks rm "$t" >/dev/null 2>&1 && break; sleep 0.2; done
    done
  fi
  stop "node-$i-containerd"
  # A shim whose task could not be removed outlives containerd: find it by the socket it serves.
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/exe" 2>/dev/null)" = "$CONTAINERD_BIN/containerd-shim-runc-v2" ] || continue
    tr '\0' ' ' < "$proc/cmdline" 2>/dev/null | grep -q -- "-address $dir/containerd.sock" \
      && kill -KILL "${proc#/proc/}" 2>/dev/null
  done
done
stop node-kube-scheduler
stop node-kube-controller-manager

# Sandbox /dev/shm and token volumes are mounts under the nodes' directories.
findmnt -rn -o TARGET | grep "^$NODES/" | sort -r | while read -r m; do umount -l "$m"; done
if [ -f "$NODES/sysctl.saved" ]; then
  while IFS='=' read -r key value; do sysctl -qw "$key=$value"; done < "$NODES/sysctl.saved"
fi
if [ -f "$NODES/addresses" ]; then
  while read -r ip; do ip addr del "$ip/32" dev lo 2>/dev/null; done < "$NODES/addresses"
fi
rm -rf --one-file-system "$NODES"
log "nodes down"
