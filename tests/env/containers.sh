#!/usr/bin/env bash
# `containers.sh buildah|podman ARGS...`: runs buildah or podman on the project's own container
# storage ($KTO_CONTAINERS), so that `make image`, tests/image.rs and a person see the same images.
# Settings for this machine: the vfs storage driver (plain directories, nothing asked of the kernel;
# overlay would copy less); runc, as crun refuses this machine's cgroups (v1 controllers with a v2
# hierarchy mounted beside them: "cgroups in hybrid mode not supported"); cgroupfs and a file event
# log, as no systemd runs; open-file and process limits no higher than ours (raising a limit is not
# permitted here). TMPDIR puts buildah's cache mounts (cargo's registry and target directory) in
# the same folder, so they are kept like the other cached tools.
set -euo pipefail
source "$(dirname "$0")/common.sh"

tool=${1:-}
case $tool in
  buildah|podman) shift ;;
  *) echo "usage: $0 buildah|podman ARGS..." >&2; exit 2 ;;
esac

# Written through a temporary file and a rename: another call may be reading them right now.
write_if_changed() { # write_if_changed <file> (content on stdin)
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

mkdir -p "$KTO_CONTAINERS/tmp"
write_if_changed "$KTO_CONTAINERS/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$KTO_CONTAINERS/storage"
runroot = "/run/kto-containers"
EOF
write_if_changed "$KTO_CONTAINERS/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

export CONTAINERS_STORAGE_CONF="$KTO_CONTAINERS/storage.conf"
export CONTAINERS_CONF="$KTO_CONTAINERS/containers.conf"
export TMPDIR="$KTO_CONTAINERS/tmp"
exec "$tool" "$@"
