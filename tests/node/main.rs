//! The operator run the way users run it (issue 11): the image `make image` builds, imported into
//! the nodes' containerd, installed with `helm install` from deploy/helm, running as two Pods on
//! real kubelets (tests/env/node-up.sh), reaching the apiserver with its ServiceAccount's token.
//! releases.rs: two releases side by side, each with its own selector; crd_upgrade.rs: `helm
//! upgrade` from the previous chart upgrades the CRDs.
//!
//! It needs the node stage, which `make test` starts after the main run (the controller manager
//! would change what the other tests see), so it is ignored in the main run:
//!   tests/env/node-up.sh && cargo test --test node -- --ignored
//! The Pods use the host's network (node-up.sh says why): the operator reaches the apiserver at
//! 127.0.0.1 (KUBERNETES_SERVICE_HOST/PORT through the chart's extraEnv, since no kube-proxy routes
//! the `kubernetes` Service) and Kafka at the environment's 127.0.0.1 listeners. The tests take
//! turns (support::serial): they share the two nodes' ports and the cluster's CRDs.

#[path = "../common/mod.rs"]
mod common;
mod crd_upgrade;
mod releases;
mod support;

use std::collections::BTreeSet;

use common::{kafka_cli, kubectl, kubectl_apply, unique};
use support::*;

