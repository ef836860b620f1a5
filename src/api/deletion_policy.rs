//! The KafkaCluster's deletion policies: how many deletions go without a person confirming
//! (bulk), and what counts as a topic in use, whose deletion waits for a confirmation naming it.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::util::duration::parse_duration;

/// The bulk-deletion hold: more than `maxTopics` Kafka topics of this cluster being deleted
/// (KafkaTopics with deletionPolicy Delete being deleted now, plus topics deleted within
/// `window`) holds every deletion until the KafkaCluster is annotated
/// `kafka.topic-operator.dev/allow-bulk-deletion-until` with a time in the future.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeletionPolicy {
    /// Deletions allowed within the window without confirmation. Default 5; 0: no hold.
    #[serde(default = "default_bulk_max_topics")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_topics: u32,
    /// The window, as a Go duration (`10m`, `1h`). Default 10m.
    #[serde(default = "default_bulk_window")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub window: String,
}

fn default_bulk_max_topics() -> u32 {
    5
}
fn default_bulk_window() -> String {
    "10m".into()
}

impl Default for BulkDeletionPolicy {
    fn default() -> Self {
        BulkDeletionPolicy {
            max_topics: default_bulk_max_topics(),
            window: default_bulk_window(),
        }
    }
}

impl BulkDeletionPolicy {
    /// The window; a value the pattern lets through but that does not parse counts as the
    /// default's 10 minutes.
    pub fn window(&self) -> Duration {
        parse_duration(&self.window).unwrap_or(Duration::from_secs(600))
    }
}

/// A topic in use is not deleted without a confirmation naming it: its KafkaTopic annotated
/// `kafka.topic-operator.dev/confirm-deletion` with the Kafka topic's name. In use: a consumer
/// group has committed offsets on it, or a record was written within `recentWrites`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InUseDeletionPolicy {
    /// Records written within this long before the deletion (their largest timestamp) hold it,
    /// as a Go duration (`1h`, `30m`). Default 1h; `0s`: recent writes do not hold.
    #[serde(default = "default_recent_writes")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub recent_writes: String,
    /// Committed offsets of any consumer group on the topic hold its deletion. Default true.
    #[serde(default = "default_true")]
    pub committed_offsets: bool,
}

fn default_recent_writes() -> String {
    "1h".into()
}
fn default_true() -> bool {
    true
}

impl Default for InUseDeletionPolicy {
    fn default() -> Self {
        InUseDeletionPolicy {
            recent_writes: default_recent_writes(),
            committed_offsets: true,
        }
    }
}

impl InUseDeletionPolicy {
    /// The recent-writes window; a value the pattern lets through but that does not parse counts
    /// as the default's hour.
    pub fn recent_writes(&self) -> Duration {
        parse_duration(&self.recent_writes).unwrap_or(Duration::from_secs(3600))
    }
}
