use super::*;

#[test]
fn a_lower_replication_factor_in_kafka_moves_replicas_with_throttles() {
    let plan = plan_with(
        &desired(),
        Some(&observed(3, 1, IN_SYNC)),
        &cluster(3),
        false,
    );
    assert_eq!(
        plan.drift,
        vec![Drift {
            field: "replicationFactor".into(),
            desired: "3".into(),
            observed: "1".into()
        }]
    );
    let [
        Action::Throttle {
            rate: 1000,
            brokers,
            replicas,
        },
        Action::Reassign { moves },
    ] = plan.actions.as_slice()
    else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(brokers, &vec![1, 2, 3]);
    assert_eq!(replicas.set[LEADER_THROTTLED_REPLICAS], "0:1,1:1,2:1");
    assert_eq!(moves.len(), 3);
    for set in moves.values() {
        assert_eq!(set[0], 1, "the leader stays first");
        assert_eq!(set.len(), 3);
    }
    let p = plan.reassignment.unwrap();
    assert_eq!((p.done, p.remaining, p.moving, p.waiting), (0, 3, 3, 0));
}

#[test]
fn partitions_are_added_after_the_existing_ones_reach_the_new_replication_factor() {
    // The incident's topic: 1 partition, RF 1 -> 2 partitions, RF 3.
    let mut d = desired();
    d.partitions = Some(2);
    let plan = plan_with(&d, Some(&observed(1, 1, IN_SYNC)), &cluster(3), false);
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::CreatePartitions { .. })),
        "{:?}",
        plan.actions
    );
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. }))
    );
    let plan = plan_with(&d, Some(&observed(1, 3, IN_SYNC)), &cluster(3), true);
    let Some(Action::CreatePartitions {
        total: 2,
        assignments,
    }) = plan.actions.first()
    else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(assignments[0].len(), 3);
}

#[test]
fn moves_respect_the_budget_and_skip_partitions_already_moving() {
    let mut topic = observed(3, 1, IN_SYNC);
    topic.partitions[0].replicas = vec![1, 2, 3];
    topic.partitions[0].adding = vec![2, 3];
    let mut view = cluster(3);
    view.move_budget = 1;
    let plan = plan_with(&desired(), Some(&topic), &view, false);
    let moves = reassignment(&plan);
    assert_eq!(
        moves.keys().collect::<Vec<_>>(),
        vec![&1],
        "partition 0 is moving; budget allows one more"
    );
    let p = plan.reassignment.unwrap();
    assert_eq!((p.moving, p.waiting), (2, 1));

    view.move_budget = 0;
    // The move under way lost its broker rates (removed by someone else): they come back.
    let plan = plan_with(&desired(), Some(&topic), &view, false);
    assert_eq!(
        plan.actions,
        vec![Action::Throttle {
            rate: 1000,
            brokers: vec![1, 2, 3],
            replicas: ConfigChanges::default()
        }]
    );
    for b in 1..=3 {
        view.broker_overrides.insert(
            b,
            BROKER_THROTTLE_CONFIGS
                .iter()
                .map(|k| (k.to_string(), "1000".to_string()))
                .collect(),
        );
    }
    let plan = plan_with(&desired(), Some(&topic), &view, false);
    assert!(
        plan.actions.is_empty(),
        "no budget, nothing sent: {:?}",
        plan.actions
    );
    assert!(plan.reassignment.is_some());
}

#[test]
fn a_finished_move_unthrottles_and_elects_preferred_leaders() {
    let mut topic = observed(3, 3, IN_SYNC);
    topic.configs.insert(
        "follower.replication.throttled.replicas".into(),
        ObservedConfig {
            value: Some("0:2".into()),
            is_topic_override: true,
            kind: Default::default(),
        },
    );
    topic.partitions[1].leader = 3;
    let plan = plan_with(&desired(), Some(&topic), &cluster(3), true);
    assert_eq!(
        plan.actions,
        vec![
            Action::Unthrottle(ConfigChanges {
                set: BTreeMap::new(),
                delete: vec!["follower.replication.throttled.replicas".into()]
            }),
            Action::ElectLeaders {
                partitions: vec![1]
            },
        ]
    );
    assert!(plan.reassignment.is_none());
    // Without a move behind it, a leader elsewhere is left to Kafka's own balancing.
    topic
        .configs
        .remove("follower.replication.throttled.replicas");
    assert!(
        plan_with(&desired(), Some(&topic), &cluster(3), false)
            .actions
            .is_empty()
    );
}

