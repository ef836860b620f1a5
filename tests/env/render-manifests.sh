#!/usr/bin/env bash
# Renders the Helm chart into plain manifests (CRDs first), as committed in deploy/manifests/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ENV_SRC/../.."
echo "# Rendered from deploy/helm/kafka-topic-operator by \`make manifests\`. Do not edit."
echo "# kubectl create namespace kafka-topic-operator && kubectl apply --server-side -f <this file>"
cat deploy/helm/kafka-topic-operator/crds/kafka.topic-operator.dev.yaml | grep -v '^# Generated'
echo "---"
cat deploy/helm/kafka-topic-operator/crds/kafkatopic-config-policy.yaml
"$HELM_BIN" template kafka-topic-operator deploy/helm/kafka-topic-operator --namespace kafka-topic-operator --include-crds=false
