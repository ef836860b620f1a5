#!/usr/bin/env bash
# `make image`: builds the project's Dockerfile, unchanged, with buildah (no Docker engine here),
# from base images made locally (tests/env/base-image.sh, as no registry can be reached), into
#   $IMAGE_NAME (localhost/kafka-topic-operator:dev) in the project's container storage
#     (tests/env/containers.sh podman images), and
#   $IMAGE_ARCHIVE (target/image/kafka-topic-operator.oci.tar), an OCI archive of the same image
#     for `ctr -n k8s.io images import` or `skopeo copy oci-archive:... docker://REGISTRY/...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/env/common.sh

# buildah builds, podman runs (tests/image.rs), runc is the runtime both use here
# (containers.sh says why), mmdebstrap makes the base images.
need_apt=()
for tool in buildah podman runc mmdebstrap; do
  command -v "$tool" >/dev/null || need_apt+=("$tool")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  # Another script may be installing packages at the same moment: wait for dpkg's lock.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need_apt[@]}" >/dev/null
fi

build_base=$(tests/env/base-image.sh build)
runtime_base=$(tests/env/base-image.sh runtime)
log "building $IMAGE_NAME from the Dockerfile on $build_base and $runtime_base"
# Host networking, and the machine's CA certificates for the build steps only: cargo fetches crates
# from crates.io during the build, and a machine may reach it through a TLS proxy that only its
# own CA bundle trusts (this one does). Nothing of the bundle lands in an image.
tests/env/containers.sh buildah bud --quiet --network host \
  --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  --build-arg BUILD_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  --tag "$IMAGE_NAME" --file Dockerfile . >/dev/null
# The previous build's image lost its tag: vfs keeps each layer whole, so do not keep it.
tests/env/containers.sh buildah rmi --prune >/dev/null 2>&1 || true

mkdir -p "$(dirname "$IMAGE_ARCHIVE")"
rm -f "$IMAGE_ARCHIVE"
tests/env/containers.sh buildah push --quiet "$IMAGE_NAME" "oci-archive:$IMAGE_ARCHIVE:$IMAGE_NAME"
size=$(tests/env/containers.sh podman image inspect --format '{{.Size}}' "$IMAGE_NAME")
log "image $IMAGE_NAME: $((size / 1000000)) MB; OCI archive $IMAGE_ARCHIVE"
