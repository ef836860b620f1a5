# Multi-stage build: compile with the Makefile's own release command, ship only the binary on a
# small non-root base. (No Docker engine runs in this project's CI: tests/docker-check.sh runs
# the build stage's RUN commands outside Docker and checks the artifact COPY expects.)
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN make release

# glibc, CA certificates, a non-root user (65532); no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kafka-topic-operator /usr/local/bin/kafka-topic-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kafka-topic-operator"]
CMD ["run", "--log-format=json", "--leader-election"]
