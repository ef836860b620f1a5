use super::*;

#[test]
fn configs_are_set_changed_and_removed_in_one_change() {
    let plan = plan_with(
        &desired(),
        Some(&observed(
            3,
            3,
            &[("retention.ms", "5"), ("cleanup.policy", "compact")],
        )),
        &cluster(3),
        false,
    );
    let expected = ConfigChanges {
        set: [
            ("min.insync.replicas".to_string(), "2".to_string()),
            ("retention.ms".to_string(), "1000".to_string()),
        ]
        .into(),
        delete: vec!["cleanup.policy".into()],
    };
    assert_eq!(plan.actions, vec![Action::AlterConfigs(expected)]);
    let fields: Vec<_> = plan
        .drift
        .iter()
        .map(|d| (d.field.as_str(), d.desired.as_str(), d.observed.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("config.cleanup.policy", UNSET, "compact"),
            ("config.min.insync.replicas", "2", UNSET),
            ("config.retention.ms", "1000", "5"),
        ]
    );
}

#[test]
fn a_declared_value_in_effect_through_a_broker_default_needs_no_override() {
    let mut topic = observed(3, 3, &[("retention.ms", "1000")]);
    topic.configs.insert(
        "min.insync.replicas".into(),
        ObservedConfig {
            value: Some("2".into()),
            is_topic_override: false,
            kind: Default::default(),
        },
    );
    assert_eq!(
        plan_with(&desired(), Some(&topic), &cluster(3), false),
        TopicPlan::default().towards(desired().for_creation().unwrap())
    );
    // The default changes: now it is drift, and the override is set.
    topic.configs.insert(
        "min.insync.replicas".into(),
        ObservedConfig {
            value: Some("1".into()),
            is_topic_override: false,
            kind: Default::default(),
        },
    );
    let plan = plan_with(&desired(), Some(&topic), &cluster(3), false);
    assert_eq!(
        plan.drift,
        vec![Drift {
            field: "config.min.insync.replicas".into(),
            desired: "2".into(),
            observed: "1".into()
        }]
    );
    assert_eq!(
        plan.actions,
        vec![Action::AlterConfigs(ConfigChanges {
            set: [("min.insync.replicas".to_string(), "2".to_string())].into(),
            delete: vec![]
        })]
    );
}

#[test]
fn operator_owned_throttle_configs_are_not_drift_but_are_removed_when_nothing_moves() {
    let mut overrides = IN_SYNC.to_vec();
    overrides.push(("leader.replication.throttled.replicas", "0:1"));
    let plan = plan_with(
        &desired(),
        Some(&observed(3, 3, &overrides)),
        &cluster(3),
        false,
    );
    assert!(plan.drift.is_empty());
    assert_eq!(
        plan.actions,
        vec![Action::Unthrottle(ConfigChanges {
            set: BTreeMap::new(),
            delete: vec!["leader.replication.throttled.replicas".into()]
        })]
    );
}

#[test]
fn values_equal_in_meaning_are_not_drift() {
    let mut d = desired();
    d.configs
        .insert("min.cleanable.dirty.ratio".into(), "1".into());
    d.configs
        .insert("cleanup.policy".into(), "compact, delete".into());
    d.configs.insert("preallocate".into(), "True".into());
    d.configs.insert("retention.ms".into(), "01000".into());
    let mut topic = observed(3, 3, IN_SYNC);
    typed(
        &mut topic,
        "min.cleanable.dirty.ratio",
        "1.0",
        ConfigKind::Double,
    );
    typed(
        &mut topic,
        "cleanup.policy",
        "compact,delete",
        ConfigKind::List,
    );
    typed(&mut topic, "preallocate", "true", ConfigKind::Boolean);
    typed(&mut topic, "retention.ms", "1000", ConfigKind::Integer);
    typed(&mut topic, "min.insync.replicas", "2", ConfigKind::Integer);
    let plan = plan_with(&d, Some(&topic), &cluster(3), false);
    assert_eq!(
        plan,
        TopicPlan::default().towards(d.for_creation().unwrap())
    );
    // A different value is still drift.
    typed(
        &mut topic,
        "min.cleanable.dirty.ratio",
        "0.5",
        ConfigKind::Double,
    );
    let plan = plan_with(&d, Some(&topic), &cluster(3), false);
    assert_eq!(plan.drift.len(), 1, "{:?}", plan.drift);
}

