#!/usr/bin/env bash
# `make demo`: the operator's main job on a local default environment.
#  1. builds the operator, starts etcd + kube-apiserver + 3 Kafka nodes on 127.0.0.1
#     (the first run builds them: see tests/env/install.sh);
#  2. installs the CRDs, runs the operator, applies examples/ (a KafkaCluster, the incident's
#     account_event topic, and a compacted topic with other configs);
#  3. waits until everything is Ready, shows `kubectl get ... -o wide` and Kafka's own view;
#  4. keeps running until Ctrl-C, which stops everything. DEMO_DETACH=1 returns instead and
#     leaves it all running (stop it with `make env-down`).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env/common.sh

cargo build --locked 2>&1 | tail -n 1
tests/env/up.sh
source "$KTO_ENV_DIR/env.sh"

stop() { echo; tests/env/down.sh; }
[ "${DEMO_DETACH:-0}" = 1 ] || trap stop INT TERM

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=established --timeout=60s -f crds/kafka.topic-operator.dev.yaml >/dev/null

setsid target/debug/kafka-topic-operator run --resync-interval 10s >"$KTO_ENV_DIR/logs/operator.log" 2>&1 </dev/null &
echo $! > "$KTO_ENV_DIR/pids/operator.pid"

kubectl apply -f examples/cluster.yaml -f examples/account-event.yaml -f examples/customer-profiles.yaml
kubectl wait --for=condition=Ready --timeout=120s kafkacluster/local kafkatopic/account-event kafkatopic/customer-profiles >/dev/null

echo
kubectl get kafkaclusters.kafka.topic-operator.dev,kafkatopics.kafka.topic-operator.dev -o wide
echo
echo "Kafka's own view (kafka-topics --describe):"
"$KTO_KAFKA_CLI" topics --bootstrap-server "$KTO_KAFKA_BOOTSTRAP" --describe --topic account_event
echo
echo "Try: kubectl get ktotopic -o yaml | kubectl describe ktotopic account-event | kubectl edit ktotopic customer-profiles"
echo "Operator log: $KTO_ENV_DIR/logs/operator.log"
echo "Use it with:  export KUBECONFIG=$KUBECONFIG   (or: source $KTO_ENV_DIR/env.sh for kubectl and Kafka's CLI)"
if [ "${DEMO_DETACH:-0}" = 1 ]; then
  echo "Running in the background. Stop with: make env-down"
  exit 0
fi
echo "Running. Stop with Ctrl-C (or: make env-down from another terminal)."
while kill -0 "$(cat "$KTO_ENV_DIR/pids/operator.pid")" 2>/dev/null; do sleep 2; done
echo "the operator exited; see $KTO_ENV_DIR/logs/operator.log"
stop
