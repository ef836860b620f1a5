# Multi-stage build: compile with the Makefile's own release command, ship only the binary on a
# small non-root base. The base images are build arguments so that the same file builds where no
# registry can be reached: `make image` passes bases made locally from Debian's packages
# (tests/env/image.sh); with Docker, `docker build -t kafka-topic-operator .` uses these defaults.
ARG BUILD_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
# Cache mounts keep the downloaded crates and the compiled dependencies between builds, so a
# rebuild compiles only what changed. The target directory is a cache, not part of the image:
# the binary is copied out of it in the same step.
RUN --mount=type=cache,id=kto-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=kto-target,target=/src/target,sharing=locked \
    make release && cp target/release/kafka-topic-operator /usr/local/bin/kafka-topic-operator

# glibc, CA certificates, a non-root user (65532); no shell, no package manager.
FROM ${RUNTIME_IMAGE}
COPY --from=build /usr/local/bin/kafka-topic-operator /usr/local/bin/kafka-topic-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kafka-topic-operator"]
CMD ["run", "--log-format=json", "--leader-election"]
