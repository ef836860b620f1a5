#!/usr/bin/env bash
# Adds nodes to the running test environment (up.sh), for tests/node/:
#   kube-apiserver restarted with the ServiceAccount admission plugin (Pods get tokens) and an
#     audit log of the operator's requests (who made them, which RBAC binding allowed them);
#   kube-controller-manager (Deployments, ReplicaSets, ServiceAccounts and their root CA) and
#     kube-scheduler;
#   nodes kto-node-1..NODE_COUNT: a containerd 2.x (runc) and a kubelet each, node i at $NODE_IP_PREFIX.i.
# It runs after the main test run (run-tests.sh), never beside it: the controller manager's
# controllers (namespace deletion, garbage collection, ...) would change what those tests see.
# Stop it with node-down.sh (down.sh calls it too).
#
# Pods run with the host's network only. Kafka and the apiserver listen on 127.0.0.1 and Kafka
# advertises 127.0.0.1, which a Pod in a network namespace of its own cannot reach; and no
# kube-proxy routes Service addresses. The CNI configuration below exists only so that containerd
# reports its network ready; a Pod that needs a network of its own fails to start, loudly.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$ENV_SRC/node-install.sh"
RUN="$KTO_ENV_DIR"
[ -f "$RUN/env.sh" ] || { log "ERROR: no environment in $RUN: run up.sh first"; exit 1; }
pki="$RUN/pki"
NODES="$RUN/nodes"
KUBECTL=("$K8S_BIN/kubectl" --kubeconfig "$RUN/kubeconfig")
if [ -d "$NODES" ]; then log "nodes already run in $NODES; stopping them first"; "$ENV_SRC/node-down.sh"; fi
mkdir -p "$NODES"

fail() {
  log "ERROR: $*"
  for f in "$RUN"/logs/node-*.log "$RUN"/logs/kube-apiserver.log; do
    [ -f "$f" ] && { echo "---- tail $f" >&2; tail -n 30 "$f" >&2; }
  done
  "$ENV_SRC/node-down.sh"
  exit 1
}
wait_for() { # wait_for <seconds> <description> <command...>
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
    sleep 1
  done
}
start() { # start <name> <command...>: as up.sh does, so that down.sh stops it too
  local name=$1; shift
  setsid "$@" >"$RUN/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name.pid"
}

# ---- kube-apiserver: the same command line, but Pods get ServiceAccount tokens, the apiserver
# may call kubelets (logs, exec) with the admin certificate, and requests are audited.
cat > "$RUN/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    namespaces: [kube-node-lease]
  - level: Metadata
    resources:
      - group: kafka.topic-operator.dev
      - group: coordination.k8s.io
        resources: [leases]
  - level: None
POLICY
# Written from up.sh's command line, kept as kube-apiserver.sh.main, so a second node-up.sh
# starts from the same flags.
[ -f "$RUN/kube-apiserver.sh.main" ] || cp "$RUN/kube-apiserver.sh" "$RUN/kube-apiserver.sh.main"
sed "s|--disable-admission-plugins=ServiceAccount|--audit-policy-file=$RUN/audit-policy.yaml --audit-log-path=$RUN/logs/audit.log \\\\\n  --kubelet-client-certificate=$pki/admin.crt --kubelet-client-key=$pki/admin.key --kubelet-preferred-address-types=InternalIP|" \
  "$RUN/kube-apiserver.sh.main" > "$RUN/kube-apiserver.sh"
pid=$(cat "$RUN/pids/kube-apiserver.pid")
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
setsid "$RUN/kube-apiserver.sh" >>"$RUN/logs/kube-apiserver.log" 2>&1 < /dev/null &
echo $! > "$RUN/pids/kube-apiserver.pid"
wait_for 120 "kube-apiserver (restarted)" "${KUBECTL[@]}" get --raw /readyz

# ---- the host: the kubelet sets kernel tunables it expects (overcommit, panic on oops, ...) on
# the host; keep the old values for node-down.sh. Node addresses are /32s on lo.
for key in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
  echo "$key=$(sysctl -n "$key")"
done > "$NODES/sysctl.saved"
for i in $(seq 1 "$NODE_COUNT"); do
  ip=$NODE_IP_PREFIX.$i
  ip -o addr show dev lo | grep -q " $ip/" && continue
  ip addr add "$ip/32" dev lo && echo "$ip" >> "$NODES/addresses"
done

# ---- controllers and scheduler, with the admin credentials (this is a test control plane).
start node-kube-controller-manager "$NODE_K8S_BIN/kube-controller-manager" \
  --kubeconfig="$RUN/kubeconfig" --authentication-kubeconfig="$RUN/kubeconfig" \
  --authorization-kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --cert-dir="$NODES/kcm-certs" --leader-elect=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --flex-volume-plugin-dir="$NODES/flexvolume"
start node-kube-scheduler "$NODE_K8S_BIN/kube-scheduler" \
  --kubeconfig="$RUN/kubeconfig" --authentication-kubeconfig="$RUN/kubeconfig" \
  --authorization-kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
  --cert-dir="$NODES/scheduler-certs" --leader-elect=false

# ---- the nodes
for i in $(seq 1 "$NODE_COUNT"); do
  dir="$NODES/node-$i"; ip=$NODE_IP_PREFIX.$i; port=$((KUBELET_BASE_PORT + 2 * (i - 1)))
  mkdir -p "$dir"/{cni/net.d,cni/bin,pod-logs,kubelet}
  cat > "$dir/cni/net.d/10-host-network-only.conflist" <<CNI
{ "cniVersion": "1.0.0", "name": "kto-host-network-only",
  "plugins": [ { "type": "no-pod-network-here-use-hostNetwork" } ] }
