#!/usr/bin/env bash
# Renders the Helm chart into plain manifests, as committed in deploy/manifests/: the CRDs and
# their admission policy are the chart's templates (templates/crds.yaml). --kube-version: helm
# built from source (tests/env/helm) assumes Kubernetes 1.20, below the chart's kubeVersion.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ENV_SRC/../.."
echo "# Rendered from deploy/helm/kafka-topic-operator by \`make manifests\`. Do not edit."
echo "# kubectl create namespace kafka-topic-operator && kubectl apply --server-side -f <this file>"
"$HELM_BIN" template kafka-topic-operator deploy/helm/kafka-topic-operator --namespace kafka-topic-operator \
  --kube-version "$K8S_VERSION"
