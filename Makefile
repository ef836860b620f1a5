# kafka-topic-operator: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/kafka-topic-operator
CRDS := crds/kafka.topic-operator.dev.yaml

.PHONY: help build release image crds manifests lint unit test env-install env-up env-down demo bench clean

help:
	@echo "make demo        start the local environment, run the operator, apply examples/"
	@echo "make test        build the environment (first time), run unit + integration tests"
	@echo "make lint        cargo fmt --check and clippy -D warnings"
	@echo "make image       build the Dockerfile with buildah (docs/deployment.md)"
	@echo "make crds        regenerate crds/ from the Rust types"
	@echo "make env-up      start etcd, kube-apiserver and 3 Kafka nodes on 127.0.0.1"
	@echo "make env-down    stop them"
	@echo "make bench       benchmark figures (docs/benchmarks.md); make bench N=5000 for size"
	@echo "                 make bench CLUSTERS=100: N topics over 100 KafkaClusters for one Kafka"

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

# The Dockerfile built with buildah from base images made from Debian's packages (no Docker engine
# or registry needed): localhost/kafka-topic-operator:dev and target/image/kafka-topic-operator.oci.tar.
image:
	tests/env/image.sh

crds: build
	$(BIN) crd > $(CRDS)
	cp $(CRDS) crds/kafkatopic-config-policy.yaml deploy/helm/kafka-topic-operator/files/crds/

# Plain manifests rendered from the Helm chart (deploy/manifests/), for kubectl users.
manifests:
	tests/env/render-manifests.sh > deploy/manifests/kafka-topic-operator.yaml

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Fast tests that need no environment: pure logic, generated CRDs current.
unit:
	$(CARGO) test --locked --lib --bins --test crds_current --test alert_rules

# Everything: builds/starts the real environment, runs all tests, stops it (also on failure).
test:
	tests/env/run-tests.sh

# Figures for docs/benchmarks.md: planning cost (pure) and snapshot cost on the live environment
# (scale), then N KafkaTopics applied at once to the operator's release build (e2e):
# `make bench N=5000` (from 5000 topics 1 partition, RF 3, Kafka heap 2g; SHAPE=3/3/2 and
# KAFKA_HEAP=... override). `make bench CLUSTERS=100`: the many-KafkaClusters mode instead of the
# single cluster's e2e run: N topics in 100 namespaces, one KafkaCluster each for the same Kafka.
N ?= 1000
SHAPE ?=
CLUSTERS ?=
bench:
	KAFKA_HEAP=$${KAFKA_HEAP:-$$( [ $(N) -ge 5000 ] && echo 2g || echo 512m )} tests/env/up.sh
	trap 'tests/env/down.sh' EXIT; source "$${KTO_ENV_DIR:-/tmp/kto-env}/env.sh" && \
	  KTO_BENCH_TOPICS=$(N) KTO_BENCH_SHAPE=$(SHAPE) KTO_BENCH_CLUSTERS=$(CLUSTERS) $(CARGO) bench --locked --bench scale --bench e2e

env-install:
	tests/env/install.sh

env-up:
	tests/env/up.sh

env-down:
	tests/env/down.sh

demo:
	examples/demo.sh

clean:
	tests/env/down.sh
	$(CARGO) clean
