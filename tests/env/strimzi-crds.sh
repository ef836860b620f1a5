#!/usr/bin/env bash
# Generates Strimzi's own CRDs (Kafka, KafkaTopic, KafkaConnect, ... as Strimzi installs them)
# with Strimzi's CRD generator from its API model, both fetched from Maven Central
# (tests/env/strimzi/pom.xml), and prints the directory that holds them, one YAML file per CRD.
# Cached in $KTO_CACHE, keyed by the pom. Used by tests/names_beside_strimzi.rs. Needs java + mvn
# (install.sh installs both).
set -euo pipefail
source "$(dirname "$0")/common.sh"

key=$(cat "$ENV_SRC/strimzi/pom.xml" "$0" | sha256sum | cut -c1-12)
out="$KTO_CACHE/strimzi-crds-$key"
if [ -f "$out/.complete" ]; then echo "$out"; exit 0; fi

log "generating Strimzi's CRDs with its crd-generator (Maven Central) into $out"
rm -rf "$out.tmp" && mkdir -p "$out.tmp/libs" "$out.tmp/crds"
mvn -q -B -f "$ENV_SRC/strimzi/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$out.tmp/libs" -DincludeScope=runtime >&2
# The generator's arguments are those of Strimzi's own build (the api module's pom), which
# writes the CRDs its install files ship.
generate() { # <api versions> <Class=file>...
  local versions=$1; shift
  java -cp "$out.tmp/libs/*" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions "$versions" --storage-version v1beta2 \
    --yaml "$@" 2> >(grep -v '^SLF4J' >&2)
}
m=io.strimzi.api.kafka.model
d="$out.tmp/crds"
generate v1beta2 \
  "$m.kafka.Kafka=$d/040-Crd-kafka.yaml" \
  "$m.connect.KafkaConnect=$d/041-Crd-kafkaconnect.yaml" \
  "$m.podset.StrimziPodSet=$d/042-Crd-strimzipodset.yaml" \
  "$m.mirrormaker.KafkaMirrorMaker=$d/045-Crd-kafkamirrormaker.yaml" \
  "$m.bridge.KafkaBridge=$d/046-Crd-kafkabridge.yaml" \
  "$m.connector.KafkaConnector=$d/047-Crd-kafkaconnector.yaml" \
  "$m.mirrormaker2.KafkaMirrorMaker2=$d/048-Crd-kafkamirrormaker2.yaml" \
  "$m.rebalance.KafkaRebalance=$d/049-Crd-kafkarebalance.yaml" \
  "$m.nodepool.KafkaNodePool=$d/04A-Crd-kafkanodepool.yaml"
generate v1alpha1,v1beta1,v1beta2 \
  "$m.topic.KafkaTopic=$d/043-Crd-kafkatopic.yaml" \
  "$m.user.KafkaUser=$d/044-Crd-kafkauser.yaml"
[ "$(ls "$d"/*.yaml | wc -l)" -eq 11 ] || { log "ERROR: expected 11 CRDs in $d"; exit 1; }
rm -rf "$out" && mv "$out.tmp/crds" "$out" && rm -rf "$out.tmp"
touch "$out/.complete"
echo "$out"
