#!/usr/bin/env bash
# Starts the test environment on 127.0.0.1, the way controller-runtime's envtest runs a control
# plane without nodes, plus a real three-node Kafka (KRaft, one rack per node):
#   etcd -> kube-apiserver (client certs, RBAC) -> kubeconfig in $KTO_ENV_DIR/kubeconfig
#   Kafka nodes 1..3 (broker+controller), racks rack-a..c, auto.create.topics.enable=false
#   and an ACL authorizer (every principal is a super user but the one tests/acls.rs creates)
# Writes $KTO_ENV_DIR/env.sh for tests and people: `source /tmp/kto-env/env.sh`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$ENV_SRC/install.sh"

if [ -f "$KTO_ENV_DIR/env.sh" ]; then
  log "an environment already runs in $KTO_ENV_DIR; stopping it first"
  "$ENV_SRC/down.sh"
fi
mkdir -p "$KTO_ENV_DIR"/{pki,logs,pids}
RUN="$KTO_ENV_DIR"

fail() {
  log "ERROR: $*"
  for f in "$RUN"/logs/*.log; do echo "---- tail $f" >&2; tail -n 30 "$f" >&2; done
  "$ENV_SRC/down.sh"
  exit 1
}

wait_for() { # wait_for <seconds> <description> <command...>
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
    sleep 1
  done
}

start() { # start <name> <command...>: runs in the background, logs and pid under $RUN
  local name=$1; shift
  setsid "$@" >"$RUN/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name.pid"
}

# ---- certificates: a CA, the apiserver's serving cert, an admin client cert, a service-account key
pki="$RUN/pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=kto-test-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" > apiserver.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 30 -extfile apiserver.ext 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=kto-admin" 2>/dev/null
  printf "extendedKeyUsage=clientAuth\n" > client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 30 -extfile client.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  # Kafka's SASL_SSL listener: a PEM keystore (PKCS#8 key + certificate) signed by the same CA.
  openssl req -newkey rsa:2048 -nodes -keyout kafka.rsa.key -out kafka.csr -subj "/CN=kafka" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in kafka.rsa.key -out kafka.key
  openssl x509 -req -in kafka.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kafka.crt -days 30 -extfile apiserver.ext 2>/dev/null
  cat kafka.key kafka.crt > kafka.pem
)

# ---- etcd. The control plane's command lines are kept in $RUN/etcd.sh and $RUN/kube-apiserver.sh,
# so that control-plane.sh restarts them exactly as they were (same flags, same data directory).
cat > "$RUN/etcd.sh" <<RUNSH
#!/bin/sh
exec "$K8S_BIN/etcd" --name kto --data-dir "$RUN/etcd" \\
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \\
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \\
  --initial-cluster "kto=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes=2147483648
RUNSH
chmod +x "$RUN/etcd.sh"
start etcd "$RUN/etcd.sh"

# ---- Kafka: format storage and start the KRaft nodes while etcd comes up
cat > "$RUN/log4j2.yaml" <<'L4J'
Configuration:
  Appenders:
    Console: { name: STDOUT, PatternLayout: { pattern: "[%d] %p %m (%c)%n" } }
  Loggers:
    Root: { level: WARN, AppenderRef: [ { ref: STDOUT } ] }
    Logger:
      - { name: kafka.server.KafkaServer, level: INFO }
      - { name: kafka.server.BrokerServer, level: INFO }
L4J

# A random KRaft cluster id (URL-safe base64 of a UUID). One that starts with '-' would be read
# by StorageTool as an option ("--cluster-id: expected one argument"), so draw again.
new_cluster_id() { python3 -c '
import uuid, base64
while True:
    id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not id.startswith("-"):
        print(id)
        break'; }

# start_kafka_node <dir name> <node id> <client port> <controller port> <voters> <cluster id> <extra properties>
start_kafka_node() {
  local name=$1 id=$2 port=$3 cport=$4 voters=$5 cid=$6 extra=$7
  local dir="$RUN/$name"; mkdir -p "$dir"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
# Deliberately poor broker defaults: a topic that relied on them would show 1 partition, RF 1,
# so tests can tell "created as declared" from "created by broker defaults".
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# Small and quick: this is a test cluster on a 2-core machine.
num.network.threads=2
num.io.threads=2
background.threads=2
log.segment.bytes=16777216
replica.lag.time.max.ms=10000
$extra
PROPS
  java -Xmx256m -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$RUN/log4j2.yaml" kafka.tools.StorageTool \
    format -t "$cid" -c "$dir/server.properties" >"$RUN/logs/format-$name.log" 2>&1 \
    || fail "formatting Kafka storage of $name"
  cat > "$dir/run.sh" <<RUNSH
#!/bin/sh
exec java -Xms256m -Xmx$KAFKA_HEAP -XX:+UseG1GC ${KAFKA_JVM_EXTRA:-} -Djava.awt.headless=true -cp "$KAFKA_LIBS/*" \\
  -Dlog4j2.configurationFile="$RUN/log4j2.yaml" kafka.Kafka "$dir/server.properties"
RUNSH
  chmod +x "$dir/run.sh"
  start "$name" "$dir/run.sh"
}

# The main cluster: three nodes, one rack each, auto-creation off (as the product wants it).
cluster_id=$(new_cluster_id)
voters=""
for i in $(seq 1 "$KAFKA_NODES"); do voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_CONTROLLER_BASE_PORT + i - 1))"; done
for i in $(seq 1 "$KAFKA_NODES"); do
  rack="rack-$(printf "\\x$(printf %x $((96 + i)))")"
  port=$((KAFKA_BASE_PORT + i - 1)); sasl_port=$((KAFKA_SASL_BASE_PORT + i - 1)); cport=$((KAFKA_CONTROLLER_BASE_PORT + i - 1))
  proxied_port=$((KAFKA_PROXIED_BASE_PORT + i - 1)); via_proxy_port=$((KAFKA_VIA_PROXY_BASE_PORT + i - 1))
  start_kafka_node "kafka-$i" "$i" "$port" "$cport" "$voters" "$cluster_id" \
"broker.rack=$rack
# A second listener with TLS and SCRAM-SHA-512 users, for the security tests, and a third one
# reached through a test's proxy (common.sh, KAFKA_PROXIED_BASE_PORT).
listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sasl_port,VIA_PROXY://127.0.0.1:$proxied_port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sasl_port,VIA_PROXY://127.0.0.1:$via_proxy_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,VIA_PROXY:PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$pki/kafka.pem
auto.create.topics.enable=false
# An authorizer, so that tests/acls.rs can prove the ACLs of docs/deployment.md: a principal has
# exactly its ACLs and nothing more (no ACL on a resource means denied, not allowed). Everything
# else in the suite is a super user and so unaffected: the PLAINTEXT, VIA_PROXY and CONTROLLER
# listeners authenticate nobody (User:ANONYMOUS: tests, Kafka's CLI, the brokers among themselves
# and the KRaft quorum), and kto is the SCRAM user of the SASL_SSL listener.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS;User:$KAFKA_SASL_USER
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2"
done
# A second, single-node cluster where auto-creation is on: what the operator must detect and
# never trigger itself.
start_kafka_node kafka-autocreate 1 "$KAFKA_AUTOCREATE_PORT" "$KAFKA_AUTOCREATE_CONTROLLER_PORT" \
  "1@127.0.0.1:$KAFKA_AUTOCREATE_CONTROLLER_PORT" "$(new_cluster_id)" \
"auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1"

# ---- kube-apiserver
wait_for 60 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
cat > "$RUN/kube-apiserver.sh" <<RUNSH
#!/bin/sh
exec "$K8S_BIN/kube-apiserver" \\
  --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \\
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \\
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \\
  --client-ca-file="$pki/ca.crt" \\
  --service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \\
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \\
  --service-cluster-ip-range=10.0.0.0/24 \\
  --authorization-mode=RBAC --allow-privileged=true \\
  --disable-admission-plugins=ServiceAccount
RUNSH
chmod +x "$RUN/kube-apiserver.sh"
start kube-apiserver "$RUN/kube-apiserver.sh"
b64() { base64 -w0 < "$1"; }
cat > "$RUN/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: kto-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: kto-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: kto-test
  context: { cluster: kto-test, user: kto-admin, namespace: default }
current-context: kto-test
KCFG
wait_for 120 kube-apiserver curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  "https://127.0.0.1:$APISERVER_PORT/readyz"
# The default namespace and service account controllers do not run without a controller manager.
"$K8S_BIN/kubectl" --kubeconfig "$RUN/kubeconfig" get namespace default >/dev/null 2>&1 \
  || "$K8S_BIN/kubectl" --kubeconfig "$RUN/kubeconfig" create namespace default >/dev/null 2>&1 || true

# ---- Kafka readiness: all nodes registered as brokers
kafka_brokers_up() {
  [ "$("$ENV_SRC/kafka-cli.sh" broker-api-versions --bootstrap-server "$(kafka_bootstrap)" 2>/dev/null \
      | grep -c '(id: ')" -ge "$KAFKA_NODES" ]
}
wait_for 180 "$KAFKA_NODES Kafka brokers" kafka_brokers_up
# The SCRAM user of the SASL_SSL listener (stored in the cluster metadata).
"$ENV_SRC/kafka-cli.sh" configs --bootstrap-server "$(kafka_bootstrap)" --alter --entity-type users \
  --entity-name "$KAFKA_SASL_USER" --add-config "SCRAM-SHA-512=[iterations=4096,password=$KAFKA_SASL_PASSWORD]" >/dev/null \
  || fail "creating the SCRAM user"
wait_for 120 "the auto-create Kafka" "$ENV_SRC/kafka-cli.sh" broker-api-versions --bootstrap-server "127.0.0.1:$KAFKA_AUTOCREATE_PORT"

cat > "$RUN/env.sh" <<ENVSH
# written by tests/env/up.sh
export KUBECONFIG="$RUN/kubeconfig"
export KTO_ENV_DIR="$RUN"
export KTO_ENV_SRC="$ENV_SRC"
export KTO_ETCD_ENDPOINT="http://127.0.0.1:$ETCD_PORT"
export KTO_KAFKA_BOOTSTRAP="$(kafka_bootstrap)"
export KTO_KAFKA_AUTOCREATE_BOOTSTRAP="127.0.0.1:$KAFKA_AUTOCREATE_PORT"
export KTO_KAFKA_SASL_BOOTSTRAP="$(kafka_bootstrap "$KAFKA_SASL_BASE_PORT")"
export KTO_KAFKA_SASL_USER="$KAFKA_SASL_USER"
export KTO_KAFKA_PROXIED_BOOTSTRAP="$(kafka_bootstrap "$KAFKA_PROXIED_BASE_PORT")"
export KTO_KAFKA_VIA_PROXY_BOOTSTRAP="$(kafka_bootstrap "$KAFKA_VIA_PROXY_BASE_PORT")"
export KTO_KAFKA_SASL_PASSWORD="$KAFKA_SASL_PASSWORD"
export KTO_KAFKA_CA="$pki/ca.crt"
export KTO_KAFKA_CLI="$ENV_SRC/kafka-cli.sh"
export KTO_KUBECTL="$K8S_BIN/kubectl"
export KTO_HELM="$HELM_BIN"
export KTO_KSTATUS="$KSTATUS_BIN"
# Built by node-install.sh (make test runs it first): tests/namespace_deletion.rs runs its
# namespace controller for the time of its test.
export KTO_KUBE_CONTROLLER_MANAGER="$NODE_K8S_BIN/kube-controller-manager"
export PATH="$K8S_BIN:\$PATH"
ENVSH
log "up: kube-apiserver https://127.0.0.1:$APISERVER_PORT, Kafka $(kafka_bootstrap) (cluster id $cluster_id), auto-create Kafka 127.0.0.1:$KAFKA_AUTOCREATE_PORT"
log "use it with: source $RUN/env.sh"
