#!/usr/bin/env bash
# `base-image.sh build|runtime`: makes (once) a base image for the Dockerfile from Debian
# bookworm's packages and prints its name, for `make image` on a machine that cannot pull
# rust:1.95-bookworm or distroless (no registry is reachable here):
#  build    Debian (apt variant) with gcc, make and pkg-config, plus the Rust toolchain this
#           machine already has (rustup cannot download one here), laid out as in the official
#           rust image: RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo on PATH.
#  runtime  only what the release binary needs (ldd: the C library, libgcc_s), CA certificates,
#           /etc/passwd and /etc/group with the user nonroot (65532); no shell, no package manager.
# Images are tagged with a hash of this file (and, for build, of the toolchain), so a cached one
# is reused until its definition changes; older tags are removed then.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/env/common.sh

kind=${1:-}
containers() { tests/env/containers.sh "$@"; }
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)

case $kind in
  build)
    # The Dockerfile's default builder names the Rust release; the copied toolchain must match it.
    rust_version=$(sed -n 's/^ARG BUILD_IMAGE=.*rust:\([0-9.]*\)-.*/\1/p' Dockerfile)
    [ -n "$rust_version" ] || { log "no rust:<version> in the Dockerfile's BUILD_IMAGE"; exit 1; }
    command -v rustup >/dev/null || { log "the build base copies a rustup-managed toolchain: no rustup on PATH"; exit 1; }
    sysroot=$(rustc --print sysroot)
    release=$(rustc -vV | sed -n 's/^release: //p')
    case $release in
      "$rust_version" | "$rust_version".*) ;;
      *) log "the Dockerfile builds with Rust $rust_version, this machine's rustc is $release"; exit 1 ;;
    esac
    key=$( { cat "$0"; rustc -vV; } | sha256sum | cut -c1-12) ;;
  runtime)
    key=$(sha256sum < "$0" | cut -c1-12) ;;
  *) echo "usage: $0 build|runtime" >&2; exit 2 ;;
esac
image="localhost/kto-base-$kind:$key"

if containers podman image exists "$image"; then
  echo "$image"
  exit 0
fi

log "making the $kind base image $image from Debian packages"
work=$(mktemp -d)
ctr=$(containers buildah from scratch)
cleanup() { containers buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
root=$(containers buildah mount "$ctr")

build_base() {
  # Documentation is left out: it is half of a Debian system's size and no build reads it.
  mmdebstrap --quiet --variant=apt --include=gcc,libc6-dev,make,pkg-config,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$root" "${mirrors[@]}" </dev/null
  local toolchain="$release-x86_64-unknown-linux-gnu"
  mkdir -p "$root/usr/local/rustup/toolchains/$toolchain" "$root/usr/local/cargo/bin"
  # bin and lib are the compiler, cargo, clippy and rustfmt; share/ is documentation.
  cp -a "$sysroot/bin" "$sysroot/lib" "$root/usr/local/rustup/toolchains/$toolchain/"
  cp "$(command -v rustup)" "$root/usr/local/cargo/bin/rustup"
  local proxy
  for proxy in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt; do
    ln -s rustup "$root/usr/local/cargo/bin/$proxy"
  done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
    "$toolchain" > "$root/usr/local/rustup/settings.toml"
  chmod -R a+w "$root/usr/local/rustup" "$root/usr/local/cargo"
  containers buildah config \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$release" --cmd /bin/bash "$ctr"
}

runtime_base() {
  # Debian's packages, unpacked but not installed (no maintainer scripts, no dpkg), then only the
  # files the binary uses are copied into the image.
  local debs="$work/debs"
  mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1,ca-certificates,base-files \
    --skip=cleanup/apt/cache bookworm "$debs" "${mirrors[@]}" </dev/null
  mkdir -p "$root"/{lib64,lib,etc/ssl/certs,usr/lib,usr/share/doc,var/lib/dpkg/status.d,tmp,home/nonroot}
  cp -a "$debs/lib/x86_64-linux-gnu" "$root/lib/"
  cp -a "$debs/lib64/ld-linux-x86-64.so.2" "$root/lib64/"
  # ca-certificates makes this bundle in its postinst, which an unpacked package never ran.
  cat "$debs"/usr/share/ca-certificates/mozilla/*.crt > "$root/etc/ssl/certs/ca-certificates.crt"
  cp -a "$debs/usr/lib/os-release" "$root/usr/lib/"
  cp -a "$debs/etc/os-release" "$debs/etc/debian_version" "$root/etc/"
  # The packages whose files are shipped: their licences, and their names and versions where
  # image scanners look for them (one control file per package, as distroless does).
  local deb pkg
  for deb in "$debs"/var/cache/apt/archives/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    case $pkg in libc6 | libgcc-s1 | gcc-12-base | ca-certificates | base-files) ;; *) continue ;; esac
    dpkg-deb -f "$deb" > "$root/var/lib/dpkg/status.d/$pkg"
    cp -a "$debs/usr/share/doc/$pkg" "$root/usr/share/doc/"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  # Without this file glibc asks DNS before /etc/hosts.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
  chmod 1777 "$root/tmp"
  chown 65532:65532 "$root/home/nonroot"
  chmod 700 "$root/home/nonroot"
  containers buildah config --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$ctr"
}

"${kind}_base"
containers buildah umount "$ctr" >/dev/null
containers buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap 'rm -rf "$work"' EXIT
# Older definitions of the same base take room for nothing (vfs stores every layer whole).
containers podman images --format '{{.Repository}}:{{.Tag}}' "localhost/kto-base-$kind" \
  | grep -vxF "$image" | xargs -r tests/env/containers.sh podman rmi >/dev/null || true
echo "$image"
