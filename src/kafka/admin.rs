//! [`KafkaAdmin`] over the Kafka protocol: one connection to a bootstrap server at a time,
//! requests serialized on it, reconnecting (to the next bootstrap server) when it breaks.

use crate::util::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, ElectLeadersRequest,
    IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::Mutex;
use tracing::{debug, info};

use super::connection::{CallError, Connection};
use super::error::{KafkaError, check};
use super::security::Security;
use super::{
    BROKER_CONFIG_WRITES, Described, KafkaAdmin, PartitionGrowth, TopicResults, TopicToCreate,
};
use crate::model::{
    AUTO_CREATE_TOPICS, BROKER_THROTTLE_CONFIGS, Broker, ClusterSnapshot, ConfigChanges,
    ConfigKind, ObservedConfig, ObservedPartition, ObservedTopic,
};

/// Kafka's resource type codes in config APIs.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs config_source: a dynamic override on the topic, on one broker.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_BROKER: i8 = 2;
/// ElectLeaders election_type: the preferred (first) replica.
const ELECTION_PREFERRED: i8 = 0;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// Topics per CreateTopics request (as Kafka's own tools batch them).
const CREATE_TOPICS_BATCH: usize = 100;
/// Topics per CreatePartitions or IncrementalAlterConfigs request.
const WRITE_BATCH: usize = 100;
/// Topics per DescribeConfigs request: keeps each response a few MB at most.
const DESCRIBE_CONFIGS_BATCH: usize = 500;
/// How long Kafka may take to finish a topic operation before answering.
const OPERATION_TIMEOUT_MS: i32 = 30_000;
/// How much longer than the operation timeout the client waits for a write's answer.
const WRITE_ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// Whether a request changes Kafka. A read whose connection broke is sent again; a write is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl Kind {
    /// Validate-only requests change nothing.
    fn of(validate_only: bool) -> Self {
        if validate_only {
            Kind::Read
        } else {
            Kind::Write
        }
    }
}

pub struct KafkaProtocolAdmin {
    bootstrap: Vec<String>,
    security: Security,
    request_timeout: Duration,
    /// Connections to any broker (a bootstrap server), for requests any broker answers: one for
    /// reads (snapshots), one for writes, so a write waiting on Kafka's controller never holds
    /// up a snapshot and a large snapshot never delays a write.
    read_connection: Mutex<Option<Connection>>,
    write_connection: Mutex<Option<Connection>>,
    /// Connections to specific brokers, for requests only that broker answers (its configs).
    /// One slot per broker, each with its own lock: a broker that is slow to connect or answer
    /// holds up requests to itself only.
    broker_connections: SyncMutex<HashMap<i32, Arc<Mutex<Option<Connection>>>>>,
    /// Advertised address of each broker, from the last metadata.
    broker_addrs: SyncMutex<HashMap<i32, String>>,
    /// Index of the bootstrap server to try first on the next connect.
    next_server: SyncMutex<usize>,
    counts: SyncMutex<BTreeMap<&'static str, u64>>,
}

impl KafkaProtocolAdmin {
    /// A PLAINTEXT client.
    pub fn new(bootstrap: Vec<String>, request_timeout: Duration) -> Self {
        Self::with_security(bootstrap, Security::plaintext(), request_timeout)
    }

    pub fn with_security(
        bootstrap: Vec<String>,
        security: Security,
        request_timeout: Duration,
    ) -> Self {
        KafkaProtocolAdmin {
            bootstrap,
            security,
            request_timeout,
            read_connection: Mutex::new(None),
            write_connection: Mutex::new(None),
            broker_connections: SyncMutex::new(HashMap::new()),
            broker_addrs: SyncMutex::new(HashMap::new()),
            next_server: SyncMutex::new(0),
            counts: SyncMutex::new(BTreeMap::new()),
        }
    }

