#!/usr/bin/env bash
# Installs (once, into the cache) what the node stage (node-up.sh) runs, beside install.sh's tools:
#  - kubelet, kube-controller-manager and kube-scheduler from k8s.io/kubernetes (node-k8s/go.mod);
#  - containerd 2.x, its runc shim and ctr from their Go module (containerd/go.mod);
#  - the Pod sandbox image, a static pause binary (pause/) in an OCI archive (oci-archive.py);
#  - runc from Debian.
set -euo pipefail
source "$(dirname "$0")/common.sh"

command -v runc >/dev/null || {
  log "installing runc from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null
}

# go_build <module dir> <output dir> <build tags> <package...>: static binaries (cgo off).
go_build() {
  local dir=$1 out=$2 tags=$3; shift 3
  mkdir -p "$out.tmp"
  for pkg in "$@"; do
    ( cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -tags "$tags" \
        -o "$out.tmp/$(basename "$pkg")" "$pkg" )
  done
  rm -rf "$out" && mv "$out.tmp" "$out"
}

if [ -x "$NODE_K8S_BIN/kubelet" ]; then
  log "kubelet, kube-controller-manager, kube-scheduler cached in $NODE_K8S_BIN"
else
  log "building kubelet, kube-controller-manager and kube-scheduler $K8S_VERSION (first run: minutes)"
  go_build "$ENV_SRC/node-k8s" "$NODE_K8S_BIN" "" k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
fi

if [ -x "$CONTAINERD_BIN/containerd" ]; then
  log "containerd cached in $CONTAINERD_BIN"
else
  log "building containerd from its Go module"
  # The btrfs, devicemapper and zfs snapshotters need cgo; the node uses the native one.
  go_build "$ENV_SRC/containerd" "$CONTAINERD_BIN" "no_btrfs no_devmapper no_zfs" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
fi

if [ -f "$PAUSE_ARCHIVE" ]; then
  log "sandbox image cached in $PAUSE_ARCHIVE"
else
  log "building the sandbox image $PAUSE_IMAGE"
  dir=$(dirname "$PAUSE_ARCHIVE")
  rm -rf "$dir" && mkdir -p "$dir/rootfs"
  ( cd "$ENV_SRC/pause" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$dir/rootfs/pause" . )
  "$ENV_SRC/oci-archive.py" "$dir/rootfs" "$PAUSE_ARCHIVE" "$PAUSE_IMAGE" /pause 65535
  rm -rf "$dir/rootfs"
fi
