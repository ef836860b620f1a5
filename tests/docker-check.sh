#!/usr/bin/env bash
# No Docker engine here: check the Dockerfile by running its build stage's RUN commands in the
# repository (as WORKDIR /src after COPY . .), then checking that every COPY --from=build source
# exists and runs.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(awk '/^FROM .* AS build/{on=1; next} /^FROM /{on=0} on' Dockerfile)
while IFS= read -r cmd; do
  echo "[docker-check] RUN $cmd"
  bash -c "$cmd"
done < <(echo "$stage" | sed -n 's/^RUN //p')
grep '^COPY --from=build' Dockerfile | awk '{print $3}' | while read -r src; do
  path=".${src#/src}"
  [ -x "$path" ] || { echo "[docker-check] $src (as $path) is missing" >&2; exit 1; }
  "$path" --version
done
# The runtime image has glibc only: the binary must not need other shared libraries.
extra=$(ldd target/release/kafka-topic-operator | grep -vE 'linux-vdso|libc\.so|libm\.so|libgcc_s|ld-linux|libpthread|libdl|librt' || true)
[ -z "$extra" ] || { echo "[docker-check] needs libraries the runtime image lacks: $extra" >&2; exit 1; }
echo "[docker-check] OK"