#[test]
fn a_value_kafka_did_not_take_is_not_written_again_until_something_changes() {
    let mut topic = observed(3, 3, IN_SYNC);
    typed(&mut topic, "retention.ms", "5", ConfigKind::Integer);
    let held = Drift {
        field: "config.retention.ms".into(),
        desired: "1000".into(),
        observed: "5".into(),
    };
    let memory = Memory {
        held: vec![held.clone()],
        ..Memory::default()
    };
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.held, vec![held]);
    assert_eq!(plan.drift.len(), 1);
    // Kafka's value changed: written again.
    typed(&mut topic, "retention.ms", "6", ConfigKind::Integer);
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
    assert_eq!(plan.actions.len(), 1);
    assert!(plan.held.is_empty());
}

#[test]
fn an_ignored_key_on_the_topic_is_neither_drift_nor_removed_and_is_listed() {
    let mut topic = observed(3, 3, IN_SYNC);
    typed(&mut topic, "retention.ms", "1000", ConfigKind::Integer);
    typed(
        &mut topic,
        "confluent.tier.enable",
        "true",
        ConfigKind::Boolean,
    );
    typed(&mut topic, "cleanup.policy", "compact", ConfigKind::List);
    // Seen before (same id, nothing kept): an undeclared override is drift, unless ignored.
    let memory = Memory {
        topic_id: topic.topic_id.clone(),
        keep_adopted: true,
        ignored: IgnoredKeys::new(&["confluent.tier.*".into()]),
        ..Memory::default()
    };
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
    let fields: Vec<&str> = plan.drift.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, vec!["config.cleanup.policy"]);
    let [Action::AlterConfigs(changes)] = plan.actions.as_slice() else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(changes.delete, vec!["cleanup.policy".to_string()]);
    assert_eq!(
        plan.ignored,
        BTreeMap::from([("confluent.tier.enable".to_string(), "true".to_string())])
    );
    assert!(plan.kept.is_empty());
    // Without the setting the same override is drift and removed.
    let plain = Memory {
        ignored: IgnoredKeys::default(),
        ..memory
    };
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &plain);
    assert_eq!(plan.drift.len(), 2, "{:?}", plan.drift);
    assert!(plan.ignored.is_empty());
}

#[test]
fn an_ignored_key_at_first_look_is_listed_as_ignored_not_kept() {
    let mut topic = observed(3, 3, IN_SYNC);
    typed(&mut topic, "retention.ms", "1000", ConfigKind::Integer);
    typed(
        &mut topic,
        "confluent.tier.enable",
        "true",
        ConfigKind::Boolean,
    );
    let memory = Memory {
        keep_adopted: true,
        ignored: IgnoredKeys::new(&["confluent.tier.enable".into()]),
        ..Memory::default()
    };
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
    assert!(plan.kept.is_empty(), "{:?}", plan.kept);
    assert_eq!(plan.ignored.len(), 1);
    assert!(plan.actions.is_empty() && plan.drift.is_empty());
}

#[test]
fn a_declaration_of_an_ignored_key_writes_nothing_and_says_why() {
    let memory = Memory {
        ignored: IgnoredKeys::new(&["retention.ms".into()]),
        ..Memory::default()
    };
    // Neither created nor changed.
    for observed in [None, Some(observed(3, 3, IN_SYNC))] {
        let plan = plan_topic(&desired(), observed.as_ref(), &cluster(3), &memory);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        let blocker = plan.blocker.unwrap();
        assert_eq!(blocker.reason, crate::api::Reason::InvalidSpec);
        assert!(
            blocker.message.contains("retention.ms"),
            "{}",
            blocker.message
        );
    }
}
