#!/usr/bin/env bash
# Installs (once, into the cache) what the test environment runs:
#  - etcd, kube-apiserver and kubectl built from their Go modules (tests/env/k8s/go.mod);
#  - helm built from its Go module (tests/env/helm/go.mod), for the chart in deploy/helm;
#  - the kstatus helper (tests/env/kstatus: Flux's status library), for tests/kstatus.rs;
#  - Apache Kafka and its CLI tools as jars from Maven Central (tests/env/kafka/pom.xml);
#  - openssl, curl and lua5.4 (Argo CD health-check tests) from Debian when missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v lua5.4 >/dev/null || need_apt+=(lua5.4)   # runs the Argo CD health checks' tests
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -x "$K8S_BIN/kube-apiserver" ] && [ -x "$K8S_BIN/kubectl" ] && [ -x "$K8S_BIN/etcd" ]; then
  log "k8s tools cached in $K8S_BIN"
else
  log "building etcd, kube-apiserver and kubectl $K8S_VERSION from Go modules (first run: 10-25 minutes)"
  mkdir -p "$K8S_BIN.tmp"
  # cgo off: static binaries, and no C toolchain surprises.
  ( cd "$ENV_SRC/k8s" && export CGO_ENABLED=0 GOFLAGS=-mod=mod &&
    go build -trimpath -ldflags="-s -w" -o "$K8S_BIN.tmp/etcd" go.etcd.io/etcd/server/v3 &&
    go build -trimpath -ldflags="$K8S_LDFLAGS" -o "$K8S_BIN.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
    go build -trimpath -ldflags="$K8S_LDFLAGS" -o "$K8S_BIN.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl )
  rm -rf "$K8S_BIN" && mv "$K8S_BIN.tmp" "$K8S_BIN"
fi

if [ -x "$HELM_BIN" ]; then
  log "helm cached in $HELM_BIN"
else
  log "building helm from its Go module"
  mkdir -p "$(dirname "$HELM_BIN")"
  ( cd "$ENV_SRC/helm" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$HELM_BIN.tmp" helm.sh/helm/v3/cmd/helm )
  mv "$HELM_BIN.tmp" "$HELM_BIN"
fi

if [ -x "$KSTATUS_BIN" ]; then
  log "kstatus helper cached in $KSTATUS_BIN"
else
  log "building the kstatus helper from its Go module"
  mkdir -p "$(dirname "$KSTATUS_BIN")"
  ( cd "$ENV_SRC/kstatus" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$KSTATUS_BIN.tmp" . )
  mv "$KSTATUS_BIN.tmp" "$KSTATUS_BIN"
fi

if [ -f "$KAFKA_LIBS/.complete" ]; then
  log "Kafka $KAFKA_VERSION cached in $KAFKA_LIBS"
else
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$ENV_SRC/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_LIBS/.complete"
fi

# Strimzi's own CRDs, for tests/names_beside_strimzi.rs (generated once, cached).
"$ENV_SRC/strimzi-crds.sh" >/dev/null