#[test]
fn a_replication_factor_above_the_live_brokers_sends_nothing() {
    let mut d = desired();
    d.replication_factor = Some(4);
    let plan = plan_with(&d, Some(&observed(3, 3, IN_SYNC)), &cluster(3), false);
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.blocker.unwrap().message,
        "replication factor 4 needs 4 live brokers; the cluster has 3 (ids 1, 2, 3)"
    );
}

#[test]
fn shrinking_keeps_the_leader() {
    let mut d = desired();
    d.replication_factor = Some(2);
    d.min_in_sync_replicas = Some(1);
    let mut topic = observed(
        1,
        3,
        &[("retention.ms", "1000"), ("min.insync.replicas", "1")],
    );
    topic.partitions[0].leader = 2;
    let plan = plan_with(&d, Some(&topic), &cluster(3), false);
    let moves = reassignment(&plan);
    assert_eq!(moves[&0][0], 2);
    assert_eq!(moves[&0].len(), 2);
}

#[test]
fn min_isr_is_raised_only_once_every_partition_has_that_many_in_sync_replicas() {
    // The incident's fix: replication factor 1 -> 3 and min.insync.replicas 1 -> 2.
    let one = &[("retention.ms", "1000"), ("min.insync.replicas", "1")];
    let plan = plan_with(&desired(), Some(&observed(3, 1, one)), &cluster(3), false);
    assert_eq!(min_isr_set(&plan), None, "{:?}", plan.actions);
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. }))
    );
    let waiting = plan.min_isr_waiting.expect("the raise waits");
    assert_eq!(waiting.reason, "MinIsrRaiseWaiting");
    assert!(waiting.message.contains("stays 1"), "{}", waiting.message);
    assert!(
        plan.drift
            .iter()
            .any(|d| d.field == "config.min.insync.replicas")
    );

    // Moving: replicas added but not yet in sync. Still waits.
    let mut moving = observed(3, 3, one);
    for p in &mut moving.partitions {
        p.isr = vec![1];
        p.adding = vec![2, 3];
    }
    let plan = plan_with(&desired(), Some(&moving), &cluster(3), true);
    assert_eq!(min_isr_set(&plan), None, "{:?}", plan.actions);
    // One partition behind after the move: still waits.
    let mut behind = observed(3, 3, one);
    behind.partitions[2].isr = vec![1];
    let plan = plan_with(&desired(), Some(&behind), &cluster(3), true);
    assert_eq!(min_isr_set(&plan), None);
    assert!(plan.min_isr_waiting.unwrap().message.contains("[2]"));
    // Every partition has 3 in sync: now it is raised.
    let plan = plan_with(&desired(), Some(&observed(3, 3, one)), &cluster(3), true);
    assert_eq!(min_isr_set(&plan).map(String::as_str), Some("2"));
    assert!(plan.min_isr_waiting.is_none());
}

#[test]
fn min_isr_is_lowered_before_a_shrink_starts() {
    let mut d = desired();
    d.replication_factor = Some(2);
    d.min_in_sync_replicas = Some(1);
    let three = &[("retention.ms", "1000"), ("min.insync.replicas", "3")];
    let plan = plan_with(&d, Some(&observed(3, 3, three)), &cluster(3), false);
    assert_eq!(min_isr_set(&plan).map(String::as_str), Some("1"));
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. })),
        "no shrink while min.insync.replicas 3 is in effect: {:?}",
        plan.actions
    );
    assert_eq!(plan.reassignment.as_ref().unwrap().waiting, 3);
    let one = &[("retention.ms", "1000"), ("min.insync.replicas", "1")];
    let plan = plan_with(&d, Some(&observed(3, 3, one)), &cluster(3), false);
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. }))
    );
}