CNI
  cat > "$dir/containerd.toml" <<TOML
version = 3
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins]
  # Another containerd on this machine (a second node, or the host's) would share these paths.
  [plugins."io.containerd.internal.v1.opt"]
    path = "$dir/containerd/opt"
  [plugins."io.containerd.nri.v1.nri"]
    disable = true
  # \`ctr images import\` unpacks through the transfer service, into this snapshotter.
  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "linux/amd64"
    snapshotter = "native"
  [plugins."io.containerd.cri.v1.images"]
    # A snapshotter that works on any filesystem; images here are a few megabytes.
    snapshotter = "native"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      # Imported below: no registry is reachable to pull registry.k8s.io/pause.
      sandbox = "$PAUSE_IMAGE"
  [plugins."io.containerd.cri.v1.runtime"]
    # Root lacks CAP_SYS_RESOURCE here, so runc may not lower a process's oom_score_adj (the
    # kubelet asks -998 for sandboxes): keep Pods at or above containerd's own score instead.
    restrict_oom_score_adj = true
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = ["$dir/cni/bin"]
      conf_dir = "$dir/cni/net.d"
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
          BinaryName = "$(command -v runc)"
          SystemdCgroup = false
          # runc's state, per node (the default, /run/containerd/runc, would be shared).
          Root = "$dir/runc"
TOML
  PATH="$CONTAINERD_BIN:$PATH" start "node-$i-containerd" "$CONTAINERD_BIN/containerd" --config "$dir/containerd.toml"
  wait_for 60 "containerd of node $i" "$CONTAINERD_BIN/ctr" --address "$dir/containerd.sock" version
  "$CONTAINERD_BIN/ctr" --address "$dir/containerd.sock" -n k8s.io images import --snapshotter native \
    "$PAUSE_ARCHIVE" >/dev/null || fail "importing the sandbox image into node $i"

  cat > "$dir/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((port + 1))
containerRuntimeEndpoint: unix://$dir/containerd.sock
podLogsDir: $dir/pod-logs
volumePluginDir: $dir/flexvolume
cgroupDriver: cgroupfs
# This machine has cgroup v1 only, which the kubelet refuses since 1.35 unless told.
failCgroupV1: false
# Two kubelets share this host's cgroup hierarchy: without QoS cgroups of their own, neither
# treats the other's Pod cgroups as orphans to remove.
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
# The disk is shared with other work; evict only when it is really full.
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
KUBELET
  start "node-$i-kubelet" "$NODE_K8S_BIN/kubelet" --config="$dir/kubelet.yaml" \
    --kubeconfig="$RUN/kubeconfig" --root-dir="$dir/kubelet" --cert-dir="$dir/kubelet/pki" \
    --hostname-override="kto-node-$i" --node-ip="$ip"
done

for i in $(seq 1 "$NODE_COUNT"); do
  wait_for 120 "node kto-node-$i to register" "${KUBECTL[@]}" get node "kto-node-$i"
  wait_for 120 "node kto-node-$i to be Ready" "${KUBECTL[@]}" wait --for=condition=Ready --timeout=5s node "kto-node-$i"
done

# The main run leaves its namespaces Terminating (no namespace controller ran then); the controller
# manager started above deletes them now, with everything in them. Wait for that before the node
# stage: while it lasts, the apiserver answers slowly or with 500s and a cluster-wide operator
# installed now would start on thousands of doomed objects; tests/node/ is about installing and
# failing over, not about that storm.
terminating() { "${KUBECTL[@]}" get namespaces --no-headers 2>/dev/null | grep -c ' Terminating ' || true; }
left=$(terminating)
if [ "$left" -gt 0 ]; then
  log "waiting for the controller manager to delete $left namespaces left Terminating"
  # No operator runs now to release a KafkaTopic's finalizer: release those a test left behind.
  "${KUBECTL[@]}" get kafkatopics.kafka.topic-operator.dev -A --no-headers \
      -o custom-columns='NS:.metadata.namespace,NAME:.metadata.name,F:.metadata.finalizers' 2>/dev/null \
    | awk '$3 != "<none>" {print $1, $2}' | while read -r ns name; do
      "${KUBECTL[@]}" patch kafkatopics.kafka.topic-operator.dev -n "$ns" "$name" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
  deadline=$((SECONDS + 300))
  while [ "$(terminating)" -gt 0 ] && [ $SECONDS -lt $deadline ]; do sleep 2; done
  left=$(terminating)
  [ "$left" -eq 0 ] && log "namespaces deleted" \
    || log "WARNING: $left namespaces still Terminating after 300 s; the node stage starts anyway"
fi

sockets=""; for i in $(seq 1 "$NODE_COUNT"); do sockets+="${sockets:+ }$NODES/node-$i/containerd.sock"; done
sed -i '/^# written by tests\/env\/node-up.sh/,$d' "$RUN/env.sh"   # a previous node-up.sh's lines
cat >> "$RUN/env.sh" <<ENVSH
# written by tests/env/node-up.sh
export KTO_NODE_SOCKETS="$sockets"
export KTO_NODE_HTTP_PORT="$NODE_HTTP_PORT"
export KTO_APISERVER_PORT="$APISERVER_PORT"
export KTO_AUDIT_LOG="$RUN/logs/audit.log"
export KTO_CTR="$CONTAINERD_BIN/ctr"
ENVSH
log "nodes up: $("${KUBECTL[@]}" get nodes --no-headers | awk '{print $1 "=" $2}' | tr '\n' ' ')"