    async fn connect(&self) -> Result<Connection, KafkaError> {
        let start = *lock(&self.next_server);
        let mut failures = Vec::new();
        let mut refused = None;
        for i in 0..self.bootstrap.len() {
            let idx = (start + i) % self.bootstrap.len();
            let addr = &self.bootstrap[idx];
            match Connection::open(addr, self.request_timeout, &self.security).await {
                Ok(conn) => {
                    debug!(%addr, "connected to Kafka");
                    *lock(&self.next_server) = idx;
                    return Ok(conn);
                }
                Err(CallError::Io(e) | CallError::TimedOut(e)) => failures.push(e),
                // An authentication failure is usually the same on every server, but not
                // always: SCRAM credentials reach each broker asynchronously through the
                // metadata log, so a broker that is behind (just restarted) refuses a user the
                // others accept. Try them all; say what the servers refused if none took us.
                Err(CallError::Kafka(e)) => {
                    debug!(%addr, error = %e, "Kafka server refused the connection");
                    refused.get_or_insert(e);
                }
            }
        }
        if let Some(e) = refused {
            return Err(e);
        }
        Err(KafkaError::Unreachable {
            servers: self.bootstrap.join(","),
            detail: failures.join("; "),
        })
    }

    /// How long to wait for an answer: a write carries the operation timeout it grants Kafka,
    /// and the client waits longer than that, so Kafka's own answer (done, or timed out) arrives.
    fn timeout(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Read => self.request_timeout,
            Kind::Write => self
                .request_timeout
                .max(Duration::from_millis(OPERATION_TIMEOUT_MS as u64) + WRITE_ANSWER_MARGIN),
        }
    }

    /// Sends `request` built for the negotiated version. A broken connection is replaced; a read
    /// is then tried once more on the next bootstrap server, a write never is: its answer was
    /// lost, not necessarily the write, so the caller reads Kafka's state and plans again.
    async fn call<R, F>(
        &self,
        api: &'static str,
        versions: (i16, i16),
        kind: Kind,
        build: F,
    ) -> Result<(R::Response, i16), KafkaError>
    where
        R: Request,
        F: Fn(i16) -> R,
    {
        if kind == Kind::Write && !crate::leader::write_fence() {
            return Err(KafkaError::NotLeader { api });
        }
        *lock(&self.counts).entry(api).or_default() += 1;
        let mut guard = match kind {
            Kind::Read => self.read_connection.lock().await,
            Kind::Write => self.write_connection.lock().await,
        };
        let mut last_io = String::new();
        let mut timed_out = false;
        for _attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.connect().await?);
            }
            let conn = guard.as_mut().expect("connection was just set");
            let version = conn.pick_version::<R>(api, versions)?;
            let failure = match conn
                .call(&build(version), version, api, self.timeout(kind))
                .await
            {
                Ok(response) => return Ok((response, version)),
                Err(CallError::Kafka(e)) => return Err(e),
                Err(CallError::Io(e)) => e,
                Err(CallError::TimedOut(e)) => {
                    timed_out = true;
                    e
                }
            };
            // The connection is unusable either way (a late answer would be read as the next
            // request's): drop it and try the next bootstrap server.
            debug!(error = %failure, "Kafka connection broken; reconnecting");
            *guard = None;
            let mut next = lock(&self.next_server);
            *next = (*next + 1) % self.bootstrap.len().max(1);
            if kind == Kind::Write {
                return Err(KafkaError::WriteUnconfirmed {
                    api,
                    detail: failure,
                });
            }
            last_io = failure;
        }
        if timed_out {
            return Err(KafkaError::Slow {
                api,
                detail: last_io,
            });
        }
        Err(KafkaError::Unreachable {
            servers: self.bootstrap.join(","),
            detail: last_io,
        })
    }

    /// Like `call`, on the connection to one broker (reconnecting once if it broke; a broker
    /// that does not answer in time is reported slow at once).
    async fn call_broker<R, F>(
        &self,
        broker: i32,
        api: &'static str,
        versions: (i16, i16),
        kind: Kind,
        build: F,
    ) -> Result<R::Response, KafkaError>
    where
        R: Request,
        F: Fn(i16) -> R,
    {
        if kind == Kind::Write && !crate::leader::write_fence() {
            return Err(KafkaError::NotLeader { api });
        }
        // Counted apart from topic writes: broker throttle rates are the cluster's business.
        let counted = if kind == Kind::Write {
            BROKER_CONFIG_WRITES
        } else {
            api
        };
        *lock(&self.counts).entry(counted).or_default() += 1;
        let addr = self
            .broker_addrs
            .lock()
            .unwrap()
            .get(&broker)
            .cloned()
            .ok_or_else(|| KafkaError::Unreachable {
                servers: format!("broker {broker}"),
                detail: "not in the cluster's metadata".into(),
            })?;
        let slot = self
            .broker_connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(broker)
            .or_default()
            .clone();
        let mut conn_slot = slot.lock().await;
        let mut last_io = String::new();
        for _attempt in 0..2 {
            if conn_slot.is_none() {
                match Connection::open(&addr, self.request_timeout, &self.security).await {
                    Ok(c) => *conn_slot = Some(c),
                    Err(CallError::Io(detail)) => {
                        return Err(KafkaError::Unreachable {
                            servers: addr,
                            detail,
                        });
                    }
                    Err(CallError::TimedOut(detail)) => {
                        return Err(KafkaError::Slow { api, detail });
                    }
                    Err(CallError::Kafka(err)) => return Err(err),
                }
            }
            let conn = conn_slot.as_mut().expect("connection was just set");
            let version = conn.pick_version::<R>(api, versions)?;
            match conn
                .call(&build(version), version, api, self.timeout(kind))
                .await
            {
                Ok(response) => return Ok(response),
                Err(CallError::Kafka(e)) => return Err(e),
                Err(CallError::Io(e) | CallError::TimedOut(e)) if kind == Kind::Write => {
                    *conn_slot = None;
                    return Err(KafkaError::WriteUnconfirmed { api, detail: e });
                }
                // Asking the same broker again would only wait as long once more.
                Err(CallError::TimedOut(detail)) => {
                    *conn_slot = None;
                    return Err(KafkaError::Slow { api, detail });
                }
                // A connection the broker closed (idle) is worth one more try on a new one.
                Err(CallError::Io(e)) => {
                    *conn_slot = None;
                    last_io = e;
                }
            }
        }
        Err(KafkaError::Unreachable {
            servers: addr,
            detail: last_io,
        })
    }

    async fn metadata(&self, names: Option<&[String]>) -> Result<MetadataResponse, KafkaError> {
        let topics = names.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect::<Vec<_>>()
        });
        let (response, _) = self
            .call("Metadata", (10, 12), Kind::Read, |_| {
                MetadataRequest::default()
                    .with_topics(topics.clone())
                    // Never let a look at a missing topic create it.
                    .with_allow_auto_topic_creation(false)
            })
            .await?;
        let addrs = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect();
        *lock(&self.broker_addrs) = addrs;
        Ok(response)
    }

    /// Configs of the given topics, in batches. Topics that vanished meanwhile are left out.
    async fn topic_configs(
        &self,
        names: &[String],
    ) -> Result<
        (
            BTreeMap<String, BTreeMap<String, ObservedConfig>>,
            TopicErrors,
        ),
        KafkaError,
    > {
        let mut out = BTreeMap::new();
        let mut errors = TopicErrors::new();
        for chunk in names.chunks(DESCRIBE_CONFIGS_BATCH) {
            let resources: Vec<_> = chunk
                .iter()
                .map(|n| {
                    DescribeConfigsResource::default()
                        .with_resource_type(RESOURCE_TOPIC)
                        .with_resource_name(StrBytes::from_string(n.clone()))
                        .with_configuration_keys(None)
                })
                .collect();
            let (response, _) = self
                .call("DescribeConfigs", (1, 4), Kind::Read, |_| {
                    DescribeConfigsRequest::default().with_resources(resources.clone())
                })
                .await?;
            for result in response.results {
                let name = result.resource_name.to_string();
                if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
                    continue;
                }
                // One topic Kafka refuses to describe (not authorized, ...) stays that topic's
                // problem: the rest of the snapshot stands.
                if let Err(error) = check(
                    "DescribeConfigs",
                    &name,
                    result.error_code,
                    result.error_message.as_ref(),
                ) {
                    errors.insert(name, error);
                    continue;
                }
                let configs = result
                    .configs
                    .into_iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            ObservedConfig {
                                value: c.value.map(|v| v.to_string()),
                                is_topic_override: c.config_source == SOURCE_DYNAMIC_TOPIC,
                                kind: ConfigKind::from_kafka(c.config_type),
                            },
                        )
                    })
                    .collect();
                out.insert(name, configs);
            }
        }
        Ok((out, errors))
    }

    /// Topics of a metadata response joined with their configs.
    async fn observe_topics(
        &self,
        metadata: &MetadataResponse,
        all: bool,
    ) -> Result<(BTreeMap<String, ObservedTopic>, TopicErrors), KafkaError> {
        let mut topics = BTreeMap::new();
        let mut errors = TopicErrors::new();
        for t in &metadata.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if t.error_code == ResponseError::UnknownTopicOrPartition.code() {
                continue;
            }
            if let Err(error) = check("Metadata", &name, t.error_code, None) {
                errors.insert(name, error);
                continue;
            }
            let mut partitions: Vec<_> = t
                .partitions
                .iter()
                .map(|p| ObservedPartition {
                    id: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    // A set: its order changes with shrinks and expands and means nothing, and
                    // would make an idle topic look changed from one snapshot to the next.
                    isr: sorted(p.isr_nodes.iter().map(|b| b.0).collect()),
                    adding: vec![],
                    removing: vec![],
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            topics.insert(
                name.clone(),
                ObservedTopic {
                    defaults: Default::default(),
                    name,
                    topic_id: (!t.topic_id.is_nil()).then(|| kafka_uuid(&t.topic_id)),
                    is_internal: t.is_internal,
                    partitions,
                    configs: BTreeMap::new(),
                },
            );
        }
        let names: Vec<String> = topics.keys().cloned().collect();
        let partitions: Vec<(String, Vec<i32>)> = topics
            .values()
            .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.id).collect()))
            .collect();
        let listed = if all {
            None
        } else {
            Some(partitions.as_slice())
        };
        for (topic, moves) in self.reassignments(listed).await? {
            let Some(t) = topics.get_mut(&topic) else {
                continue;
            };
            for (partition, (adding, removing)) in moves {
                if let Some(p) = t.partitions.iter_mut().find(|p| p.id == partition) {
                    p.adding = adding;
                    p.removing = removing;
                }
            }
        }
        let (mut configs, config_errors) = self.topic_configs(&names).await?;
        errors.extend(config_errors);
        if !all {
            let unconfigured: Vec<&String> =
                names.iter().filter(|n| !configs.contains_key(*n)).collect();
            debug!(
                described = configs.len(),
                ?unconfigured,
                errors = ?errors.iter().map(|(t, e)| (t, e.reason())).collect::<Vec<_>>(),
                "topics read by name"
            );
        }
        // A topic deleted between the two calls has no configs: leave it out rather than show
        // it half (and so is one whose configs Kafka refused: its error says why).
        topics.retain(|name, _| configs.contains_key(name));
        // Defaults are the same for almost every topic: keep one shared copy, and per topic only
        // its overrides and whatever differs from it.
        let defaults: BTreeMap<String, ObservedConfig> = configs
            .values()
            .next()
            .map(|first| {
                first
                    .iter()
                    .filter(|(_, c)| !c.is_topic_override)
                    .map(|(k, c)| (k.clone(), c.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let defaults = Arc::new(defaults);
        for (name, topic) in topics.iter_mut() {
            let mut own = configs.remove(name).unwrap_or_default();
            own.retain(|k, c| c.is_topic_override || defaults.get(k) != Some(c));
            topic.configs = own;
            topic.defaults = defaults.clone();
        }
        Ok((topics, errors))
    }
}

impl KafkaProtocolAdmin {
    /// Ongoing reassignments (all topics, or the named ones): topic -> partition -> (adding, removing).
    /// `names`: the topics to ask about, with their partition ids (Kafka lists none for an
    /// empty array, so every partition is named).
    async fn reassignments(
        &self,
        names: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<String, TopicMoves>, KafkaError> {
        let topics = names.map(|names| {
            names
                .iter()
                .map(|(n, partitions)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(n))
                        .with_partition_indexes(partitions.clone())
                })
                .collect::<Vec<_>>()
        });
        let (response, _) = self
            .call("ListPartitionReassignments", (0, 0), Kind::Read, |_| {
                ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
                    .with_topics(topics.clone())
            })
            .await?;
        check(
            "ListPartitionReassignments",
            "cluster",
            response.error_code,
            response.error_message.as_ref(),
        )?;
        let mut out: BTreeMap<String, TopicMoves> = BTreeMap::new();
        for t in response.topics {
            let entry = out.entry(t.name.0.to_string()).or_default();
            for p in t.partitions {
                entry.insert(
                    p.partition_index,
                    (
                        p.adding_replicas.iter().map(|b| b.0).collect(),
                        p.removing_replicas.iter().map(|b| b.0).collect(),
                    ),
                );
            }
        }
        Ok(out)
    }

    /// A broker's dynamic throttle-rate overrides, and whether it allows auto-creation.
    async fn broker_configs(
        &self,
        broker: i32,
    ) -> Result<(BTreeMap<String, String>, bool), KafkaError> {
        let keys = BROKER_THROTTLE_CONFIGS
            .iter()
            .chain(std::iter::once(&AUTO_CREATE_TOPICS));
        let resource = DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_BROKER)
            .with_resource_name(StrBytes::from_string(broker.to_string()))
            .with_configuration_keys(Some(keys.map(|k| StrBytes::from_static_str(k)).collect()));
        let response = self
            .call_broker(broker, "DescribeConfigs", (1, 4), Kind::Read, |_| {
                DescribeConfigsRequest::default().with_resources(vec![resource.clone()])
            })
            .await?;
        let mut throttles = BTreeMap::new();
        let mut auto_create = false;
        for result in response.results {
            check(
                "DescribeConfigs",
                &format!("broker {broker}"),
                result.error_code,
                result.error_message.as_ref(),
            )?;
            for c in result.configs {
                let Some(value) = c.value else { continue };
                if c.name.as_str() == AUTO_CREATE_TOPICS {
                    // Whatever its source (Kafka's default is true): what the broker does.
                    auto_create = value.as_str() == "true";
                } else if c.config_source == SOURCE_DYNAMIC_BROKER {
                    throttles.insert(c.name.to_string(), value.to_string());
                }
            }
        }
        Ok((throttles, auto_create))
    }

    /// One IncrementalAlterConfigs request for `resources` (type, name, changes), sent to any
    /// broker (topics) or to `broker` itself (its own configs). The answer holds each resource's
    /// own result; the outer error is for the request.
    async fn incremental_alter(
        &self,
        broker: Option<i32>,
        resources: &[(i8, String, &ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let resources: Vec<AlterConfigsResource> = resources
            .iter()
            .map(|(resource_type, name, changes)| {
                AlterConfigsResource::default()
                    .with_resource_type(*resource_type)
                    .with_resource_name(StrBytes::from_string(name.clone()))
                    .with_configs(alterable_configs(changes))
            })
            .collect();
        let build = |_| {
            IncrementalAlterConfigsRequest::default()
                .with_resources(resources.clone())
                .with_validate_only(validate_only)
        };
        let response = match broker {
            None => {
                self.call(
                    "IncrementalAlterConfigs",
                    (0, 1),
                    Kind::of(validate_only),
                    build,
                )
                .await?
                .0
            }
            Some(b) => {
                self.call_broker(b, "IncrementalAlterConfigs", (0, 1), Kind::Write, build)
                    .await?
            }
        };
        Ok(per_topic(
            "IncrementalAlterConfigs",
            response.responses.iter().map(|r| {
                (
                    r.resource_name.to_string(),
                    r.error_code,
                    r.error_message.as_ref(),
                )
            }),
        ))
    }
}

/// Each resource's own result in a batched answer: (name, error code, Kafka's message).
fn per_topic<'a>(
    api: &'static str,
    answers: impl Iterator<Item = (String, i16, Option<&'a StrBytes>)>,
) -> TopicResults {
    answers
        .map(|(name, code, message)| {
            let outcome = check(api, &name, code, message);
            (name, outcome)
        })
        .collect()
}

fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

/// The set and delete operations of `changes`, as IncrementalAlterConfigs wants them.
fn alterable_configs(changes: &ConfigChanges) -> Vec<AlterableConfig> {
    let mut configs: Vec<_> = changes
        .set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    configs.extend(changes.delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k.clone()))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    configs
}

/// One topic of a CreateTopics request: every declared config, and our placement when given.
fn creatable_topic(t: &TopicToCreate) -> Result<CreatableTopic, KafkaError> {
    let topic = &t.topic;
    let replication_factor =
        i16::try_from(topic.replication_factor).map_err(|_| KafkaError::Api {
            api: "CreateTopics",
            resource: topic.name.clone(),
            code: ResponseError::InvalidReplicationFactor,
            message: Some(format!(
                "replication factor {} is too large",
                topic.replication_factor
            )),
        })?;
    let configs: Vec<_> = topic
        .all_configs()
        .into_iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k))
                .with_value(Some(StrBytes::from_string(v)))
        })
        .collect();
    let creatable = CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_configs(configs);
    if t.assignments.is_empty() {
        return Ok(creatable
            .with_num_partitions(topic.partitions)
            .with_replication_factor(replication_factor));
    }
    // Our placement: Kafka requires -1 for both counts when replicas are assigned.
    Ok(creatable
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            t.assignments
                .iter()
                .enumerate()
                .map(|(i, set)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i as i32)
                        .with_broker_ids(set.iter().map(|b| BrokerId(*b)).collect())
                })
                .collect(),
        ))
}

