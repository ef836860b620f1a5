#!/usr/bin/env bash
# Imports an OCI image archive into the containerd of every node (node-up.sh), where the kubelet
# finds it without a registry:  node-image.sh target/image/kafka-topic-operator.oci.tar
set -euo pipefail
source "$(dirname "$0")/common.sh"
archive=${1:?usage: node-image.sh ARCHIVE}
for dir in "$KTO_ENV_DIR"/nodes/node-*; do
  "$CONTAINERD_BIN/ctr" --address "$dir/containerd.sock" -n k8s.io images import --snapshotter native "$archive"
done
