//! The topic's records in Kafka's own metadata log, in the order the controller applied them.

#[allow(unused_imports)]
use super::super::*;
use super::*;

/// A partition's state as Kafka's metadata log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionState {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// One record about the topic in Kafka's metadata log, in log order.
#[derive(Debug, Clone)]
pub enum MetaEvent {
    /// A topic config set (Some) or removed (None).
    Config { name: String, value: Option<String> },
    /// A partition created or changed; its whole state after the record.
    Partition { id: i32, state: PartitionState },
}

/// A topic's history in Kafka's metadata log (`__cluster_metadata`), read with Kafka's own
/// DumpLogSegments from a node's log directory. The controller applies records in this order,
/// so it proves the order of a config change and a replica or ISR change exactly.
#[derive(Debug)]
pub struct MetadataHistory {
    pub topic: String,
    pub events: Vec<MetaEvent>,
}

pub(super) fn json_ids(v: &serde_json::Value) -> Option<Vec<i32>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_i64())
            .map(|x| x as i32)
            .collect()
    })
}

impl MetadataHistory {
    /// Reads the metadata log of the first Kafka node whose log holds the topic.
    pub fn load(topic: &str) -> MetadataHistory {
        let env_dir = env_var("KTO_ENV_DIR");
        let mut last = String::new();
        for node in 1..=3 {
            let dir = format!("{env_dir}/kafka-{node}/data/__cluster_metadata-0");
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().to_string_lossy().into_owned())
                .filter(|p| p.ends_with(".log"))
                .collect();
            files.sort();
            if files.is_empty() {
                continue;
            }
            // Kafka's DumpLogSegments, from the jars the environment's kafka-cli.sh uses.
            let script = r#"source "$KTO_ENV_SRC/common.sh" && exec java -Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.level=ERROR -cp "$KAFKA_LIBS/*" kafka.tools.DumpLogSegments --cluster-metadata-decoder --files "$1""#;
            let out = run("bash", &["-c", script, "dump-log", &files.join(",")]);
            if let Some(h) = Self::parse(topic, &out) {
                return h;
            }
            last = dir;
        }
        panic!("topic {topic} not found in Kafka's metadata log (last read {last})");
    }

    pub(super) fn parse(topic: &str, dump: &str) -> Option<MetadataHistory> {
        let mut topic_id: Option<String> = None;
        let mut partitions: BTreeMap<i32, PartitionState> = BTreeMap::new();
        let mut events = vec![];
        for line in dump.lines() {
            let Some(payload) = line.split_once("payload: ").map(|(_, p)| p) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(payload.trim()) else {
                continue;
            };
            let data = &v["data"];
            match v["type"].as_str().unwrap_or_default() {
                "TOPIC_RECORD" if data["name"] == topic => {
                    // A topic of this name created again starts a new history.
                    topic_id = data["topicId"].as_str().map(String::from);
                    partitions.clear();
                    events.clear();
                }
                "CONFIG_RECORD" if data["resourceType"] == 2 && data["resourceName"] == topic => {
                    events.push(MetaEvent::Config {
                        name: data["name"].as_str().unwrap_or_default().to_string(),
                        value: data["value"].as_str().map(String::from),
                    });
                }
                kind @ ("PARTITION_RECORD" | "PARTITION_CHANGE_RECORD")
                    if topic_id.is_some() && data["topicId"].as_str() == topic_id.as_deref() =>
                {
                    let id = data["partitionId"].as_i64().unwrap_or(-1) as i32;
                    let state = partitions.entry(id).or_default();
                    if kind == "PARTITION_RECORD" {
                        *state = PartitionState::default();
                    }
                    // Absent or null in a change record: unchanged.
                    if let Some(r) = json_ids(&data["replicas"]) {
                        state.replicas = r;
                    }
                    if let Some(r) = json_ids(&data["isr"]) {
                        state.isr = r;
                    }
                    if let Some(r) = json_ids(&data["addingReplicas"]) {
                        state.adding = r;
                    }
                    if let Some(r) = json_ids(&data["removingReplicas"]) {
                        state.removing = r;
                    }
                    events.push(MetaEvent::Partition {
                        id,
                        state: state.clone(),
                    });
                }
                _ => {}
            }
        }
        topic_id.map(|_| MetadataHistory {
            topic: topic.to_string(),
            events,
        })
    }

    /// Every partition's state and the topic's overrides just before event `index`.
    pub fn state_before(
        &self,
        index: usize,
    ) -> (BTreeMap<i32, PartitionState>, BTreeMap<String, String>) {
        let mut partitions = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for e in &self.events[..index] {
            match e {
                MetaEvent::Config { name, value } => match value {
                    Some(v) => {
                        configs.insert(name.clone(), v.clone());
                    }
                    None => {
                        configs.remove(name);
                    }
                },
                MetaEvent::Partition { id, state } => {
                    partitions.insert(*id, state.clone());
                }
            }
        }
        (partitions, configs)
    }

    /// Index of the first record setting `config` to `value`.
    pub fn first_set(&self, config: &str, value: &str) -> Option<usize> {
        self.events.iter().position(|e| {
            matches!(e, MetaEvent::Config { name, value: Some(v) } if name == config && v == value)
        })
    }

    /// Index of the first record that removes replicas from a partition (a shrink starting).
    pub fn first_shrink(&self) -> Option<usize> {
        let mut replicas: BTreeMap<i32, usize> = BTreeMap::new();
        self.events.iter().position(|e| match e {
            MetaEvent::Partition { id, state } => {
                let before = replicas.insert(*id, state.replicas.len());
                !state.removing.is_empty() || before.is_some_and(|b| state.replicas.len() < b)
            }
            _ => false,
        })
    }

    /// Every time `min.insync.replicas` was set on the topic, a partition whose ISR was
    /// smaller than the new value (acks=all writes to it would fail): one line each.
    pub fn min_isr_above_isr(&self) -> Vec<String> {
        let mut violations = vec![];
        for (i, e) in self.events.iter().enumerate() {
            if let MetaEvent::Config {
                name,
                value: Some(v),
            } = e
                && name == "min.insync.replicas"
            {
                let n: usize = v.parse().unwrap_or(0);
                let (partitions, _) = self.state_before(i);
                for (id, p) in partitions {
                    if p.isr.len() < n {
                        violations.push(format!(
                            "min.insync.replicas={v} set while partition {id} had ISR {:?} (replicas {:?}, adding {:?})",
                            p.isr, p.replicas, p.adding
                        ));
                    }
                }
            }
        }
        violations
    }
}
