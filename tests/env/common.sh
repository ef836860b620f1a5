# Shared settings of the test environment: pinned versions, cache and run directories, ports.
# Sourced by install.sh, up.sh, down.sh and kafka-cli.sh; every value can be overridden from the
# environment (for example to run two environments side by side).
ENV_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

K8S_VERSION=v1.36.3          # kube-apiserver and kubectl; etcd comes at the version Kubernetes pins
KAFKA_VERSION=4.1.1          # must match tests/env/kafka/pom.xml

# Built tools are cached outside the repository, keyed by the files that define them, so a
# second run (and CI on the same machine) starts in seconds.
KTO_CACHE="${KTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kto-env}"
# kube-apiserver and kubectl report K8S_VERSION (/version), not the "v0.0.0-master" of an unstamped
# build: Helm checks a chart's kubeVersion against it, and no semver range matches the unstamped one.
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
  K8S_LDFLAGS+=" -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean"
done
k8s_key=$( (cat "$ENV_SRC/k8s/go.mod" "$ENV_SRC/k8s/go.sum"; echo "$K8S_LDFLAGS") | sha256sum | cut -c1-12)
kafka_key=$(sha256sum < "$ENV_SRC/kafka/pom.xml" | cut -c1-12)
K8S_BIN="$KTO_CACHE/k8s-$K8S_VERSION-$k8s_key/bin"
helm_key=$(cat "$ENV_SRC/helm/go.mod" "$ENV_SRC/helm/go.sum" | sha256sum | cut -c1-12)
HELM_BIN="$KTO_CACHE/helm-$helm_key/bin/helm"
kstatus_key=$(cat "$ENV_SRC/kstatus/go.mod" "$ENV_SRC/kstatus/go.sum" "$ENV_SRC/kstatus/main.go" | sha256sum | cut -c1-12)
KSTATUS_BIN="$KTO_CACHE/kstatus-$kstatus_key/bin/kstatus"
KAFKA_LIBS="$KTO_CACHE/kafka-$KAFKA_VERSION-$kafka_key/libs"

# Runtime state (data, logs, pids, certificates): thrown away by down.sh.
# A second environment beside the first needs its own KTO_ENV_DIR and ports; pick ports below the
# kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, usually 32768-60999), where
# another process's outgoing connection may hold the port at the moment a server binds it.
KTO_ENV_DIR="${KTO_ENV_DIR:-/tmp/kto-env}"

ETCD_PORT="${ETCD_PORT:-12379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-12380}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
# Kafka node i (1..3) listens for clients on KAFKA_BASE_PORT+i-1 and for the KRaft quorum on
# KAFKA_CONTROLLER_BASE_PORT+i-1. Racks are rack-a, rack-b, rack-c.
KAFKA_BASE_PORT="${KAFKA_BASE_PORT:-19092}"
KAFKA_CONTROLLER_BASE_PORT="${KAFKA_CONTROLLER_BASE_PORT:-19192}"
KAFKA_NODES=3
# Heap of each Kafka node. 512m holds the tests' few hundred topics; a few thousand replicas per
# node need more (`make bench` sets 2g from 5000 topics on: 512m ran out of heap there).
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
# More JVM options for the Kafka nodes, e.g. KAFKA_JVM_EXTRA=-XX:TieredStopAtLevel=1 (C1 only:
# in a fresh environment the C2 compiler threads were ~40% of the brokers' CPU while they created
# 1000 topics, yet the benchmark's times barely moved with it; docs/benchmarks.md). Empty: the
# JVM's defaults, as the tests run.
KAFKA_JVM_EXTRA="${KAFKA_JVM_EXTRA:-}"
# A separate single-node cluster with auto.create.topics.enable=true.
KAFKA_AUTOCREATE_PORT="${KAFKA_AUTOCREATE_PORT:-19096}"
KAFKA_AUTOCREATE_CONTROLLER_PORT="${KAFKA_AUTOCREATE_CONTROLLER_PORT:-19196}"

