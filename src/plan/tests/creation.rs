use super::*;

#[test]
fn a_missing_topic_is_created_with_everything_declared_and_our_placement() {
    let plan = plan_with(&desired(), None, &cluster(3), false);
    let [Action::CreateTopic { topic, assignments }] = plan.actions.as_slice() else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(topic, &desired().for_creation().unwrap());
    assert_eq!(assignments.len(), 3);
    let leaders: BTreeSet<i32> = assignments.iter().map(|a| a[0]).collect();
    assert_eq!(leaders.len(), 3, "leaders spread: {assignments:?}");
    assert!(plan.drift.is_empty() && plan.blocker.is_none());
}

#[test]
fn a_missing_topic_with_too_few_brokers_is_blocked() {
    let plan = plan_with(&desired(), None, &cluster(2), false);
    assert!(plan.actions.is_empty());
    let b = plan.blocker.unwrap();
    assert_eq!(b.reason, "NotEnoughBrokers");
    assert!(b.message.contains("ids 1, 2"), "{}", b.message);
}

#[test]
fn an_in_sync_topic_needs_nothing() {
    assert_eq!(
        plan_with(
            &desired(),
            Some(&observed(3, 3, IN_SYNC)),
            &cluster(3),
            false
        ),
        TopicPlan::default().towards(desired().for_creation().unwrap())
    );
}

#[test]
fn partitions_grow_with_our_placement() {
    let plan = plan_with(
        &desired(),
        Some(&observed(2, 3, IN_SYNC)),
        &cluster(3),
        false,
    );
    let [
        Action::CreatePartitions {
            total: 3,
            assignments,
        },
    ] = plan.actions.as_slice()
    else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(assignments.len(), 1);
    assert_eq!(assignments[0].iter().collect::<BTreeSet<_>>().len(), 3);
    assert_eq!(plan.drift[0].field, "partitions");
}

#[test]
fn more_partitions_in_kafka_blocks_everything() {
    let plan = plan_with(
        &desired(),
        Some(&observed(5, 1, &[("retention.ms", "9")])),
        &cluster(3),
        false,
    );
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.blocker.unwrap().reason, "PartitionDecreaseNotAllowed");
    assert!(plan.drift.iter().any(|d| d.field == "config.retention.ms"));
}
