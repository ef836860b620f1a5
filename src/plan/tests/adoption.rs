use super::*;

#[test]
fn adoption_keeps_undeclared_overrides_and_later_ones_are_drift() {
    let mut topic = observed(3, 3, IN_SYNC);
    typed(&mut topic, "cleanup.policy", "compact", ConfigKind::List);
    let first_look = Memory {
        keep_adopted: true,
        ..Memory::default()
    };
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &first_look);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert_eq!(plan.kept["cleanup.policy"], "compact");

    // Remembered for this topic id: still kept; an override added later is drift.
    let remembered = Memory {
        keep_adopted: true,
        topic_id: topic.topic_id.clone(),
        kept: ["cleanup.policy".to_string()].into(),
        ..Memory::default()
    };
    typed(&mut topic, "segment.ms", "100000", ConfigKind::Integer);
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &remembered);
    assert_eq!(
        plan.actions,
        vec![Action::AlterConfigs(ConfigChanges {
            set: BTreeMap::new(),
            delete: vec!["segment.ms".into()]
        })]
    );
    assert!(plan.kept.contains_key("cleanup.policy"));

    // Policy Remove: undeclared overrides are drift from the start.
    let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &Memory::default());
    let Some(Action::AlterConfigs(c)) = plan.actions.first() else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(c.delete, vec!["cleanup.policy", "segment.ms"]);
}

#[test]
fn kafkas_internal_topics_are_never_planned() {
    let mut topic = observed(3, 3, &[("cleanup.policy", "compact")]);
    topic.is_internal = true;
    let plan = plan_with(&desired(), Some(&topic), &cluster(3), false);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.blocker.unwrap().reason, "InternalTopic");
}

#[test]
fn adopting_with_a_spec_naming_only_the_cluster_changes_nothing() {
    let spec_only_cluster = crate::fixtures::undeclared("orders");
    let mut topic = observed(1, 2, &[("min.insync.replicas", "2"), ("retention.ms", "5")]);
    topic.topic_id = Some("id".into());
    for keep_adopted in [true, false] {
        let memory = Memory {
            keep_adopted,
            ..Memory::default()
        };
        let plan = plan_topic(&spec_only_cluster, Some(&topic), &cluster(3), &memory);
        let target = plan.target.as_ref().unwrap();
        assert_eq!((target.partitions, target.replication_factor), (1, 2));
        assert_eq!(target.sources.partitions, ValueSource::Kafka);
        assert_eq!(target.sources.min_in_sync_replicas, ValueSource::Kafka);
        assert!(plan.blocker.is_none());
        assert!(
            plan.drift
                .iter()
                .all(|d| d.field != "partitions" && d.field != "replicationFactor"),
            "{:?}",
            plan.drift
        );
        // min.insync.replicas is never drift while undeclared, whatever the adoption policy.
        assert!(
            plan.drift
                .iter()
                .all(|d| d.field != "config.min.insync.replicas"),
            "{:?}",
            plan.drift
        );
        if keep_adopted {
            assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        }
    }
}

#[test]
fn adopting_with_some_fields_changes_only_those() {
    let mut some = crate::fixtures::undeclared("orders");
    some.partitions = Some(2);
    let topic = observed(1, 2, &[]);
    let plan = plan_with(&some, Some(&topic), &cluster(3), false);
    assert!(
        matches!(plan.actions.as_slice(), [Action::CreatePartitions { total: 2, assignments }] if assignments[0].len() == 2),
        "{:?}",
        plan.actions
    );
    let mut rf_only = crate::fixtures::undeclared("orders");
    rf_only.replication_factor = Some(3);
    let plan = plan_with(&rf_only, Some(&topic), &cluster(3), false);
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::CreatePartitions { .. } | Action::AlterConfigs(_))),
        "{:?}",
        plan.actions
    );
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. }))
    );
}

#[test]
fn a_change_of_topic_defaults_changes_no_topic_created_with_the_old_ones() {
    let mut d = crate::fixtures::undeclared("orders");
    // Created with 3 / 3 / 2; the KafkaCluster now says 6 / 2 / 1.
    d.creation_defaults = crate::model::CreationDefaults {
        partitions: 6,
        replication_factor: 2,
        min_in_sync_replicas: 1,
    };
    let mut topic = observed(3, 3, &[("min.insync.replicas", "2")]);
    topic.topic_id = Some("id".into());
    let created_with_defaults = ValueSources {
        partitions: ValueSource::TopicDefaults,
        replication_factor: ValueSource::TopicDefaults,
        min_in_sync_replicas: ValueSource::TopicDefaults,
    };
    let memory = Memory {
        topic_id: Some("id".into()),
        sources: Some(created_with_defaults),
        keep_adopted: true,
        ..Memory::default()
    };
    let plan = plan_topic(&d, Some(&topic), &cluster(3), &memory);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert_eq!(plan.target.unwrap().sources, created_with_defaults);
    // A topic created now gets the new defaults.
    let plan = plan_topic(&d, None, &cluster(3), &Memory::default());
    let Some(Action::CreateTopic { topic, assignments }) = plan.actions.first() else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(
        (
            topic.partitions,
            topic.replication_factor,
            topic.min_in_sync_replicas
        ),
        (6, 2, Some(1))
    );
    assert!(assignments.iter().all(|set| set.len() == 2));
}

#[test]
fn a_declared_min_isr_above_the_replication_factor_kafka_has_blocks_everything() {
    let mut d = crate::fixtures::undeclared("orders");
    d.min_in_sync_replicas = Some(2);
    d.partitions = Some(4);
    let plan = plan_with(&d, Some(&observed(1, 1, &[])), &cluster(3), false);
    assert!(plan.actions.is_empty());
    let blocker = plan.blocker.unwrap();
    assert_eq!(blocker.reason, "InvalidSpec");
    assert!(
        blocker
            .message
            .contains("replicationFactor is not declared"),
        "{}",
        blocker.message
    );
}
