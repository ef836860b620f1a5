//! Step 7a: how much of the apply's time is the operator's apiserver traffic. With the operator
//! stopped, the same N KafkaTopics are applied twice more, each time into a namespace of their
//! own (nothing reconciles them): once while rdkafka creates N other topics of the same shape at
//! the pace the operator's run applied them (the brokers' work unchanged, the operator's status
//! and event writes gone), and once with nothing else running. The first apply of the run (the
//! operator running) minus the first of these is the share of the operator's own writes.

use super::*;

/// The two applies and the table comparing them with the operator's run (`with_operator`: the
/// duration of the apply while the operator created the topics; `served`: the apiserver's
/// writes from the start of the apply to all Ready).
pub async fn apply_share(
    cx: &mut Ctx,
    with_operator: Duration,
    served: Option<BTreeMap<String, f64>>,
) -> Result<()> {
    let with_operator = Applied {
        took: with_operator,
        served,
    };
    let n = cx.settings.topics;
    let beside_ns = format!("{}-beside", cx.ns);
    let alone_ns = format!("{}-alone", cx.ns);
    for ns in [&beside_ns, &alone_ns] {
        create_run_namespace(cx, ns).await?;
    }

    let prefix = format!("{}-beside", cx.prefix);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let requests = n.div_ceil(PACED_BATCH);
    let interval = with_operator.took / (requests.max(2) - 1) as u32;
    progress(format!(
        "apply share: {n} KafkaTopics into {beside_ns} (no operator) while {n} topics go to Kafka in {requests} CreateTopics, one every {}",
        secs(interval)
    ));
    let brokers_cpu_start = brokers_cpu(cx.tck);
    let paced_start = Instant::now();
    let (applied, paced) = tokio::join!(
        timed_apply(cx, &beside_ns, "beside"),
        send_paced(cx, names, interval)
    );
    let beside = applied?;
    let paced = paced?;
    let beside_brokers_cpu = brokers_cpu(cx.tck) - brokers_cpu_start;

    progress(format!(
        "apply share: {n} KafkaTopics into {alone_ns} with nothing else running"
    ));
    let alone = timed_apply(cx, &alone_ns, "alone").await?;

    cx.out(format!(
        "## The apply of {n} KafkaTopics: with the operator, beside the same broker work without it, alone"
    ));
    cx.out("");
    cx.out("| the same `kubectl apply --server-side` of the run's objects | duration |");
    cx.out("|---|---|");
    cx.out(format!(
        "| with the operator creating the topics (the run above: {}) | {} |",
        with_operator.at_apiserver(),
        secs(with_operator.took)
    ));
    cx.out(format!(
        "| no operator; rdkafka creating {n} topics of the same shape at the same pace meanwhile (the brokers' CPU: {beside_brokers_cpu:.1} s; last request sent after {}; {}) | {} |",
        secs(paced.last_sent - paced_start),
        beside.at_apiserver(),
        secs(beside.took)
    ));
    if let Some(row) = failed_row(&paced.failed) {
        cx.out(row);
    }
    cx.out(format!(
        "| no operator, nothing else running ({}) | {} |",
        alone.at_apiserver(),
        secs(alone.took)
    ));
    let (with, beside) = (with_operator.took, beside.took);
    cx.out(format!(
        "| **the operator's own share (first row minus second)** | **{}** |",
        if with >= beside {
            secs(with - beside)
        } else {
            format!("-{}", secs(beside - with))
        }
    ));
    cx.out("");
    Ok(())
}

/// A namespace labelled with the run's label (the cleanup deletes it).
async fn create_run_namespace(cx: &Ctx, ns: &str) -> Result<()> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cx.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": ns, "labels": { RUN_LABEL: cx.prefix }}}),
            )?,
        )
        .await
        .with_context(|| format!("creating the namespace {ns}"))?;
    Ok(())
}

/// The run's KafkaTopics applied into `ns` (one `kubectl apply --server-side`, as the run's own).
async fn timed_apply(cx: &Ctx, ns: &str, label: &str) -> Result<Applied> {
    let yaml = topics_yaml(cx).replace(
        &format!("  namespace: {}\n", cx.ns),
        &format!("  namespace: {ns}\n"),
    );
    let path = cx.dir.join(format!("topics-{label}.yaml"));
    std::fs::write(&path, yaml)?;
    let before = apiserver_metrics(cx).await;
    let start = Instant::now();
    cx.apply_file(&path)
        .await
        .with_context(|| format!("kubectl apply into {ns}"))?;
    let took = start.elapsed();
    let served = match (before, apiserver_metrics(cx).await) {
        (Some(before), Some(after)) => Some(delta(&after, &before)),
        _ => None,
    };
    Ok(Applied { took, served })
}

/// An apply's duration, and what the apiserver served meanwhile (its writes by resource, with
/// `seconds ...` keys for the time spent on them).
struct Applied {
    took: Duration,
    served: Option<BTreeMap<String, f64>>,
}

impl Applied {
    /// "N ms per object at the apiserver; the operator's writes meanwhile: ...".
    fn at_apiserver(&self) -> String {
        let Some(served) = &self.served else {
            return "apiserver metrics not read".into();
        };
        let get = |k: &str| served.get(k).copied().unwrap_or(0.0);
        let per_object =
            1000.0 * get("seconds APPLY kafkatopics") / get("APPLY kafkatopics").max(1.0);
        format!(
            "{per_object:.0} ms per object at the apiserver; other writes served meanwhile: {:.0} status, {:.0} events",
            get("APPLY kafkatopics/status"),
            get("POST events") + get("PATCH events")
        )
    }
}

async fn apiserver_metrics(cx: &Ctx) -> Option<BTreeMap<String, f64>> {
    cx.kubectl(&["get", "--raw", "/metrics"], Duration::from_secs(60))
        .await
        .ok()
        .map(|text| apiserver_writes(&text))
}
