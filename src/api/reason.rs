//! Every reason a condition of a KafkaTopic or a KafkaCluster can give, as the status spells it.
//! One list, so a reason cannot be misspelt at one site, and docs/api.md is checked against it.

use std::fmt;

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($(#[$doc])* $name),+
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name)),+
                }
            }
        }
    };
}

reasons! {
    // KafkaTopic Ready
    /// Kafka matches the declaration.
    InSync,
    /// Waiting for the cluster's connection or its first snapshot.
    Connecting,
    ClusterNotFound,
    ClusterUnreachable,
    /// Kafka answers, but a look timed out: the last good view is kept.
    KafkaSlow,
    InvalidSpec,
    InvalidConfig,
    NotEnoughBrokers,
    PartitionDecreaseNotAllowed,
    Reassigning,
    MinIsrRaiseWaiting,
    ConfigNotApplied,
    InternalTopic,
    WriteUnconfirmed,
    /// This replica is not (or no longer surely) the leader: its write was not sent.
    NotLeader,
    Conflict,
    Forbidden,
    AuthenticationFailed,
    TLSFailed,
    /// SASL PLAIN without TLS, which the KafkaCluster does not allow.
    PlaintextPasswordRefused,
    UnsupportedKafkaVersion,
    NotCreated,
    Drifted,
    Creating,
    DeleteFailed,
    NotAuthorized,
    InvalidTopicName,
    InvalidPartitions,
    KafkaError,
    // KafkaTopic Drifted
    DriftDetected,
    Reverted,
    NoDrift,
    // KafkaTopic Degraded
    OfflinePartitions,
    UnderMinIsr,
    UnderReplicated,
    Healthy,
    // KafkaCluster Ready and AutoCreateDisabled
    Connected,
    BrokerUnreadable,
    InvalidSecurity,
    /// A Secret named in `spec.security` lacks the opt-in label: it is not used.
    SecretNotOptedIn,
    Disabled,
    AutoCreateEnabled,
    AllowedByPolicy,
}

impl Reason {
    /// Failures found while applying, which post their own event when they happen (the status
    /// write does not post a second one).
    pub fn is_apply_failure(self) -> bool {
        matches!(
            self,
            Reason::InvalidConfig
                | Reason::InvalidPartitions
                | Reason::InvalidTopicName
                | Reason::NotAuthorized
                | Reason::KafkaError
                | Reason::WriteUnconfirmed
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_DOC: &str = include_str!("../../docs/api.md");

    #[test]
    fn docs_api_md_explains_every_reason() {
        let missing: Vec<&str> = Reason::ALL
            .iter()
            .map(|r| r.as_str())
            .filter(|r| !API_DOC.contains(&format!("{r}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/api.md does not explain {missing:?}"
        );
    }

    #[test]
    fn docs_api_md_lists_no_reason_the_operator_does_not_give() {
        // The KafkaTopic conditions table: every `Word` or `True/Word` in its reason column.
        let table = API_DOC
            .split("### Conditions and what to do")
            .nth(1)
            .and_then(|rest| rest.split("\nEvents:").next())
            .expect("the conditions table of docs/api.md");
        let mut unknown = Vec::new();
        for row in table.lines().filter(|l| l.starts_with('|')) {
            let Some(reasons) = row.split('|').nth(2) else {
                continue;
            };
            for word in reasons.split('`').skip(1).step_by(2) {
                let word = word.rsplit('/').next().unwrap_or(word);
                if word.chars().next().is_some_and(char::is_uppercase)
                    && !Reason::ALL.iter().any(|r| r.as_str() == word)
                {
                    unknown.push(word.to_string());
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "docs/api.md lists {unknown:?}, not a Reason"
        );
    }
}
