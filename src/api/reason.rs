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
    /// The KafkaTopic's paused annotation holds every write to its topic.
    Paused,
    /// The deletion waits for a bulk deletion on its KafkaCluster to be confirmed.
    DeletionHeld,
    /// The deletion waits for its KafkaTopic to confirm deleting a topic in use.
    TopicInUse,
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
    // KafkaCluster DeletionsHeld
    /// More deletions than policy.bulkDeletion allows: every deletion waits for confirmation.
    BulkDeletion,
    NoBulkDeletion,
}

/// What `Ready=False` with a reason tells the tools that wait for a resource to settle (kstatus,
/// which Flux's health checks and `kubectl`-based pipelines use): whether to keep waiting or to
/// report a failure now. Shown as the conditions `Reconciling` and `Stalled` beside `Ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settling {
    /// The operator is getting there, or waits for something that passes without anyone acting
    /// (Kafka answering again, a move finishing): `Reconciling=True`, kstatus InProgress.
    Reconciling,
    /// Nothing changes until someone changes the declaration, another object, Kafka or the
    /// credentials: `Stalled=True`, kstatus Failed at once.
    Stalled,
    /// Not a reason `Ready=False` gives: Ready=True reasons, and the other conditions' reasons.
    NotAReadyFailure,
}

impl Reason {
    /// The one table of what each reason of `Ready=False` means to a tool that waits; docs/api.md
    /// ("Waiting tools: Reconciling and Stalled") is checked against it.
    pub fn settling(self) -> Settling {
        use Reason::*;
        use Settling::*;
        match self {
            // Passes on its own: a first look, a creation Kafka has not shown yet, replicas
            // moving, an ISR catching up, Kafka answering again (retried with backoff), a
            // lost answer re-read, a leadership change, a deletion retried.
            Connecting | Creating | Reassigning | MinIsrRaiseWaiting | ClusterUnreachable
            | KafkaSlow | WriteUnconfirmed | NotLeader | DeleteFailed => Reconciling,
            // Kafka's other errors: mostly transient (a controller moving), retried with backoff.
            KafkaError => Reconciling,
            // Someone must act: fix the declaration, create the KafkaCluster, add brokers or
            // bring one back, delete the older KafkaTopic, allow the namespace, fix the
            // credentials or ACLs, create the topic or switch to Enforce (Observe mode).
            ClusterNotFound
            | InvalidSpec
            | InvalidConfig
            | NotEnoughBrokers
            | PartitionDecreaseNotAllowed
            | ConfigNotApplied
            | InternalTopic
            | Conflict
            | Forbidden
            | AuthenticationFailed
            | TLSFailed
            | PlaintextPasswordRefused
            | UnsupportedKafkaVersion
            | NotCreated
            | Drifted
            | NotAuthorized
            | InvalidTopicName
            | InvalidPartitions
            | InvalidSecurity
            | SecretNotOptedIn => Stalled,
            // A person's deliberate hold: nothing changes until someone lifts it. kstatus has no
            // "suspended"; InProgress would make a pipeline wait out its timeout for something
            // that does not pass by itself, and Current would say an unapplied declaration was
            // applied. Stalled says at once why, in the message.
            Paused => Stalled,
            // Held until a person confirms the bulk deletion on the KafkaCluster.
            DeletionHeld => Stalled,
            // Held until a person names the topic in a confirmation.
            TopicInUse => Stalled,
            InSync | Connected | BrokerUnreadable | DriftDetected | Reverted | NoDrift
            | OfflinePartitions | UnderMinIsr | UnderReplicated | Healthy | Disabled
            | AutoCreateEnabled | AllowedByPolicy | BulkDeletion | NoBulkDeletion => {
                NotAReadyFailure
            }
        }
    }

    /// The reason spelt `text`, if it is one.
    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == text)
    }

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

    /// The reasons named in docs/api.md's row for `condition` of the "Waiting tools" table.
    fn documented_as(condition: &str) -> Vec<String> {
        let table = API_DOC
            .split("## Waiting tools")
            .nth(1)
            .expect("the Waiting tools section of docs/api.md");
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{condition}=True`")))
            .unwrap_or_else(|| panic!("docs/api.md has no row for {condition}=True"));
        let reasons = row.split('|').nth(3).expect("a reasons column");
        reasons
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    #[test]
    fn docs_api_md_says_which_reasons_stall_and_which_are_waited_for_as_the_code_does() {
        for (condition, settling) in [
            ("Reconciling", Settling::Reconciling),
            ("Stalled", Settling::Stalled),
        ] {
            let documented = documented_as(condition);
            let coded: Vec<String> = Reason::ALL
                .iter()
                .filter(|r| r.settling() == settling)
                .map(|r| r.to_string())
                .collect();
            let missing: Vec<&String> = coded.iter().filter(|r| !documented.contains(r)).collect();
            let extra: Vec<&String> = documented.iter().filter(|r| !coded.contains(r)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{condition}: docs/api.md lacks {missing:?} and wrongly lists {extra:?}"
            );
        }
    }

    #[test]
    fn a_spec_that_cannot_succeed_stalls_and_a_transient_wait_does_not() {
        // The states of the Flux issue: a stuck topic must read Failed, a slow one InProgress.
        for stuck in [
            Reason::InvalidSpec,
            Reason::NotEnoughBrokers,
            Reason::ClusterNotFound,
            Reason::Conflict,
            Reason::Forbidden,
            Reason::Drifted,
            Reason::SecretNotOptedIn,
        ] {
            assert_eq!(stuck.settling(), Settling::Stalled, "{stuck}");
        }
        for slow in [
            Reason::Creating,
            Reason::Reassigning,
            Reason::ClusterUnreachable,
            Reason::Connecting,
        ] {
            assert_eq!(slow.settling(), Settling::Reconciling, "{slow}");
        }
        // Reasons Ready=True gives, and other conditions' reasons, are not failures of Ready.
        for not_a_failure in [Reason::InSync, Reason::Connected, Reason::Healthy] {
            assert_eq!(not_a_failure.settling(), Settling::NotAReadyFailure);
        }
    }

    #[test]
    fn every_reason_parses_back_from_its_spelling() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Reason::parse("NoSuchReason"), None);
    }
}