/// Topics Kafka answered with an error for, by name.
type TopicErrors = BTreeMap<String, KafkaError>;

/// A topic's ongoing moves: partition -> (replicas being added, replicas being removed).
type TopicMoves = BTreeMap<i32, (Vec<i32>, Vec<i32>)>;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Kafka prints topic ids as URL-safe base64 without padding (`kafka-topics --describe`).
fn kafka_uuid(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

#[async_trait]
impl KafkaAdmin for KafkaProtocolAdmin {
    async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError> {
        let metadata = self.metadata(None).await?;
        let mut brokers: Vec<_> = metadata
            .brokers
            .iter()
            .map(|b| Broker {
                id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let (topics, topic_errors) = self.observe_topics(&metadata, true).await?;
        let mut broker_overrides = BTreeMap::new();
        let mut auto_create_brokers = Vec::new();
        let mut broker_errors = BTreeMap::new();
        // Each broker answers for its own configs, all at once; one that cannot be read (down,
        // unreachable address, not authorized) is named, and the rest of the snapshot stands.
        let answers =
            futures::future::join_all(brokers.iter().map(|b| self.broker_configs(b.id))).await;
        for (b, answer) in brokers.iter().zip(answers) {
            match answer {
                Ok((throttles, auto_create)) => {
                    broker_overrides.insert(b.id, throttles);
                    if auto_create {
                        auto_create_brokers.push(b.id);
                    }
                }
                Err(error) => {
                    broker_errors.insert(b.id, error.to_string());
                }
            }
        }
        Ok(ClusterSnapshot {
            cluster_id: metadata.cluster_id.as_ref().map(|c| c.to_string()),
            brokers,
            topics,
            broker_overrides,
            auto_create_brokers,
            broker_errors,
            topic_errors: topic_errors
                .into_iter()
                .map(|(name, e)| (name, (e.reason(), e.to_string())))
                .collect(),
        })
    }

    async fn describe_topics_each(&self, names: &[String]) -> Result<Described, KafkaError> {
        let metadata = self.metadata(Some(names)).await?;
        let (topics, errors) = self.observe_topics(&metadata, false).await?;
        Ok(Described { topics, errors })
    }

    async fn create_topics(
        &self,
        topics: &[TopicToCreate],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let mut results = BTreeMap::new();
        let mut creatable = Vec::new();
        for t in topics {
            match creatable_topic(t) {
                Ok(c) => creatable.push(c),
                Err(e) => {
                    results.insert(t.topic.name.clone(), Err(e));
                }
            }
        }
        for chunk in creatable.chunks(CREATE_TOPICS_BATCH) {
            if !validate_only {
                let names: Vec<&str> = chunk.iter().map(|c| c.name.0.as_str()).collect();
                info!(count = chunk.len(), topics = ?names, "kafka write: create topics");
            }
            let (response, _) = self
                .call("CreateTopics", (5, 7), Kind::of(validate_only), |_| {
                    CreateTopicsRequest::default()
                        .with_topics(chunk.to_vec())
                        .with_timeout_ms(OPERATION_TIMEOUT_MS)
                        .with_validate_only(validate_only)
                })
                .await?;
            results.extend(per_topic(
                "CreateTopics",
                response
                    .topics
                    .iter()
                    .map(|r| (r.name.0.to_string(), r.error_code, r.error_message.as_ref())),
            ));
        }
        Ok(results)
    }

    async fn grow_topics(&self, growths: &[PartitionGrowth]) -> Result<TopicResults, KafkaError> {
        let mut results = TopicResults::new();
        let topics: Vec<CreatePartitionsTopic> = growths
            .iter()
            .map(|g| {
                let assignments = (!g.assignments.is_empty()).then(|| {
                    g.assignments
                        .iter()
                        .map(|set| {
                            CreatePartitionsAssignment::default()
                                .with_broker_ids(set.iter().map(|b| BrokerId(*b)).collect())
                        })
                        .collect::<Vec<_>>()
                });
                CreatePartitionsTopic::default()
                    .with_name(topic_name(&g.topic))
                    .with_count(g.total)
                    .with_assignments(assignments)
            })
            .collect();
        for chunk in topics.chunks(WRITE_BATCH) {
            let grown: Vec<(&str, i32)> =
                chunk.iter().map(|t| (t.name.0.as_str(), t.count)).collect();
            info!(count = chunk.len(), topics = ?grown, "kafka write: create partitions");
            let (response, _) = self
                .call("CreatePartitions", (1, 3), Kind::Write, |_| {
                    CreatePartitionsRequest::default()
                        .with_topics(chunk.to_vec())
                        .with_timeout_ms(OPERATION_TIMEOUT_MS)
                })
                .await?;
            results.extend(per_topic(
                "CreatePartitions",
                response
                    .results
                    .iter()
                    .map(|r| (r.name.0.to_string(), r.error_code, r.error_message.as_ref())),
            ));
        }
        Ok(results)
    }

    async fn alter_topics_configs(
        &self,
        changes: &[(String, ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let mut results = TopicResults::new();
        for chunk in changes.chunks(WRITE_BATCH) {
            if !validate_only {
                // Keys only: keep logs free of anything that could be sensitive.
                let keys: Vec<(&str, Vec<&String>, &Vec<String>)> = chunk
                    .iter()
                    .map(|(t, c)| (t.as_str(), c.set.keys().collect(), &c.delete))
                    .collect();
                info!(count = chunk.len(), topics = ?keys, "kafka write: alter topic configs (topic, set, delete)");
            }
            let resources: Vec<(i8, String, &ConfigChanges)> = chunk
                .iter()
                .map(|(topic, c)| (RESOURCE_TOPIC, topic.clone(), c))
                .collect();
            results.extend(
                self.incremental_alter(None, &resources, validate_only)
                    .await?,
            );
        }
        Ok(results)
    }

    async fn alter_broker_configs(
        &self,
        broker: i32,
        changes: &ConfigChanges,
    ) -> Result<(), KafkaError> {
        info!(broker, set = ?changes.set, delete = ?changes.delete, "kafka write: alter broker configs");
        let name = broker.to_string();
        self.incremental_alter(
            Some(broker),
            &[(RESOURCE_BROKER, name.clone(), changes)],
            false,
        )
        .await?
        .remove(&name)
        .unwrap_or(Ok(()))
    }

    async fn alter_reassignments(
        &self,
        topic: &str,
        moves: &BTreeMap<i32, Vec<i32>>,
    ) -> Result<(), KafkaError> {
        info!(%topic, ?moves, "kafka write: reassign partitions");
        let partitions: Vec<_> = moves
            .iter()
            .map(|(p, replicas)| {
                ReassignablePartition::default()
                    .with_partition_index(*p)
                    .with_replicas(Some(replicas.iter().map(|b| BrokerId(*b)).collect()))
            })
            .collect();
        let request_topic = ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions);
        let (response, _) = self
            .call("AlterPartitionReassignments", (0, 1), Kind::Write, |_| {
                AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
                    .with_topics(vec![request_topic.clone()])
            })
            .await?;
        check(
            "AlterPartitionReassignments",
            topic,
            response.error_code,
            response.error_message.as_ref(),
        )?;
        for t in &response.responses {
            for p in &t.partitions {
                check(
                    "AlterPartitionReassignments",
                    &format!("{topic}-{}", p.partition_index),
                    p.error_code,
                    p.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    async fn elect_preferred_leaders(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), KafkaError> {
        info!(%topic, ?partitions, "kafka write: elect preferred leaders");
        let tp = ElectTopicPartitions::default()
            .with_topic(topic_name(topic))
            .with_partitions(partitions.to_vec());
        let (response, _) = self
            .call("ElectLeaders", (1, 2), Kind::Write, |_| {
                ElectLeadersRequest::default()
                    .with_election_type(ELECTION_PREFERRED)
                    .with_topic_partitions(Some(vec![tp.clone()]))
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
            })
            .await?;
        check("ElectLeaders", topic, response.error_code, None)?;
        for r in &response.replica_election_results {
            for p in &r.partition_result {
                // Already led by its preferred replica: nothing to do, not an error.
                if p.error_code == ResponseError::ElectionNotNeeded.code() {
                    continue;
                }
                check(
                    "ElectLeaders",
                    &format!("{topic}-{}", p.partition_id),
                    p.error_code,
                    p.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), KafkaError> {
        info!(%topic, "kafka write: delete topic");
        let (response, _) = self
            .call("DeleteTopics", (4, 6), Kind::Write, |version| {
                let request = DeleteTopicsRequest::default().with_timeout_ms(OPERATION_TIMEOUT_MS);
                if version >= 6 {
                    request.with_topics(vec![
                        DeleteTopicState::default().with_name(Some(topic_name(topic))),
                    ])
                } else {
                    request.with_topic_names(vec![topic_name(topic)])
                }
            })
            .await?;
        for result in &response.responses {
            if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
                continue;
            }
            check(
                "DeleteTopics",
                topic,
                result.error_code,
                result.error_message.as_ref(),
            )?;
        }
        Ok(())
    }

    fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }
}