/// Whatever the test runs, the apiserver's own count of what it dispatched to a priority level
/// through a FlowSchema (apiserver_flowcontrol_dispatched_requests_total).
fn dispatched_by_flow_schema(flow_schema: &str, priority_level: &str) -> f64 {
    let wanted = [
        format!("flow_schema=\"{flow_schema}\""),
        format!("priority_level=\"{priority_level}\""),
    ];
    kubectl(&["get", "--raw", "/metrics"])
        .lines()
        .filter(|l| l.starts_with("apiserver_flowcontrol_dispatched_requests_total{"))
        .filter(|l| wanted.iter().all(|w| l.contains(w.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
#[ignore = "needs the node stage: tests/env/node-up.sh (make test runs it after the main run)"]
fn helm_install_runs_two_replicas_on_real_nodes_with_failover_upgrade_and_uninstall() {
    let _serial = serial();
    let image_id = import_image();
    let ns = unique("kto-node");
    let topics_ns = unique("kto-node-topics");
    let release = Release::new("kto", &ns, http_port(0));
    let name = release.fullname();
    let mut cleanup = Cleanup {
        releases: vec![release.clone()],
        topic_namespaces: vec![topics_ns.clone()],
        namespaces: vec![ns.clone(), topics_ns.clone()],
        ..Default::default()
    };
    let sa_user = release.service_account_user();

    // ---- helm install, as a user would; --wait returns once the Deployment is available.
    // --take-ownership: the CRDs are there already, unowned (the main run applied crds/) or kept
    // by an earlier release; this release installs them (crds.install defaults to true).
    let chart = chart();
    release.helm(
        "install",
        &chart,
        &["--create-namespace", "--take-ownership"],
    );

    // ---- both replicas Running and Ready, one per node, probes on /healthz and /readyz
    let first = wait_two_ready(&release, "both replicas Running and Ready");
    let deployment = get_json(&["deployment", "-n", &ns, &name]);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "localhost/kafka-topic-operator:dev");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for p in &first {
        // What the kubelet's probes ask, asked directly: the Pod's address is its node's.
        // Waited for, not asserted once: a replica that has just won the lease answers 503 on
        // /readyz until its caches are synced (a second or so), by design (src/main.rs).
        wait_for(
            &format!("{} to answer 200 on /healthz and /readyz", p.name),
            WAIT,
            || match (
                http_status(&p.ip, release.port, "/healthz"),
                http_status(&p.ip, release.port, "/readyz"),
            ) {
                (Ok(200), Ok(200)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        let pod = get_json(&["pod", "-n", &ns, &p.name]);
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["restartCount"], 0, "{p:?} restarted: {status}");
        // The very image `make image` built, not an older one under the same name.
        assert_eq!(status["imageID"], image_id.as_str(), "{p:?}");
        // The projected ServiceAccount token is what in-cluster config reads.
        let mounts = pod["spec"]["containers"][0]["volumeMounts"].to_string();
        assert!(
            mounts.contains("/var/run/secrets/kubernetes.io/serviceaccount"),
            "{mounts}"
        );
        assert_eq!(pod["spec"]["serviceAccountName"], name.as_str());
    }

    // ---- exactly one leader: the Lease names one replica, and only that one says it leads
    let leader = wait_for("a Lease holder", WAIT, || {
        lease_holder(&ns, &name).ok_or_else(|| "no holder".to_string())
    });
    let names: BTreeSet<String> = first.iter().map(|p| p.name.clone()).collect();
    assert!(
        names.contains(&leader),
        "lease held by {leader}, not one of {names:?}"
    );
    let standby = first.iter().find(|p| p.name != leader).unwrap().clone();
    wait_for("the standby to say it stands by", WAIT, || {
        let l = logs(&ns, &standby.name);
        if l.contains("another replica leads") {
            Ok(())
        } else {
            Err(l)
        }
    });
    // The Lease is written a moment before the leader logs it: waited for, not assumed.
    wait_for("the leader to say it leads", WAIT, || {
        let l = logs(&ns, &leader);
        if l.contains("became the leader") {
            Ok(())
        } else {
            Err(l)
        }
    });
    assert!(!logs(&ns, &standby.name).contains("became the leader"));

    // ---- the Lease calls go through the chart's FlowSchema to the leader-election priority
    // level (the apiserver's own count of what it dispatched there), not the workload level the
    // operator's other traffic crowds.
    wait_for(
        "Lease requests dispatched through the chart's FlowSchema",
        WAIT,
        || {
            let n =
                dispatched_by_flow_schema(&format!("{name}-leader-election"), "leader-election");
            if n > 0.0 { Ok(()) } else { Err(format!("{n}")) }
        },
    );

    // ---- a KafkaTopic reconciled by the in-cluster operator, with its ServiceAccount's rights
    kubectl(&["create", "namespace", &topics_ns]);
    kubectl_apply(&topics_ns, &kafka_cluster_yaml("kafka", "")).unwrap();
    let topic1 = unique("node-one");
    kubectl_apply(&topics_ns, &topic_yaml("one", &topic1, "kafka", "")).unwrap();
    wait_topic_ready(&topics_ns, "one");
    let described = kafka_cli::describe(&topic1).expect("topic created in Kafka");
    assert_eq!(described.partitions.len(), 2);
    let reason = wait_status_write_by(&sa_user, "kafkatopics", &topics_ns, "one");
    assert!(
        reason.contains(&format!("ServiceAccount \"{name}/{ns}\"")),
        "allowed by: {reason}"
    );

    // ---- the leader's Pod deleted: the standby takes over and reconciles a new KafkaTopic.
    // The leader's node is cordoned first, as a drain does: else the Deployment's replacement Pod
    // may start there before the standby's next attempt and win the Lease instead.
    let leader_node = first
        .iter()
        .find(|p| p.name == leader)
        .unwrap()
        .node
        .clone();
    kubectl(&["cordon", &leader_node]);
    kubectl(&["delete", "pod", "-n", &ns, &leader, "--wait=false"]);
    wait_for(
        "the standby to take the Lease",
        WAIT,
        || match lease_holder(&ns, &name) {
            Some(h) if h == standby.name => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let topic2 = unique("node-two");
    kubectl_apply(&topics_ns, &topic_yaml("two", &topic2, "kafka", "")).unwrap();
    wait_topic_ready(&topics_ns, "two");
    assert!(
        kafka_cli::describe(&topic2).is_some(),
        "{topic2} not in Kafka"
    );
    wait_status_write_by(&sa_user, "kafkatopics", &topics_ns, "two");
    assert!(logs(&ns, &standby.name).contains("became the leader"));
    kubectl(&["uncordon", &leader_node]);
    let after_failover = wait_two_ready(&release, "the Deployment to replace the deleted Pod");
    assert!(after_failover.iter().all(|p| p.name != leader));
    assert_eq!(
        lease_holder(&ns, &name).as_deref(),
        Some(standby.name.as_str())
    );

    // ---- helm upgrade: a changed value rolls both Pods, one at a time, and the new ones lead
    release.helm("upgrade", &chart, &["--set-string=resyncInterval=7s"]);
    let upgraded = wait_two_ready(&release, "both upgraded replicas Running and Ready");
    let before: BTreeSet<&str> = after_failover.iter().map(|p| p.name.as_str()).collect();
    assert!(
        upgraded.iter().all(|p| !before.contains(p.name.as_str())),
        "{upgraded:?}"
    );
    let args = get_json(&["deployment", "-n", &ns, &name])["spec"]["template"]["spec"]["containers"]
        [0]["args"]
        .to_string();
    assert!(args.contains("--resync-interval=7s"), "{args}");
    let new_names: BTreeSet<String> = upgraded.iter().map(|p| p.name.clone()).collect();
    wait_for(
        "an upgraded replica to hold the Lease",
        WAIT,
        || match lease_holder(&ns, &name) {
            Some(h) if new_names.contains(&h) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // The new leader works: growing a topic's partitions reaches Kafka.
    kubectl(&[
        "patch",
        "kafkatopic",
        "-n",
        &topics_ns,
        "one",
        "--type=merge",
        "-p",
        r#"{"spec":{"partitions":3}}"#,
    ]);
    wait_for(
        "partitions grown to 3 by the upgraded operator",
        WAIT,
        || match kafka_cli::describe(&topic1) {
            Some(t) if t.partitions.len() == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // ---- helm uninstall: the release's objects and Pods are gone
    kubectl(&[
        "delete",
        "kafkatopics.kafka.topic-operator.dev",
        "--all",
        "-n",
        &topics_ns,
        "--timeout=120s",
    ]);
    release.uninstall();
    cleanup.releases.clear();
    wait_for("the operator's Pods to be gone", WAIT, || {
        let left = pods(&release);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    for (kind, name) in [
        ("deployment", name.clone()),
        ("serviceaccount", name.clone()),
        ("poddisruptionbudget", name.clone()),
        ("service", format!("{name}-metrics")),
    ] {
        assert!(
            get_opt(&[kind, "-n", &ns, &name]).is_none(),
            "{kind} {name} left behind"
        );
    }
    for (kind, name) in [
        ("clusterrole", name.clone()),
        ("clusterrolebinding", name.clone()),
        ("flowschema", format!("{name}-leader-election")),
    ] {
        assert!(
            get_opt(&[kind, &name]).is_none(),
            "{kind} {name} left behind"
        );
    }
    assert!(helm(&["list", "-n", &ns, "-q"]).trim().is_empty());
    // The CRDs stay (helm.sh/resource-policy: keep): deleting them would delete every KafkaTopic.
    for crd in [
        "kafkatopics.kafka.topic-operator.dev",
        "kafkaclusters.kafka.topic-operator.dev",
    ] {
        let kept = get_opt(&["crd", crd]).unwrap_or_else(|| panic!("{crd} deleted by uninstall"));
        assert_eq!(
            kept["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
            "{crd}"
        );
    }
    // helm deletes the RBAC objects while the Pods are still stopping, so the last leader's
    // release of its Lease is forbidden (docs/deployment.md): the Lease, which the operator and
    // not the chart made, stays behind naming a Pod that no longer runs, and a new installation
    // takes over once it expires.
    let holder = lease_holder(&ns, &name);
    assert!(
        holder.as_ref().is_none_or(|h| new_names.contains(h)),
        "Lease held by {holder:?} after uninstall"
    );
}
