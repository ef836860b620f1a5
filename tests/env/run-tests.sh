#!/usr/bin/env bash
# `make test`: build, check the deployment artifacts, start the real environment, run every
# test, stop the environment (also when a test fails or the run is interrupted).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/env/common.sh

# Build before starting anything: compiling is the slow part on a fresh machine, and the
# environment should not sit idle meanwhile.
cargo test --locked --no-run --lib --bins --tests 2>&1 | tail -n 3
tests/env/install.sh
tests/env/node-install.sh   # kubelet, controller manager, scheduler, containerd: for the node stage

# Deployment artifacts: the image builds from the Dockerfile (with buildah: no Docker engine here;
# tests/image.rs runs it), the chart lints, and the committed manifests and chart CRDs are current.
# The build's compiler output goes to a file, shown when the build fails.
mkdir -p target/image
tests/env/image.sh > target/image/build.log 2>&1 \
  || { tail -n 40 target/image/build.log >&2; echo "make image failed (target/image/build.log)" >&2; exit 1; }
grep '^\[kto-env\]' target/image/build.log >&2 || true
"$HELM_BIN" lint deploy/helm/kafka-topic-operator
diff -u deploy/manifests/kafka-topic-operator.yaml <(tests/env/render-manifests.sh) \
  || { echo "deploy/manifests is stale: run make manifests" >&2; exit 1; }
diff -ur crds deploy/helm/kafka-topic-operator/files/crds \
  || { echo "the chart's CRDs are stale: run make crds" >&2; exit 1; }

tests/env/up.sh
# A failed run keeps the environment's logs (brokers, apiserver, etcd) in target/env-logs, for
# what the test output alone cannot say; down.sh removes the environment's directory.
keep_logs_if_failed() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -d "$KTO_ENV_DIR/logs" ]; then
    rm -rf target/env-logs && cp -r "$KTO_ENV_DIR/logs" target/env-logs \
      && echo "[kto-env] the run failed: the environment's logs are in target/env-logs" >&2
  fi
  tests/env/down.sh
}
trap keep_logs_if_failed EXIT INT TERM
source "$KTO_ENV_DIR/env.sh"

# Tests mostly wait on Kafka and the apiserver; more threads than cores keeps the run short.
# Test binaries run one after another, so broker_failure (which kills a broker) runs alone.
RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}" cargo test --locked --lib --bins --tests

# The node stage: the image built above ($IMAGE_ARCHIVE), installed by its Helm chart onto real
# kubelets (tests/node/). After the main run, because the controller manager's controllers
# (namespace deletion, garbage collection) would change what those tests see. down.sh stops the
# nodes too.
tests/env/node-up.sh && source "$KTO_ENV_DIR/env.sh"   # adds the nodes' settings
cargo test --locked --test node -- --ignored