# The SASL_SSL listener (TLS with the environment's CA, SCRAM-SHA-512) of node i.
KAFKA_SASL_BASE_PORT="${KAFKA_SASL_BASE_PORT:-19292}"
KAFKA_SASL_USER=kto
KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-kto-test-secret-$(date +%s%N | sha256sum | cut -c1-12)}"

# A third client listener per node, advertised at an address where nothing listens until a test
# starts a proxy there (tests/broker_unreachable.rs): node i listens on KAFKA_PROXIED_BASE_PORT+i-1
# and tells clients of that listener to use KAFKA_VIA_PROXY_BASE_PORT+i-1, so the test can slow
# down or blackhole one broker for the operator alone, while Kafka itself stays healthy.
KAFKA_PROXIED_BASE_PORT="${KAFKA_PROXIED_BASE_PORT:-19392}"
KAFKA_VIA_PROXY_BASE_PORT="${KAFKA_VIA_PROXY_BASE_PORT:-19492}"

kafka_bootstrap() { # [base port]
  local out="" i base=${1:-$KAFKA_BASE_PORT}
  for i in $(seq 1 "$KAFKA_NODES"); do out+="${out:+,}127.0.0.1:$((base + i - 1))"; done
  echo "$out"
}

log() { echo "[kto-env] $*" >&2; }

# ---- The node stage (node-up.sh, only for tests/node/, after the main test run):
# kube-controller-manager, kube-scheduler and NODE_COUNT kubelets, each on its own containerd + runc.
node_k8s_key=$(cat "$ENV_SRC/node-k8s/go.mod" "$ENV_SRC/node-k8s/go.sum" | sha256sum | cut -c1-12)
NODE_K8S_BIN="$KTO_CACHE/node-k8s-$K8S_VERSION-$node_k8s_key/bin"
containerd_key=$(cat "$ENV_SRC/containerd/go.mod" "$ENV_SRC/containerd/go.sum" | sha256sum | cut -c1-12)
CONTAINERD_BIN="$KTO_CACHE/containerd-$containerd_key/bin"
pause_key=$(cat "$ENV_SRC/pause/go.mod" "$ENV_SRC/pause/main.go" "$ENV_SRC/oci-archive.py" | sha256sum | cut -c1-12)
PAUSE_ARCHIVE="$KTO_CACHE/pause-$pause_key/pause.oci.tar"
PAUSE_IMAGE=localhost/kto-pause:$pause_key
# Two nodes, because the operator's Pods use the host's network (node-up.sh says why) and two
# replicas cannot both hold one port on one node. Node i gets the address $NODE_IP_PREFIX.i, a /32
# added to lo (the kubelet refuses 127.x node addresses); a second environment needs its own prefix.
NODE_COUNT="${NODE_COUNT:-2}"
NODE_IP_PREFIX="${NODE_IP_PREFIX:-10.213.0}"
KCM_PORT="${KCM_PORT:-17257}"
SCHEDULER_PORT="${SCHEDULER_PORT:-17259}"
# Kubelet i serves its API on KUBELET_BASE_PORT+2(i-1) and /healthz on the port after it.
KUBELET_BASE_PORT="${KUBELET_BASE_PORT:-17250}"
# The port tests/node/ gives the in-cluster operator for /metrics, /healthz and /readyz.
NODE_HTTP_PORT="${NODE_HTTP_PORT:-17280}"

# The container image (`make image`, tests/image.rs). buildah and podman keep their images,
# containers and build caches (cargo's registry and target directory) here, beside the other
# cached tools, so a second build reuses them; the base images in it are tagged with a hash of
# what defines them (tests/env/base-image.sh).
KTO_CONTAINERS="$KTO_CACHE/containers"
IMAGE_NAME=localhost/kafka-topic-operator:dev
# The same image as an OCI archive, for runtimes that import files (`ctr images import`).
IMAGE_ARCHIVE=target/image/kafka-topic-operator.oci.tar
